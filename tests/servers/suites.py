"""The task suites shipped in examples/unreal_tasks, written for the level behind the local protocol servers
(tests/servers, seed 3) in each route's frame and units. ``python -m tests.servers.suites examples/unreal_tasks``
writes them again; tests/adapters/test_unreal_sweeps.py checks the shipped files are what this writes.

Per object of the level: an approach task from a spot out of reach (with the walkable path around partitions
listed as waypoints when the straight line is blocked), pick-up tasks, and a rescue (pick up, carry back to the
start: UnrealZoo's ATEC scoring, 0.5 + 0.5); a few tasks from other spots form the heldout split.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.servers.fixtures import SEED, native
from tests.servers.scene import RoomsLevel

FILES = {"airsim": "airsim_suite.yaml", "unrealcv": "unrealzoo_suite.yaml"}
HEADER = ("# Task suite for the {route} route, written by `python -m tests.servers.suites` for the level the\n"
          "# local test server renders (python -m tests.servers.{server} --port {port}; README, \"Unreal Engine\").\n"
          "# Units and frame: {units}.\n"
          "# For a real Unreal level, write the same keys with positions read from the editor\n"
          "# (adapters/unreal/suite.py documents them).\n")
UNITS = {"airsim": "AirSim NED metres (x north, y east, z down)",
         "unrealcv": "Unreal centimetres (x forward, y right, z up)"}
SERVERS = {"airsim": ("airsim_server", 41451), "unrealcv": ("unrealcv_server", 9000)}
EYE = 0.7


def _heading(src: tuple[float, float], dst: tuple[float, float]) -> float:
    """Engine yaw (clockwise from x, degrees) from ``src`` toward ``dst`` (Rooms' frame, counter-clockwise)."""
    return round(-math.degrees(math.atan2(dst[1] - src[1], dst[0] - src[0])), 2)


def _r(values: list[float]) -> list[float]:
    return [round(v, 3) for v in values]


def tasks_for(level: RoomsLevel, route: str) -> list[dict[str, Any]]:
    """The suite's tasks in ``route``'s frame."""
    unit = 1.0 if route == "airsim" else 100.0
    out = []
    plan = [("approach", 0, "train"), ("approach", 1, "train"), ("approach", 2, "train"), ("approach", 3, "train"),
            ("pick", 1, "train"), ("pick", 3, "train"), ("rescue", 0, "train"), ("rescue", 2, "train"),
            ("approach", 0, "heldout"), ("pick", 2, "heldout"), ("rescue", 3, "heldout")]
    for k, (kind, i, split) in enumerate(plan):
        thing = level.layout.things[i]
        (gx, gy, gz), theta, pitch = level.goal_view(index=i)
        sx, sy = level.free_start(min_distance=2.5, index=i, seed=100 * k + i)
        path = level.path((sx, sy), i)
        first = path[0] if path else (thing.x, thing.y)
        task: dict[str, Any] = {
            "name": f"{kind}_thing{i}" + ("_b" if split == "heldout" else ""),
            "target": f"thing{i}", "target_position": _r(native(route, *level.target_centre(i))),
            "interaction": "approach" if kind == "approach" else "mine",
            "start": {"position": _r(native(route, sx, sy, EYE)), "yaw": _heading((sx, sy), first)},
            "goal_camera": {"position": _r(native(route, gx, gy, gz)), "yaw": round(-math.degrees(theta), 2),
                            "pitch": round(-math.degrees(pitch), 2)},
            "success_radius": round((thing.radius + 0.8) * unit, 3),
            "max_steps": 100, "difficulty": "hard" if path else "easy", "split": split}
        if path:
            task["waypoints"] = [_r(native(route, x, y, 0.0)) for x, y in path]
        if kind == "rescue":
            task["deliver_to"] = _r(native(route, sx, sy, 0.0))
            back = list(reversed(path))
            if back:
                task["deliver_waypoints"] = [_r(native(route, x, y, 0.0)) for x, y in back]
            task["max_steps"] = 200
        out.append(task)
    return out


def write(folder: str | Path) -> list[Path]:
    """Write both routes' suites into ``folder``; the paths written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    level = RoomsLevel(SEED)
    try:
        written = []
        for route, name in FILES.items():
            server, port = SERVERS[route]
            text = HEADER.format(route=route, server=server, port=port, units=UNITS[route])
            text += yaml.safe_dump({"tasks": tasks_for(level, route)}, sort_keys=False, width=120,
                                  default_flow_style=None)
            (folder / name).write_text(text)
            written.append(folder / name)
        return written
    finally:
        level.close()


if __name__ == "__main__":
    for p in write(sys.argv[1] if len(sys.argv) > 1 else "examples/unreal_tasks"):
        print(p)
