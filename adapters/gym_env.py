"""Every crossview adapter as a Gymnasium environment, ``crossview/<Name>-v0``.

Observation: Dict(image, goal_image, goal_mask, interaction). Action: Dict(buttons MultiBinary(9) in
``harness.spec.BUTTONS`` order, camera Box(2) = (pitch°, yaw°)). Reward 1 on success; ``terminated`` when the
adapter ends the episode, ``truncated`` at the task's ``max_steps``. The adapter's masked action fields are set to
neutral before every step. ``info`` holds the adapter's StepInfo fields by name (``target``, ``distance``,
``episode_return``, ``score``, ``privileged`` — PrivilegedFacts or None —, ``provenance``, ``extra``), plus ``task``
after a reset and ``success`` after a step.

    import adapters, gymnasium
    env = gymnasium.make("crossview/Rooms-v0", domain="warehouse", interaction="mine")
"""

from __future__ import annotations

import dataclasses
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

from adapters.base import make_adapter, masked_step, registry, step_info
from harness.errors import CrossviewError
from harness.spec import BUTTONS, Action, CrossViewGoal, Interaction, Observation, StepInfo, TaskSpec

MAX_TURN = 180.0


class CrossViewEnv(gymnasium.Env):
    """Gymnasium view of one adapter; each reset draws a task of the suite (filtered by the arguments)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, adapter: str = "rooms", suite: str = "train", domain: str | None = None,
                 interaction: str | None = None, difficulty: str | None = None, render_mode: str | None = None,
                 **options: Any) -> None:
        self.adapter = make_adapter(adapter, **options)
        tasks = self.adapter.tasks(suite)
        wanted = None if interaction is None else Interaction.parse(interaction)
        self.tasks = [t for t in tasks if (domain is None or t.domain == domain)
                      and (wanted is None or t.interaction == wanted)
                      and (difficulty is None or t.difficulty == difficulty)]
        if not self.tasks:
            raise CrossviewError(f"{adapter}: no task in suite {suite!r} matches domain={domain!r}, "
                                 f"interaction={interaction!r}, difficulty={difficulty!r}")
        h, w = self.adapter.info.obs_size
        self.render_mode = render_mode
        self.observation_space = spaces.Dict({
            "image": spaces.Box(0, 255, (h, w, 3), np.uint8),
            "goal_image": spaces.Box(0, 255, (h, w, 3), np.uint8),
            "goal_mask": spaces.MultiBinary([h, w]),
            "interaction": spaces.Discrete(8, start=-1),
        })
        self.action_space = spaces.Dict({
            "buttons": spaces.MultiBinary(len(BUTTONS)),
            "camera": spaces.Box(-MAX_TURN, MAX_TURN, (2,), np.float32),
        })
        self._goal: CrossViewGoal | None = None
        self._obs: Observation | None = None
        self._task: TaskSpec | None = None
        self._steps = 0

    def _observation(self) -> dict[str, Any]:
        assert self._obs is not None and self._goal is not None
        return {"image": self._obs.rgb, "goal_image": self._goal.image.copy(),  # callers may keep and edit
                "goal_mask": self._goal.mask.astype(np.int8), "interaction": int(self._goal.interaction)}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Start a task: ``options={"task": TaskSpec}`` replays one exactly, else one is drawn from the suite."""
        super().reset(seed=seed)
        task = (options or {}).get("task")
        if task is None:
            template = self.tasks[int(self.np_random.integers(len(self.tasks)))]
            task = dataclasses.replace(template, seed=int(self.np_random.integers(2**31 - 1)))
        self._task, self._steps = task, 0
        self._obs, self._goal, info = self.adapter.reset(task)
        return self._observation(), {**_fields(step_info(info, self.adapter.info.name)), "task": task}

    def step(self, action: dict[str, Any] | Action) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        if not isinstance(action, Action):
            action = Action.from_arrays(action["buttons"], action["camera"])
        self._obs, done, success, info = masked_step(self.adapter, action)
        self._steps += 1
        assert self._task is not None
        truncated = not done and self._steps >= self._task.max_steps
        return self._observation(), float(bool(success)), bool(done), truncated, {**_fields(info), "success": success}

    def render(self) -> np.ndarray | None:
        return None if self._obs is None else self._obs.rgb

    def close(self) -> None:
        self.adapter.close()


def _fields(info: StepInfo) -> dict[str, Any]:
    """A StepInfo as Gymnasium's info dict (shallow: PrivilegedFacts stays a typed value)."""
    return {f.name: getattr(info, f.name) for f in dataclasses.fields(info)}


def env_id(adapter: str) -> str:
    """The Gymnasium id of an adapter, e.g. ``crossview/Rooms-v0``."""
    return f"crossview/{adapter[:1].upper()}{adapter[1:]}-v0"


def register_envs() -> None:
    """Register every known adapter with Gymnasium (idempotent)."""
    for name in registry():
        if env_id(name) not in gymnasium.registry:
            gymnasium.register(env_id(name), entry_point="adapters.gym_env:CrossViewEnv",
                               kwargs={"adapter": name}, disable_env_checker=True)
