"""The policy process of shared inference: one per policy copy (device), serving every worker's env slots.

Workers connect over a Unix socket (``multiprocessing.connection`` with an HMAC challenge on a per-sweep key) and
exchange msgpack frames (``send_bytes``; never pickle); images arrive in the worker's shared memory (``shm``).
Requests, each answered in order on its connection:

- ``load`` {key, kind, options} → ``info`` {PolicyInfo fields}: the policy is built once and shared by all workers;
- ``reset`` {key, kind, options, slots, seeds} → ``ok``: clears the state of the worker's slots (global slot =
  (worker, slot)), loading the policy again if it was evicted;
- ``act`` {key, slots, obs, goals (None = the slot's goal as before), privileged} → ``actions``.

``act`` requests are batched dynamically per policy: a batch runs when every connected worker waits on an answer,
when ``max_batch`` slots are queued, or ``max_wait`` seconds after the oldest request. A failing call is answered
``error`` (the worker stores its episodes as policy errors); the process watches nothing itself: the driver watches
its deadline and liveness (``pool``) and restarts it, and the workers retry the episodes it held.
"""

from __future__ import annotations

import contextlib
import threading
import time
import traceback
from collections import OrderedDict
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, Listener, wait
from typing import Any

from harness.inference.shm import ShmReader, pack_plain
from harness.spec import CrossViewGoal, Goal, Observation, PrivilegedFacts
from harness.wire import WireError, goal_from_wire, observation_from_wire, policy_info_to_wire, privileged_from_wire
from policies.base import Policy, make_policy

MAX_MESSAGE = 1 << 20  # control messages are small: arrays travel in shared memory
MAX_LOADED = 2  # policies kept loaded (as a worker keeps); only those no slot runs are evicted


@dataclass(frozen=True)
class ServerSettings:
    """How a policy process batches and where it listens."""

    address: str
    authkey: bytes
    capacity: int  # global slots (workers x envs per worker, with room for replaced workers)
    max_batch: int = 64
    max_wait: float = 0.005
    threads: int = 0


@dataclass
class _Peer:
    conn: Connection
    wid: int = -1
    reader: ShmReader = field(default_factory=ShmReader)


@dataclass
class _Loaded:
    policy: Policy
    goals: dict[int, CrossViewGoal] = field(default_factory=dict)  # per global slot, copied out of shm
    live: set[int] = field(default_factory=set)


@dataclass
class _Request:
    peer: _Peer
    key: str
    slots: list[int]
    obs: list[Observation]
    goals: list[CrossViewGoal | Goal]
    privileged: list[PrivilegedFacts | None]
    at: float


class PolicyProcess:
    """The serving loop (see module docstring)."""

    def __init__(self, s: ServerSettings, deadline: Any = None, step_timeout: float = 30.0) -> None:
        self.s, self.deadline, self.step_timeout = s, deadline, step_timeout
        self.peers: list[_Peer] = []
        self.policies: OrderedDict[str, _Loaded] = OrderedDict()
        self.seats: dict[tuple[int, int], int] = {}
        self.queue: list[_Request] = []
        self._new: list[Connection] = []
        self._wake_r, self._wake_w = _pipe()
        self.listener = Listener(s.address, family="AF_UNIX", authkey=s.authkey)
        threading.Thread(target=self._accept, daemon=True).start()

    # ------------------------------------------------------------------ connections
    def _accept(self) -> None:
        while True:
            try:
                conn = self.listener.accept()  # the HMAC challenge runs here (CPython 3.11 Lib/multiprocessing/
                # connection.py:481-482): a client without the sweep's key never gets a connection
            except OSError:
                return
            except Exception:  # a client that failed the challenge: refuse it and go on
                continue
            self._new.append(conn)
            with contextlib.suppress(OSError):
                self._wake_w.send_bytes(b"!")

    def _drop(self, peer: _Peer) -> None:
        with contextlib.suppress(Exception):
            peer.conn.close()
        peer.reader.close()
        self.peers.remove(peer)
        self.queue = [r for r in self.queue if r.peer is not peer]
        for (wid, slot), seat in list(self.seats.items()):
            if wid == peer.wid and not any(p.wid == wid for p in self.peers):
                del self.seats[(wid, slot)]
                for loaded in self.policies.values():
                    loaded.live.discard(seat)
                    loaded.goals.pop(seat, None)

    def _seat(self, wid: int, slot: int) -> int:
        seat = self.seats.get((wid, slot))
        if seat is None:
            used = set(self.seats.values())
            seat = next((i for i in range(self.s.capacity) if i not in used), None)
            if seat is None:
                raise WireError(f"more than {self.s.capacity} env slots are connected")
            self.seats[(wid, slot)] = seat
        return seat

    def _reply(self, peer: _Peer, message: dict[str, Any]) -> None:
        try:
            peer.conn.send_bytes(pack_plain(message))
        except (OSError, ValueError):
            self._drop(peer)

    # ------------------------------------------------------------------ requests
    def _policy(self, key: str) -> _Loaded:
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

    def _slots(self, peer: _Peer, msg: dict[str, Any]) -> list[int]:
        slots = msg.get("slots")
        if not isinstance(slots, list) or not all(isinstance(s, int) and 0 <= s < 4096 for s in slots):
            raise WireError("slots must be a list of small non-negative integers")
        return [self._seat(peer.wid, s) for s in slots]

    def _reset(self, peer: _Peer, msg: dict[str, Any]) -> dict[str, Any]:
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

    def _queue_act(self, peer: _Peer, msg: dict[str, Any]) -> None:
        key = msg.get("key")
        loaded, seats = self._policy(key), self._slots(peer, msg)
        obs, goals, priv = msg.get("obs"), msg.get("goals"), msg.get("privileged")
        if not all(isinstance(x, list) and len(x) == len(seats) for x in (obs, goals, priv)):
            raise WireError("act needs obs, goals and privileged, one per slot")
        for seat, g in zip(seats, goals):
            if g is not None:  # a new goal: copied out once, the worker reuses its segment
                goal = goal_from_wire(g)
                loaded.goals[seat] = CrossViewGoal(goal.image.copy(), goal.mask.copy(), goal.interaction)
            elif seat not in loaded.goals:
                raise WireError("a slot's first act must carry its goal")
        plain = loaded.policy.info.cross_view_only  # else the policy takes Goal values (harness.spec.Goal)
        self.queue.append(_Request(peer, key, seats, [observation_from_wire(o) for o in obs],
                                   [loaded.goals[s] if plain else Goal(cross_view=loaded.goals[s]) for s in seats],
                                   [privileged_from_wire(p) for p in priv],
                                   time.monotonic()))

    def _handle(self, peer: _Peer, data: bytes) -> None:
        try:
            msg = peer.reader.unpack(data, MAX_MESSAGE)
            kind = msg["type"]
            if kind == "hello":
                wid = msg.get("worker")
                if not isinstance(wid, int):
                    raise WireError("hello needs the worker id")
                peer.wid = wid
                self._reply(peer, {"type": "ok"})
            elif peer.wid < 0:
                raise WireError("say hello first")
            elif kind == "load":
                self._reply(peer, self._load(msg))
            elif kind == "reset":
                self._reply(peer, self._reset(peer, msg))
            elif kind == "act":
                self._queue_act(peer, msg)
            else:
                raise WireError(f"unknown request type {kind!r}")
        except Exception as exc:  # answered, never fatal: nothing a worker sends takes the process down
            self._reply(peer, {"type": "error", "message": _short(exc)})

    # ------------------------------------------------------------------ batching
    def _due(self) -> float | None:
        """Seconds until the queue must run (0: now), or None when nothing is queued."""
        if not self.queue:
            return None
        waiting = {id(r.peer) for r in self.queue}
        if len(waiting) >= len(self.peers) or sum(len(r.slots) for r in self.queue) >= self.s.max_batch:
            return 0.0
        return max(0.0, self.queue[0].at + self.s.max_wait - time.monotonic())

    def _run_queue(self) -> None:
        queue, self.queue = self.queue, []
        by_key: dict[str, list[_Request]] = {}
        for r in queue:
            by_key.setdefault(r.key, []).append(r)
        for key, requests in by_key.items():
            while requests:
                batch, size = [], 0
                while requests and (not batch or size + len(requests[0].slots) <= self.s.max_batch):
                    size += len(requests[0].slots)
                    batch.append(requests.pop(0))
                self._act(key, batch)

    def _act(self, key: str, batch: list[_Request]) -> None:
        slots = [s for r in batch for s in r.slots]
        try:
            policy = self._policy(key).policy
            self._arm(self.step_timeout)
            actions = policy.act([o for r in batch for o in r.obs], [g for r in batch for g in r.goals],
                                 [p for r in batch for p in r.privileged], slots=slots)
            self._arm(0.0)
            if len(actions) != len(slots):
                raise ValueError(f"act returned {len(actions)} actions for {len(slots)} slots")
        except Exception as exc:
            self._arm(0.0)
            for r in batch:
                self._reply(r.peer, {"type": "error", "message": _short(exc)})
            return
        at = 0
        for r in batch:
            part = actions[at:at + len(r.slots)]
            at += len(r.slots)
            self._reply(r.peer, {"type": "actions", "actions": [a.to_dict() for a in part]})

    def _arm(self, seconds: float) -> None:
        if self.deadline is not None:
            self.deadline.value = time.monotonic() + seconds if seconds else 0.0

    # ------------------------------------------------------------------ loop
    def serve_forever(self) -> None:
        """Answer workers until killed."""
        while True:
            while self._new:
                self.peers.append(_Peer(self._new.pop()))
            due = self._due()
            conns = {p.conn: p for p in self.peers}
            ready = wait([self._wake_r, *conns], timeout=None if due is None else due)
            for conn in ready:
                if conn is self._wake_r:
                    with contextlib.suppress(OSError, EOFError):
                        self._wake_r.recv_bytes()
                    continue
                peer = conns[conn]
                try:
                    data = conn.recv_bytes(MAX_MESSAGE)
                except (EOFError, OSError):  # the worker left (or was killed): forget its slots
                    self._drop(peer)
                    continue
                self._handle(peer, data)
            if self._due() == 0.0:
                self._run_queue()


def _pipe() -> tuple[Connection, Connection]:
    from multiprocessing import Pipe

    return Pipe(duplex=False)


def _short(exc: BaseException) -> str:
    return traceback.format_exception_only(type(exc), exc)[-1].strip().replace("\n", " ")[:500]


def server_main(settings: ServerSettings, deadline: Any, step_timeout: float) -> None:
    """Process entry point (spawn). OpenMP threads sleep at barriers rather than spin (``OMP_WAIT_POLICY``):
    beside busy simulator workers, spinning threads made a 2-thread torch call 4x slower than a 1-thread one."""
    import os

    from harness.worker import limit_threads

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    limit_threads(settings.threads)
    PolicyProcess(settings, deadline, step_timeout).serve_forever()
