"""Minecraft through MineStudio's ``MinecraftSim`` (optional extra ``minecraft``).

The engine (``mcprec-6.13.jar``) is downloaded by MineStudio from the Hugging Face hub and needs Java 8 and a
virtual display (``xvfb-run``). Each task spawns the player at its start distance from the target, captures the
cross-view goal by teleporting to a pose that sees the target (the frame, plus a mask from projecting the target's
voxel box with the game's 70° field of view), and teleports back. Success comes from the simulator's statistics:
``mine_block`` (mine), ``kill_entity`` (hunt), ``use_item`` (interact), or distance for approach.
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from adapters.base import AdapterInfo
from adapters.minecraft.actions import env_action
from adapters.minecraft.projection import block_mask, look_at
from adapters.minecraft.tasks import INTERACTIONS, START_DISTANCE, MinecraftTask, load_tasks
from harness.errors import BackendUnavailable, CrossviewError
from harness.spec import Action, CrossViewGoal, Interaction, Observation, StepInfo, TaskSpec

FOV = 70.0
APPROACH_RADIUS = 2.0
GOAL_DISTANCE = 6.0
INSTALL = ("pip install 'crossview-harness[minecraft]'; MineStudio then needs its engine "
           "(python -m minestudio.simulator.entry -y downloads it), Java 8 (apt-get install openjdk-8-jre) and "
           "a virtual display (apt-get install xvfb; run under xvfb-run)")
STAT = {Interaction.MINE: "mine_block", Interaction.HUNT: "kill_entity", Interaction.INTERACT: "use_item"}


def engine_path() -> Path:
    """Where MineStudio keeps its simulator engine jar."""
    root = os.environ.get("MINESTUDIO_DIR") or str(Path.home() / ".cache" / "minestudio")
    return Path(root) / "engine" / "build" / "libs" / "mcprec-6.13.jar"


def _stat(info: dict[str, Any], key: str, name: str) -> float:
    table = info.get(key) or {}
    value = table.get(name, table.get(f"minecraft:{name}", 0))
    return float(np.asarray(value).sum())


def _position(info: dict[str, Any]) -> tuple[float, float, float]:
    pos = info.get("player_pos") or info.get("location_stats") or {}
    get = lambda *keys: float(next((pos[k] for k in keys if k in pos), 0.0))  # noqa: E731
    return get("x", "xpos"), get("y", "ypos"), get("z", "zpos")


class MinecraftAdapter:
    """MineStudio's Minecraft behind the Adapter protocol; ``tasks`` is a task YAML file."""

    def __init__(self, tasks: str, image_size: tuple[int, int] | list[int] = (224, 224),
                 render_size: tuple[int, int] | list[int] = (640, 360), masked: tuple[str, ...] | list[str] = ()
                 ) -> None:
        self.task_list: list[MinecraftTask] = load_tasks(tasks)
        self.check_available()
        self.size, self.render_size = tuple(int(v) for v in image_size), tuple(int(v) for v in render_size)
        self.info = AdapterInfo(name="minecraft", obs_size=self.size, has_depth=False, seedable=False,
                                privileged_success=True, control_hz=20.0, masked=frozenset(masked),
                                interactions=INTERACTIONS, domains=("overworld",))
        self._sim: Any = None
        self._seed: int | None = None
        self._task: MinecraftTask | None = None

    @classmethod
    def check_available(cls) -> None:
        """One line naming what is missing: MineStudio, its engine, Java, a display."""
        try:
            import minestudio  # noqa: F401
        except ImportError:
            raise BackendUnavailable(f"MineStudio is not installed: {INSTALL}") from None
        if not engine_path().is_file():
            raise BackendUnavailable(f"MineStudio's engine {engine_path()} is missing: {INSTALL}")
        if shutil.which("java") is None:
            raise BackendUnavailable(f"Java is not on PATH: {INSTALL}")
        if not os.environ.get("DISPLAY"):
            raise BackendUnavailable(f"no display (DISPLAY is unset): {INSTALL}")

    def tasks(self, suite: str = "train") -> list[TaskSpec]:
        return [TaskSpec("minecraft", "overworld", 0, t.interaction, f"{t.kind}:{t.target}", t.difficulty, t.split,
                         t.max_steps, APPROACH_RADIUS, {"task": t.name}) for t in self.task_list if t.split == suite]

    def _find(self, task: TaskSpec) -> MinecraftTask:
        for t in self.task_list:
            if t.name == task.params.get("task"):
                return t
        raise CrossviewError(f"minecraft: task {task.params.get('task')!r} is not in the task file")

    def _make_sim(self, t: MinecraftTask) -> Any:
        from minestudio.simulator import MinecraftSim

        if self._sim is not None and self._seed == t.seed:
            return self._sim
        self.close()
        self._sim = MinecraftSim(action_type="env", obs_size=self.size, render_size=self.render_size, seed=t.seed,
                                 inventory={i: {"type": n, "quantity": q} for i, (n, q) in enumerate(t.inventory)})
        self._seed = t.seed
        return self._sim

    def _teleport(self, pos: tuple[float, float, float], yaw: float, pitch: float) -> tuple[Any, dict]:
        self._sim.env.execute_cmd(f"/tp @p {pos[0]:.2f} {pos[1]:.2f} {pos[2]:.2f} {yaw:.1f} {pitch:.1f}")
        obs, _, _, _, info = self._sim.step(env_action(Action()))
        return obs, info

    def reset(self, task: TaskSpec) -> tuple[Observation, CrossViewGoal, StepInfo]:
        t = self._find(task)
        sim = self._make_sim(t)
        sim.reset()
        rng = np.random.default_rng(task.seed)
        centre = (t.at[0] + 0.5, t.at[1] + 0.5, t.at[2] + 0.5)
        # goal: a pose GOAL_DISTANCE away that looks at the target; the mask projects the target's voxel box
        a = rng.uniform(0, 2 * math.pi)
        gpos = (centre[0] + GOAL_DISTANCE * math.cos(a), t.at[1] + 1.0, centre[2] + GOAL_DISTANCE * math.sin(a))
        gyaw, gpitch = look_at(gpos, centre)
        gobs, _ = self._teleport(gpos, gyaw, gpitch)
        mask = block_mask(tuple(int(v) for v in t.at), gpos, gyaw, gpitch, FOV, self.render_size, self.size)
        goal = CrossViewGoal(np.asarray(gobs["image"], np.uint8), mask, t.interaction)
        # start: the task's distance band, facing a random direction
        lo, hi = START_DISTANCE[t.difficulty]
        d, b = rng.uniform(lo, hi), rng.uniform(0, 2 * math.pi)
        start = (centre[0] + d * math.cos(b), t.at[1] + 1.0, centre[2] + d * math.sin(b))
        obs, info = self._teleport(start, float(rng.uniform(-180, 180)), 0.0)
        self._task, self._steps = t, 0
        self._baseline = _stat(info, STAT.get(t.interaction, ""), t.target) if t.interaction in STAT else 0.0
        return self._observe(obs), goal, self._info(info)

    def _observe(self, obs: dict) -> Observation:
        return Observation(np.asarray(obs["image"], np.uint8), None, self._steps / self.info.control_hz)

    def _info(self, info: dict[str, Any]) -> StepInfo:
        x, y, z = _position(info)
        t = self._task
        assert t is not None
        return StepInfo(target=f"{t.kind}:{t.target}",
                        distance=math.dist((x, y, z), (t.at[0] + 0.5, t.at[1] + 0.5, t.at[2] + 0.5)))

    def step(self, action: Action) -> tuple[Observation, bool, bool | None, StepInfo]:
        t = self._task
        if t is None:
            raise CrossviewError("minecraft: step() called before reset()")
        obs, _, terminated, truncated, info = self._sim.step(env_action(action, self.info.masked))
        self._steps += 1
        out = self._info(info)
        if t.interaction in STAT:
            success = _stat(info, STAT[t.interaction], t.target) > self._baseline
        else:
            success = out.distance <= APPROACH_RADIUS
        return self._observe(obs), bool(success or terminated or truncated), bool(success), out

    def close(self) -> None:
        if self._sim is not None:
            self._sim.close()
            self._sim = None
