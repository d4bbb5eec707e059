"""Shared types: ROCKET ids, the common action, masking, round trips, one-line errors."""

from __future__ import annotations

import numpy as np
import pytest

from adapters.base import AdapterInfo, make_adapter
from harness.compat import check_policies
from harness.errors import CrossviewError
from harness.plan import EnvRef, Episode, Plan, PolicyRef
from harness.spec import BUTTONS, Action, CrossViewGoal, Interaction, PrivilegedFacts, Status, StepInfo, TaskSpec
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


def test_privileged_facts_are_typed_and_validated() -> None:
    facts = PrivilegedFacts(pose=[1, 2, 0.7, 90, 0], target_pos=(3, 4, 0.5), waypoint=(2, 3), distance=1,
                            success_radius=0.6, target_centred=1)
    assert facts.pose == (1.0, 2.0, 0.7, 90.0, 0.0) and facts.target_centred is True
    assert PrivilegedFacts.from_dict(facts.to_dict()) == facts
    with pytest.raises(CrossviewError, match="pose must be 5 finite numbers"):
        PrivilegedFacts((0, 0, 0), (0, 0, 0), (0, 0), 1.0, 1.0, False)
    with pytest.raises(CrossviewError, match="distance must be a finite number"):
        PrivilegedFacts((0, 0, 0, 0, 0), (0, 0, 0), (0, 0), float("nan"), 1.0, False)
    with pytest.raises(CrossviewError, match="unknown field"):
        PrivilegedFacts.from_dict({**facts.to_dict(), "bearing": 3})
    with pytest.raises(CrossviewError, match="score must lie"):
        StepInfo(score=2)
    with pytest.raises(CrossviewError, match="must be PrivilegedFacts"):
        StepInfo(privileged={"pose": (0, 0, 0, 0, 0)})


def test_adapter_info_rejects_unknown_masked_fields() -> None:
    with pytest.raises(CrossviewError, match="masks unknown action field"):
        AdapterInfo("x", (8, 8), False, True, True, 10.0, masked=frozenset({"fly"}))


def test_oracle_needs_an_adapter_declaring_privileged_facts() -> None:
    task = TaskSpec("x", "d", 1, Interaction.APPROACH)
    env = EnvRef("x")
    plan = Plan([Episode("e", PolicyRef("oracle", "oracle"), env, task, 0, 0)],
                {env.key: AdapterInfo("x", (8, 8), False, True, True, 10.0)})
    with pytest.raises(CrossviewError, match="does not declare privileged_facts"):
        check_policies(plan)
    plan.adapters[env.key] = AdapterInfo("x", (8, 8), False, True, True, 10.0, privileged_facts=True)
    check_policies(plan)
