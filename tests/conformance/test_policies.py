"""Checks every policy must pass: batch contract, per-slot seeding, batched equals one-by-one."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from harness.spec import Action
from policies.base import Policy
from tests.conformance.cases import POLICY_CASES, build_adapter, build_policy


@pytest.fixture(scope="module")
def episodes():
    """Three real Rooms starts (observation, goal, privileged info)."""
    adapter = build_adapter("rooms")
    template = adapter.tasks("train")[0]
    out = [adapter.reset(dataclasses.replace(template, seed=s)) for s in (1, 2, 3)]
    adapter.close()
    return out


@pytest.fixture(params=sorted(POLICY_CASES))
def policy(request: pytest.FixtureRequest) -> Policy:
    return build_policy(request.param)


def _act(policy: Policy, batch, seeds) -> list[Action]:
    policy.reset(len(batch), seeds=seeds)
    infos = [info.privileged if policy.info.privileged else None for _, _, info in batch]
    return policy.act([o for o, _, _ in batch], [g for _, g, _ in batch], infos)


def test_batch_contract(policy: Policy, episodes) -> None:
    actions = _act(policy, episodes, [10, 11, 12])
    assert len(actions) == len(episodes) and all(isinstance(a, Action) for a in actions)
    assert all(np.isfinite(a.camera).all() for a in actions)


def test_batched_equals_one_by_one(policy: Policy, episodes) -> None:
    if not policy.info.batchable:
        pytest.skip("policy declares itself not batchable")
    batched = _act(policy, episodes, [10, 11, 12])
    single = [_act(policy, [ep], [seed])[0] for ep, seed in zip(episodes, [10, 11, 12])]
    for a, b in zip(batched, single):
        assert a.to_dict().keys() == b.to_dict().keys()
        np.testing.assert_allclose(a.camera, b.camera, atol=1e-4)
        assert a.buttons_array().tolist() == b.buttons_array().tolist()


def test_slot_reset_reproduces(policy: Policy, episodes) -> None:
    first = _act(policy, episodes, [5, 6, 7])
    policy.reset(3, slots=[1], seeds=[6])
    again = policy.act([o for o, _, _ in episodes], [g for _, g, _ in episodes],
                       [i.privileged if policy.info.privileged else None for _, _, i in episodes])
    assert again[1] == first[1]
