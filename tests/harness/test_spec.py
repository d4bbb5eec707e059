"""Shared types: ROCKET ids, the common action, masking, round trips, one-line errors."""

from __future__ import annotations

import numpy as np
import pytest

from adapters.base import make_adapter
from harness.errors import CrossviewError
from harness.spec import BUTTONS, Action, CrossViewGoal, Interaction, Status, TaskSpec
from policies.base import make_policy


def test_interaction_ids_are_rockets() -> None:
    assert [int(i) for i in (Interaction.HUNT, Interaction.MINE, Interaction.INTERACT, Interaction.CRAFT,
                             Interaction.SWITCH, Interaction.APPROACH, Interaction.NONE)] == [0, 2, 3, 4, 5, 6, -1]
    assert Interaction.parse("Approach") is Interaction.APPROACH and Interaction.parse(2) is Interaction.MINE
    with pytest.raises(CrossviewError, match="unknown interaction 'fly'"):
        Interaction.parse("fly")


def test_action_masking_and_round_trips() -> None:
    a = Action(forward=True, jump=True, attack=True, camera=(5.0, -7.5))
    assert a.without(frozenset({"jump", "pitch"})) == Action(forward=True, attack=True, camera=(0.0, -7.5))
    assert Action.from_dict(a.to_dict()) == a
    assert Action.from_arrays(a.buttons_array(), a.camera) == a
    assert len(a.buttons_array()) == len(BUTTONS) == 9
    with pytest.raises(CrossviewError, match="unknown action field"):
        Action.from_dict({"fly": True})


def test_null_goal() -> None:
    g = CrossViewGoal.null(4, 6)
    assert g.interaction is Interaction.NONE and not g.mask.any() and g.image.shape == (4, 6, 3)
    assert np.all(g.image == 0)


def test_taskspec_round_trip_and_validation() -> None:
    t = TaskSpec("rooms", "apartment", 3, Interaction.MINE, "red box", "hard", "heldout", 50, 1.2, {"k": 1})
    assert TaskSpec.from_dict(t.to_dict()) == t
    with pytest.raises(CrossviewError, match="split"):
        TaskSpec("rooms", "apartment", 3, Interaction.MINE, split="test")
    assert Status("env_error") is Status.ENV_ERROR


def test_unknown_names_give_one_line() -> None:
    with pytest.raises(CrossviewError, match="unknown adapter 'nope': known adapters are .*rooms"):
        make_adapter("nope")
    with pytest.raises(CrossviewError, match="unknown policy kind 'nope'"):
        make_policy("nope")
