"""The real rig: a RealSense camera on a robot base, goals from a goal library, success judged by the operator.

    - adapter: realsense
      options: {goals: rig_goals/, serial: "123456789", robot: {driver: line, url: "tcp://car:9100"}}
      # or, for a recording: {goals: rig_goals/, file: run.db3, operator: none}

Before each episode the operator is asked (on the terminal, /dev/tty) to set the scene; at its end (the task's step
limit, or the end of a recording) to judge it: y / n / s(kip). A skipped episode is stored as ``unjudged``
(``success`` None). ``operator: none`` asks nothing (files, dry runs): every episode is unjudged. After an emergency
stop (harness.safety) the next episode starts only once the operator has typed ``go``; with ``operator: none``
nobody can, so later episodes are aborted. The intrinsics of the frames as delivered (resized to ``image_size``)
travel with every episode.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from adapters.base import AdapterInfo
from adapters.realsense.camera import RealSenseCamera, import_rs
from adapters.realsense.robot import RobotBase, make_base
from harness import safety
from harness.errors import CrossviewError
from harness.goals import StoredGoal, load_library
from harness.spec import (
    ACTION_FIELDS,
    Action,
    CrossViewGoal,
    Goal,
    Interaction,
    LanguageGoal,
    Modality,
    Observation,
    StepInfo,
    TargetAttributes,
    TaskSpec,
)

PAPER_MASKED = ("pitch", "jump", "sneak", "use")  # the paper's car: camera pitch masked


def ask_terminal(prompt: str) -> str:
    """Ask the operator on the controlling terminal (a sweep's workers have no stdin of their own)."""
    try:
        tty = open("/dev/tty", "r+")  # noqa: SIM115 - closed below
    except OSError:
        raise CrossviewError("the operator has no terminal here: run the sweep from a terminal, or use "
                             "operator: none for unattended runs") from None
    with tty:
        tty.write(prompt)
        tty.flush()
        line = tty.readline()
    if not line:
        raise CrossviewError("the operator's terminal closed: use operator: none for unattended runs")
    return line.strip().lower()


class RigAdapter:
    """A physical rig behind the Adapter protocol."""

    def __init__(self, goals: str, serial: str | None = None, file: str | None = None,
                 image_size: tuple[int, int] | list[int] = (224, 224), fps: int = 30,
                 robot: dict[str, Any] | None = None, operator: str = "terminal",
                 masked: tuple[str, ...] | list[str] = PAPER_MASKED, max_steps: int = 60,
                 ask: Callable[[str], str] | None = None) -> None:
        import_rs()
        bad = set(masked) - set(ACTION_FIELDS)
        if bad:
            raise CrossviewError(f"realsense option masked has unknown field(s) {sorted(bad)}")
        if operator not in ("terminal", "none"):
            raise CrossviewError(f"realsense option operator {operator!r}: use terminal or none")
        self.library: list[StoredGoal] = load_library(goals)
        self.size, self.max_steps, self.operator = tuple(int(v) for v in image_size), int(max_steps), operator
        self.camera = RealSenseCamera(serial=serial, file=file, size=self.size, fps=fps)
        self.base: RobotBase = make_base(**{**(robot or {}), **({"masked": frozenset(masked)}
                                                                 if (robot or {}).get("driver") == "line" else {})})
        self.ask = ask or ask_terminal
        self.info = AdapterInfo(name="realsense", obs_size=self.size, has_depth=True, seedable=False,
                                privileged_success=False, control_hz=2.0, masked=frozenset(masked),
                                interactions=tuple(sorted({g.goal.interaction for g in self.library})) or
                                (Interaction.APPROACH,), domains=("real",),
                                goals=(Modality.CROSS_VIEW,) + ((Modality.LANGUAGE,) if self.library and all(
                                    g.instruction for g in self.library) else ()))
        self._task: TaskSpec | None = None

    def tasks(self, suite: str = "train") -> list[TaskSpec]:
        return [TaskSpec("realsense", "real", 0, g.goal.interaction, g.target or g.name, g.difficulty, g.split,
                         self.max_steps, 0.0, {"goal": g.name}) for g in self.library if g.split == suite]

    def _goal(self, task: TaskSpec) -> CrossViewGoal | Goal:
        for g in self.library:
            if g.name == task.params.get("goal"):
                words = LanguageGoal(g.instruction, g.goal.interaction,
                                     TargetAttributes(g.target or g.name, g.goal.interaction), "capture")
                return Goal.for_task(task.goal, g.goal, words)
        raise CrossviewError(f"realsense: goal {task.params.get('goal')!r} is not in the goal library")

    def _frame(self) -> tuple[Observation, bool]:
        frame = self.camera.read()
        if frame is None:
            return Observation(self._last.rgb, self._last.depth, self._last.t), True
        rgb, depth, stamp = frame
        self._last = Observation(rgb, depth, (stamp - self._t0) / 1000.0 if self._t0 is not None else 0.0)
        return self._last, False

    def _confirm_stop(self) -> None:
        """After an emergency stop: go on only once the operator says the rig is safe."""
        why = safety.unconfirmed()
        if why is None:
            return
        if self.operator != "terminal":
            raise safety.EmergencyStop("the robot was emergency-stopped earlier and nobody can confirm that it is "
                                       "safe to go on (operator: none): check the rig, then run the sweep again")
        while self.ask(f"[crossview] the robot was emergency-stopped: {why}. Make the rig safe, then type 'go' "
                       "to start the next episode: ") != "go":
            pass
        safety.confirm()

    def reset(self, task: TaskSpec) -> tuple[Observation, CrossViewGoal | Goal, StepInfo]:
        goal = self._goal(task)
        self.base.stop()
        self._confirm_stop()
        if self.operator == "terminal":
            self.ask(f"[crossview] set the scene for goal {task.params.get('goal')!r} ({task.target}), "
                     "then press Enter ")
        self.camera.start()  # a recording replays from its start for every episode
        self._t0 = None
        frame = self.camera.read()
        if frame is None:
            raise CrossviewError(f"RealSense source {self.camera.file or self.camera.serial} gave no frame")
        rgb, depth, stamp = frame
        self._t0 = stamp
        self._last = Observation(rgb, depth, 0.0)
        self._task, self._steps = task, 0
        self.base.rearm()
        return self._last, goal, StepInfo(target=task.target, provenance={"intrinsics": self.camera.intrinsics})

    def _judge(self) -> bool | None:
        if self.operator != "terminal":
            return None
        while True:
            answer = self.ask(f"[crossview] did the robot succeed at {self._task.target}? [y/n/s(kip)] ")
            if answer in ("y", "yes"):
                return True
            if answer in ("n", "no"):
                return False
            if answer in ("s", "skip", ""):
                return None

    def step(self, action: Action) -> tuple[Observation, bool, bool | None, StepInfo]:
        if self._task is None:
            raise CrossviewError("realsense: step() called before reset()")
        try:
            self.base.apply(action)
            obs, ended = self._frame()
        except safety.EmergencyStop:
            raise  # the robot is stopped already
        except Exception as exc:  # the camera (or anything else) failed mid-episode: the robot stops first
            safety.emergency_stop(f"the rig failed during a step: {exc}")
            raise
        self._steps += 1
        if ended or self._steps >= self._task.max_steps:
            self.base.stop()
            return obs, True, self._judge(), StepInfo(target=self._task.target, extra={"end_of_recording": ended})
        return obs, False, None, StepInfo(target=self._task.target)

    def close(self) -> None:
        self.base.close()
        self.camera.stop()
