"""The Policy protocol, its capabilities, and the registry of policy kinds.

A policy acts for a batch of n environment slots at once; recurrent state lives inside the policy, per slot.
Built-in kinds are listed below; third-party kinds register through the ``crossview.policies`` entry point
(``kind = "package.module:factory"``, called with the policy's options as keyword arguments).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Protocol, runtime_checkable

import numpy as np

from harness.errors import CrossviewError
from harness.plugins import construct, import_target, load_checked
from harness.spec import Action, CrossViewGoal, Interaction, Observation

ENTRY_POINT_GROUP = "crossview.policies"


@dataclass(frozen=True)
class PolicyInfo:
    """What a policy needs and can do; the runner checks it against each adapter before running."""

    name: str
    input_size: tuple[int, int] | None = None  # (height, width) it expects, None = any (the runner resizes)
    interactions: tuple[Interaction, ...] = ()  # empty = any
    batchable: bool = True
    device: str = "cpu"
    privileged: bool = False  # reads the simulator's privileged info (oracle only)
    checkpoint_sha256: str = ""
    checkpoint_step: int | None = None


@runtime_checkable
class Policy(Protocol):
    """A goal-conditioned visuomotor policy over a batch of env slots."""

    info: PolicyInfo

    def reset(self, n: int, slots: Sequence[int] | None = None, seeds: Sequence[int] | None = None) -> None:
        """Prepare ``n`` slots; clear the state of ``slots`` (all when None), seeding their randomness."""
        ...

    def act(self, observations: Sequence[Observation], goals: Sequence[CrossViewGoal],
            infos: Sequence[dict[str, Any]], slots: Sequence[int] | None = None) -> list[Action]:
        """One action per batch element; element k belongs to slot ``slots[k]`` (default: slot k).

        ``infos`` are empty dicts unless the policy is privileged.
        """
        ...


class SlotRandom:
    """Per-slot random generators seeded per episode, so outcomes never depend on batching or scheduling."""

    def __init__(self, salt: int) -> None:
        self.salt = salt
        self.rngs: list[np.random.Generator] = []

    def reset(self, n: int, slots: Sequence[int] | None, seeds: Sequence[int] | None) -> list[int]:
        """Seed the generators of ``slots`` (all when None) from ``seeds`` (default: the slot index)."""
        if len(self.rngs) != n:
            self.rngs = [np.random.default_rng([i, self.salt]) for i in range(n)]
        slots = list(range(n)) if slots is None else list(slots)
        for k, slot in enumerate(slots):
            seed = seeds[k] if seeds is not None else slot
            self.rngs[slot] = np.random.default_rng([int(seed) & 0xFFFFFFFF, self.salt])
        return slots


BUILTIN_POLICIES: dict[str, str] = {
    "random": "policies.baselines:RandomPolicy",
    "oracle": "policies.baselines:OraclePolicy",
    "torch": "policies.torch.xview:TorchPolicy",
    "rocket": "policies.rocket.policy:RocketPolicy",
    "remote": "policies.remote:RemotePolicy",
}


def policy_kinds() -> dict[str, str]:
    """Every policy kind: built-ins plus ``crossview.policies`` entry points."""
    kinds = dict(BUILTIN_POLICIES)
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        kinds.setdefault(ep.name, ep.value)
    return kinds


def _target(kind: str) -> str:
    """The import path of a policy kind; one line for unknown kinds."""
    kinds = policy_kinds()
    if kind not in kinds and ":" in kind:  # an unpackaged plugin, named by its import path
        return kind
    if kind not in kinds:
        raise CrossviewError(f"unknown policy kind {kind!r}: known kinds are {', '.join(sorted(kinds))} "
                             "(third-party policies register through the 'crossview.policies' entry point)")
    return kinds[kind]


def check_kind(kind: str) -> None:
    """For a kind named by import path: import it and check it against the protocol, without calling it."""
    if ":" in kind and kind not in policy_kinds():
        load_checked(f"policy kind {kind!r}", lambda: import_target(kind), Policy)


def make_policy(kind: str, **options: Any) -> Policy:
    """Construct a policy of ``kind`` with its options; one-line errors for unknown kinds or options."""
    target = _target(kind)
    return construct(f"policy kind {kind!r}", lambda: import_target(target), options, Policy)
