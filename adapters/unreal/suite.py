"""Task suites of the Unreal routes (YAML), in the route's own frame and units.

AirSim suites are NED metres (x north, y east, z down); UnrealCV suites are Unreal's frame in centimetres (x
forward, y right, z up). In both, yaw grows clockwise seen from above (as the common action's yaw does) and
pitch > 0 looks up. ``success_radius`` and the waypoints use the same units as the positions.

    tasks:
      - name: find_chair
        target: Chair_12                 # object name in the level
        target_position: [4.0, 2.5, 0.0]
        interaction: approach            # approach | mine (pick up with attack)
        start: {position: [0, 0, -1.2], yaw: 90}
        goal_camera: {position: [6, 1, -2], yaw: 200, pitch: -20}
        waypoints: [[2.0, 0.0, 0.0]]     # optional: a walkable path to the target (ground points, in order)
        deliver_to: [1.0, -3.0, 0.0]     # optional: pick up the target, then bring it here (ATEC rescue)
        deliver_waypoints: [[2.0, 0.0, 0.0]]  # optional: a walkable path from the target to deliver_to
        success_radius: 1.0
        max_steps: 200
        difficulty: easy
        split: train
        instruction: walk to the chair by the window   # optional: the words of a language goal
                                         # (default: "go to the <target>" / "pick up the <target>")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from harness.errors import CrossviewError
from harness.spec import DIFFICULTIES, SPLITS, Interaction, TaskSpec

INTERACTIONS = (Interaction.APPROACH, Interaction.MINE)  # mine = pick up with attack; use is masked (paper)
ALLOWED = {"name", "target", "target_position", "interaction", "start", "goal_camera", "waypoints", "deliver_to",
           "deliver_waypoints", "success_radius", "max_steps", "difficulty", "split", "instruction"}
VERBS = {Interaction.APPROACH: "go to", Interaction.MINE: "pick up"}


def _point(value: Any, where: str) -> list[float]:
    if not isinstance(value, list) or len(value) != 3:
        raise CrossviewError(f"{where}: needs a point [x, y, z]")
    try:
        return [float(v) for v in value]
    except (TypeError, ValueError):
        raise CrossviewError(f"{where}: needs numbers [x, y, z], got {value!r}") from None


def _points(value: Any, where: str) -> list[list[float]]:
    if not isinstance(value, list):
        raise CrossviewError(f"{where}: needs a list of points [[x, y, z], ...]")
    return [_point(v, f"{where}[{i}]") for i, v in enumerate(value)]


def _pose(d: Any, where: str) -> dict[str, Any]:
    if not isinstance(d, dict) or "position" not in d:
        raise CrossviewError(f"{where}: needs position: [x, y, z] (and optional yaw, pitch)")
    return {"position": _point(d["position"], f"{where}.position"), "yaw": float(d.get("yaw", 0.0)),
            "pitch": float(d.get("pitch", 0.0))}


def load_suite(path: str | Path, adapter: str, level: str, metres: float) -> list[TaskSpec]:
    """TaskSpecs of a suite file (``metres``: metres per suite unit, for ``TaskSpec.success_radius``); each error
    names the task and key."""
    p = Path(path)
    if not p.is_file():
        raise CrossviewError(f"{adapter} task suite {p} does not exist")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise CrossviewError(f"{p}: not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("tasks"), list) or not data["tasks"]:
        raise CrossviewError(f"{p}: expected a mapping with a non-empty list under 'tasks'")
    out = []
    for i, t in enumerate(data["tasks"]):
        where = f"{p}: tasks[{i}]"
        if not isinstance(t, dict):
            raise CrossviewError(f"{where}: each task is a mapping")
        unknown = sorted(set(t) - ALLOWED)
        if unknown:
            raise CrossviewError(f"{where}.{unknown[0]}: unknown key; allowed: {', '.join(sorted(ALLOWED))}")
        for key in ("target", "target_position", "start", "goal_camera"):
            if key not in t:
                raise CrossviewError(f"{where}.{key}: required key is missing")
        kind = Interaction.parse(t.get("interaction", "approach"))
        if kind not in INTERACTIONS:
            raise CrossviewError(f"{where}.interaction: use one of {', '.join(i.name.lower() for i in INTERACTIONS)}")
        if t.get("difficulty", "easy") not in DIFFICULTIES or t.get("split", "train") not in SPLITS:
            raise CrossviewError(f"{where}: difficulty must be easy|hard and split train|heldout")
        if "deliver_waypoints" in t and "deliver_to" not in t:
            raise CrossviewError(f"{where}.deliver_waypoints: only with deliver_to")
        radius = float(t.get("success_radius", 1.0 / metres))
        if radius <= 0:
            raise CrossviewError(f"{where}.success_radius: must be > 0")
        params: dict[str, Any] = {
            "task": str(t.get("name", f"task{i}")),
            "target_position": _point(t["target_position"], f"{where}.target_position"),
            "start": _pose(t["start"], f"{where}.start"),
            "goal_camera": _pose(t["goal_camera"], f"{where}.goal_camera"),
            "waypoints": _points(t.get("waypoints", []), f"{where}.waypoints")}
        if not isinstance(t.get("instruction", ""), str):
            raise CrossviewError(f"{where}.instruction: must be a string (the words of a language goal)")
        params["instruction"] = t.get("instruction") or f"{VERBS[kind]} the {t['target']}"
        if "deliver_to" in t:
            params["deliver_to"] = _point(t["deliver_to"], f"{where}.deliver_to")
            params["deliver_waypoints"] = _points(t.get("deliver_waypoints", []), f"{where}.deliver_waypoints")
        out.append(TaskSpec(adapter, level, 0, kind, str(t["target"]), t.get("difficulty", "easy"),
                            t.get("split", "train"), int(t.get("max_steps", 200)), radius * metres, params))
    return out
