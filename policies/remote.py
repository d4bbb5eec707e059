"""A policy served by ``crossview serve`` on another machine (``kind: remote``), used like any other policy.

    - {name: rocket-gpu, kind: remote, options: {url: "ws://gpu-box:8765", token_env: CROSSVIEW_TOKEN}}

The client reads the server's metadata first, authenticates when asked, and reconnects with exponential backoff
when the link drops (the server-side recurrent state of the slots is then reset: the episode goes on from a fresh
memory, as after a restart).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from collections.abc import Sequence
from typing import Any

from harness.errors import BackendUnavailable, CrossviewError
from harness.spec import Action, CrossViewGoal, Observation, PrivilegedFacts
from harness.wire import (
    WireError,
    action_from_wire,
    goal_to_wire,
    observation_to_wire,
    pack,
    policy_info_from_wire,
    privileged_to_wire,
    unpack,
)


class RemotePolicy:
    """The client side of the policy server."""

    def __init__(self, url: str = "ws://127.0.0.1:8765", token: str | None = None, token_env: str | None = None,
                 timeout: float = 30.0, retries: int = 5, backoff: float = 0.2,
                 max_bytes: int = 64 * 2**20) -> None:
        try:
            import websockets  # noqa: F401
        except ImportError:
            raise BackendUnavailable("kind 'remote' needs websockets: pip install 'crossview-harness[serve]'") \
                from None
        self.url, self.timeout, self.retries, self.backoff, self.max_bytes = url, timeout, retries, backoff, max_bytes
        self.token = token if token is not None else (os.environ.get(token_env) if token_env else None)
        self._ids = itertools.count()
        self._ws: Any = None
        self._n = 0
        meta = self._connect()
        p = meta.get("policy", {})
        self.info = policy_info_from_wire(p, prefix="remote:", device="remote")

    # ------------------------------------------------------------------ link
    def _connect(self) -> dict[str, Any]:
        from websockets.sync.client import connect

        try:
            self._ws = connect(self.url, open_timeout=self.timeout, max_size=self.max_bytes,
                               compression=None).__enter__()  # a connection kept open across calls
            meta = unpack(self._ws.recv(timeout=self.timeout), self.max_bytes)
        except (OSError, TimeoutError) as exc:
            raise CrossviewError(f"cannot reach the policy server at {self.url} ({type(exc).__name__}): start it "
                                 "with 'crossview serve' and check the URL") from None
        if meta.get("type") != "meta":
            raise CrossviewError(f"{self.url} is not a crossview policy server (it sent {meta.get('type')!r} first)")
        if meta.get("auth"):
            if not self.token:
                raise CrossviewError(f"the policy server at {self.url} wants a token: set options.token_env")
            reply = self._request({"type": "auth", "token": self.token}, reconnect=False)
            meta = {**meta, **(reply.get("meta") or {})}  # the server names its policy only after the token
        return meta

    def _request(self, message: dict[str, Any], reconnect: bool = True) -> dict[str, Any]:
        from websockets.exceptions import ConnectionClosed

        rid = next(self._ids)
        message = {**message, "id": rid}
        for attempt in range(self.retries + 1):
            try:
                self._ws.send(pack(message))
                while True:
                    reply = unpack(self._ws.recv(timeout=self.timeout), self.max_bytes)
                    if reply.get("id") == rid:
                        break
            except (ConnectionClosed, OSError) as exc:
                if not reconnect or attempt == self.retries:
                    raise CrossviewError(f"lost the policy server at {self.url}: {exc}") from None
                time.sleep(self.backoff * 2**attempt)
                self._reconnect()
                continue
            except TimeoutError:
                raise CrossviewError(f"the policy server at {self.url} did not answer within {self.timeout}s") \
                    from None
            if reply.get("type") == "error":
                raise CrossviewError(f"policy server: {reply.get('error')}")
            return reply
        raise AssertionError("unreachable")

    def _reconnect(self) -> None:
        with contextlib.suppress(Exception):
            self._ws.close()
        try:
            self._connect()
        except CrossviewError:
            return  # the next attempt of _request fails again and backs off further
        if self._n:
            self._request({"type": "reset", "n": self._n}, reconnect=False)

    # ------------------------------------------------------------------ policy
    def health(self) -> dict[str, Any]:
        """The server's health answer (answered even while it is busy with inference)."""
        return self._request({"type": "health"})

    def reset(self, n: int, slots: Sequence[int] | None = None, seeds: Sequence[int] | None = None) -> None:
        self._n = n
        self._request({"type": "reset", "n": n, "slots": None if slots is None else list(slots),
                       "seeds": None if seeds is None else [int(s) for s in seeds]})

    def act(self, observations: Sequence[Observation], goals: Sequence[CrossViewGoal],
            privileged: Sequence[PrivilegedFacts | None], slots: Sequence[int] | None = None) -> list[Action]:
        reply = self._request({
            "type": "act", "observations": [observation_to_wire(o) for o in observations],
            "goals": [goal_to_wire(g) for g in goals],
            "privileged": [privileged_to_wire(p) for p in privileged] if self.info.privileged else None,
            "slots": list(range(len(observations)) if slots is None else slots)})
        try:
            return [action_from_wire(a) for a in reply["actions"]]
        except (KeyError, WireError) as exc:
            raise CrossviewError(f"policy server sent a malformed answer: {exc}") from None

    def close(self) -> None:
        if self._ws is not None:
            self._ws.close()
            self._ws = None
