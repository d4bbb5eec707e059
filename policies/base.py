"""The Policy protocol, its capabilities, and the registry of policy kinds.

A policy acts for a batch of n environment slots at once; recurrent state lives inside the policy, per slot.
Built-in kinds are listed below; third-party kinds register through the ``crossview.policies`` entry point
(``kind = "package.module:factory"``, called with the policy's options as keyword arguments).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from harness.errors import CrossviewError
from harness.plugins import construct, load_checked
from harness.registry import PluginEntry, from_entry_points, import_path_entry
from harness.spec import Action, CrossViewGoal, Goal, Interaction, Modality, Observation, PrivilegedFacts

ENTRY_POINT_GROUP = "crossview.policies"


@dataclass(frozen=True)
class PolicyInfo:
    """What a policy needs and can do; the runner checks it against each adapter before running."""

    name: str
    input_size: tuple[int, int] | None = None  # (height, width) it needs, checked against the adapter; None = any
    interactions: tuple[Interaction, ...] = ()  # empty = any
    batchable: bool = True
    device: str = "cpu"
    privileged: bool = False  # reads PrivilegedFacts (oracle only); runs only where the adapter declares them
    checkpoint_sha256: str = ""
    checkpoint_step: int | None = None
    # goal modalities it accepts; a policy accepting only cross-view goals gets ``CrossViewGoal`` values, any
    # other a ``Goal`` holding just the episode's modality (harness.spec.Goal)
    goals: tuple[Modality, ...] = (Modality.CROSS_VIEW,)

    def __post_init__(self) -> None:
        object.__setattr__(self, "goals", tuple(Modality.parse(m) for m in self.goals))

    @property
    def cross_view_only(self) -> bool:
        """Whether the policy takes plain ``CrossViewGoal`` values (the path every older policy expects)."""
        return self.goals == (Modality.CROSS_VIEW,)


@runtime_checkable
class Policy(Protocol):
    """A goal-conditioned visuomotor policy over a batch of env slots."""

    info: PolicyInfo

    def reset(self, n: int, slots: Sequence[int] | None = None, seeds: Sequence[int] | None = None) -> None:
        """Prepare ``n`` slots; clear the state of ``slots`` (all when None), seeding their randomness."""
        ...

    def act(self, observations: Sequence[Observation], goals: Sequence[CrossViewGoal | Goal],
            privileged: Sequence[PrivilegedFacts | None], slots: Sequence[int] | None = None) -> list[Action]:
        """One action per batch element; element k belongs to slot ``slots[k]`` (default: slot k).

        ``goals`` are ``CrossViewGoal`` values when ``info.goals`` is cross-view only, else ``Goal`` values
        carrying the episode's one modality.

        ``privileged`` holds each slot's ``PrivilegedFacts`` when ``info.privileged`` is set (and the adapter
        declares ``privileged_facts``), else None for every slot: a learning policy never sees them.
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
    "minestudio": "policies.rocket.policy:MineStudioPolicy",
    "remote": "policies.remote:RemotePolicy",
}
_MINESTUDIO_ENV = "its own environment: README 'ROCKET-2 and MineStudio policies' (nox -s minestudio)"
# what each built-in kind's backend needs (modules to import, and how to install them)
_BUILTIN_NEEDS: dict[str, tuple[tuple[str, ...], str]] = {
    "torch": (("torch", "safetensors"), "pip install 'crossview-harness[torch]'"),
    "rocket": (("torch", "minestudio"), _MINESTUDIO_ENV),
    "minestudio": (("torch", "minestudio"), _MINESTUDIO_ENV),
    "remote": (("websockets", "msgpack"), "pip install 'crossview-harness[serve]'"),
}


def policy_registry() -> dict[str, PluginEntry]:
    """Every policy kind: built-ins plus ``crossview.policies`` entry points (built-ins win a name clash)."""
    builtin = {k: PluginEntry(k, t, _BUILTIN_NEEDS.get(k, ((), ""))[1], requires=_BUILTIN_NEEDS.get(k, ((), ""))[0])
               for k, t in BUILTIN_POLICIES.items()}
    return {**from_entry_points(ENTRY_POINT_GROUP), **builtin}


def policy_kinds() -> dict[str, str]:
    """Every policy kind and its ``module:attr`` target."""
    return {k: e.target for k, e in policy_registry().items()}


def get_entry(kind: str) -> PluginEntry:
    """The registry entry of ``kind`` (or a ``module:factory`` path), else a one-line error listing the kinds."""
    kinds = policy_registry()
    if kind not in kinds and ":" in kind:  # an unpackaged plugin, named by its import path
        return import_path_entry(kind)
    if kind not in kinds:
        raise CrossviewError(f"unknown policy kind {kind!r}: known kinds are {', '.join(sorted(kinds))} "
                             "(third-party policies register through the 'crossview.policies' entry point)")
    return kinds[kind]


def check_kind(kind: str) -> None:
    """For a kind named by import path: import it and check it against the protocol, without calling it."""
    if ":" in kind and kind not in policy_registry():
        load_checked(f"policy kind {kind!r}", get_entry(kind).load, Policy)


def make_policy(kind: str, **options: Any) -> Policy:
    """Construct a policy of ``kind`` with its options; one-line errors for unknown kinds or options."""
    return construct(f"policy kind {kind!r}", get_entry(kind).load, options, Policy)
