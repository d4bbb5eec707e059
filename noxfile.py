"""Test sessions for dependencies that cannot share the project's environment (scripts/test.sh runs them).

``airsim``: the archived ``airsim`` 1.8.1 client ships the same module names as the ``cosysairsim`` the main
environment uses (both need a ``msgpackrpc``), and a plain install of it pulls msgpack-rpc-python with tornado 4.5,
so it gets its own environment, installed the way the README documents (rpc-msgpack, no build isolation), and
drives the AirSim route against the local server.
"""

from __future__ import annotations

from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent

nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["airsim"]


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
