"""A rig without a camera, for soak tests of the robot's stop paths through whole sweeps: blank frames and the real
robot driver (``adapters.realsense.robot.make_base``). Named in configs by import path
(``tests.servers.robot_rig:BlankRig``)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from adapters.base import AdapterInfo
from adapters.realsense.robot import make_base
from harness import safety
from harness.spec import Action, CrossViewGoal, Interaction, Observation, StepInfo, TaskSpec


class BlankRig:
    """Blank 16×16 frames; every action goes to the robot; the episode ends (and the robot stops) at max_steps."""

    def __init__(self, robot: dict[str, Any], max_steps: int = 50, confirm: bool = False) -> None:
        self.base = make_base(**robot)
        self.confirm = confirm  # an operator who always confirms after an emergency stop
        self.max_steps = max_steps
        self.info = AdapterInfo(name="blankrig", obs_size=(16, 16), has_depth=False, seedable=True,
                                privileged_success=False, control_hz=10.0, domains=("real",))
        self._steps = 0

    def tasks(self, suite: str = "train") -> list[TaskSpec]:
        return [TaskSpec("blankrig", "real", 0, Interaction.APPROACH, "nothing", "easy", suite, self.max_steps, 0.0)]

    def _obs(self) -> Observation:
        return Observation(np.zeros((16, 16, 3), np.uint8), None, 0.0)

    def reset(self, task: TaskSpec) -> tuple[Observation, CrossViewGoal, StepInfo]:
        self.base.stop()
        if self.confirm:
            safety.confirm()
        self.base.rearm()
        self._steps = 0
        return self._obs(), CrossViewGoal(np.zeros((16, 16, 3), np.uint8), np.zeros((16, 16), bool),
                                          Interaction.APPROACH), StepInfo()

    def step(self, action: Action) -> tuple[Observation, bool, bool | None, StepInfo]:
        self.base.apply(action)
        self._steps += 1
        if self._steps >= self.max_steps:
            self.base.stop()
            return self._obs(), True, None, StepInfo()
        return self._obs(), False, None, StepInfo()

    def close(self) -> None:
        self.base.close()



class FlakyPolicy:
    """Random moves; in each episode, with probability ``p``, it fails at a random step, noting the moment
    (time.monotonic) in the file ``log``: ``mode`` "error" raises (a policy failure), "crash" raises SystemExit,
    which nothing in the worker catches (a worker exception)."""

    def __init__(self, log: str, mode: str = "error", p: float = 0.7, max_step: int = 6) -> None:
        from policies.base import PolicyInfo

        self.info = PolicyInfo(name="flaky")
        self.log, self.mode, self.p, self.max_step = log, mode, p, max_step
        self.rng = np.random.default_rng()
        self.at = self.calls = 0

    def reset(self, n: int, slots: Any = None, seeds: Any = None) -> None:
        self.at = int(self.rng.integers(1, self.max_step + 1)) if self.rng.random() < self.p else 0
        self.calls = 0

    def act(self, observations: list, goals: list, privileged: list, slots: Any = None) -> list[Action]:
        self.calls += 1
        if self.calls == self.at:
            with open(self.log, "a") as f:
                f.write(f"{time.monotonic()!r}\n")
            if self.mode == "crash":
                raise SystemExit(3)
            raise RuntimeError("injected policy failure")
        return [Action(forward=bool(self.rng.random() < 0.7), camera=(0.0, float(self.rng.uniform(-20, 20))))
                for _ in observations]
