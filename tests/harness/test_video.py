"""The goal overlay: the target keeps its colours, the rest is dimmed, the mask's edge is outlined."""

from __future__ import annotations

import numpy as np

from harness.spec import CrossViewGoal, Interaction
from harness.video import OUTLINE, goal_overlay


def test_goal_overlay_outlines_the_target_and_dims_the_rest() -> None:
    image = np.full((20, 20, 3), 200, np.uint8)
    image[5:15, 5:15] = (180, 40, 30)  # a red target
    mask = np.zeros((20, 20), bool)
    mask[5:15, 5:15] = True
    out = goal_overlay(CrossViewGoal(image, mask, Interaction.APPROACH))
    assert (out[7:13, 7:13] == (180, 40, 30)).all()  # inside: true colours, no tint
    assert (out[5, 5:15] == OUTLINE).all() and (out[5:15, 14] == OUTLINE).all()  # the edge
    assert (out[0, 0] == 80).all()  # outside: dimmed to 40%
    empty = goal_overlay(CrossViewGoal(image, np.zeros_like(mask), Interaction.APPROACH))
    assert (empty == (image * 0.4).astype(np.uint8)).all()  # no target: everything dimmed, nothing outlined
