"""Minecraft through MineStudio's ``MinecraftSim`` (optional extra ``minecraft``, minestudio==1.1.6).

Every reset seeds the world (MineStudio forgets a seed after each reset: CraftJarvis/MineStudio:
minestudio/simulator/minerl/env/_multiagent.py:508, and seeds only once at construction: entry.py:138; upstream's
HardResetCallback seeds before every reset the same way: callbacks/hard_reset.py:73), places the task's target
(``world.setblock`` / ``world.summon``), and waits for chunks after every teleport (hard_reset.py:91-93 waits 50
ticks). The goal view is taken from standable ground a few blocks from the target, looking at it; the mask is the
target's box projected with the game's camera, and the view is rejected while the target is occluded (fewer than
``MIN_VISIBLE`` of the mask's pixels change when the target is hidden). The start is standable ground at the task's
distance band. World facts are converted to crossview's frame (``projection``): metres, x/y ground, z up.
"""

from __future__ import annotations

import contextlib
import math
import os
from typing import Any

import numpy as np

from adapters.base import AdapterInfo
from adapters.minecraft import world
from adapters.minecraft.actions import env_action
from adapters.minecraft.prereqs import missing
from adapters.minecraft.projection import (
    block_box,
    box_mask,
    distance_to_box,
    entity_box,
    eye_of,
    look_at,
    to_crossview,
    yaw_to_crossview,
)
from adapters.minecraft.tasks import INTERACTIONS, START_DISTANCE, MinecraftTask, load_tasks, steve_instruction
from harness.errors import BackendUnavailable, CrossviewError
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

FOV = 70.0  # MinecraftSim's fixed field of view (entry.py:128)
APPROACH_RADIUS = 2.0
REACH = 4.5  # how far the player can mine or hit
REACH_SLACK = 0.5  # the player may move this far in the tick after it opened the target
GOAL_DISTANCE = 6.0
GOAL_TRIES = 12
START_TRIES = 8
SETTLE_TICKS = 50  # after a long teleport, as hard_reset.py:91 does
SHORT_TICKS = 3  # after turning in place or changing one block
MIN_VISIBLE = 0.5
MIN_MASK_PIXELS = 30
DEFAULT_MOB_SIZE = (0.9, 1.3)


def mob_size(name: str) -> tuple[float, float]:
    """(width, height) of a mob's box from minecraft-data (a MineStudio dependency, pinned to 3.20.0).

    ``minecraft_data(version)`` (SpockBotMC/python-minecraft-data:minecraft_data/__init__.py:8) indexes entities
    by name in ``entities_name`` (minecraft_data/tools.py:32); MineStudio's engine is Minecraft 1.16 (its constants are
    minerl/herobraine/hero/mc_constants.1.16.json), so the 1.16.5 data apply.
    """
    try:
        import minecraft_data

        entity = minecraft_data("1.16.5").entities_name.get(name) or {}
        return float(entity["width"]), float(entity["height"])
    except (ImportError, KeyError, TypeError, ValueError, AttributeError):
        return DEFAULT_MOB_SIZE


def sim_options(size: tuple[int, ...], render_size: tuple[int, ...], t: MinecraftTask) -> dict[str, Any]:
    """``MinecraftSim`` keyword arguments (entry.py:104-116) for an (H, W) observation ``size``.

    ``obs_size`` is (W, H): MineStudio hands it to ``cv2.resize`` as ``dsize`` (entry.py:239). The inventory maps
    slots to ``{"type", "quantity"}`` (minerl/herobraine/hero/handlers/agent/start.py:39-57).
    """
    return {"action_type": "env", "obs_size": (int(size[1]), int(size[0])), "render_size": tuple(render_size),
            "seed": int(t.seed), "inventory": {i: {"type": n, "quantity": q} for i, (n, q) in enumerate(t.inventory)}}


LAUNCH_TRAILER = "Minecraft process finished unexpectedly. There was an error with Malmo."  # malmo.py:453-454


def engine_call(what: str, call: Any) -> Any:
    """Run an engine call; whatever the engine raises becomes one line.

    A failed launch surfaces from MineStudio as an EOFError carrying the launch log and a fixed last sentence
    (minestudio/simulator/minerl/env/malmo.py:437-454), which is dropped so the log's own last words fit the line;
    MineStudio also raises bare Exceptions and socket errors. Only a game that started writes a log file, under
    ``$MALMO_MINECRAFT_OUTPUT_LOGDIR`` (default: the working directory) ``/logs`` (malmo.py:484-488, 522-523).
    """
    try:
        return call()
    except CrossviewError:
        raise
    except Exception as exc:  # noqa: BLE001 - see above
        text = " ".join(str(exc).replace(LAUNCH_TRAILER, "").split())[-300:]
        raise CrossviewError(f"minecraft: the engine failed during {what} ({type(exc).__name__}: {text}); check "
                             f"Java 8 and xvfb-run; a game that started logs to "
                             f"{os.environ.get('MALMO_MINECRAFT_OUTPUT_LOGDIR', '.')}/logs") from None


def reset_world(sim: Any, seed: int) -> Any:
    """Seed the world, then reset: MineStudio applies a seed to the next reset only.

    ``env.seed`` stores it (minerl/env/_multiagent.py:143-159), the reset sends it with the mission
    (_multiagent.py:642-643) and then forgets it (_multiagent.py:508), as HardResetCallback knows
    (callbacks/hard_reset.py:73 seeds before every reset).
    """
    sim.env.seed(int(seed))
    return sim.reset()


class MinecraftAdapter:
    """MineStudio's Minecraft behind the Adapter protocol; ``tasks`` is a task YAML file."""

    def __init__(self, tasks: str, image_size: tuple[int, int] | list[int] = (224, 224),
                 render_size: tuple[int, int] | list[int] = (640, 360), masked: tuple[str, ...] | list[str] = ()
                 ) -> None:
        self.task_list: list[MinecraftTask] = load_tasks(tasks)
        self.check_available()
        self.size = tuple(int(v) for v in image_size)  # (H, W), crossview's convention
        self.render_size = tuple(int(v) for v in render_size)  # (W, H), MineStudio's
        self.info = AdapterInfo(name="minecraft", obs_size=self.size, has_depth=False, seedable=False,
                                privileged_success=True, control_hz=20.0, masked=frozenset(masked),
                                interactions=INTERACTIONS, domains=("overworld",), privileged_facts=True,
                                goals=(Modality.CROSS_VIEW, Modality.LANGUAGE))
        self._sim: Any = None
        self._inventory: tuple | None = None
        self._task: MinecraftTask | None = None
        self._ended = False

    @classmethod
    def check_available(cls) -> None:
        """One line naming everything missing: MineStudio, its engine, Java 8, xvfb-run."""
        gaps = missing()
        if gaps:
            raise BackendUnavailable("minecraft: " + "; ".join(gaps))

    def tasks(self, suite: str = "train") -> list[TaskSpec]:
        return [TaskSpec("minecraft", "overworld", t.seed, t.interaction, f"{t.kind}:{t.target}", t.difficulty,
                         t.split, t.max_steps, APPROACH_RADIUS if t.interaction is Interaction.APPROACH else REACH,
                         {"task": t.name}) for t in self.task_list if t.split == suite]

    def _find(self, task: TaskSpec) -> MinecraftTask:
        for t in self.task_list:
            if t.name == task.params.get("task"):
                return t
        raise CrossviewError(f"minecraft: task {task.params.get('task')!r} is not in the task file")

    # --- the simulator -------------------------------------------------------------------------------------
    def _make_sim(self, t: MinecraftTask) -> Any:
        if self._sim is not None and self._inventory == t.inventory:
            return self._sim
        self.close()
        from minestudio.simulator import MinecraftSim

        self._sim = MinecraftSim(**sim_options(self.size, self.render_size, t))
        self._inventory = t.inventory
        return self._sim

    def _step(self, action: dict[str, Any]) -> tuple[dict, bool, dict]:
        """One engine tick; after any engine failure the simulator is dropped, so the next reset starts afresh.

        A lost connection is meant to come back as ``info["error"]`` (_multiagent.py:360-376), but that path
        calls ``observation_space.sample()``, whose Text space passes the class ``np.dtype`` as a dtype
        (minerl/herobraine/hero/spaces.py:491-497) and raises TypeError instead; either way the env is left with
        ``done = True`` (_multiagent.py:364) and MinecraftSim keeps every info key it ever saw (entry.py:240-244),
        so the same simulator would fail every later step.
        """
        world.forget_reports(self._sim, action)
        try:
            obs, _, terminated, truncated, info = engine_call("a step", lambda: self._sim.step(action))
            if "error" in info:
                raise CrossviewError(f"minecraft: the engine connection failed ({info['error']})")
        except CrossviewError:
            self.close()
            raise
        return obs, bool(terminated or truncated), info

    def _noop(self, ticks: int = 1, **asks: Any) -> tuple[dict, dict]:
        obs, info = None, {}
        for i in range(ticks):
            action = env_action(Action())
            if i == ticks - 1:
                action.update(asks)
            obs, _, info = self._step(action)
        return obs, info

    def _command(self, text: str) -> None:
        engine_call(f"command {text.split()[0]}", lambda: self._sim.env.execute_cmd(text))

    def _ground(self, x: float, z: float) -> tuple[float, float, float] | None:
        """Put the player on the surface near (x, z); its feet position if it stands there, else None."""
        self._command(world.to_surface(x, z))
        _, info = self._noop(SETTLE_TICKS, voxels=world.column_request())
        px, py, pz, _, _ = world.player_position(info)
        return (px, py, pz) if world.standable(info.get("voxels")) else None

    # --- the target ----------------------------------------------------------------------------------------
    def _place(self, t: MinecraftTask) -> None:
        # Go to the target first, also for an exact [x, y, z]: /setblock and /summon act only in loaded chunks, and
        # after a reset only those around the world spawn are (upstream waits there too: hard_reset.py:90-93).
        feet = self._ground(t.at[0], t.at[-1])
        if t.on_ground:
            if feet is None:
                raise CrossviewError(f"minecraft task {t.name}: no standable ground near target.at {list(t.at)}; "
                                     "move the target")
            self._target_block = tuple(math.floor(v) for v in feet)
        else:
            self._target_block = tuple(math.floor(v) for v in t.at)
        bx, by, bz = self._target_block
        if t.kind == "block":
            self._box = block_box(self._target_block)
        else:
            w, h = t.size or mob_size(t.target)
            self._box = entity_box((bx + 0.5, by, bz + 0.5), w, h)
        self._centre = tuple((lo + hi) / 2 for lo, hi in zip(*self._box))
        self._show(t, True)

    def _show(self, t: MinecraftTask, visible: bool) -> None:
        """Place (or remove) a block target; summon (then show or hide) a mob target."""
        if t.kind == "block":
            self._command(world.setblock(self._target_block, t.target if visible else "air"))
        elif visible and not getattr(self, "_summoned", False):
            bx, by, bz = self._target_block
            self._command(world.summon(t.target, (bx + 0.5, by, bz + 0.5), world.TARGET_TAG))
            self._summoned = True
        else:
            self._command(world.set_visible(world.TARGET_TAG, visible))

    def _verify(self, t: MinecraftTask, player: tuple[float, float, float]) -> None:
        """Check, through the engine's own reports, that the target stands where the task put it."""
        if t.kind == "block":
            _, info = self._noop(1, voxels=world.voxel_request(self._target_block, player))
            found = world.single_voxel(info.get("voxels"))
            if found != t.target:
                raise CrossviewError(f"minecraft task {t.name}: after /setblock the engine reports {found!r} at "
                                     f"{list(self._target_block)}, not {t.target}")
        else:
            _, info = self._noop(1, mobs=world.mob_request(self._centre, player))
            if not world.mentions(info.get("mobs"), world.TARGET_TAG):
                raise CrossviewError(f"minecraft task {t.name}: the engine's mob report does not list the "
                                     f"summoned {t.target} (is {t.target} a mob name?)")

    # --- views ---------------------------------------------------------------------------------------------
    def _goal(self, t: MinecraftTask, rng: np.random.Generator) -> CrossViewGoal:
        for a in rng.uniform(0, 2 * math.pi, GOAL_TRIES):
            feet = self._ground(self._centre[0] + GOAL_DISTANCE * math.cos(a),
                                self._centre[2] + GOAL_DISTANCE * math.sin(a))
            if feet is None:
                continue
            yaw, pitch = look_at(feet, self._centre)
            self._command(world.teleport(feet, yaw, pitch))
            seen, _ = self._noop(SHORT_TICKS)
            self._show(t, False)
            unseen, _ = self._noop(SHORT_TICKS)
            self._show(t, True)
            self._noop(SHORT_TICKS)
            mask = box_mask(self._box, feet, yaw, pitch, FOV, self.render_size, self.size)
            image = np.asarray(seen["image"], np.uint8)
            if mask.sum() >= MIN_MASK_PIXELS and world.visible_fraction(
                    image, np.asarray(unseen["image"], np.uint8), mask) >= MIN_VISIBLE:
                self._verify(t, feet)
                return CrossViewGoal(image, mask, t.interaction)
        raise CrossviewError(f"minecraft task {t.name}: the target is occluded or off-screen from all {GOAL_TRIES} "
                             f"goal poses {GOAL_DISTANCE:g} blocks around it; move it (target.at)")

    def _start(self, t: MinecraftTask, rng: np.random.Generator) -> tuple[dict, dict]:
        lo, hi = START_DISTANCE[t.difficulty]
        for _ in range(START_TRIES):
            d, b = rng.uniform(lo, hi), rng.uniform(0, 2 * math.pi)
            feet = self._ground(self._centre[0] + d * math.cos(b), self._centre[2] + d * math.sin(b))
            if feet is not None:
                self._command(world.teleport(feet, float(rng.uniform(-180, 180)), 0.0))
                return self._noop(SHORT_TICKS)
        raise CrossviewError(f"minecraft task {t.name}: no standable start {lo:g}-{hi:g} blocks from the target "
                             f"in {START_TRIES} tries")

    def reset(self, task: TaskSpec) -> tuple[Observation, CrossViewGoal | Goal, StepInfo]:
        t = self._find(task)
        sim = engine_call("start-up", lambda: self._make_sim(t))
        engine_call("reset", lambda: reset_world(sim, t.seed))
        self._summoned = False
        rng = np.random.default_rng(task.seed)
        self._place(t)
        goal = self._goal(t, rng)
        obs, info = self._start(t, rng)
        self._task, self._steps, self._ended = t, 0, False
        self._baseline = {g: world.stat_value(info, g, n) for g, n in self._stats(t)}
        self._score(info)
        words = LanguageGoal(steve_instruction(t), t.interaction,
                             TargetAttributes(t.target.replace("_", " "), t.interaction), "task-file")
        return self._observe(obs), Goal.for_task(task.goal, goal, words), self._facts(info)

    # --- steps ---------------------------------------------------------------------------------------------
    @staticmethod
    def _stats(t: MinecraftTask) -> list[tuple[str, str]]:
        if t.stat is not None:
            return [t.stat]
        return [("kill_entity", t.target)] if t.interaction is Interaction.HUNT else []

    def _asks(self, t: MinecraftTask) -> dict[str, Any]:
        x, y, z = self._pos[:3]
        if t.interaction is Interaction.MINE and self._dist <= 2 * REACH:
            return {"voxels": world.voxel_request(self._target_block, (x, y, z))}
        if t.interaction is Interaction.HUNT:
            return {"mobs": world.mob_request(self._centre, (x, y, z), margin=max(4, math.ceil(self._dist) + 2))}
        return {}

    def _score(self, info: dict[str, Any]) -> None:
        self._pos = world.player_position(info)
        self._dist = distance_to_box(eye_of(self._pos[:3]), self._box)

    def _succeeded(self, t: MinecraftTask, info: dict[str, Any], asks: dict[str, Any]) -> bool:
        rose = all(world.stat_value(info, g, n) > self._baseline[g] for g, n in self._stats(t))
        if t.interaction is Interaction.MINE:  # the target voxel became air
            found = world.single_voxel(info.get("voxels")) if "voxels" in asks else None
            return found is not None and found in world.AIR and (t.stat is None or rose)
        if t.interaction is Interaction.HUNT:  # the tagged mob is gone and the player killed one of its type
            return "mobs" in asks and not world.mentions(info.get("mobs"), world.TARGET_TAG) and rose
        if t.interaction is Interaction.INTERACT:  # the custom.* statistics count opening ANY block of the kind,
            return rose and self._dist <= REACH + REACH_SLACK  # so the player must be within reach of the target
        return self._dist <= APPROACH_RADIUS and (t.stat is None or rose)

    def step(self, action: Action) -> tuple[Observation, bool, bool | None, StepInfo]:
        t = self._task
        if t is None or self._ended:
            raise CrossviewError("minecraft: step() called before reset() or after the episode ended")
        asks = self._asks(t)
        native = env_action(action, self.info.masked)
        native.update(asks)
        obs, ended, info = self._step(native)
        self._steps += 1
        self._score(info)
        success = self._succeeded(t, info, asks)
        self._ended = success or ended
        return self._observe(obs), self._ended, success, self._facts(info)

    def _observe(self, obs: dict) -> Observation:
        return Observation(np.asarray(obs["image"], np.uint8), None, self._steps / self.info.control_hz)

    def _facts(self, info: dict[str, Any]) -> StepInfo:
        """Privileged facts in crossview's frame (metres, z up, yaw 0 = east, clockwise)."""
        t = self._task
        assert t is not None
        x, y, z, yaw, pitch = self._pos
        eye = to_crossview(tuple(eye_of((x, y, z))))
        target = to_crossview(self._centre)
        radius = APPROACH_RADIUS if t.interaction is Interaction.APPROACH else REACH
        view = box_mask(self._box, (x, y, z), yaw, pitch, FOV, self.render_size, self.size)
        h, w = self.size
        facts = PrivilegedFacts(
            pose=(*eye, yaw_to_crossview(yaw), pitch), target_pos=target, waypoint=(target[0], target[1]),
            distance=self._dist, success_radius=radius,
            target_centred=bool(view[h // 2, w // 2]) and self._dist <= radius, target_visible=bool(view.any()))
        return StepInfo(target=f"{t.kind}:{t.target}", distance=self._dist, privileged=facts, provenance={
            "world_seed": t.seed, "target_block": list(self._target_block), "minestudio": "1.1.6",
            "frame": "crossview = (mc_x, -mc_z, mc_y) metres; yaw = mc_yaw + 90",
            "waypoint": "straight line to the target (no path planner)",
            "target_visibility": "geometric (projected box in view), not an occlusion test"})

    def close(self) -> None:
        self._ended = True
        if self._sim is not None:
            sim, self._sim = self._sim, None
            with contextlib.suppress(Exception):  # a dead engine may fail to close; nothing is left to release
                sim.close()
