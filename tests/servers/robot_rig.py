"""A rig without a camera, for soak tests of the robot's stop paths through whole sweeps: blank frames and the real
robot driver (``adapters.realsense.robot.make_base``). Named in configs by import path
(``tests.servers.robot_rig:BlankRig``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from adapters.base import AdapterInfo
from adapters.realsense.robot import make_base
from harness.spec import Action, CrossViewGoal, Interaction, Observation, TaskSpec


class BlankRig:
    """Blank 16×16 frames; every action goes to the robot; the episode ends (and the robot stops) at max_steps."""

    def __init__(self, robot: dict[str, Any], max_steps: int = 50) -> None:
        self.base = make_base(**robot)
        self.max_steps = max_steps
        self.info = AdapterInfo(name="blankrig", obs_size=(16, 16), has_depth=False, seedable=True,
                                privileged_success=False, control_hz=10.0, domains=("real",))
        self._steps = 0

    def tasks(self, suite: str = "train") -> list[TaskSpec]:
        return [TaskSpec("blankrig", "real", 0, Interaction.APPROACH, "nothing", "easy", suite, self.max_steps, 0.0)]

    def _obs(self) -> Observation:
        return Observation(np.zeros((16, 16, 3), np.uint8), None, 0.0)

    def reset(self, task: TaskSpec) -> tuple[Observation, CrossViewGoal, dict[str, Any]]:
        self.base.stop()
        self.base.rearm()
        self._steps = 0
        return self._obs(), CrossViewGoal(np.zeros((16, 16, 3), np.uint8), np.zeros((16, 16), bool),
                                          Interaction.APPROACH), {}

    def step(self, action: Action) -> tuple[Observation, bool, bool | None, dict[str, Any]]:
        self.base.apply(action)
        self._steps += 1
        if self._steps >= self.max_steps:
            self.base.stop()
            return self._obs(), True, None, {}
        return self._obs(), False, None, {}

    def close(self) -> None:
        self.base.close()

