"""A deliberately broken adapter plugin, for showing that 'crossview check' says what is wrong.

Its faults: the goal mask marks blank wall instead of the target, a masked field ('jump') still turns the view,
and close() leaks an open file. Everything else follows the contract.
"""

from __future__ import annotations

import os

import numpy as np

from adapters.base import AdapterInfo
from harness.spec import Action, CrossViewGoal, Interaction, Observation, StepInfo, TaskSpec

H, W = 48, 64


class BrokenAdapter:
    def __init__(self) -> None:
        self.info = AdapterInfo(name="broken", obs_size=(H, W), has_depth=False, seedable=True,
                                privileged_success=True, control_hz=10.0, masked=frozenset({"jump"}),
                                interactions=(Interaction.APPROACH,))
        self._leaks: list[int] = []

    def tasks(self, suite: str = "train") -> list[TaskSpec]:
        return [TaskSpec("broken", "flat", 0, Interaction.APPROACH, "block", "easy", suite, 10, 0.0)]

    def _view(self) -> np.ndarray:
        image = np.full((H, W, 3), 90, np.uint8)  # a blank grey wall...
        x = int(self._x) % W
        image[16:32, x:x + 8] = (220, 30, 30)  # ...and the red target block
        return image

    def reset(self, task: TaskSpec) -> tuple[Observation, CrossViewGoal, StepInfo]:
        self._x, self._steps = float(task.seed % 40), 0
        goal = self._view()
        wrong = np.zeros((H, W), bool)
        wrong[2:10, 2:10] = True  # fault 1: the mask sits on blank wall, not on the block
        self._x += 5
        self._leaks.append(os.open(os.devnull, os.O_RDONLY))
        return Observation(self._view(), None, 0.0), CrossViewGoal(goal, wrong, task.interaction), StepInfo()

    def step(self, action: Action) -> tuple[Observation, bool, bool | None, StepInfo]:
        self._x += action.yaw / 5 + (3.0 if action.jump else 0.0)  # fault 2: masked 'jump' moves the view
        self._steps += 1
        return Observation(self._view(), None, self._steps / 10.0), False, False, StepInfo()

    def close(self) -> None:
        pass  # fault 3: the files opened by reset stay open
