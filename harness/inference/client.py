"""The worker's side of shared inference: a ``Policy`` that forwards to the policy copy it is assigned to.

Each worker holds one connection (``InferenceClient`` here; ``ray_actor.RayInferenceClient`` on Ray) and one
``SharedPolicy`` per policy it runs. A goal travels once per episode (the copy keeps it per slot). When the copy
dies or stops answering, the call raises ``PolicyProcessLost``: the worker hands the episodes back to be retried
(their recurrent state died with the copy), and the next call reconnects to the restarted copy.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Client, Connection
from typing import Any, Protocol

from harness.errors import CrossviewError
from harness.inference.shm import ShmWriter, pack_plain, unpack_plain
from harness.spec import Action, CrossViewGoal, Goal, Observation, PrivilegedFacts
from harness.wire import WireError, full_goal_to_wire, observation_to_wire, policy_info_from_wire, privileged_to_wire
from policies.base import PolicyInfo

MAX_REPLY = 16 << 20


class PolicyProcessLost(RuntimeError):
    """The policy process died or missed its deadline; the episodes it held are to be retried."""


@dataclass(frozen=True)
class InferenceSettings:
    """Where a worker's policy process listens and how long to wait for it."""

    address: str
    authkey: bytes
    answer_timeout: float  # an act/reset/load answer (the process's own deadline is shorter)
    connect_timeout: float  # reconnecting to a restarted process


class InferenceClient:
    """One worker's connection to its policy process."""

    def __init__(self, wid: int, settings: InferenceSettings) -> None:
        self.wid, self.s = wid, settings
        self.conn: Connection | None = None
        self.generation = 0  # bumped at every (re)connection: state from an older one is gone
        self.writer = ShmWriter()

    def _connect(self) -> Connection:
        end = time.monotonic() + self.s.connect_timeout
        while True:
            try:
                conn = Client(self.s.address, family="AF_UNIX", authkey=self.s.authkey)
                break
            except (OSError, EOFError) as exc:
                if time.monotonic() > end:
                    raise PolicyProcessLost(f"policy process unreachable at {self.s.address}: {exc}") from None
                time.sleep(0.05)
        self.conn, self.generation = conn, self.generation + 1
        self._exchange(pack_plain({"type": "hello", "worker": self.wid}))
        return conn

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send a request (arrays through shared memory) and return its answer; raises PolicyProcessLost."""
        if self.conn is None:
            self._connect()
        return self._exchange(self.writer.pack(message))

    def _exchange(self, data: bytes) -> dict[str, Any]:
        conn = self.conn
        assert conn is not None
        try:
            conn.send_bytes(data)
            if not conn.poll(self.s.answer_timeout):
                raise PolicyProcessLost(f"the policy process gave no answer within {self.s.answer_timeout:.0f}s")
            reply = unpack_plain(conn.recv_bytes(MAX_REPLY), MAX_REPLY)
        except (OSError, EOFError, WireError, PolicyProcessLost) as exc:
            self.drop()
            raise exc if isinstance(exc, PolicyProcessLost) else PolicyProcessLost(
                f"the policy process went away: {type(exc).__name__}") from None
        return answer(reply)

    def drop(self) -> None:
        """Forget the connection (the next request reconnects)."""
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
            self.conn = None

    def close(self) -> None:
        """Leave: close the connection and remove the shared memory segment."""
        self.drop()
        self.writer.close()


class PolicyLink(Protocol):
    """A worker's connection to its policy copy, whatever the transport (``InferenceClient``,
    ``ray_actor.RayInferenceClient``): ``conn`` is None until connected, ``generation`` counts connections."""

    conn: Any
    generation: int

    def request(self, message: dict[str, Any]) -> dict[str, Any]: ...

    def drop(self) -> None: ...

    def close(self) -> None: ...


def make_client(wid: int, settings: Any) -> PolicyLink:
    """Worker ``wid``'s connection to its policy copy: a Unix socket (``InferenceSettings``) or a Ray actor
    (``ray_actor.RayInferenceSettings``)."""
    if isinstance(settings, InferenceSettings):
        return InferenceClient(wid, settings)
    from harness.inference.ray_actor import RayInferenceClient

    return RayInferenceClient(wid, settings)


def answer(reply: dict[str, Any]) -> dict[str, Any]:
    """A policy copy's reply, or the one-line CrossviewError it answered (the worker stores a policy error)."""
    if reply["type"] == "error":
        raise CrossviewError(str(reply.get("message", "policy process error")))
    return reply


class SharedPolicy:
    """A policy living in the policy copy; its slots are this worker's slots."""

    def __init__(self, client: PolicyLink, key: str, kind: str, options: dict[str, Any]) -> None:
        self.client, self.key, self.kind, self.options = client, key, kind, options
        self.info = self._load()
        self._goals: dict[int, CrossViewGoal | Goal] = {}  # the goal object each slot last sent
        self._born: dict[int, int] = {}  # connection generation each slot was reset in

    def _load(self) -> PolicyInfo:
        reply = self.client.request({"type": "load", "key": self.key, "kind": self.kind, "options": self.options})
        self._loaded = self.client.generation
        return policy_info_from_wire(reply["info"])

    def _ensure(self) -> None:
        if self.client.conn is None or self._loaded != self.client.generation:
            self._load()

    def reset(self, n: int, slots: Sequence[int] | None = None, seeds: Sequence[int] | None = None) -> None:
        """Clear the state of this worker's ``slots`` in the policy process (all ``n`` when None). A reset starts
        the slots' state afresh, so one that finds its copy restarted (the connection lost since the last call)
        tries once more on the new copy instead of failing an episode that has not begun."""
        slots = list(range(n)) if slots is None else [int(s) for s in slots]
        msg = {"type": "reset", "key": self.key, "kind": self.kind, "options": self.options, "slots": slots,
               "seeds": None if seeds is None else [int(s) for s in seeds]}
        try:
            self._ensure()
            self.client.request(msg)
        except PolicyProcessLost:
            self._ensure()
            self.client.request(msg)
        for s in slots:
            self._goals.pop(s, None)
            self._born[s] = self.client.generation

    def act(self, observations: Sequence[Observation], goals: Sequence[CrossViewGoal | Goal],
            privileged: Sequence[PrivilegedFacts | None], slots: Sequence[int] | None = None) -> list[Action]:
        """Actions from the policy process, batched there with every other worker's slots."""
        slots = list(range(len(observations))) if slots is None else [int(s) for s in slots]
        if self.client.conn is None or any(self._born.get(s) != self.client.generation for s in slots):
            raise PolicyProcessLost("the policy process was restarted: these slots' state is gone")
        sent = [None if self._goals.get(s) is g else full_goal_to_wire(g) for s, g in zip(slots, goals)]
        reply = self.client.request({"type": "act", "key": self.key, "slots": slots,
                                     "obs": [observation_to_wire(o) for o in observations], "goals": sent,
                                     "privileged": [privileged_to_wire(p) for p in privileged]})
        for s, g in zip(slots, goals):
            self._goals[s] = g
        actions = reply.get("actions")
        if not isinstance(actions, list) or len(actions) != len(slots):
            raise CrossviewError("the policy process answered a malformed action list")
        return [Action.from_dict(a) for a in actions]
