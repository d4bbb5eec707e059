"""Rooms: crossview's embedded default world — procedural rooms rendered by MuJoCo, headless on the CPU.

The agent is a camera on a body that walks the floor: ``forward/back/left/right`` move a fixed distance per step
(``sprint`` doubles forward speed), ``camera`` turns it (pitch is clamped to ±60°), walls and objects block it.
``jump`` and ``sneak`` mean nothing here and are masked. Interactions:

- ``approach``: success when within ``success_radius`` of the target's surface with the target in view;
- ``mine`` / ``interact``: ``attack`` / ``use`` while the target is centred and within ``success_radius``; doing
  so on another object ends the episode as a failure.
"""

from __future__ import annotations

import math

import numpy as np

from adapters.base import AdapterInfo
from adapters.rooms.domains import APPEARANCES, DOMAINS, DomainStyle, get_domain, randomized
from adapters.rooms.goals import instruction, video_goal
from adapters.rooms.layout import AGENT_RADIUS, Layout, NavField, blocked, generate_layout, segment_clear
from adapters.rooms.render import BoundRenderer, gl_inherited, import_mujoco, shared_renderer
from adapters.rooms.scene import World
from adapters.spawned import SpawnedAdapter
from harness.errors import CrossviewError
from harness.spec import (
    ACTION_FIELDS,
    DIFFICULTIES,
    SPLITS,
    Action,
    CrossViewGoal,
    Goal,
    Interaction,
    Modality,
    Observation,
    PrivilegedFacts,
    StepInfo,
    TaskSpec,
    VideoGoal,
)

EYE_HEIGHT = 0.7
STEP_M = 0.2
PITCH_LIMIT = 60.0
INTERACTIONS = (Interaction.APPROACH, Interaction.MINE, Interaction.INTERACT)
MAX_STEPS = {"easy": 60, "hard": 200}
RADIUS = {Interaction.APPROACH: 0.6, Interaction.MINE: 1.2, Interaction.INTERACT: 1.2}
MIN_MASK, MAX_MASK = 0.01, 0.5  # fraction of the goal image the target must cover
CENTRE_DEG = 10.0


def _wrap_deg(a: float) -> float:
    return (a + 180.0) % 360.0 - 180.0


class RoomsAdapter:
    """The embedded MuJoCo world; see the module docstring for its rules."""

    def __init__(self, image_size: tuple[int, int] | list[int] = (224, 224), depth: bool = True,
                 masked: tuple[str, ...] | list[str] = (), step_m: float = STEP_M,
                 appearance: str = "domain") -> None:
        """``appearance``: ``domain`` (each domain's own look, for sweeps) or ``randomized`` (a look drawn per
        episode from its seed, layout unchanged: adapters.rooms.domains.randomized; for training data)."""
        h, w = (int(v) for v in image_size)
        if not (16 <= h <= 2048 and 16 <= w <= 2048):
            raise CrossviewError(f"rooms option image_size {h}x{w} is impossible: height and width must be in 16..2048")
        bad = set(masked) - set(ACTION_FIELDS)
        if bad:
            raise CrossviewError(f"rooms option masked has unknown field(s) {sorted(bad)}: "
                                 f"allowed are {', '.join(ACTION_FIELDS)}")
        if appearance not in APPEARANCES:
            raise CrossviewError(f"rooms option appearance {appearance!r} is not one of {', '.join(APPEARANCES)}")
        import_mujoco()
        self.appearance = appearance
        self.size, self.depth, self.step_m = (h, w), bool(depth), float(step_m)
        self._remote: SpawnedAdapter | None = None
        if gl_inherited():  # forked after the parent rendered: simulate and render in a fresh interpreter
            self._remote = SpawnedAdapter(type(self).__module__ + ":" + type(self).__qualname__,
                                          {"image_size": [h, w], "depth": depth, "masked": list(masked),
                                           "step_m": step_m, "appearance": appearance})
        self.info = AdapterInfo(
            name="rooms", obs_size=(h, w), has_depth=self.depth, seedable=True, privileged_success=True,
            control_hz=10.0, masked=frozenset({"jump", "sneak"} | set(masked)), interactions=INTERACTIONS,
            domains=tuple(DOMAINS), privileged_facts=True, goals=tuple(Modality))
        self._worlds: dict[str, tuple[World, BoundRenderer]] = {}
        self._task: TaskSpec | None = None

    @classmethod
    def check_available(cls) -> None:
        """Raise BackendUnavailable (one line) unless MuJoCo can render headless here."""
        from adapters.rooms.render import probe_context

        probe_context()

    # ------------------------------------------------------------------ tasks
    def tasks(self, suite: str = "train") -> list[TaskSpec]:
        """One template per domain × interaction × difficulty; ``suite`` is the split (train | heldout)."""
        if suite not in SPLITS:
            raise CrossviewError(f"rooms has no task suite {suite!r}: use one of {', '.join(SPLITS)}")
        return [TaskSpec("rooms", d, 0, i, "", diff, suite, MAX_STEPS[diff], RADIUS[i])
                for d in DOMAINS for i in INTERACTIONS for diff in DIFFICULTIES]

    # ------------------------------------------------------------------ episode
    def _world(self, style: DomainStyle) -> tuple[World, BoundRenderer]:
        """The compiled world of ``style``: one per domain, kept; a randomized look replaces the previous one. Its
        renderer is shared with every other adapter of this look and size in the process."""
        cached = self._worlds.get(style.name)
        if cached is None or cached[0].style != style:
            if cached is not None:
                cached[1].close()
            world = World(style, *self.size)
            self._worlds[style.name] = (world, shared_renderer((style, *self.size), world.model, *self.size))
        return self._worlds[style.name]

    def reset(self, task: TaskSpec) -> tuple[Observation, CrossViewGoal | Goal, StepInfo]:
        """Lay out the scene of ``task.seed`` in ``task.domain``, place the agent and render the goal.

        A cross-view task gets its ``CrossViewGoal``; a language or video task a ``Goal`` that also carries the
        instruction (and the clip, for video), made without touching the episode's random draws."""
        if self._remote is not None:
            return self._remote.reset(task)
        if task.interaction not in INTERACTIONS:
            raise CrossviewError(f"rooms does not support interaction {task.interaction.name.lower()}: "
                                 f"use one of {', '.join(i.name.lower() for i in INTERACTIONS)}")
        if task.difficulty not in DIFFICULTIES:
            raise CrossviewError(f"rooms difficulty {task.difficulty!r} is not one of {', '.join(DIFFICULTIES)}")
        style, stream = get_domain(task.domain), [int(task.seed) & 0xFFFFFFFF, SPLITS.index(task.split)]
        if self.appearance == "randomized":  # its own stream: the layout's draws stay those of the plain domain
            style = randomized(style, np.random.default_rng([*stream, 11]))
        rng = np.random.default_rng([*stream, 7])
        layout = generate_layout(style, rng)
        self._style = style
        self._world_pair = self._world(style)
        world, renderer = self._world_pair
        world.apply(layout, rng.uniform(0, 2 * math.pi, len(layout.things)))
        self._task, self._layout, self._nav = task, layout, None
        self._hfov = math.degrees(2 * math.atan(math.tan(math.radians(style.fovy) / 2) * self.size[1] / self.size[0]))
        self._x, self._y, self._yaw, self._pitch = self._start_pose(task, rng)
        goal = self._goal(task, rng)
        if task.goal != Modality.CROSS_VIEW.value:
            goal = Goal.for_task(task.goal, goal, instruction(task, layout, (self._x, self._y)),
                                 self._video(task) if task.goal == Modality.VIDEO.value else None)
        self._steps = 0
        world.set_camera("eye", (self._x, self._y, EYE_HEIGHT), -math.radians(self._yaw), math.radians(self._pitch))
        return self._observe(), goal, self._info()

    def _video(self, task: TaskSpec) -> VideoGoal:
        """The target reached from the goal camera's viewpoint (adapters.rooms.goals.video_goal)."""
        world, renderer = self._world_pair
        tid = world.thing_ids[self._layout.target]

        def render(pos: tuple[float, float, float], theta: float, pitch: float) -> tuple[np.ndarray, np.ndarray]:
            world.set_camera("goal", pos, theta, pitch)
            return (renderer.rgbd(world.data, world.goal_cam, depth=False)[0],
                    renderer.geom_mask(world.data, world.goal_cam, tid))

        return video_goal(render, self._layout, self._goal_pose, EYE_HEIGHT, 0.5 * task.success_radius,
                          task.interaction, fps=self.info.control_hz)

    def _target_point(self) -> tuple[float, float, float]:
        t = self._layout.target_thing
        return t.x, t.y, t.centre_z

    def _start_pose(self, task: TaskSpec, rng: np.random.Generator) -> tuple[float, float, float, float]:
        """Easy: 1.5–3 m away, target in view. Hard: ≥ 3.5 m away (as walked) and target out of sight."""
        layout, t = self._layout, self._layout.target_thing
        h = layout.half
        fallback = None
        for attempt in range(400):
            if task.difficulty == "easy":
                d, a = rng.uniform(2.0, 3.5) + t.radius, rng.uniform(-math.pi, math.pi)
                x, y = t.x + d * math.cos(a), t.y + d * math.sin(a)
                bearing = math.degrees(math.atan2(t.y - y, t.x - x))
                yaw = _wrap_deg(-bearing + rng.uniform(-0.3, 0.3) * self._hfov)
            else:
                x, y = (float(v) for v in rng.uniform(-h + 0.4, h - 0.4, size=2))
                yaw = float(rng.uniform(-180, 180))
            if blocked(layout, x, y, AGENT_RADIUS + 0.1):
                continue
            fallback = fallback or (x, y, yaw, 0.0)
            visible = self._visible_from(x, y, yaw, 0.0)
            far = math.hypot(t.x - x, t.y - y) - t.radius
            if task.difficulty == "easy" and visible:
                return x, y, yaw, 0.0
            if task.difficulty == "hard" and not visible and (far >= 3.5 or attempt > 300):
                return x, y, yaw, 0.0
        if fallback is None:
            raise CrossviewError(f"rooms could not place the agent for seed {task.seed}")
        return fallback

    def _visible_from(self, x: float, y: float, yaw: float, pitch: float) -> bool:
        """Target centre inside the view frustum and not hidden behind a wall or another object."""
        tx, ty, tz = self._target_point()
        theta = -math.radians(yaw)
        dx, dy, dz = tx - x, ty - y, tz - EYE_HEIGHT
        ahead = dx * math.cos(theta) + dy * math.sin(theta)
        if ahead <= 0.05:
            return False
        side = -dx * math.sin(theta) + dy * math.cos(theta)
        if abs(math.degrees(math.atan2(side, ahead))) > self._hfov / 2:
            return False
        elev = math.degrees(math.atan2(-dz, ahead)) - pitch
        if abs(elev) > self._style.fovy / 2:
            return False
        world, _ = self._world_pair
        return world.first_hit((x, y, EYE_HEIGHT), (tx, ty, tz)) == world.thing_ids[self._layout.target]

    def _goal(self, task: TaskSpec, rng: np.random.Generator) -> CrossViewGoal:
        """Render the target from another pose until its mask covers enough of the image (never the start view)."""
        world, renderer = self._world_pair
        layout, t = self._layout, self._layout.target_thing
        tx, ty, tz = self._target_point()
        area = self.size[0] * self.size[1]
        best: tuple[float, np.ndarray, np.ndarray, tuple[float, float, float]] | None = None
        for _ in range(80):
            d, a = rng.uniform(1.2, 3.5) + t.radius, rng.uniform(-math.pi, math.pi)
            x, y, z = t.x + d * math.cos(a), t.y + d * math.sin(a), rng.uniform(0.6, 2.2)
            if blocked(layout, x, y, 0.15) or math.hypot(x - self._x, y - self._y) < 1.0:
                continue
            if not segment_clear(layout, (x, y), (t.x, t.y)):
                continue
            theta = math.atan2(ty - y, tx - x) + rng.uniform(-0.25, 0.25) * math.radians(self._hfov)
            pitch = math.atan2(z - tz, math.hypot(tx - x, ty - y)) + math.radians(rng.uniform(-8, 8))
            world.set_camera("goal", (x, y, z), theta, pitch)
            mask = renderer.geom_mask(world.data, world.goal_cam, world.thing_ids[layout.target])
            frac = mask.sum() / area
            if MIN_MASK <= frac <= MAX_MASK:
                self._goal_pose = (x, y, z)
                return CrossViewGoal(renderer.rgbd(world.data, world.goal_cam, depth=False)[0], mask, task.interaction)
            if frac > 0 and (best is None or abs(frac - MIN_MASK) < best[0]):
                best = (abs(frac - MIN_MASK), renderer.rgbd(world.data, world.goal_cam, depth=False)[0], mask,
                        (x, y, z))
        if best is None:
            raise CrossviewError(f"rooms found no goal view of the target for seed {task.seed} in {task.domain}")
        self._goal_pose = best[3]
        return CrossViewGoal(best[1], best[2], task.interaction)

    def _observe(self) -> Observation:
        world, renderer = self._world_pair
        rgb, depth = renderer.rgbd(world.data, world.eye_cam, depth=self.depth)
        return Observation(rgb, depth, self._steps / self.info.control_hz)

    def _navigation(self) -> NavField:
        if self._nav is None:
            self._nav = NavField(self._layout)
        return self._nav

    def _info(self) -> StepInfo:
        """Privileged facts: for the oracle and the store, never for a learning policy."""
        tx, ty, tz = self._target_point()
        t = self._layout.target_thing
        distance = max(0.0, math.hypot(tx - self._x, ty - self._y) - t.radius)
        visible = self._visible_from(self._x, self._y, self._yaw, self._pitch)
        bearing = _wrap_deg(-math.degrees(math.atan2(ty - self._y, tx - self._x)) - self._yaw)
        centred = visible and abs(bearing) <= max(CENTRE_DEG, math.degrees(math.atan2(t.radius, distance + 1e-6)))
        facts = PrivilegedFacts(
            pose=(self._x, self._y, EYE_HEIGHT, self._yaw, self._pitch), target_pos=(tx, ty, tz),
            waypoint=self._navigation().waypoint(self._x, self._y), distance=distance,
            success_radius=self._task.success_radius, target_centred=centred, target_visible=visible)
        return StepInfo(target=t.name, distance=distance, privileged=facts, extra={"target_bearing": bearing})

    def _acted_on_other(self, layout: Layout) -> bool:
        """Whether a non-target object is centred in view, within reach and unoccluded."""
        world, _ = self._world_pair
        eye = (self._x, self._y, EYE_HEIGHT)
        for i, t in enumerate(layout.things):
            if i == layout.target:
                continue
            distance = max(0.0, math.hypot(t.x - self._x, t.y - self._y) - t.radius)
            bearing = _wrap_deg(-math.degrees(math.atan2(t.y - self._y, t.x - self._x)) - self._yaw)
            if (distance <= self._task.success_radius and abs(bearing) <= CENTRE_DEG
                    and world.first_hit(eye, (t.x, t.y, t.centre_z)) == world.thing_ids[i]):
                return True
        return False

    def step(self, action: Action) -> tuple[Observation, bool, bool | None, StepInfo]:
        """Turn, then move with collisions; judge success from privileged facts."""
        if self._remote is not None:
            return self._remote.step(action)
        if self._task is None:
            raise CrossviewError("rooms: step() called before reset()")
        a = action.without(self.info.masked)
        self._yaw = _wrap_deg(self._yaw + a.yaw)
        self._pitch = float(np.clip(self._pitch + a.pitch, -PITCH_LIMIT, PITCH_LIMIT))
        fwd = (float(a.forward) - float(a.back)) * (2.0 if a.sprint and a.forward else 1.0)
        side = float(a.right) - float(a.left)
        if fwd or side:
            theta = -math.radians(self._yaw)
            dx = self.step_m * (fwd * math.cos(theta) + side * math.sin(theta))
            dy = self.step_m * (fwd * math.sin(theta) - side * math.cos(theta))
            for mx, my in ((dx, dy), (dx, 0.0), (0.0, dy)):  # slide along walls
                if not blocked(self._layout, self._x + mx, self._y + my, AGENT_RADIUS):
                    self._x, self._y = self._x + mx, self._y + my
                    break
        world, _ = self._world_pair
        world.set_camera("eye", (self._x, self._y, EYE_HEIGHT), -math.radians(self._yaw), math.radians(self._pitch))
        self._steps += 1
        info = self._info()
        facts = info.privileged
        within = facts.distance <= self._task.success_radius
        kind = self._task.interaction
        success, done = False, False
        if kind == Interaction.APPROACH:
            success = within and facts.target_visible
        else:
            pressed = a.attack if kind == Interaction.MINE else a.use
            if pressed and within and facts.target_centred:
                success = True
            elif pressed and self._acted_on_other(self._layout):
                done = True  # hit the wrong object
        return self._observe(), success or done, success, info

    def close(self) -> None:
        """Free every renderer's GL context (and the process of a forked copy)."""
        if self._remote is not None:
            self._remote.close()
        for _, renderer in self._worlds.values():
            renderer.close()
        self._worlds.clear()
        self._task = None
