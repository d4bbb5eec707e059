"""The transport-independent part of a policy copy: policies, seats, goals, the act queue and its batching.

Both transports drive one ``InferenceCore``: the policy process on Unix sockets (``server``) and the Ray policy
actor (``ray_actor``). A transport names each connected worker by a hashable ``peer`` token, hands the core
decoded messages (arrays may still live in the sender's buffer: shared memory, Ray's object store) and delivers
the replies the core returns. Requests:

- ``load`` {key, kind, options} → ``info`` {PolicyInfo fields}: the policy is built once and shared by all workers;
- ``reset`` {key, kind, options, slots, seeds} → ``ok``: clears the state of the worker's slots (global slot =
  (worker, slot)), loading the policy again if it was evicted;
- ``act`` {key, slots, obs, goals (None = the slot's goal as before), privileged} → ``actions``. A goal is any
  ``harness.spec.Goal`` (``harness.wire.full_goal_to_wire``); its arrays are copied out once per episode.

``act`` requests are batched dynamically per policy: a batch runs when every connected worker waits on an answer,
when ``max_batch`` slots are queued, or ``max_wait`` seconds after the oldest request. A failing request is
answered ``error`` (never fatal: nothing a worker sends takes the copy down). ``arm`` publishes the deadline of
each batched call, which the driver watches.
"""

from __future__ import annotations

import time
import traceback
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from harness.spec import Goal, Observation, PrivilegedFacts
from harness.wire import (
    WireError,
    full_goal_from_wire,
    observation_from_wire,
    policy_info_to_wire,
    privileged_from_wire,
)
from policies.base import Policy, make_policy

MAX_LOADED = 2  # policies kept loaded (as a worker keeps); only those no slot runs are evicted
Reply = tuple[Hashable, dict[str, Any]]  # (peer, message)


@dataclass(frozen=True)
class BatchSettings:
    """How one policy copy batches: global slots it seats, the largest batch, the longest wait for company."""

    capacity: int  # global slots (workers x envs per worker, with room for replaced workers)
    max_batch: int = 64
    max_wait: float = 0.005


@dataclass
class _Loaded:
    policy: Policy
    goals: dict[int, Goal] = field(default_factory=dict)  # per global slot, copied out of the sender's buffer
    live: set[int] = field(default_factory=set)


@dataclass
class _Request:
    peer: Hashable
    key: str
    slots: list[int]
    obs: list[Observation]
    goals: list[Any]  # CrossViewGoal for a cross-view-only policy, else Goal
    privileged: list[PrivilegedFacts | None]
    at: float
    tag: Any = None  # the transport's name for this request (the Ray actor's request id), None for sockets


class InferenceCore:
    """One policy copy's state and request logic (see module docstring); not thread-safe: one caller at a time."""

    def __init__(self, s: BatchSettings, arm: Callable[[float], None] = lambda seconds: None,
                 step_timeout: float = 30.0) -> None:
        self.s, self.arm, self.step_timeout = s, arm, step_timeout
        self.peers: dict[Hashable, int] = {}  # peer -> worker id
        self.policies: OrderedDict[str, _Loaded] = OrderedDict()
        self.seats: dict[tuple[int, int], int] = {}
        self.queue: list[_Request] = []

    # ------------------------------------------------------------------ peers
    def join(self, peer: Hashable, wid: Any) -> dict[str, Any]:
        """A worker said hello (its id names its slots' seats)."""
        if not isinstance(wid, int):
            raise WireError("hello needs the worker id")
        self.peers[peer] = wid
        return {"type": "ok"}

    def leave(self, peer: Hashable) -> None:
        """A worker left (or was killed): forget its queued requests and, once no peer speaks for it, its slots."""
        wid = self.peers.pop(peer, None)
        self.cancel(peer)
        if wid is None or wid in self.peers.values():
            return
        for (w, slot), seat in list(self.seats.items()):
            if w == wid:
                del self.seats[(w, slot)]
                for loaded in self.policies.values():
                    loaded.live.discard(seat)
                    loaded.goals.pop(seat, None)

    def cancel(self, peer: Hashable) -> None:
        """Drop the requests ``peer`` has queued (it gave up waiting and asks again)."""
        self.queue = [r for r in self.queue if r.peer != peer]

    def _seat(self, wid: int, slot: int) -> int:
        seat = self.seats.get((wid, slot))
        if seat is None:
            used = set(self.seats.values())
            seat = next((i for i in range(self.s.capacity) if i not in used), None)
            if seat is None:
                raise WireError(f"more than {self.s.capacity} env slots are connected")
            self.seats[(wid, slot)] = seat
        return seat

    # ------------------------------------------------------------------ requests
    def handle(self, peer: Hashable, msg: dict[str, Any], tag: Any = None) -> dict[str, Any] | None:
        """Answer a request of a worker that said hello (``join``); None when it was queued (an ``act``, carrying
        ``tag`` into its batch, so that a transport can tell its answer from an older request's)."""
        try:
            kind = msg.get("type")
            if peer not in self.peers:
                raise WireError("say hello first")
            if kind == "load":
                return self._load(msg)
            if kind == "reset":
                return self._reset(peer, msg)
            if kind == "act":
                self._queue_act(peer, msg, tag)
                return None
            raise WireError(f"unknown request type {kind!r}")
        except Exception as exc:  # answered, never fatal
            return error(exc)

    def _policy(self, key: Any) -> _Loaded:
        if key not in self.policies:
            raise WireError("policy not loaded: send 'load' first")
        self.policies.move_to_end(key)
        return self.policies[key]

    def _load(self, msg: dict[str, Any]) -> dict[str, Any]:
        key, kind, options = msg.get("key"), msg.get("kind"), msg.get("options")
        if not isinstance(key, str) or not isinstance(kind, str) or not isinstance(options, dict):
            raise WireError("load needs key, kind and options")
        if key not in self.policies:
            idle = [k for k, v in self.policies.items() if not v.live]  # least recently used first
            for old in idle[:max(0, len(self.policies) + 1 - MAX_LOADED)]:
                del self.policies[old]
            policy = make_policy(kind, **options)
            policy.reset(self.s.capacity)
            self.policies[key] = _Loaded(policy)
        return {"type": "info", "info": policy_info_to_wire(self.policies[key].policy.info)}

    def _slots(self, peer: Hashable, msg: dict[str, Any]) -> list[int]:
        slots = msg.get("slots")
        if not isinstance(slots, list) or not all(isinstance(s, int) and 0 <= s < 4096 for s in slots):
            raise WireError("slots must be a list of small non-negative integers")
        return [self._seat(self.peers[peer], s) for s in slots]

    def _reset(self, peer: Hashable, msg: dict[str, Any]) -> dict[str, Any]:
        if msg.get("key") not in self.policies:  # evicted while no slot ran it: load it again
            self._load(msg)
        loaded, seats, seeds = self._policy(msg.get("key")), self._slots(peer, msg), msg.get("seeds")
        if seeds is not None and (not isinstance(seeds, list) or len(seeds) != len(seats)
                                  or not all(isinstance(s, int) for s in seeds)):
            raise WireError("seeds must be None or one integer per slot")
        loaded.policy.reset(self.s.capacity, slots=seats, seeds=seeds)
        for seat in seats:  # a slot runs one episode at a time: it now belongs to this policy alone
            for other in self.policies.values():
                other.live.discard(seat)
                other.goals.pop(seat, None)
            loaded.live.add(seat)
        return {"type": "ok"}

    def _queue_act(self, peer: Hashable, msg: dict[str, Any], tag: Any) -> None:
        key = msg.get("key")
        loaded, seats = self._policy(key), self._slots(peer, msg)
        obs, goals, priv = msg.get("obs"), msg.get("goals"), msg.get("privileged")
        if not all(isinstance(x, list) and len(x) == len(seats) for x in (obs, goals, priv)):
            raise WireError("act needs obs, goals and privileged, one per slot")
        for seat, g in zip(seats, goals):
            if g is not None:  # a new goal: copied out once, the worker reuses its buffer
                loaded.goals[seat] = full_goal_from_wire(g, copy=True)
            elif seat not in loaded.goals:
                raise WireError("a slot's first act must carry its goal")
        plain = loaded.policy.info.cross_view_only  # the plain CrossViewGoal, as a worker gives it (worker._for_policy)
        for seat in seats:
            if plain and loaded.goals[seat].cross_view is None:
                raise WireError(f"policy {loaded.policy.info.name!r} takes cross-view goals: the goal has none")
        self.queue.append(_Request(peer, key, seats, [observation_from_wire(o) for o in obs],
                                   [loaded.goals[s].cross_view if plain else loaded.goals[s] for s in seats],
                                   [privileged_from_wire(p) for p in priv], time.monotonic(), tag))

    # ------------------------------------------------------------------ batching
    def due(self) -> float | None:
        """Seconds until the queue must run (0: now), or None when nothing is queued."""
        if not self.queue:
            return None
        waiting = {r.peer for r in self.queue}
        if len(waiting) >= len(self.peers) or sum(len(r.slots) for r in self.queue) >= self.s.max_batch:
            return 0.0
        return max(0.0, self.queue[0].at + self.s.max_wait - time.monotonic())

    def take(self) -> list[tuple[str, list[_Request]]]:
        """Empty the queue into batches: per policy, in arrival order, at most ``max_batch`` slots each."""
        queue, self.queue = self.queue, []
        by_key: dict[str, list[_Request]] = {}
        for r in queue:
            by_key.setdefault(r.key, []).append(r)
        out = []
        for key, requests in by_key.items():
            while requests:
                batch, size = [], 0
                while requests and (not batch or size + len(requests[0].slots) <= self.s.max_batch):
                    size += len(requests[0].slots)
                    batch.append(requests.pop(0))
                out.append((key, batch))
        return out

    def act(self, key: str, batch: list[_Request]) -> list[Reply]:
        """Run one batch (the deadline armed meanwhile); each request's answer, in the batch's order. Whatever the
        policy raises or returns (actions that are not ``Action``s) is answered as that batch's ``error``."""
        slots = [s for r in batch for s in r.slots]
        try:
            policy = self._policy(key).policy
            self.arm(self.step_timeout)
            try:  # disarmed whatever the policy raises (SystemExit too: a transport that lives on must not be hung)
                actions = policy.act([o for r in batch for o in r.obs], [g for r in batch for g in r.goals],
                                     [p for r in batch for p in r.privileged], slots=slots)
            finally:
                self.arm(0.0)
            if len(actions) != len(slots):
                raise ValueError(f"act returned {len(actions)} actions for {len(slots)} slots")
            wire = [a.to_dict() for a in actions]
        except Exception as exc:
            return [(r.peer, error(exc)) for r in batch]
        out, at = [], 0
        for r in batch:
            out.append((r.peer, {"type": "actions", "actions": wire[at:at + len(r.slots)]}))
            at += len(r.slots)
        return out

    def run_queue(self) -> list[Reply]:
        """Run everything queued now (``take`` then ``act`` for each batch)."""
        return [reply for key, batch in self.take() for reply in self.act(key, batch)]


def error(exc: BaseException) -> dict[str, Any]:
    """An ``error`` answer: the exception in one short line."""
    line = traceback.format_exception_only(type(exc), exc)[-1].strip().replace("\n", " ")[:500]
    return {"type": "error", "message": line}
