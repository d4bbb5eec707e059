"""Where a run's numbers came from: package versions, git revision, machine facts."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import sys
from importlib import metadata
from typing import Any

PACKAGES = ("crossview-harness", "numpy", "mujoco", "gymnasium", "torch", "safetensors", "pydantic", "scipy",
            "pandas", "matplotlib", "minestudio", "airsim", "cosysairsim", "unrealcv", "pyrealsense2", "ray")


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that can change results."""
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def git_revision(path: str = ".") -> dict[str, Any] | None:
    """HEAD commit and whether the tree has uncommitted changes, or None outside a git checkout."""
    try:
        rev = subprocess.run(["git", "-C", path, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if rev.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", path, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
        return {"commit": rev.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.TimeoutExpired):
        return None


def machine() -> dict[str, Any]:
    """Facts about this machine that affect speed or rendering."""
    mem = None
    with contextlib.suppress(ValueError, OSError, AttributeError):
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {"platform": platform.platform(), "python": sys.version.split()[0], "cpus": os.cpu_count(),
            "memory_bytes": mem, "hostname": platform.node(), "mujoco_gl": os.environ.get("MUJOCO_GL")}


def provenance() -> dict[str, Any]:
    """Everything above, in one mapping."""
    here = os.path.dirname(os.path.abspath(__file__))
    return {"versions": package_versions(), "git": git_revision(here), "machine": machine()}
