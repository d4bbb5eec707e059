"""What both Unreal routes share: task suites (YAML), the action table, kinematic motion, success rules.

Positions are in the route's own frame and units: AirSim is NED in metres (x north, y east, z down), UnrealCV is
Unreal's frame in centimetres (x forward, y right, z up). In both, yaw grows clockwise seen from above — as the
common action's yaw does — so the heading is (cos yaw, sin yaw) and strafing right is (−sin yaw, cos yaw).

    tasks:
      - name: find_chair
        target: Chair_12                 # object name in the level
        target_position: [4.0, 2.5, 0.0]
        interaction: approach            # approach | mine (pick up) | interact
        start: {position: [0, 0, -1.2], yaw: 90}
        goal_camera: {position: [6, 1, -2], yaw: 200, pitch: -20}
        deliver_to: [1.0, -3.0, 0.0]     # optional: pick up the target, then bring it here (ATEC rescue style)
        success_radius: 1.0
        max_steps: 200
        difficulty: easy
        split: train
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.errors import CrossviewError
from harness.spec import DIFFICULTIES, SPLITS, Action, CrossViewGoal, Interaction, Observation, StepInfo, TaskSpec

INTERACTIONS = (Interaction.APPROACH, Interaction.MINE)  # mine = pick up with attack; use is masked (paper)


@dataclass(frozen=True)
class Pose:
    """Position (route units) with yaw and pitch in degrees (pitch > 0 looks up, as both engines have it)."""

    x: float
    y: float
    z: float
    yaw: float = 0.0
    pitch: float = 0.0


def default_table(unit: float) -> dict[str, Any]:
    """The paper's Unreal mapping: velocity ±1 m/s forward and sideways, yaw and pitch as given, attack = pick."""
    return {"forward_speed": 1.0 * unit, "lateral_speed": 1.0 * unit, "dt": 0.25, "yaw_scale": 1.0,
            "pitch_scale": 1.0, "pitch_limit": 60.0, "masked": ["jump", "sneak", "use"]}


def advance(pose: Pose, action: Action, table: dict[str, Any]) -> Pose:
    """The pose after one action: turn, tilt the camera, then move along the new heading."""
    a = action.without(frozenset(table.get("masked", ())))
    yaw = (pose.yaw + table["yaw_scale"] * a.yaw + 180.0) % 360.0 - 180.0
    limit = table["pitch_limit"]
    pitch = max(-limit, min(limit, pose.pitch - table["pitch_scale"] * a.pitch))  # common pitch > 0 looks down
    fwd = (float(a.forward) - float(a.back)) * table["forward_speed"] * table["dt"]
    side = (float(a.right) - float(a.left)) * table["lateral_speed"] * table["dt"]
    r = math.radians(yaw)
    return Pose(pose.x + fwd * math.cos(r) - side * math.sin(r), pose.y + fwd * math.sin(r) + side * math.cos(r),
                pose.z, yaw, pitch)


@dataclass
class Progress:
    """Success bookkeeping of one episode: approach, or pick (attack within reach) and optional delivery."""

    task: TaskSpec
    picked: bool = False

    def update(self, pose: Pose, action: Action) -> tuple[bool, bool, StepInfo]:
        """(done, success, info) after a step at ``pose``; ``info.score`` is the partial credit so far."""
        p = self.task.params
        target = p["target_position"]
        distance = math.dist((pose.x, pose.y), (target[0], target[1]))
        radius = self.task.success_radius
        if self.task.interaction == Interaction.APPROACH:
            ok = distance <= radius
            return ok, ok, self._info(distance, float(ok))
        pressed = action.attack if self.task.interaction == Interaction.MINE else action.use
        if not self.picked and pressed and distance <= radius:
            self.picked = True
        deliver = p.get("deliver_to")
        if deliver is None:
            return self.picked, self.picked, self._info(distance, float(self.picked))
        if self.picked:
            distance = math.dist((pose.x, pose.y), (deliver[0], deliver[1]))
        delivered = self.picked and distance <= radius
        return delivered, delivered, self._info(distance, 0.5 * self.picked + 0.5 * delivered)

    def _info(self, distance: float, score: float) -> StepInfo:
        return StepInfo(target=self.task.target, distance=distance, episode_return=score, score=score,
                        extra={"picked": self.picked})


def _pose(d: Any, where: str) -> dict[str, Any]:
    if not isinstance(d, dict) or not isinstance(d.get("position"), list) or len(d["position"]) != 3:
        raise CrossviewError(f"{where}: needs position: [x, y, z] (and optional yaw, pitch)")
    return {"position": [float(v) for v in d["position"]], "yaw": float(d.get("yaw", 0.0)),
            "pitch": float(d.get("pitch", 0.0))}


def load_suite(path: str | Path, adapter: str, level: str) -> list[TaskSpec]:
    """TaskSpecs of a suite file; each error names the task and key."""
    p = Path(path)
    if not p.is_file():
        raise CrossviewError(f"{adapter} task suite {p} does not exist")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise CrossviewError(f"{p}: not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("tasks"), list) or not data["tasks"]:
        raise CrossviewError(f"{p}: expected a mapping with a non-empty list under 'tasks'")
    allowed = {"name", "target", "target_position", "interaction", "start", "goal_camera", "deliver_to",
               "success_radius", "max_steps", "difficulty", "split"}
    out = []
    for i, t in enumerate(data["tasks"]):
        where = f"{p}: tasks[{i}]"
        if not isinstance(t, dict):
            raise CrossviewError(f"{where}: each task is a mapping")
        unknown = sorted(set(t) - allowed)
        if unknown:
            raise CrossviewError(f"{where}.{unknown[0]}: unknown key; allowed: {', '.join(sorted(allowed))}")
        for key in ("target", "target_position", "start", "goal_camera"):
            if key not in t:
                raise CrossviewError(f"{where}.{key}: required key is missing")
        kind = Interaction.parse(t.get("interaction", "approach"))
        if kind not in INTERACTIONS:
            raise CrossviewError(f"{where}.interaction: use one of {', '.join(i.name.lower() for i in INTERACTIONS)}")
        if t.get("difficulty", "easy") not in DIFFICULTIES or t.get("split", "train") not in SPLITS:
            raise CrossviewError(f"{where}: difficulty must be easy|hard and split train|heldout")
        params = {"task": str(t.get("name", f"task{i}")), "target_position": [float(v) for v in t["target_position"]],
                  "start": _pose(t["start"], f"{where}.start"),
                  "goal_camera": _pose(t["goal_camera"], f"{where}.goal_camera")}
        if "deliver_to" in t:
            params["deliver_to"] = [float(v) for v in t["deliver_to"]]
        out.append(TaskSpec(adapter, level, 0, kind, str(t["target"]), t.get("difficulty", "easy"),
                            t.get("split", "train"), int(t.get("max_steps", 200)), float(t.get("success_radius", 1.0)),
                            params))
    return out


def quaternion(yaw_deg: float, pitch_deg: float) -> tuple[float, float, float, float]:
    """(w, x, y, z) of a yaw-then-pitch rotation (no roll), the z-y-x convention both engines' APIs use."""
    cy, sy = math.cos(math.radians(yaw_deg) / 2), math.sin(math.radians(yaw_deg) / 2)
    cp, sp = math.cos(math.radians(pitch_deg) / 2), math.sin(math.radians(pitch_deg) / 2)
    return cy * cp, -sy * sp, cy * sp, sy * cp


def yaw_pitch(w: float, x: float, y: float, z: float) -> tuple[float, float]:
    """Yaw and pitch in degrees of a (w, x, y, z) quaternion."""
    yaw = math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
    pitch = math.asin(max(-1.0, min(1.0, 2 * (w * y - z * x))))
    return math.degrees(yaw), math.degrees(pitch)


def start_pose(task: TaskSpec) -> Pose:
    s = task.params["start"]
    return Pose(*s["position"], yaw=s["yaw"], pitch=s["pitch"])


def goal_pose(task: TaskSpec) -> Pose:
    g = task.params["goal_camera"]
    return Pose(*g["position"], yaw=g["yaw"], pitch=g["pitch"])


class PoseDriven:
    """The episode logic both routes share; a route supplies ``_goal_view``, ``_place``, ``_observe`` and may
    override ``_move`` (vehicles that move themselves)."""

    suite: list[TaskSpec]
    table: dict[str, Any]
    _progress: Progress | None = None

    def tasks(self, suite: str = "train") -> list[TaskSpec]:
        return [t for t in self.suite if t.split == suite]

    def _goal_view(self, task: TaskSpec) -> tuple[Any, Any]:
        raise NotImplementedError

    def _place(self, pose: Pose) -> None:
        raise NotImplementedError

    def _observe(self) -> Observation:
        raise NotImplementedError

    def _move(self, action: Action) -> Pose:
        pose = advance(self._pose, action, self.table)
        self._place(pose)
        return pose

    def reset(self, task: TaskSpec) -> tuple[Observation, CrossViewGoal, StepInfo]:
        """Render the goal camera's view and the target's mask, then put the agent at the start pose."""
        image, mask = self._goal_view(task)
        if not mask.any():
            raise CrossviewError(f"the target {task.target!r} is not in view of task {task.params['task']!r}'s goal "
                                 "camera: fix goal_camera in the task suite")
        self._pose = start_pose(task)
        self._place(self._pose)
        self._progress, self._steps = Progress(task), 0
        _, _, info = self._progress.update(self._pose, Action())
        return self._observe(), CrossViewGoal(image, mask, task.interaction), info

    def step(self, action: Action) -> tuple[Observation, bool, bool | None, StepInfo]:
        if self._progress is None:
            raise CrossviewError(f"{type(self).__name__}: step() called before reset()")
        self._pose = self._move(action)
        self._steps += 1
        done, success, info = self._progress.update(self._pose, action)
        return self._observe(), done, success, info
