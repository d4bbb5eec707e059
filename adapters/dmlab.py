"""DeepMind Lab through the real ``deepmind_lab`` module (built from source with Bazel; see the README).

Checked against google-deepmind/lab (b1db91a): ``deepmind_lab.Lab(level, observations, config, renderer)``
(python/dmlab_module.c:138-166; every config value must be a str: dmlab_module.c:251-273; a level refusing a
setting fails init with RuntimeError: :276-279), ``reset(seed=)``
(:311-354), ``step(action, num_steps=)`` with an int32[7] action (:379-430), ``observations()`` and ``is_running()``
(:361-377, :576-583: observations() raises RuntimeError once the episode has ended), ``close()`` (:676).

Goals come from a goal library captured in the level (``crossview goal capture --dmlab LEVEL``); each records the
level, the level seed and, where the user named it, the goal object's maze cell and world position. Every episode
of a goal resets with the goal's seed (the runner's per-episode seed does not change the world: the maze, the spawn
and the rewarded objects are all drawn from it: game_scripts/factories/explore/factory.lua:136-181,
object_locations_factory.lua:41-75). Success: a reward collected within ``PICKUP_RADIUS`` of the goal's object
(objects stand at maze-cell centres 100 units apart, lua_maze_generation.cc:462-470), or, for a goal without an
object position, any reward ("any apple", recorded in the episode's provenance).

Turning (engine/code/deepmind/dmlab_connect.c:52, 612-618, 1140-1143; engine/code/client/cl_input.c:596-597): a
look action of p pixels turns ``p * 0.11 * 60 / 1000`` degrees per engine millisecond, an engine frame lasts
``round(960 / fps)`` ms, and one agent step repeats the action ``action_repeat`` frames, so one agent step turns
``p * 0.0066 * round(960 / fps) * action_repeat`` degrees. At the defaults (fps 60 → 16 ms, action_repeat 2) a
pixel is 0.2112°, and the paper's 4.75 px per degree of common yaw turns 1.003° (pitch: 2.78 px → 0.587°).

World frame: Quake units, x/y ground, z up, yaw counter-clockwise (``DEBUG.POS.ROT`` is pitch, yaw, roll in
degrees; pitch > 0 looks down: engine/code/qcommon/q_math.c:925-944 AngleVectors). Crossview's frame takes metres at
``UNITS_PER_METRE`` = 32 (the player is 56 units tall, engine/code/game/bg_pmove.c:1274,1306 with MINS_Z -24,
≈ 1.75 m), the eye ``DEFAULT_VIEWHEIGHT`` = 26 units above the origin (bg_public.h:50), and yaw negated.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from adapters.action_map import merge_table
from adapters.base import AdapterInfo
from harness.errors import BackendUnavailable, CrossviewError
from harness.goals import StoredGoal, load_library
from harness.spec import Action, CrossViewGoal, Observation, PrivilegedFacts, StepInfo, TaskSpec

DEFAULT_LEVEL = "contributed/dmlab30/explore_object_locations_small"
INSTALL = ("DeepMind Lab is built from source with Bazel (github.com/google-deepmind/lab): build "
           "//python/pip_package:build_pip_package and pip install the wheel it writes")
DEFAULT_TABLE: dict[str, Any] = {
    "forward": [3, 1], "back": [3, -1], "left": [2, -1], "right": [2, 1], "attack": [4, 1], "sneak": [6, 1],
    "jump": [5, 1], "use": None, "yaw_scale": 4.75, "pitch_scale": 2.78, "masked": ["use", "jump"],
}
RGB, POSITION, ROTATION, LAYOUT = "RGB_INTERLEAVED", "DEBUG.POS.TRANS", "DEBUG.POS.ROT", "DEBUG.MAZE.LAYOUT"
LOOK_LIMIT = 512  # kMaxLookAngularVelocity, dmlab_connect.c:70
DEGREES_PER_PIXEL_MS = 0.11 * 60 / 1000  # kPixelsPerFrameToDegreesPerMilliseconds, dmlab_connect.c:52
ENGINE_TIME_PER_EXTERNAL_TIME = 0.96  # dmlab_connect.c:68
UNITS_PER_METRE = 32.0
EYE_UNITS = 26.0  # DEFAULT_VIEWHEIGHT, bg_public.h:50
CROUCH_EYE_UNITS = 12.0  # CROUCH_VIEWHEIGHT, bg_public.h:51: while upmove < 0 (bg_pmove.c:1282-1308)
JUMP, CROUCH = 5, 6  # upmove = (jump - crouch) * 127 (dmlab_connect.c:80-81, 1144)
CELL_UNITS = 100  # kGridWidth, deepmind/engine/lua_maze_generation.cc:67
PICKUP_RADIUS = 50.0  # units: half a maze cell, so only the goal's own object counts
DEFAULT_FPS, DEFAULT_REPEAT = 60, 2


def engine_frame_msec(fps: float) -> int:
    """Engine milliseconds per frame at ``fps`` (dmlab_connect.c:616-617)."""
    return int(ENGINE_TIME_PER_EXTERNAL_TIME * 1000.0 / fps + 0.5)


def degrees_per_pixel(fps: float, action_repeat: int) -> float:
    """Degrees one agent step turns per pixel of look action."""
    return DEGREES_PER_PIXEL_MS * engine_frame_msec(fps) * action_repeat


def native_action(action: Action, table: dict[str, Any]) -> np.ndarray:
    """The int32[7] DMLab action of a common action (masked fields ignored, values clipped to DMLab's spec).

    Index order is dmlab_connect.c:74-82 (look left/right, look down/up, strafe, move, fire, jump, crouch);
    a positive look left/right turns right (the engine negates it into yaw, dmlab_connect.c:1140-1141) and a
    positive look down/up looks down (it adds to Quake's pitch, dmlab_connect.c:1142-1143, cl_input.c:596; upstream's
    python/tests/spawn_inventory_test.py:46-52 looks at the floor with +100, although python/random_agent.py:40-41
    names +10 "look_up").
    """
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


def setting_text(value: Any) -> str:
    """A config value as DMLab reads it: Lua turns only "true"/"false" into booleans (common/helpers.lua:183-195)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def level_config(width: int, height: int, fps: int, extra: dict | None = None) -> dict[str, str]:
    """DMLab's config mapping (all values strings, as dmlab_module.c:251-273 requires)."""
    config = {"width": str(width), "height": str(height), "fps": str(fps)}
    for key, value in (extra or {}).items():
        config[str(key)] = setting_text(value)
    return config


def cell_position(layout: str, row: int, col: int) -> tuple[float, float]:
    """World (x, y) in units of maze cell (row, col), both 1-based as DMLab's ``maze:toWorldPos`` takes them.

    ``x = (col - 1) * 100 + 50``, ``y = (height - row) * 100 + 50`` (lua_maze_generation.cc:462-470).
    """
    rows = layout.strip("\n").split("\n")
    if not (1 <= row <= len(rows) and 1 <= col <= max(len(r) for r in rows)):
        raise CrossviewError(f"maze cell {row},{col} is outside the {len(rows)}-row maze")
    return float((col - 1) * CELL_UNITS + CELL_UNITS // 2), float((len(rows) - row) * CELL_UNITS + CELL_UNITS // 2)


def world_cell(layout: str, x: float, y: float) -> tuple[int, int]:
    """The 1-based (row, col) maze cell holding world point (x, y) (lua_maze_generation.cc:474-495)."""
    height = len(layout.strip("\n").split("\n"))
    return height - math.floor(y / CELL_UNITS), math.floor(x / CELL_UNITS + 1.0)


def waypoint(layout: str, start: tuple[float, float], goal: tuple[float, float]) -> tuple[float, float]:
    """The next point (units) on a shortest path through the maze's open cells from ``start`` to ``goal``.

    Cells are 4-connected and walls are ``*``; the goal itself once in its cell (or when no path is known).
    """
    rows = layout.strip("\n").split("\n")
    open_cell = lambda r, c: 1 <= r <= len(rows) and 1 <= c <= len(rows[r - 1]) and rows[r - 1][c - 1] != "*"  # noqa: E731
    first, last = world_cell(layout, *start), world_cell(layout, *goal)
    if first == last or not open_cell(*first):
        return goal
    came: dict[tuple[int, int], tuple[int, int]] = {last: last}
    frontier = [last]
    while frontier and first not in came:  # breadth-first from the goal, so the step out of ``first`` is direct
        nxt = []
        for r, c in frontier:
            for cell in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
                if cell not in came and open_cell(*cell):
                    came[cell] = (r, c)
                    nxt.append(cell)
        frontier = nxt
    if first not in came:
        return goal
    step = came[first]
    return goal if step == last else cell_position(layout, *step)


def to_crossview(pos: Any, rot: Any | None = None, eye_units: float = EYE_UNITS) -> tuple[float, ...]:
    """A DMLab position (units) and optional (pitch, yaw, roll) as crossview eye pose (m, m, m[, yaw°, pitch°]);
    the eye is ``eye_units`` above the origin (``CROUCH_EYE_UNITS`` while crouching)."""
    x, y, z = (float(v) / UNITS_PER_METRE for v in pos[:3])
    if rot is None:
        return x, y, z
    pitch, yaw = float(rot[0]), float(rot[1])
    wrap = lambda a: (a + 180.0) % 360.0 - 180.0  # noqa: E731
    return x, y, z + eye_units / UNITS_PER_METRE, wrap(-yaw), wrap(pitch)


def goal_field(g: StoredGoal, key: str, kind: type) -> Any:
    """A required field of a DMLab goal's metadata, or a one-line error naming the goal file."""
    value = g.meta.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise CrossviewError(f"goal {g.name!r}: its JSON needs '{key}' ({kind.__name__}); DMLab goals are made "
                             "with 'crossview goal capture --dmlab LEVEL --seed N ...'")
    return value


def goal_object(g: StoredGoal) -> tuple[float, float, float] | None:
    """The goal object's world position (units), or None where the goal names no object."""
    obj = g.meta.get("object")
    if obj is None:
        return None
    if not (isinstance(obj, list) and len(obj) == 3 and all(isinstance(v, (int, float)) for v in obj)):
        raise CrossviewError(f"goal {g.name!r}: 'object' must be [x, y, z] in DMLab units")
    return float(obj[0]), float(obj[1]), float(obj[2])


def episode_provenance(level: str, seed: int, fps: int, action_repeat: int, table: dict[str, Any],
                       has_object: bool) -> dict[str, Any]:
    """What an episode records about its world, timing, turn scale and success rule."""
    step = degrees_per_pixel(fps, action_repeat)
    return {"level": level, "level_seed": seed, "fps": fps, "action_repeat": action_repeat,
            "engine_frame_msec": engine_frame_msec(fps), "degrees_per_pixel_step": step,
            "yaw_degrees_per_common_degree": step * table["yaw_scale"],
            "pitch_degrees_per_common_degree": step * table["pitch_scale"],
            "success_rule": "the goal's object" if has_object else "any apple (the goal records no object position)",
            "target_visibility": "bearing within 45° of the view (walls ignored)", "units_per_metre": UNITS_PER_METRE}


def goal_collected(reward: float, player: Any, target: tuple[float, float, float] | None,
                   before: Any | None = None) -> bool:
    """Whether a step's reward is the goal's: any reward without a goal object, else one within PICKUP_RADIUS of
    the player's position after the step or ``before`` it.

    The position before counts too because collecting a map's last apple finishes the map
    (factories/explore/object_locations_factory.lua:33-39), and the next engine frame of the same ``step``
    (``num_steps`` = action_repeat) reloads it (dmlab_connect.c:1181-1202), putting the player at a new spawn
    point (object_locations_factory.lua:41-46) far from the apple it just took.
    """
    if reward <= 0:
        return False
    if target is None:
        return True
    return any(p is not None and math.dist(tuple(p[:2]), target[:2]) <= PICKUP_RADIUS for p in (player, before))


def lab_call(what: str, call: Any) -> Any:
    """Run a ``deepmind_lab`` call; its RuntimeError/ValueError (dmlab_module.c:338-341, 418-422) as one line."""
    try:
        return call()
    except (RuntimeError, ValueError) as exc:
        raise CrossviewError(f"dmlab: {what} failed: {' '.join(str(exc).split())}") from None


def open_lab(level: str, width: int, height: int, fps: int, config: dict[str, Any] | None = None,
             renderer: str = "software") -> Any:
    """A ``deepmind_lab.Lab`` observing colour, pose and maze layout; one line if the level refuses its settings."""
    deepmind_lab = DMLabAdapter.check_available()
    try:
        return deepmind_lab.Lab(level, [RGB, POSITION, ROTATION, LAYOUT],
                                config=level_config(width, height, fps, config), renderer=renderer)
    except (RuntimeError, ValueError, TypeError) as exc:
        raise CrossviewError(f"dmlab: level {level} did not start: {' '.join(str(exc).split())}") from None


class DMLabAdapter:
    """A DMLab level behind the Adapter protocol; ``goals`` is the goal library folder."""

    def __init__(self, goals: str, level: str = DEFAULT_LEVEL, width: int = 320, height: int = 240,
                 fps: int = DEFAULT_FPS, action_repeat: int = DEFAULT_REPEAT, max_steps: int = 300,
                 renderer: str = "software", action_map: dict[str, Any] | None = None,
                 config: dict[str, Any] | None = None, **unknown: Any) -> None:
        if "maze" in unknown:
            raise CrossviewError("dmlab option 'maze' is not supported: a goal's seed fixes its maze; levels built "
                                 "on factories/explore take a layout as config: {overrideEntityLayer: ...}")
        if unknown:
            raise CrossviewError(f"unknown dmlab option(s) {sorted(unknown)}")
        if action_repeat < 1 or fps <= 0:
            raise CrossviewError(f"dmlab options need action_repeat >= 1 and fps > 0, got {action_repeat}, {fps}")
        self.table = merge_table(DEFAULT_TABLE, action_map, "dmlab")
        self.library: list[StoredGoal] = load_library(goals)
        for g in self.library:
            goal_field(g, "seed", int)
            if goal_field(g, "level", str) != level:
                raise CrossviewError(f"goal {g.name!r} was captured in level {g.meta['level']}, not {level}")
            goal_object(g)
            settings = {str(k): setting_text(v) for k, v in (config or {}).items()}
            if "config" in g.meta and g.meta["config"] != settings:
                raise CrossviewError(f"goal {g.name!r} was captured with level settings {g.meta.get('config', {})}, "
                                     f"not this adapter's {settings}; its world would differ")
        self.level, self.size, self.fps, self.repeat = level, (int(height), int(width)), fps, int(action_repeat)
        self.max_steps, self.renderer, self.extra = int(max_steps), renderer, dict(config or {})
        self.check_available()
        self.info = AdapterInfo(
            name="dmlab", obs_size=self.size, has_depth=False, seedable=True, privileged_success=True,
            control_hz=fps / self.repeat, masked=frozenset(self.table["masked"]),
            interactions=tuple(sorted({g.goal.interaction for g in self.library})), domains=(level,),
            privileged_facts=all(goal_object(g) is not None for g in self.library))  # facts need the object
        self._lab: Any = None
        self._goal: StoredGoal | None = None

    @classmethod
    def check_available(cls) -> Any:
        """The ``deepmind_lab`` module, or one line saying how to build it."""
        try:
            import deepmind_lab
        except ImportError:
            raise BackendUnavailable(f"dmlab: deepmind_lab is not installed ({INSTALL})") from None
        return deepmind_lab

    def provenance(self, g: StoredGoal) -> dict[str, Any]:
        """Facts stored with each episode: level, seed, timing, turn scale and the success rule."""
        return episode_provenance(self.level, int(g.meta["seed"]), self.fps, self.repeat, self.table,
                                  goal_object(g) is not None)

    def tasks(self, suite: str = "train") -> list[TaskSpec]:
        """One task per goal of the library in the split ``suite``; its seed is the goal's level seed."""
        return [TaskSpec("dmlab", self.level, int(g.meta["seed"]), g.goal.interaction, g.target or g.name,
                         g.difficulty, g.split, self.max_steps, PICKUP_RADIUS / UNITS_PER_METRE, {"goal": g.name})
                for g in self.library if g.split == suite]

    def _find(self, task: TaskSpec) -> StoredGoal:
        for g in self.library:
            if g.name == task.params.get("goal"):
                return g
        raise CrossviewError(f"dmlab: goal {task.params.get('goal')!r} is not in the goal library")

    def reset(self, task: TaskSpec) -> tuple[Observation, CrossViewGoal, StepInfo]:
        g = self._find(task)
        if self._lab is None:
            self._lab = open_lab(self.level, self.size[1], self.size[0], self.fps, self.extra, self.renderer)
        lab_call("reset", lambda: self._lab.reset(seed=int(g.meta["seed"])))  # the goal's world, not the runner's seed
        self._goal, self._steps, self._return, self._crouched = g, 0, 0.0, False
        self._obs = self._lab.observations()
        return self._observe(), g.goal, self._facts(self._obs, 0.0)

    def _observe(self) -> Observation:
        return Observation(np.ascontiguousarray(self._obs[RGB]), None, self._steps / self.info.control_hz)

    def _distance(self, obs: dict[str, Any]) -> float | None:
        target = goal_object(self._goal) if self._goal is not None else None
        if target is None or POSITION not in obs:
            return None
        return math.dist(tuple(obs[POSITION][:2]), target[:2])

    def _facts(self, obs: dict[str, Any], reward: float) -> StepInfo:
        g = self._goal
        assert g is not None
        target = goal_object(g)
        d = self._distance(obs)
        privileged = None
        if target is not None and POSITION in obs and ROTATION in obs:
            pose = to_crossview(obs[POSITION], obs[ROTATION], CROUCH_EYE_UNITS if self._crouched else EYE_UNITS)
            tx, ty, tz = to_crossview(target)
            layout = g.meta.get("entity_layer")
            wx, wy = (waypoint(layout, tuple(obs[POSITION][:2]), target[:2]) if isinstance(layout, str)
                      else target[:2])
            bearing = -math.degrees(math.atan2(ty - pose[1], tx - pose[0]))
            off = abs((bearing - pose[3] + 180.0) % 360.0 - 180.0)
            privileged = PrivilegedFacts(pose=pose, target_pos=(tx, ty, tz),
                                         waypoint=(wx / UNITS_PER_METRE, wy / UNITS_PER_METRE),
                                         distance=(d or 0.0) / UNITS_PER_METRE,
                                         success_radius=PICKUP_RADIUS / UNITS_PER_METRE,
                                         target_centred=off < 10.0, target_visible=off < 45.0)
        return StepInfo(target=g.target or g.name, distance=None if d is None else d / UNITS_PER_METRE,
                        episode_return=self._return, privileged=privileged, provenance=self.provenance(g),
                        extra={"reward": reward})

    def step(self, action: Action) -> tuple[Observation, bool, bool | None, StepInfo]:
        if self._goal is None or self._lab is None:
            raise CrossviewError("dmlab: step() called before reset()")
        before = self._obs.get(POSITION)
        native = native_action(action, self.table)
        self._crouched = bool(native[CROUCH] > native[JUMP])
        reward = float(lab_call("a step", lambda: self._lab.step(native, num_steps=self.repeat)))
        self._steps += 1
        self._return += reward
        running = bool(self._lab.is_running())
        if running:  # observations() raises once the episode has ended (dmlab_module.c:579-583)
            self._obs = self._lab.observations()
        success = goal_collected(reward, self._obs.get(POSITION), goal_object(self._goal), before)
        return self._observe(), bool(success or not running), bool(success), self._facts(self._obs, reward)

    def close(self) -> None:
        if self._lab is not None:
            lab, self._lab = self._lab, None
            lab.close()
