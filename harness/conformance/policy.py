"""The policy contract, checked on a live policy (``crossview check policy KIND``; the project's tests call it).

The policy acts on real starts of an adapter (Rooms by default, at the policy's input size): one action per slot,
finite camera turns, batched calls equal one-by-one calls, a slot reset reproduces that slot, and privileged facts
reach only privileged policies.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from adapters.base import make_adapter, step_info
from harness.conformance.results import Report, Skip, run_checks
from harness.spec import Action, CrossViewGoal, Interaction, Observation, StepInfo
from policies.base import Policy, PolicyInfo, make_policy

Start = tuple[Observation, CrossViewGoal, StepInfo]
SEEDS = (10, 11, 12)


class PolicyChecks:
    """The checks of one policy kind with its options."""

    def __init__(self, kind: str, options: dict[str, Any], adapter: str, adapter_options: dict[str, Any],
                 make: Callable[[], Policy] | None = None) -> None:
        self.kind, self.options = kind, dict(options)
        self.adapter_name, self.adapter_options = adapter, dict(adapter_options)
        self.make = make or (lambda: make_policy(kind, **self.options))
        self.policy: Policy | None = None
        self.starts: list[Start] = []

    @property
    def p(self) -> Policy:
        assert self.policy is not None
        return self.policy

    def construct(self) -> str:
        self.policy = self.make()
        if not isinstance(self.policy, Policy):
            raise AssertionError(f"{type(self.policy).__name__} lacks info/reset/act")
        info = self.policy.info
        if not isinstance(info, PolicyInfo):
            raise AssertionError("policy.info must be a policies.base.PolicyInfo")
        self.starts = self._starts(info)
        size = "any size" if info.input_size is None else f"{info.input_size[0]}x{info.input_size[1]}"
        flags = [f for f in ("batchable", "privileged") if getattr(info, f)]
        return f"{info.name}: {size}, {', '.join(flags) or 'no flags'}, on {info.device}"

    def _starts(self, info: PolicyInfo) -> list[Start]:
        options = dict(self.adapter_options)
        if info.input_size is not None and "image_size" not in options and self.adapter_name == "rooms":
            options["image_size"] = list(info.input_size)
        adapter = make_adapter(self.adapter_name, **options)
        try:
            templates = adapter.tasks("train")
            if info.interactions:
                templates = [t for t in templates if t.interaction in info.interactions] or templates
            out = []
            for k, seed in enumerate(SEEDS):
                obs, goal, si = adapter.reset(dataclasses.replace(templates[k % len(templates)], seed=seed))
                out.append((obs, goal, step_info(si, self.adapter_name)))
            return out
        finally:
            adapter.close()

    def _facts(self, batch: Sequence[Start]) -> list[Any]:
        return [s[2].privileged if self.p.info.privileged else None for s in batch]

    def _act(self, batch: Sequence[Start], seeds: Sequence[int]) -> list[Action]:
        self.p.reset(len(batch), seeds=list(seeds))
        return self.p.act([s[0] for s in batch], [s[1] for s in batch], self._facts(batch))

    def info_valid(self) -> str:
        info = self.p.info
        assert all(isinstance(i, Interaction) for i in info.interactions), "interactions must be Interaction values"
        if info.input_size is not None:
            assert len(info.input_size) == 2 and all(int(v) > 0 for v in info.input_size), \
                "input_size must be (height, width) or None"
        return "interactions " + (", ".join(i.name.lower() for i in info.interactions) or "any")

    def batch_contract(self) -> str:
        actions = self._act(self.starts, SEEDS)
        assert isinstance(actions, list) and len(actions) == len(self.starts), \
            f"act returned {len(actions) if isinstance(actions, list) else type(actions).__name__} for 3 slots"
        assert all(isinstance(a, Action) for a in actions), "act must return harness.spec.Action values"
        assert all(np.isfinite(a.camera).all() for a in actions), "camera turns must be finite"
        return "one finite Action per slot"

    def batched_equals_single(self) -> str:
        if not self.p.info.batchable:
            raise Skip("the policy declares batchable=False")
        batched = self._act(self.starts, SEEDS)
        single = [self._act([s], [seed])[0] for s, seed in zip(self.starts, SEEDS)]
        for k, (a, b) in enumerate(zip(batched, single)):
            assert a.buttons_array().tolist() == b.buttons_array().tolist() and np.allclose(a.camera, b.camera,
                                                                                              atol=1e-4), \
                f"slot {k}: batched {a} differs from one-by-one {b}"
        return "a batch of 3 equals 3 single calls"

    def slot_reset(self) -> str:
        first = self._act(self.starts, (5, 6, 7))
        self.p.reset(len(self.starts), slots=[1], seeds=[6])
        again = self.p.act([s[0] for s in self.starts], [s[1] for s in self.starts], self._facts(self.starts))
        assert again[1] == first[1], f"slot 1 reset with its seed acted {again[1]}, first time {first[1]}"
        return "resetting one slot with its seed reproduces its action"

    def privileged(self) -> str:
        if not self.p.info.privileged:
            return "not privileged: receives None for every slot"
        if not all(s[2].privileged is not None for s in self.starts):
            raise Skip(f"{self.adapter_name} does not publish privileged facts to test with")
        self._act(self.starts, SEEDS)
        return "acts on PrivilegedFacts"

    def all(self) -> list[tuple[str, Callable[[], str | None]]]:
        return [("policy info", self.info_valid), ("batch contract", self.batch_contract),
                ("batched equals one by one", self.batched_equals_single),
                ("slot reset reproduces", self.slot_reset), ("privileged facts", self.privileged)]


def check_policy(kind: str, options: dict[str, Any] | None = None, adapter: str = "rooms",
                 adapter_options: dict[str, Any] | None = None, only: tuple[str, ...] = (),
                 make: Callable[[], Policy] | None = None) -> Report:
    """Run every policy check (or those whose names contain one of ``only``) on policy ``kind``."""
    if adapter == "rooms" and adapter_options is None:
        adapter_options = {"image_size": [96, 128]}
    checks = PolicyChecks(kind, options or {}, adapter, adapter_options or {}, make)
    chosen = [(n, f) for n, f in checks.all() if not only or any(o in n for o in only)]
    subject = f"policy {kind}" + (f" {options}" if options else "")
    try:
        return run_checks(subject, chosen, setup=checks.construct)
    finally:
        close = getattr(checks.policy, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):
                close()
