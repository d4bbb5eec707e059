"""Helpers that write small sweep configs and run ``crossview`` as a user would."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]


def small_config(**overrides: Any) -> dict[str, Any]:
    """Two baselines on two Rooms domains at a small image size: quick, but the real thing."""
    config: dict[str, Any] = {
        "name": "t",
        "policies": [{"name": "random", "kind": "random"}, {"name": "oracle", "kind": "oracle"}],
        "environments": [
            {"adapter": "rooms", "role": "source", "domains": ["apartment"], "interactions": ["approach"],
             "difficulties": ["easy"], "episodes": 3, "max_steps": 25, "options": {"image_size": [48, 48]}},
            {"adapter": "rooms", "role": "zeroshot", "domains": ["warehouse"], "interactions": ["mine"],
             "difficulties": ["easy"], "episodes": 3, "max_steps": 25, "options": {"image_size": [48, 48]}},
        ],
        "workers": 2, "envs_per_worker": 2,
        "timeouts": {"reset": 20, "step": 5},
    }
    config.update(overrides)
    return config


def write(tmp: Path, config: dict[str, Any], name: str = "sweep.yaml") -> Path:
    path = tmp / name
    path.write_text(yaml.safe_dump(config))
    return path


def fake_dist(where: Path, name: str, version: str, entry_points: str) -> Path:
    """An installed-looking distribution (a .dist-info with METADATA and entry_points.txt) under ``where``."""
    dist = where / f"{name.replace('-', '_')}-{version}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (dist / "entry_points.txt").write_text(entry_points)
    return dist


def crossview(*args: str, timeout: float = 300, **kw: Any) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, **kw)


@contextlib.contextmanager
def small_disk(folder: Path, size: str) -> Iterator[Path]:
    """``folder`` on a tmpfs of ``size`` (e.g. '1m'): a disk that fills up. Skips the test without root or mount."""
    import pytest

    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("needs root and mount(8) to put a small tmpfs under the run (a disk that fills up)")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
