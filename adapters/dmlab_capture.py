"""``crossview goal capture --dmlab LEVEL``: a DMLab goal that records the world it shows.

The level is reset with ``--seed`` (which fixes the maze, the spawn and the rewarded objects), the agent plays a
short script of common actions (``--steps``, e.g. ``yaw=30*3,forward*12``: three steps turning 30° each, then
twelve steps forward) with the same action table and ``action_repeat`` as the adapter, and the last frame becomes
the goal image; the mask comes from a box around the target (GrabCut, as on the rig). ``--object ROW,COL`` names
the goal object's maze cell (1-based, as ``DEBUG.MAZE.LAYOUT`` prints the maze); the goal then stores the object's
world position, so that success is collecting that object and no other. The goal's JSON records level, seed,
script, pose, layout, fps and action_repeat.

The layout shows where objects MAY stand, not which are there: in the object_locations levels only
``rewardDensity`` (default 0.5) of the ``A`` cells, drawn with the seed, get an apple
(factories/explore/object_locations_factory.lua:67-74, 86-96). Name the cell of an object the goal image shows;
a cell whose apple was not drawn makes a goal no episode can reach.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import numpy as np

from adapters.action_map import merge_table
from adapters.dmlab import (
    DEFAULT_FPS,
    DEFAULT_LEVEL,
    DEFAULT_REPEAT,
    DEFAULT_TABLE,
    LAYOUT,
    POSITION,
    RGB,
    ROTATION,
    cell_position,
    lab_call,
    native_action,
    open_lab,
    setting_text,
)
from harness.errors import CrossviewError
from harness.spec import BUTTONS, Action, CrossViewGoal, Interaction

STEP = re.compile(r"^(?:(?P<button>[a-z]+)|(?P<axis>yaw|pitch)=(?P<deg>-?\d+(?:\.\d+)?))(?:\*(?P<n>\d+))?$")
NOT_OBJECTS = frozenset("* P\nHI")  # walls, floor, spawns, doors (lua_maze_generation.cc:297-308)


def parse_steps(text: str) -> list[Action]:
    """A capture script (comma-separated ``BUTTON[*N]`` or ``yaw=DEG[*N]`` / ``pitch=DEG[*N]``) as actions."""
    out: list[Action] = []
    for token in (t.strip() for t in text.split(",") if t.strip()):
        m = STEP.match(token)
        if m is None or (m.group("button") and m.group("button") not in BUTTONS):
            raise CrossviewError(f"--steps: {token!r} is not BUTTON[*N] (one of {', '.join(BUTTONS)}) or "
                                 "yaw=DEG[*N] / pitch=DEG[*N]")
        if m.group("button"):
            action = Action(**{m.group("button"): True})
        else:
            deg = float(m.group("deg"))
            action = Action(camera=(deg, 0.0) if m.group("axis") == "pitch" else (0.0, deg))
        out.extend([action] * int(m.group("n") or 1))
    return out


def object_position(layout: str, cell: str, height_units: float) -> tuple[list[float], list[int]]:
    """World position (units) of the object in maze cell ``ROW,COL`` of ``layout``; error unless it holds one."""
    try:
        row, col = (int(v) for v in cell.split(","))
    except ValueError:
        raise CrossviewError(f"--object {cell!r}: give ROW,COL of the goal object's maze cell (1-based)") from None
    rows = layout.strip("\n").split("\n")
    x, y = cell_position(layout, row, col)
    char = rows[row - 1][col - 1] if col <= len(rows[row - 1]) else " "
    if char in NOT_OBJECTS:
        raise CrossviewError(f"--object {cell}: maze cell {row},{col} holds {char!r}, not an object; the maze is:\n"
                             + "\n".join(rows))
    return [x, y, float(height_units)], [row, col]


def capture(out: str | Path, name: str, box: str, seed: int, level: str = DEFAULT_LEVEL, steps: str = "",
            object_cell: str | None = None, interaction: str = "approach", target: str = "", split: str = "train",
            size: tuple[int, int] = (240, 320), fps: int = DEFAULT_FPS, action_repeat: int = DEFAULT_REPEAT,
            config: dict[str, Any] | None = None) -> Path:
    """Reset ``level`` with ``seed``, play ``steps``, save the last frame with the boxed target as goal ``name``."""
    from harness.goal_capture import parse_box, target_mask
    from harness.goals import save_goal
    from harness.video import side_by_side, write_png

    actions = parse_steps(steps)
    table = merge_table(DEFAULT_TABLE, None, "dmlab")
    lab = open_lab(level, size[1], size[0], fps, config)
    try:  # reset/step failures as one line, as in the adapter (dmlab_module.c:338-341, 392-396, 418-422)
        lab_call("reset", lambda: lab.reset(seed=int(seed)))
        for i, action in enumerate(actions):
            lab_call("a step", functools.partial(lab.step, native_action(action, table), num_steps=action_repeat))
            if not lab.is_running():
                raise CrossviewError(f"--steps: the episode ended after {i + 1} steps")
        obs = lab_call("observations", lab.observations)
    finally:
        lab.close()
    rgb = np.ascontiguousarray(obs[RGB])
    layout = str(obs[LAYOUT])
    pose = [float(v) for v in obs[POSITION]] + [float(v) for v in obs[ROTATION]]
    meta: dict[str, Any] = {"level": level, "seed": int(seed), "steps": steps, "pose": pose, "entity_layer": layout,
                            "fps": fps, "action_repeat": action_repeat, "box": box,
                            "config": {str(k): setting_text(v) for k, v in (config or {}).items()}}
    if object_cell is not None:
        meta["object"], meta["object_cell"] = object_position(layout, object_cell, pose[2])
    goal = CrossViewGoal(rgb, target_mask(rgb, None, parse_box(box, *rgb.shape[:2])), Interaction.parse(interaction))
    path = save_goal(out, name, goal, target=target or name, split=split, **meta)
    write_png(Path(out) / f"{name}.preview.png", side_by_side(rgb, goal))
    return path
