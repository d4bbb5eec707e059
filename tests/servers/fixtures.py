"""Start the local protocol servers (one process each, shared by the whole test session) and write task suites
for the scene behind them. ``stop_all`` ends every server; conftest calls it when the session finishes."""

from __future__ import annotations

import atexit
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from tests.servers.scene import RoomsLevel

REPO = Path(__file__).resolve().parents[2]
SEED = 3
_running: dict[tuple, tuple[subprocess.Popen, int]] = {}
_suites: dict[str, Path] = {}


def spawn(module: str, *args: str) -> tuple[subprocess.Popen, int]:
    """Start ``python -m tests.servers.<module> --port 0 ARGS`` (a process of the caller's own: kill it); its port."""
    proc = subprocess.Popen([sys.executable, "-m", f"tests.servers.{module}", "--port", "0", "--seed", str(SEED),
                             *args], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("PORT"):
        proc.kill()
        raise RuntimeError(f"{module} did not start: {line}{proc.stderr.read()}")
    return proc, int(line.split()[1])


def start(module: str, *args: str) -> int:
    """A server shared by the test session, started once per argument set; its port."""
    key = (module, *args)
    if key in _running and _running[key][0].poll() is None:
        return _running[key][1]
    _running[key] = spawn(module, *args)
    return _running[key][1]


def stop_all() -> None:
    for proc, _ in _running.values():
        proc.kill()
        proc.wait(10)
    _running.clear()


atexit.register(stop_all)


def _level_facts() -> dict:
    level = RoomsLevel(SEED)
    try:
        (gx, gy, gz), theta, pitch = level.goal_view()
        sx, sy = level.free_start()
        tx, ty, tz = level.target_centre()
        reach = level.layout.target_thing.radius + 0.8
        return {"target": level.target_name, "t": (tx, ty, tz), "g": (gx, gy, gz), "theta": theta, "pitch": pitch,
                "s": (sx, sy), "start_theta": math.atan2(ty - sy, tx - sx), "reach": reach}
    finally:
        level.close()


def native(route: str, x: float, y: float, z: float) -> list[float]:
    """A point of the test level (Rooms' frame: metres, z up, y left) in ``route``'s frame, as the servers map
    poses: AirSim NED metres (y east, z down), Unreal centimetres (y right, z up)."""
    s = 1.0 if route == "airsim" else 100.0
    zsign = -1.0 if route == "airsim" else 1.0
    return [x * s, -y * s, zsign * z * s]


def suite(route: str, extra: dict | None = None) -> Path:
    """A task suite for the test level in ``route``'s frame: ``airsim`` (NED metres) or ``unrealcv`` (UE cm)."""
    key = f"{route}-{sorted((extra or {}).items())}"
    if key in _suites:
        return _suites[key]
    f = _level_facts()
    s = 1.0 if route == "airsim" else 100.0

    def point(x: float, y: float, z: float) -> list[float]:
        return native(route, x, y, z)

    base = {"target": f["target"], "target_position": point(*f["t"]), "success_radius": f["reach"] * s,
            "start": {"position": point(*f["s"], 0.7), "yaw": -math.degrees(f["start_theta"])},
            "goal_camera": {"position": point(*f["g"]), "yaw": -math.degrees(f["theta"]),
                            "pitch": -math.degrees(f["pitch"])}, "max_steps": 40}
    tasks = [dict(base, name="approach_target", **(extra or {})),
             dict(base, name="pick_and_deliver", interaction="mine",
                  deliver_to=point(f["s"][0], f["s"][1], 0.0), split="heldout")]
    path = Path(tempfile.mkdtemp(prefix=f"crossview-{route}-")) / "suite.yaml"
    path.write_text(yaml.safe_dump({"tasks": tasks}))
    _suites[key] = path
    return path
