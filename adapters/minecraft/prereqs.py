"""What MineStudio needs to run its Minecraft engine, looked for where MineStudio itself looks.

Checked against CraftJarvis/MineStudio (minestudio 1.1.6, the version the ``minecraft`` extra pins):

- the engine jar: ``get_mine_studio_dir()/engine/build/libs/mcprec-6.13.jar`` (minestudio/simulator/entry.py:80);
  ``get_mine_studio_dir()`` is ``$MINESTUDIO_DIR``, else ``tempfile.gettempdir()/MineStudio``
  (minestudio/utils/temp.py:9-15). We compute the path without calling it, because it creates the folder.
  ``MinecraftSim`` asks on stdin whether to download a missing engine (entry.py:84), so the adapter must never
  construct it without the jar; ``python -m minestudio.simulator.entry -y`` downloads it (entry.py:333-334).
- Java 8: launchClient.sh runs the ``java`` on PATH (minestudio/simulator/minerl/env/launchClient.sh:39-44) on
  the MCP-Reborn 1.16 jar, which needs Java 8 (MineStudio's README.md:57, docs/source/overview/installation.md:16-28).
- a virtual display: launchClient.sh wraps java in ``xvfb-run -a`` (launchClient.sh:41) unless MineStudio picked a
  GPU render device, which it does only with ``MINESTUDIO_GPU_RENDER=1``
  (minestudio/simulator/minerl/env/gpu_utils.py:37-39), and then runs ``vglrun`` (launchClient.sh:44); on macOS
  java runs bare (launchClient.sh:38-39). No ``DISPLAY`` is needed.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

MINESTUDIO_PIN = "1.1.6"
INSTALL_HINTS = {
    "minestudio": f"pip install 'crossview-harness[minecraft]' (minestudio=={MINESTUDIO_PIN}; README: its own "
                  "environment, nox -s minestudio)",
    "engine": "python -m minestudio.simulator.entry -y downloads it",
    "java": "apt-get install openjdk-8-jre-headless",
    "xvfb-run": "apt-get install xvfb",
    "vglrun": "install VirtualGL, or unset MINESTUDIO_GPU_RENDER",
}


def minestudio_dir() -> Path:
    """MineStudio's data folder, as ``minestudio.utils.temp.get_mine_studio_dir`` picks it (without creating it)."""
    return Path(os.environ.get("MINESTUDIO_DIR") or os.path.join(tempfile.gettempdir(), "MineStudio"))


def engine_path() -> Path:
    """Where MineStudio keeps its simulator engine jar."""
    return minestudio_dir() / "engine" / "build" / "libs" / "mcprec-6.13.jar"


def java_major(version_text: str) -> int | None:
    """The major version in ``java -version`` output: ``1.8.0_392`` is 8, ``17.0.9`` is 17; None if absent."""
    m = re.search(r'version "(\d+)(?:\.(\d+))?', version_text)
    if m is None:
        return None
    major = int(m.group(1))
    return int(m.group(2) or 0) if major == 1 else major


def java_version() -> tuple[str | None, int | None]:
    """The ``java`` on PATH and its major version (None, None without java; a path and None if unreadable)."""
    java = shutil.which("java")
    if java is None:
        return None, None
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return java, None
    return java, java_major(out.stderr + out.stdout)


def missing() -> list[str]:
    """Every missing prerequisite, each as 'what (how to get it)'; empty when the engine can start."""
    out = []
    if importlib.util.find_spec("minestudio") is None:
        out.append(f"MineStudio is not installed ({INSTALL_HINTS['minestudio']})")
    if not engine_path().is_file():
        out.append(f"MineStudio's engine {engine_path()} is missing ({INSTALL_HINTS['engine']}; it is looked for "
                   "under $MINESTUDIO_DIR, else the system temp folder)")
    java, major = java_version()
    if java is None:
        out.append(f"Java 8 is not on PATH ({INSTALL_HINTS['java']})")
    elif major != 8:
        found = f"Java {major}" if major is not None else "a java whose version could not be read"
        out.append(f"the engine needs Java 8 but PATH has {found} at {java} ({INSTALL_HINTS['java']} and put it "
                   "first on PATH)")
    for tool in display_tools():
        if shutil.which(tool) is None:
            out.append(f"{tool} is not on PATH ({INSTALL_HINTS[tool]})")
    return out


def display_tools(system: str | None = None) -> tuple[str, ...]:
    """The programs launchClient.sh wraps java in on this system.

    On macOS java runs bare (launchClient.sh:38-39); elsewhere ``xvfb-run -a`` (launchClient.sh:41), unless MineStudio
    picked a GPU, which it does only with ``MINESTUDIO_GPU_RENDER=1`` and a CUDA device that initialises
    (gpu_utils.py:37-44; without a working CUDA device it answers "cpu" and xvfb-run is used after all), and then
    ``vglrun`` (launchClient.sh:44).
    """
    if (system or platform.system()) == "Darwin":
        return ()
    return ("vglrun",) if os.environ.get("MINESTUDIO_GPU_RENDER") == "1" else ("xvfb-run",)
