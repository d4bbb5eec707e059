"""What both Unreal routes share: the frame conversion, the action table, kinematic motion, success rules and the
privileged facts the oracle reads. Task suites are in ``suite``.

Poses move in the route's own frame and units (AirSim: NED metres; UnrealCV: Unreal centimetres, x forward, y right,
z up). In both, yaw grows clockwise seen from above — as the common action's yaw does — so the heading is
(cos yaw, sin yaw) and strafing right is (−sin yaw, cos yaw); engine pitch > 0 looks up. Everything published
(``StepInfo``, ``PrivilegedFacts``) is in metres and crossview's world frame: x, y on the ground, z up, yaw positive
turning right, pitch positive looking down.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from adapters.unreal.suite import INTERACTIONS, load_suite
from harness.errors import CrossviewError
from harness.spec import (
    Action,
    CrossViewGoal,
    Goal,
    Interaction,
    LanguageGoal,
    Modality,
    Observation,
    PrivilegedFacts,
    StepInfo,
    TargetAttributes,
    TaskSpec,
)

GOALS = (Modality.CROSS_VIEW, Modality.LANGUAGE)  # language from the suite's instruction (adapters.unreal.suite)

__all__ = ["GOALS", "INTERACTIONS", "AIRSIM_FRAME", "UNREAL_FRAME", "Frame", "Pose", "PoseDriven", "Progress",
           "advance", "default_table", "goal_pose", "load_suite", "start_pose"]

CENTRE_DEG = 15.0  # the target counts as centred within this angle of the view axis
WAYPOINT_REACHED_M = 0.5  # a listed waypoint is passed once the agent is this close to it


@dataclass(frozen=True)
class Pose:
    """Position (route units) with yaw and pitch in degrees (pitch > 0 looks up, as both engines have it)."""

    x: float
    y: float
    z: float
    yaw: float = 0.0
    pitch: float = 0.0


@dataclass(frozen=True)
class Frame:
    """A route's native frame: metres per unit and whether z points up. Both engines' y axis points right of x
    (NED: east of north; Unreal: right of forward), so crossview's y (left of x, right-handed, z up) is −y."""

    metres: float
    z_up: bool

    def point(self, x: float, y: float, z: float) -> tuple[float, float, float]:
        """A native point in crossview's frame (metres)."""
        m = self.metres
        return x * m, -y * m, (z if self.z_up else -z) * m

    def pose(self, pose: Pose) -> tuple[float, float, float, float, float]:
        """A native pose as crossview's (x, y, z, yaw°, pitch° positive down)."""
        return (*self.point(pose.x, pose.y, pose.z), pose.yaw, -pose.pitch)


AIRSIM_FRAME = Frame(metres=1.0, z_up=False)  # NED: x north, y east, z down (microsoft/AirSim docs/apis.md)
UNREAL_FRAME = Frame(metres=0.01, z_up=True)  # Unreal: centimetres, x forward, y right, z up


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


def _wrap(deg: float) -> float:
    return (deg + 180.0) % 360.0 - 180.0


class Progress:
    """One episode's success bookkeeping and privileged facts, in metres and crossview's frame.

    Approach: done within ``success_radius`` of the target. Mine: attack while within reach with the target centred
    picks it up; with ``deliver_to`` the target must then be brought there (UnrealZoo's ATEC rescue), scored 0.5 for
    the pick and 0.5 for the delivery. Distances are on the ground plane, to the target's position.
    ``target_centred`` is geometric (the target within ``CENTRE_DEG`` of the view axis): the routes render no
    per-step mask, so occlusion is not checked and ``target_visible`` keeps its default.
    """

    def __init__(self, task: TaskSpec, frame: Frame) -> None:
        self.task, self.frame, self.picked = task, frame, False
        p = task.params
        self.target = frame.point(*p["target_position"])
        self.deliver = frame.point(*p["deliver_to"]) if "deliver_to" in p else None
        self.path = [frame.point(*w)[:2] for w in p.get("waypoints", [])]
        self.deliver_path = [frame.point(*w)[:2] for w in p.get("deliver_waypoints", [])]

    def _goal(self) -> tuple[float, float, float]:
        return self.deliver if self.picked and self.deliver is not None else self.target

    def _waypoint(self, x: float, y: float) -> tuple[float, float]:
        path = self.deliver_path if self.picked else self.path
        while path and math.dist((x, y), path[0]) <= WAYPOINT_REACHED_M:
            path.pop(0)
        gx, gy, _ = self._goal()
        return path[0] if path else (gx, gy)

    def facts(self, pose: Pose) -> PrivilegedFacts:
        """The privileged facts at ``pose`` (native): toward the target, or the delivery point once picked."""
        x, y, z, yaw, pitch = self.frame.pose(pose)
        gx, gy, gz = self._goal()
        distance = math.hypot(gx - x, gy - y)
        bearing = _wrap(-math.degrees(math.atan2(gy - y, gx - x)) - yaw)
        return PrivilegedFacts(pose=(x, y, z, yaw, pitch), target_pos=(gx, gy, gz), waypoint=self._waypoint(x, y),
                               distance=distance, success_radius=self.task.success_radius,
                               target_centred=abs(bearing) <= CENTRE_DEG)

    def update(self, pose: Pose, action: Action) -> tuple[bool, bool, StepInfo]:
        """(done, success, info) after a step that ended at ``pose``."""
        facts = self.facts(pose)
        within = facts.distance <= self.task.success_radius
        score = None
        if self.task.interaction == Interaction.APPROACH:
            done = success = within
            ret = float(success)
        else:
            if not self.picked and action.attack and within and facts.target_centred:
                self.picked = True
                facts = self.facts(pose)  # now toward the delivery point, if any
                within = facts.distance <= self.task.success_radius
            if self.deliver is None:
                done = success = self.picked
                ret = float(success)
            else:
                done = success = self.picked and within
                ret = score = 0.5 * self.picked + 0.5 * success
        info = StepInfo(target=self.task.target, distance=facts.distance, episode_return=ret, score=score,
                        privileged=facts, extra={"picked": self.picked})
        return done, success, info


def start_pose(task: TaskSpec) -> Pose:
    s = task.params["start"]
    return Pose(*s["position"], yaw=s["yaw"], pitch=s["pitch"])


def goal_pose(task: TaskSpec) -> Pose:
    g = task.params["goal_camera"]
    return Pose(*g["position"], yaw=g["yaw"], pitch=g["pitch"])


class PoseDriven:
    """The episode logic both routes share; a route supplies ``frame``, ``_goal_view``, ``_place`` and
    ``_observe`` and may override ``_move`` (vehicles that move themselves)."""

    suite: list[TaskSpec]
    table: dict[str, Any]
    frame: Frame
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

    def reset(self, task: TaskSpec) -> tuple[Observation, CrossViewGoal | Goal, StepInfo]:
        """Render the goal camera's view and the target's mask, then put the agent at the start pose."""
        image, mask = self._goal_view(task)
        if not mask.any():
            raise CrossviewError(f"the target {task.target!r} is not in view of task {task.params['task']!r}'s goal "
                                 "camera: fix goal_camera in the task suite")
        self._pose = start_pose(task)
        self._place(self._pose)
        self._progress, self._steps = Progress(task, self.frame), 0
        _, _, info = self._progress.update(self._pose, Action())
        words = LanguageGoal(str(task.params.get("instruction", "")), task.interaction,
                             TargetAttributes(task.target, task.interaction), "task-file")
        return self._observe(), Goal.for_task(task.goal, CrossViewGoal(image, mask, task.interaction), words), info

    def step(self, action: Action) -> tuple[Observation, bool, bool | None, StepInfo]:
        if self._progress is None:
            raise CrossviewError(f"{type(self).__name__}: step() called before reset()")
        self._pose = self._move(action)
        self._steps += 1
        done, success, info = self._progress.update(self._pose, action.without(frozenset(self.table["masked"])))
        return self._observe(), done, success, info
