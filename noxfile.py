"""Test sessions for dependencies that cannot share the project's environment (scripts/test.sh runs them).

``airsim``: the archived ``airsim`` 1.8.1 client ships the same module names as the ``cosysairsim`` the main
environment uses (both need a ``msgpackrpc``), and a plain install of it pulls msgpack-rpc-python with tornado 4.5,
so it gets its own environment, installed the way the README documents (rpc-msgpack, no build isolation), and
drives the AirSim route against the local server.

``minestudio``: MineStudio (CraftJarvis/MineStudio, PyPI ``minestudio`` 1.1.6, whose Python sources are
commit 46caf08264d292d3d87924454f881eaa466cc990) next to this project's CPU torch, then ``pytest -m minestudio``.
MineStudio cannot share the core environment: its metadata pins ``pyrender==0.1.25`` (→ ``networkx==2.2``, which
torch 2.13 refuses) and ``gym3`` needs numpy < 2.  So it is installed ``--no-deps`` with the exact list of what
``import minestudio.models`` and ``minestudio.simulator`` import (found by importing them in a bare environment);
nothing of pyrender, ray, wandb or lightning is needed for policies and action conversion.

torchvision: PyPI has only CUDA builds, and torchvision >= 0.17 fails to import next to a CPU torch
(``operator torchvision::nms does not exist``: its ``_meta_registrations`` registers kernels for ops that its CUDA
``_C`` library, which cannot load here, should have defined).  torchvision 0.16.2 is the newest release whose import
survives that (its ops are simply unavailable, with a warning); MineStudio and timm use only its pure-Python
``transforms``, which the tests run.  It is installed ``--no-deps`` (its metadata asks for torch 2.1.2).

The session's virtualenv is reused, and the installs are skipped when a stamp of the requirement list matches, so a
second run costs only the tests.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent

nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["airsim", "minestudio"]


@nox.session(name="airsim")
def airsim(session: nox.Session) -> None:
    """The AirSim route through the archived ``airsim`` client against the local msgpack-rpc server."""
    # airsim 1.8.1 declares msgpack-rpc-python (its METADATA Requires-Dist), which pins tornado < 5; this session
    # gives it rpc-msgpack instead, the asyncio port with the same ``msgpackrpc`` module that Cosys-AirSim's client
    # imports (Cosys-Lab/Cosys-AirSim PythonClient/cosysairsim/client.py:3). Its timeouts tick in whole seconds.
    session.install("numpy", "rpc-msgpack", "wheel")
    session.install("--no-deps", "--no-build-isolation", "airsim==1.8.1")  # its sdist needs numpy at build time
    # only what these tests import (the adapter, the oracle, the Rooms-backed test server), not the whole project:
    # the session stays a couple of minutes on a fresh machine
    session.install("mujoco>=3.2", "gymnasium>=1.0", "pydantic>=2.6", "pyyaml>=6", "imageio>=2.31", "msgpack>=1.0",
                    "pytest>=8", "pytest-timeout>=2.2")
    session.run("python", "-c", "import airsim, importlib.util as u; assert u.find_spec('cosysairsim') is None")
    session.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/adapters/test_unreal_clients.py",
                *session.posargs, env={"CROSSVIEW_AIRSIM_CLIENT": "airsim", "PYTHONPATH": str(ROOT)})


TORCH = "torch==2.13.0"  # the project's pin (pyproject extra "torch"); on these machines a local CPU wheel
NO_DEPS = [
    "minestudio==1.1.6",  # >= 1.1.5 has minestudio.models.MinePolicy; 1.1.6 is the newest on PyPI
    "torchvision==0.16.2",  # see the module docstring
    # ROCKET-1/2/3 and GROOT build their backbones with timm under names such as 'timm/vit_base_patch16_224.dino'
    # (CraftJarvis/ROCKET-2:model.py:45-46); timm >= 1.0.29 refuses a name with '/' and no 'hf-hub:' prefix, so
    # 1.0.28 is the newest that builds them.  Its deps are listed below.
    "timm==1.0.28",
    "gym==0.26.2",  # without gym-notices, which prints a banner on stderr at every import; its deps are below
]
# What MineStudio imports (models, the simulator with its callbacks, up to launching the engine), with MineStudio's
# own pins where it has them (av, opencv, x_transformers, minecraft_data), plus timm's and gym's dependencies.
MINESTUDIO_IMPORTS = [
    "numpy<2", "gym3", "cloudpickle", "gymnasium", "omegaconf", "einops", "absl-py", "dm-tree", "av==13.1.0",
    "transformers", "x_transformers==0.27.1", "opencv-python-headless==4.8.0.74", "coloredlogs", "psutil",
    "daemoniker", "lxml", "minecraft_data==3.20.0", "Pyro4", "diskcache", "xmltodict", "rich", "attrs",
    "huggingface_hub", "safetensors", "pyyaml", "pillow", "requests",
]


def _install_once(session: nox.Session, steps: list[list[str]]) -> None:
    """Run the pip installs unless this virtualenv already holds exactly these requirements."""
    stamp = Path(session.virtualenv.location) / ".crossview-requirements"
    digest = hashlib.sha256(repr(steps).encode()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        session.log("requirements unchanged: skipping installs")
        return
    for args in steps:
        session.install(*args)
    stamp.write_text(digest)


@nox.session
def minestudio(session: nox.Session) -> None:
    """MineStudio-backed tests (``pytest -m minestudio``) in their own environment."""
    _install_once(session, [
        [TORCH],
        ["--no-deps", *NO_DEPS],
        [*MINESTUDIO_IMPORTS, TORCH],
        # the test tools, and what other test modules import when pytest collects them; pyarrow 26 needs numpy 2
        ["-e", ".[dev,serve]", "pyarrow<26"],
    ])
    # no PYTHONWARNINGS=ignore: the CLI tests check the one-line errors as a user of this environment sees them
    # (torchvision's import-time warning is silenced where the policy imports it, policies/rocket/policy.py)
    session.run("python", "-m", "pytest", "-q", "-m", "minestudio", "tests/", *session.posargs)
