"""As a user installing the wheel: 'crossview check' runs from the installed package, outside the source tree."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness.sweeps import REPO

CLI = "import sys; from harness.cli import main; sys.exit(main())"


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """The crossview wheel, built from this tree and installed into a folder of its own (dependencies from here)."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"  # a copy, so that building leaves nothing in the checkout
    keep = ("pyproject.toml", "README.md", "LICENSE", "harness", "adapters", "policies", "reports")
    for name in keep:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif (REPO / name).is_file():
            source.mkdir(exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(tmp / "dist"), str(source)], capture_output=True, text=True, timeout=300)
    if build.returncode != 0:
        pytest.skip(f"cannot build the wheel here: {build.stderr.strip().splitlines()[-1:]}")
    wheel = next((tmp / "dist").glob("crossview_harness-*.whl"))
    site = tmp / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    env = {**os.environ, "PYTHONPATH": str(site), "PYTHONSAFEPATH": "1"}
    env.pop("PYTHONHOME", None)
    return tmp, env


def run(tmp: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CLI, *args], capture_output=True, text=True, cwd=tmp, env=env,
                          timeout=600)


def test_the_package_comes_from_the_wheel(installed) -> None:
    tmp, env = installed
    out = subprocess.run([sys.executable, "-c", "import harness.conformance, tests; print(harness.__file__)"],
                         capture_output=True, text=True, cwd=tmp, env=env)
    assert out.returncode != 0 and "No module named 'tests'" in out.stderr  # the tests are not packaged...
    out = subprocess.run([sys.executable, "-c", "import harness.conformance; print(harness.__file__)"],
                         capture_output=True, text=True, cwd=tmp, env=env)
    assert out.stdout.startswith(str(tmp / "site")), out.stdout + out.stderr  # ...the checks are


def test_check_adapter_rooms_from_the_wheel(installed) -> None:
    tmp, env = installed
    out = run(tmp, env, "check", "adapter", "rooms", "-o", "image_size=[64,80]")
    assert out.returncode == 0 and "passed" in out.stdout, out.stdout + out.stderr


def test_check_the_example_plugin_from_the_wheel(installed) -> None:
    pytest.importorskip("crossview_vizdoom", reason="example plugin missing: pip install ./examples/vizdoom")
    tmp, env = installed
    out = run(tmp, env, "check", "adapter", "vizdoom", "-o", "image_size=[96,128]")
    assert out.returncode == 0 and "passed" in out.stdout, out.stdout + out.stderr
