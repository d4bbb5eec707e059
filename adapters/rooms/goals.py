"""Rooms goals in words and as a clip: instructions written from the target's attributes, and a video of the
target being reached, rendered from the goal camera's viewpoint.

Both are deterministic functions of the episode (its TaskSpec and layout) and draw from their own random
generator, so asking for another modality never changes the episode itself: the same (task, seed) gives the same
scene, start and cross-view goal whatever the agent is told.

Phrasings come in two disjoint sets: ``train`` tasks are worded with ``TRAIN_PHRASINGS``, ``heldout`` tasks with
``HELDOUT_PHRASINGS`` only, so a policy cloned on the train split never reads a held-out sentence form
(GenRL's in-distribution vs generalization split).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from adapters.rooms.layout import WALL_T, Layout
from harness.spec import SPLITS, Interaction, LanguageGoal, TargetAttributes, TaskSpec, VideoGoal

# {verb}: what to do; {thing}: "red box" ({a_thing}: "a red box");
# {where}: "in this room" / "in the other room" / "in another room"
TRAIN_PHRASINGS = (
    "{verb} the {thing} {where}",
    "{where}, {verb} the {thing}",
    "find the {thing} {where} and {verb} it",
    "your task is to {verb} the {thing} {where}",
)
HELDOUT_PHRASINGS = (
    "there is {a_thing} {where}: {verb} it",
    "the {thing} {where} is the one you must {verb}",
)
PHRASINGS = {"train": TRAIN_PHRASINGS, "heldout": HELDOUT_PHRASINGS}
VERBS = {Interaction.APPROACH: ("go to", "walk up to"), Interaction.MINE: ("mine", "break"),
         Interaction.INTERACT: ("use", "interact with")}
VIDEO_FRAMES = 8
_SALT = 19  # keeps these generators apart from the episode's own


def partitions(layout: Layout) -> tuple[str, list[float]]:
    """The axis ("x" or "y") the interior walls cut, and where, from the layout's walls (outer four first)."""
    inner = layout.walls[4:]
    if not inner:
        return "x", []
    vertical = abs((inner[0].x1 - inner[0].x0) - WALL_T) < 1e-6
    cuts = sorted({round((w.x0 + w.x1) / 2 if vertical else (w.y0 + w.y1) / 2, 6) for w in inner})
    return ("x" if vertical else "y"), cuts


def room_of(layout: Layout, x: float, y: float) -> int:
    """Index of the room (region between partitions) holding the point (x, y)."""
    axis, cuts = partitions(layout)
    v = x if axis == "x" else y
    return sum(v > c for c in cuts)


def where_phrase(layout: Layout, start: tuple[float, float]) -> tuple[str, str]:
    """(room relation, words): the target in the agent's start room, in the other one, or in another one."""
    t = layout.target_thing
    if room_of(layout, t.x, t.y) == room_of(layout, *start):
        return "same", "in this room"
    rooms = len(partitions(layout)[1]) + 1
    return "other", "in the other room" if rooms == 2 else "in another room"


def instruction(task: TaskSpec, layout: Layout, start: tuple[float, float]) -> LanguageGoal:
    """The episode's instruction: a phrasing of the task's split and a verb, both drawn from the task's seed."""
    t = layout.target_thing
    room, where = where_phrase(layout, start)
    rng = np.random.default_rng([int(task.seed) & 0xFFFFFFFF, SPLITS.index(task.split), _SALT])
    forms = PHRASINGS[task.split]
    k = int(rng.integers(len(forms)))
    verbs = VERBS[task.interaction]
    verb = verbs[int(rng.integers(len(verbs)))]
    article = "an" if t.name[:1] in "aeiou" else "a"
    text = forms[k].format(verb=verb, thing=t.name, a_thing=f"{article} {t.name}", where=where)
    attrs = TargetAttributes(name=t.name, interaction=task.interaction, colour=t.colour, shape=t.shape, room=room)
    return LanguageGoal(text, task.interaction, attrs, f"{task.split}/{k}")


def video_goal(render: Callable[[tuple[float, float, float], float, float], tuple[np.ndarray, np.ndarray]],
               layout: Layout, camera: tuple[float, float, float], eye_height: float, reach: float,
               interaction: Interaction, frames: int = VIDEO_FRAMES, fps: float = 10.0) -> VideoGoal:
    """A clip of the target being reached: a walk from the goal camera's viewpoint (a straight path the goal
    view was checked to be clear along) down to eye height, ending ``reach`` metres from the target's surface,
    always facing it. ``render(position, theta, pitch)`` returns (rgb, target mask) from the second camera."""
    t = layout.target_thing
    x0, y0, z0 = camera
    tx, ty, tz = t.x, t.y, t.centre_z
    d0 = math.hypot(tx - x0, ty - y0)
    end = max(0.0, d0 - t.radius - reach) / max(d0, 1e-6)  # fraction of the way at which the walk stops
    images, masks = [], []
    for k in range(frames):
        f = end * k / max(1, frames - 1)
        x, y, z = x0 + f * (tx - x0), y0 + f * (ty - y0), z0 + f * (eye_height - z0)
        theta = math.atan2(ty - y, tx - x)
        pitch = math.atan2(z - tz, max(math.hypot(tx - x, ty - y), 1e-3))
        rgb, mask = render((x, y, z), theta, pitch)
        images.append(rgb)
        masks.append(mask)
    return VideoGoal(np.stack(images), interaction, np.stack(masks), fps)
