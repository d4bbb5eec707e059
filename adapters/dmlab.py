"""DeepMind Lab through the real ``deepmind_lab`` module (built from source with Bazel; see the README).

Observations are ``RGB_INTERLEAVED`` (320×240 by default); the common action maps to DMLab's int32[7]
``[look left/right px, look down/up px, strafe, move, fire, jump, crouch]`` with the paper's table (yaw × 4.75 px,
pitch × 2.78 px, forward/back = move ±1, left/right = strafe ∓/±1, attack = fire, sneak = crouch; use and jump
masked), repeated ``action_repeat`` frames. DMLab goals are made by hand: tasks come from a goal library folder.
Success: the goal object is collected (a positive reward) within the step limit (300 by default).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from adapters.action_map import merge_table
from adapters.base import AdapterInfo
from harness.errors import BackendUnavailable, CrossviewError
from harness.goals import StoredGoal, load_library
from harness.spec import Action, CrossViewGoal, Observation, StepInfo, TaskSpec

DEFAULT_LEVEL = "contributed/dmlab30/explore_object_locations_small"
INSTALL = ("DeepMind Lab is built from source with Bazel (github.com/google-deepmind/lab): build "
           "//python/pip_package:build_pip_package and pip install the wheel it writes")
DEFAULT_TABLE: dict[str, Any] = {
    "forward": [3, 1], "back": [3, -1], "left": [2, -1], "right": [2, 1], "attack": [4, 1], "sneak": [6, 1],
    "jump": [5, 1], "use": None, "yaw_scale": 4.75, "pitch_scale": 2.78, "masked": ["use", "jump"],
}
POSITION = "DEBUG.POS.TRANS"
LOOK_LIMIT = 512


def native_action(action: Action, table: dict[str, Any]) -> np.ndarray:
    """The int32[7] DMLab action of a common action (masked fields ignored, values clipped to DMLab's spec)."""
    a = action.without(frozenset(table.get("masked", ())))
    out = np.zeros(7, np.float64)
    for name in ("forward", "back", "left", "right", "attack", "sneak", "jump", "use"):
        entry = table.get(name)
        if entry is not None and getattr(a, name):
            out[int(entry[0])] += float(entry[1])
    out[0] = table["yaw_scale"] * a.yaw
    out[1] = table["pitch_scale"] * a.pitch
    out[:2] = np.clip(out[:2], -LOOK_LIMIT, LOOK_LIMIT)
    out[2:] = np.clip(out[2:], -1, 1)
    return np.rint(out).astype(np.intc)


def level_config(width: int, height: int, fps: int, maze: str | None = None, extra: dict | None = None
                 ) -> dict[str, str]:
    """DMLab's config mapping (all values strings, as the engine wants them)."""
    config = {"width": str(width), "height": str(height), "fps": str(fps)}
    if maze is not None:
        config["mazeLayout"] = maze  # read by levels that accept a layout (see generate_maze)
    for key, value in (extra or {}).items():
        config[str(key)] = str(value)
    return config


def generate_maze(width: int, height: int, seed: int, rooms: int = 4) -> str:
    """A DMLab text maze from labmaze (``*`` walls, spaces corridors, ``P`` spawn, ``G`` goal objects)."""
    try:
        import labmaze
    except ImportError:
        raise BackendUnavailable("maze layouts need labmaze: pip install labmaze") from None
    maze = labmaze.RandomMaze(height=height, width=width, max_rooms=rooms, room_min_size=3, room_max_size=5,
                              spawns_per_room=1, objects_per_room=1, random_seed=seed)
    return str(maze.entity_layer)


class DMLabAdapter:
    """A DMLab level behind the Adapter protocol; ``goals`` is the goal library folder."""

    def __init__(self, goals: str, level: str = DEFAULT_LEVEL, width: int = 320, height: int = 240, fps: int = 60,
                 action_repeat: int = 4, max_steps: int = 300, renderer: str = "software",
                 action_map: dict[str, Any] | None = None, maze: dict[str, int] | None = None,
                 config: dict[str, Any] | None = None) -> None:
        self.table = merge_table(DEFAULT_TABLE, action_map, "dmlab")
        self.library: list[StoredGoal] = load_library(goals)
        if action_repeat < 1:
            raise CrossviewError(f"dmlab option action_repeat must be >= 1, got {action_repeat}")
        self.level, self.size, self.fps, self.repeat = level, (int(height), int(width)), fps, int(action_repeat)
        self.max_steps, self.renderer, self.maze, self.extra = int(max_steps), renderer, maze, config or {}
        self.deepmind_lab = self.check_available()
        self.info = AdapterInfo(
            name="dmlab", obs_size=self.size, has_depth=False, seedable=True, privileged_success=True,
            control_hz=fps / self.repeat, masked=frozenset(self.table["masked"]),
            interactions=tuple(sorted({g.goal.interaction for g in self.library})), domains=(level,))
        self._lab: Any = None
        self._task: TaskSpec | None = None

    @classmethod
    def check_available(cls) -> Any:
        try:
            import deepmind_lab
        except ImportError:
            raise BackendUnavailable(f"deepmind_lab is not installed: {INSTALL}") from None
        return deepmind_lab

    def tasks(self, suite: str = "train") -> list[TaskSpec]:
        """One task per goal of the library in the split ``suite``."""
        return [TaskSpec("dmlab", self.level, 0, g.goal.interaction, g.target or g.name, g.difficulty, g.split,
                         self.max_steps, 0.0, {"goal": g.name}) for g in self.library if g.split == suite]

    def _goal(self, task: TaskSpec) -> CrossViewGoal:
        name = task.params.get("goal")
        for g in self.library:
            if g.name == name:
                return g.goal
        raise CrossviewError(f"dmlab: goal {name!r} is not in the goal library")

    def reset(self, task: TaskSpec) -> tuple[Observation, CrossViewGoal, StepInfo]:
        if self._lab is None:
            maze = generate_maze(seed=task.seed, **self.maze) if self.maze else None
            self._lab = self.deepmind_lab.Lab(self.level, ["RGB_INTERLEAVED", POSITION],
                                              config=level_config(self.size[1], self.size[0], self.fps, maze,
                                                                  self.extra), renderer=self.renderer)
        self._lab.reset(seed=int(task.seed))
        self._task, self._steps = task, 0
        return self._observe(), self._goal(task), self._info(0.0)

    def _observe(self) -> Observation:
        obs = self._lab.observations()
        return Observation(np.ascontiguousarray(obs["RGB_INTERLEAVED"]), None, self._steps / self.info.control_hz)

    def _info(self, reward: float) -> StepInfo:
        extra: dict[str, Any] = {"reward": reward}
        if self._lab.is_running():
            obs = self._lab.observations()
            if POSITION in obs:
                extra["pose"] = tuple(float(v) for v in obs[POSITION])
        return StepInfo(target=self._task.target if self._task else "", extra=extra)

    def step(self, action: Action) -> tuple[Observation, bool, bool | None, StepInfo]:
        reward = float(self._lab.step(native_action(action, self.table), num_steps=self.repeat))
        self._steps += 1
        running = self._lab.is_running()
        success = reward > 0
        if not running and not success:
            return Observation(np.zeros((*self.size, 3), np.uint8), None, self._steps / self.info.control_hz), \
                True, False, StepInfo(target=self._task.target, extra={"reward": reward})
        return self._observe(), success, success, self._info(reward)

    def close(self) -> None:
        if self._lab is not None:
            self._lab.close()
            self._lab = None
