"""ViZDoom as a crossview world: a procedural room per seed, software-rendered with no display.

Every call is ViZDoom's public Python API, as documented in Farama-Foundation/ViZDoom
src/lib_python/ViZDoomMethodsDocstrings.h: ``DoomGame.init`` (:14), ``close`` (:19), ``new_episode`` (:23),
``advance_action`` (:70), ``make_action`` (:76), ``get_state`` (:110), ``add_available_button`` (:146),
``add_available_game_variable`` (:179), ``set_doom_scenario_path`` (:297) and ``set_doom_map`` (:304) to load our
generated PWAD, ``set_doom_config_path`` (:325; its ini goes to our temporary folder), ``set_seed`` (:336),
``set_episode_timeout`` (:357), ``set_screen_resolution`` (:363), ``set_screen_format`` (:375),
``set_depth_buffer_enabled`` (:387), ``set_labels_buffer_enabled`` (:408), ``set_render_hud`` (:472),
``set_render_weapon`` (:486), ``set_render_crosshair`` (:492), ``set_render_decals`` (:498),
``set_render_particles`` (:504), ``set_render_messages`` (:518), ``set_window_visible`` (:556),
``set_sound_enabled`` (:571).
Controls are delta buttons (docs/api/python/enums.md:147-151): ``TURN_LEFT_RIGHT_DELTA`` and ``LOOK_UP_DOWN_DELTA``
in degrees per tic (positive turns right / looks up), ``MOVE_FORWARD_BACKWARD_DELTA`` and ``MOVE_LEFT_RIGHT_DELTA``
as speeds. The goal view is the same map with the player started at the goal camera's pose (map01), the episode
itself starts the player elsewhere (map02). The target mask is the target's value in the labels buffer
(examples/python/labels_buffer.py:115-178: ``state.labels`` give ``object_name`` and ``value``). Depth comes from
the depth buffer, a uint8 planar depth that is linear in distance but not proportional to it: every surface kind
subtracts an offset before scaling (walls Farama-Foundation/ViZDoom:src/vizdoom/src/r_segs.cpp:1177-1181, sprites
src/vizdoom/src/r_draw.cpp:207-211, floors and ceilings r_plane.cpp:227 through viz_depth.cpp:113-123, which
subtracts its minimum twice), truncates, and saturates at 255. Upstream gives no unit, so map units =
``DEPTH_UNITS_PER_LEVEL`` x level + ``DEPTH_OFFSET_UNITS`` was fitted at 320x240 against walls at known distances
(7.14 units/level, 9.1 units offset; sprites fit the same line); crossview's tests/examples/test_vizdoom.py
re-measures it on walls and on the target, whose engine position comes from ``state.labels``.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from adapters.base import AdapterInfo
from crossview_vizdoom.mapgen import EYE_UNITS, UNIT_M, Layout, generate, textmap, wad
from harness.errors import BackendUnavailable, CrossviewError
from harness.spec import (
    DIFFICULTIES,
    SPLITS,
    Action,
    CrossViewGoal,
    Interaction,
    Observation,
    PrivilegedFacts,
    StepInfo,
    TaskSpec,
)

INSTALL = "pip install vizdoom (software rendering, no display needed)"
TICS = 4  # engine tics (35 per second) per step
CONTROL_HZ = 35.0 / TICS
SPEED = 12.0  # MOVE_*_DELTA per tic; about 0.25 m per step from rest
DEPTH_UNITS_PER_LEVEL = 7.14  # map units per depth-buffer level at 320x240 (fitted; see the module docstring)
DEPTH_OFFSET_UNITS = 9.1  # map units at level 0: upstream subtracts an offset before scaling
WARMUP_TICS = 8  # the engine ignores input for the first tics of an episode
CENTRE_DEG = 10.0
MAX_STEPS = {"easy": 60, "hard": 120}
RADIUS_M = 1.0


def _vizdoom() -> Any:
    try:
        import vizdoom
    except ImportError as exc:
        raise BackendUnavailable(f"the vizdoom adapter needs vizdoom ({exc}): {INSTALL}") from None
    return vizdoom


def _wrap(a: float) -> float:
    return (a + 180.0) % 360.0 - 180.0


class VizdoomAdapter:
    """ViZDoom rooms; options: ``image_size`` (h, w; cropped and resampled from 320x240), ``depth``."""

    requires = ("vizdoom",)

    def __init__(self, image_size: tuple[int, int] | list[int] = (224, 224), depth: bool = True) -> None:
        h, w = (int(v) for v in image_size)
        if not (16 <= h <= 240 and 16 <= w <= 320):
            raise CrossviewError(f"vizdoom option image_size {h}x{w}: height must be 16..240 and width 16..320")
        self.vzd = _vizdoom()
        self.size, self.depth = (h, w), bool(depth)
        self.info = AdapterInfo(
            name="vizdoom", obs_size=(h, w), has_depth=self.depth, seedable=True, privileged_success=True,
            control_hz=CONTROL_HZ, masked=frozenset({"jump", "sneak", "attack", "use"}),
            interactions=(Interaction.APPROACH,), domains=("room",), privileged_facts=True)
        self._dir: Path | None = None
        self._game: Any = None
        self._task: TaskSpec | None = None
        self._layout: Layout | None = None

    @classmethod
    def check_available(cls) -> None:
        """Raise BackendUnavailable unless vizdoom imports."""
        _vizdoom()

    def tasks(self, suite: str = "train") -> list[TaskSpec]:
        """Approach the target object: easy starts facing it, hard starts facing anywhere; suite = split."""
        if suite not in SPLITS:
            raise CrossviewError(f"vizdoom has no task suite {suite!r}: use one of {', '.join(SPLITS)}")
        return [TaskSpec("vizdoom", "room", 0, Interaction.APPROACH, "", diff, suite, MAX_STEPS[diff], RADIUS_M)
                for diff in DIFFICULTIES]

    # ------------------------------------------------------------------ engine
    def _start(self, layout: Layout, seed: int) -> None:
        """A fresh engine on this episode's PWAD (a scenario file is read at init)."""
        self._stop_game()
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="crossview-vizdoom-"))
        path = self._dir / "episode.wad"
        path.write_bytes(wad([("MAP01", textmap(layout, layout.goal)), ("MAP02", textmap(layout, layout.start))]))
        v = self.vzd
        game = v.DoomGame()
        game.set_doom_scenario_path(str(path))
        game.set_doom_config_path(str(self._dir / "_vizdoom.ini"))  # else the engine writes it to the current folder
        game.set_seed(int(seed) & 0x7FFFFFFF)
        game.set_screen_resolution(v.ScreenResolution.RES_320X240)
        game.set_screen_format(v.ScreenFormat.RGB24)
        game.set_depth_buffer_enabled(True)
        game.set_labels_buffer_enabled(True)
        for flag in ("hud", "weapon", "crosshair", "decals", "particles", "messages"):
            getattr(game, f"set_render_{flag}")(False)
        game.set_window_visible(False)
        game.set_sound_enabled(False)
        game.set_episode_timeout(0)
        for button in ("MOVE_FORWARD_BACKWARD_DELTA", "MOVE_LEFT_RIGHT_DELTA", "TURN_LEFT_RIGHT_DELTA",
                       "LOOK_UP_DOWN_DELTA"):
            game.add_available_button(getattr(v.Button, button))
        for var in ("POSITION_X", "POSITION_Y", "POSITION_Z", "ANGLE", "PITCH", "VIEW_HEIGHT"):
            game.add_available_game_variable(getattr(v.GameVariable, var))
        game.init()
        self._game = game

    def _episode(self, map_name: str) -> Any:
        self._game.set_doom_map(map_name)
        self._game.new_episode()
        self._game.advance_action(WARMUP_TICS)
        return self._game.get_state()

    def _fit(self, image: np.ndarray) -> np.ndarray:
        """Centre-crop to the requested aspect ratio, then nearest-neighbour resample to ``image_size``."""
        h, w = self.size
        H, W = image.shape[:2]
        ch, cw = (H, min(W, round(H * w / h))) if W * h >= H * w else (min(H, round(W * h / w)), W)
        top, left = (H - ch) // 2, (W - cw) // 2
        rows = top + (np.arange(h) * ch // h)
        cols = left + (np.arange(w) * cw // w)
        return np.ascontiguousarray(image[rows][:, cols])

    def _mask(self, state: Any) -> np.ndarray:
        assert self._layout is not None
        name = self._layout.target.name
        values = [label.value for label in state.labels if label.object_name == name]
        if not values:
            return np.zeros(self.size, bool)
        return self._fit(np.isin(state.labels_buffer, values))

    # ------------------------------------------------------------------ episode
    def reset(self, task: TaskSpec) -> tuple[Observation, CrossViewGoal, StepInfo]:
        """Generate the map of ``task.seed``, render the goal view from the goal pose, start the agent."""
        if task.interaction != Interaction.APPROACH:
            raise CrossviewError(f"vizdoom supports only the approach interaction, not {task.interaction.name.lower()}")
        if task.difficulty not in DIFFICULTIES:
            raise CrossviewError(f"vizdoom difficulty {task.difficulty!r} is not one of {', '.join(DIFFICULTIES)}")
        layout = generate(task.seed, task.split)
        if task.difficulty == "hard":  # the same room, but the agent starts facing away from the target
            x, y, a = layout.start
            layout = Layout(**{**layout.__dict__, "start": (x, y, (a + 180.0) % 360.0)})
        self._layout, self._task, self._steps = layout, task, 0
        self._start(layout, task.seed)
        goal_state = self._episode("map01")
        goal = CrossViewGoal(self._fit(goal_state.screen_buffer), self._mask(goal_state), task.interaction)
        if not goal.mask.any():
            raise CrossviewError(f"vizdoom seed {task.seed}: the target is not in the goal view")
        self._state = self._episode("map02")
        return self._observe(), goal, self._info()

    def _observe(self) -> Observation:
        s = self._state
        depth = None
        if self.depth:
            levels = self._fit(s.depth_buffer).astype(np.float32)
            depth = (levels * np.float32(DEPTH_UNITS_PER_LEVEL) + np.float32(DEPTH_OFFSET_UNITS)) * np.float32(UNIT_M)
        return Observation(self._fit(s.screen_buffer), depth, self._steps / CONTROL_HZ)

    def _info(self) -> StepInfo:
        assert self._layout is not None and self._task is not None
        x, y, z, angle, pitch, view = (float(v) for v in self._state.game_variables)
        t = self._layout.target
        dist_u = max(0.0, math.hypot(t.x - x, t.y - y) - t.radius)
        yaw = _wrap(-angle)  # Doom angles turn counter-clockwise from east; crossview's yaw turns right
        bearing = _wrap(-math.degrees(math.atan2(t.y - y, t.x - x)) - yaw)
        visible = any(label.object_name == t.name for label in self._state.labels)
        centred = visible and abs(bearing) <= max(CENTRE_DEG, math.degrees(math.atan2(t.radius, dist_u + 1e-6)))
        facts = PrivilegedFacts(
            pose=(x * UNIT_M, y * UNIT_M, (z + (view or EYE_UNITS)) * UNIT_M, yaw, pitch),
            target_pos=(t.x * UNIT_M, t.y * UNIT_M, t.height / 2 * UNIT_M), waypoint=(t.x * UNIT_M, t.y * UNIT_M),
            distance=dist_u * UNIT_M, success_radius=self._task.success_radius, target_centred=centred,
            target_visible=visible)
        return StepInfo(target=t.name, distance=facts.distance, privileged=facts,
                        provenance={"vizdoom": self.vzd.__version__, "map": {"width_m": self._layout.width * UNIT_M,
                                                                              "depth_m": self._layout.depth * UNIT_M}})

    def step(self, action: Action) -> tuple[Observation, bool, bool | None, StepInfo]:
        """Turn and look (spread over the step's tics), move; success once within reach with the target in view."""
        if self._task is None or self._game is None:
            raise CrossviewError("vizdoom: step() called before reset()")
        speed = SPEED * (2.0 if action.sprint and action.forward else 1.0)
        forward = speed * (float(action.forward) - float(action.back))
        side = SPEED * (float(action.right) - float(action.left))
        self._game.make_action([forward, side, action.yaw / TICS, -action.pitch / TICS], TICS)
        self._steps += 1
        self._state = self._game.get_state()
        info = self._info()
        facts = info.privileged
        success = facts.distance <= self._task.success_radius and facts.target_visible
        return self._observe(), success, success, info

    def _stop_game(self) -> None:
        if self._game is not None:
            self._game.close()
            self._game = None

    def close(self) -> None:
        """Stop the engine and delete the generated maps."""
        self._stop_game()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
        self._task = None
