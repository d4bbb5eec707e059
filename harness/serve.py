"""``crossview serve``: any policy behind a websocket, for robots whose policy runs on a remote GPU server.

Protocol (msgpack frames, ``harness.wire``): the server speaks first with ``{"type": "meta", ...}`` (the policy's
capabilities, whether a token is needed, the size limit). With a token, that first meta says only that a token is
needed; the first client message must be ``{"type": "auth", "token": ...}`` in a frame of at most 4 KiB (larger
frames are refused by the websocket layer before they are read), checked before anything else is decoded, else
the connection is closed (code 1008); the ``ok`` answer carries the full meta. Then, each with an ``id`` echoed in the
answer: ``health`` (answered at once, even while inference runs), ``reset`` (``n``, ``slots``, ``seeds``) and
``act`` (``observations``, ``goals``, ``privileged``: None or one typed facts message or None per slot, ``slots``)
→ ``actions``. A malformed or out-of-order request gets
an ``error`` answer and the connection stays usable; an oversized frame closes that connection (1009); nothing a
client sends takes the server down. Each connection gets its own policy instance (its own recurrent state).
The server binds 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import threading
from collections.abc import Callable
from typing import Any

from harness.wire import (
    WireError,
    goal_from_wire,
    observation_from_wire,
    pack,
    policy_info_to_wire,
    privileged_from_wire,
    unpack,
)
from policies.base import Policy

PROTOCOL = 1
DEFAULT_MAX_BYTES = 32 * 2**20
AUTH_MAX_BYTES = 4096  # the largest frame read from a client that has not yet given the token
MAX_SLOTS = 1024


class _Connection:
    """One client's policy and state."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.lock = threading.Lock()
        self.n = 0
        self.busy = False


def _ints(value: Any, what: str, limit: int | None = None) -> list[int]:
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise WireError(f"{what} must be a list of integers")
    if limit is not None and any(not 0 <= v < limit for v in value):
        raise WireError(f"{what} must lie in 0..{limit - 1}")
    return value


class PolicyServer:
    """Serves policies made by ``factory`` (one per connection)."""

    def __init__(self, factory: Callable[[], Policy], host: str = "127.0.0.1", port: int = 8765,
                 token: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.factory, self.host, self.port, self.token, self.max_bytes = factory, host, port, token, max_bytes
        self.meta_policy = factory()  # also proves the policy loads before anyone connects
        self._server: Any = None

    def meta(self, full: bool = True) -> dict[str, Any]:
        """The greeting; without ``full`` (before a token was checked) it names no policy detail."""
        out = {"type": "meta", "protocol": PROTOCOL, "auth": self.token is not None, "max_bytes": self.max_bytes}
        if full:
            info = policy_info_to_wire(self.meta_policy.info)
            out["policy"] = info
        return out

    def _auth(self, raw: Any) -> tuple[bool, Any]:
        """Whether a first frame is a valid ``auth`` with the token (decoded plainly: no arrays, no hooks)."""
        import msgpack

        if not isinstance(raw, bytes) or len(raw) > AUTH_MAX_BYTES:
            return False, None
        try:
            msg = msgpack.unpackb(raw, raw=False, strict_map_key=True, max_bin_len=0, max_ext_len=0)
        except Exception:  # msgpack raises several types for corrupt input
            return False, None
        if not isinstance(msg, dict) or msg.get("type") != "auth" or not isinstance(msg.get("token"), str):
            return False, None
        return hmac.compare_digest(msg["token"].encode(), self.token.encode()), msg.get("id")

    async def _handle(self, ws: Any) -> None:
        from websockets.exceptions import ConnectionClosed

        conn: _Connection | None = None
        tasks: set[asyncio.Task] = set()
        try:
            await ws.send(pack(self.meta(full=self.token is None)))
            if self.token is not None:
                ok, rid = self._auth(await ws.recv())
                if not ok:
                    await ws.send(pack({"type": "error", "error": "unauthenticated: send {type: auth, token} first"}))
                    await ws.close(code=1008, reason="unauthenticated")
                    return
                # websockets reads this limit before each frame (python-websockets/websockets:
                # src/websockets/protocol.py:584-590; the connection's Protocol: src/websockets/asyncio/
                # connection.py:54), so raising it before answering lets the client's next frames through
                ws.protocol.max_message_size = self.max_bytes
                await ws.send(pack({"type": "ok", "id": rid if isinstance(rid, int) else None, "meta": self.meta()}))
            async for raw in ws:
                try:
                    msg = unpack(raw, self.max_bytes)
                except WireError as exc:
                    await ws.send(pack({"type": "error", "error": str(exc)}))
                    continue
                kind, rid = msg["type"], msg.get("id")
                if kind == "health":
                    await ws.send(pack({"type": "health", "id": rid, "ok": True, "busy": bool(conn and conn.busy)}))
                elif kind in ("reset", "act"):
                    if conn is None:
                        conn = _Connection(await asyncio.to_thread(self.factory))
                    task = asyncio.create_task(self._run(ws, conn, msg))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                elif kind == "auth":
                    await ws.send(pack({"type": "ok", "id": rid}))
                else:
                    await ws.send(pack({"type": "error", "id": rid, "error": f"unknown message type {kind!r}"}))
        except ConnectionClosed:
            pass
        finally:
            for task in tasks:
                task.cancel()

    async def _run(self, ws: Any, conn: _Connection, msg: dict[str, Any]) -> None:
        from websockets.exceptions import ConnectionClosed

        rid = msg.get("id")
        try:
            reply = await asyncio.to_thread(self._call, conn, msg)
        except WireError as exc:
            reply = {"type": "error", "id": rid, "error": str(exc)}
        except Exception as exc:  # the policy itself failed: tell the client, keep serving
            reply = {"type": "error", "id": rid, "error": f"policy failed: {type(exc).__name__}: {exc}"}
        with contextlib.suppress(ConnectionClosed):
            await ws.send(pack(reply))

    def _call(self, conn: _Connection, msg: dict[str, Any]) -> dict[str, Any]:
        """Validate and run one reset or act, serialised per connection (runs in a thread)."""
        rid = msg.get("id")
        with conn.lock:
            conn.busy = True
            try:
                if msg["type"] == "reset":
                    n = msg.get("n")
                    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_SLOTS:
                        raise WireError(f"reset needs n in 1..{MAX_SLOTS}")
                    slots = None if msg.get("slots") is None else _ints(msg["slots"], "slots", n)
                    seeds = None if msg.get("seeds") is None else _ints(msg["seeds"], "seeds")
                    if slots is not None and seeds is not None and len(slots) != len(seeds):
                        raise WireError("reset needs one seed per slot")
                    conn.policy.reset(n, slots, seeds)
                    conn.n = n
                    return {"type": "ok", "id": rid}
                if conn.n == 0:
                    raise WireError("act before reset: send {type: reset, n} first")
                obs, goals = msg.get("observations"), msg.get("goals")
                if not isinstance(obs, list) or not isinstance(goals, list) or len(obs) != len(goals) or not obs:
                    raise WireError("act needs equal, non-empty lists of observations and goals")
                slots = _ints(msg.get("slots", list(range(len(obs)))), "slots", conn.n)
                if len(slots) != len(obs):
                    raise WireError("act needs one slot per observation")
                facts = msg.get("privileged")
                if facts is None:
                    facts = [None] * len(obs)
                if not isinstance(facts, list) or len(facts) != len(obs):
                    raise WireError("act privileged must be None or one entry per observation")
                actions = conn.policy.act([observation_from_wire(o) for o in obs],
                                          [goal_from_wire(g) for g in goals],
                                          [privileged_from_wire(f) for f in facts], slots=slots)
                return {"type": "actions", "id": rid, "actions": [a.to_dict() for a in actions]}
            finally:
                conn.busy = False

    async def serve(self, ready: Callable[[int], None] | None = None, stop: asyncio.Event | None = None) -> None:
        """Serve until ``stop`` is set (forever without one); ``ready`` gets the bound port."""
        from websockets.asyncio.server import serve

        limit = AUTH_MAX_BYTES if self.token is not None else self.max_bytes  # raised per connection after auth
        async with serve(self._handle, self.host, self.port, max_size=limit, ping_interval=20,
                         compression=None) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            if ready is not None:
                ready(port)
            await (stop.wait() if stop is not None else asyncio.Future())


def serve_in_thread(factory: Callable[[], Policy], **kwargs: Any) -> tuple[int, Callable[[], None]]:
    """Start a server on a background thread (tests, benchmarks); returns (port, stop)."""
    loop = asyncio.new_event_loop()
    started, stop_event, port_box = threading.Event(), asyncio.Event(), []
    server = PolicyServer(factory, **{"port": 0, **kwargs})

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.serve(ready=lambda p: (port_box.append(p), started.set()), stop=stop_event))

    thread = threading.Thread(target=run, name="crossview-serve", daemon=True)
    thread.start()
    if not started.wait(30):
        raise RuntimeError("policy server did not start")

    def stop() -> None:
        loop.call_soon_threadsafe(stop_event.set)
        thread.join(10)

    return port_box[0], stop
