"""The policy process of shared inference on one machine: one per policy copy (device), serving every worker's slots.

Workers connect over a Unix socket (``multiprocessing.connection`` with an HMAC challenge on a per-sweep key) and
exchange msgpack frames (``send_bytes``; never pickle); images arrive in the worker's shared memory (``shm``). A
worker first says ``hello`` {worker} → ``ok``; every other request, its batching and its answers are the
transport-independent ``core.InferenceCore``'s (shared with the Ray policy actor). Requests are answered in order
on their connection. The process watches nothing itself: the driver watches its deadline and liveness (``pool``)
and restarts it, and the workers retry the episodes it held.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, Listener, wait
from typing import Any

from harness.inference.core import BatchSettings, InferenceCore, error
from harness.inference.shm import ShmReader, pack_plain

MAX_MESSAGE = 1 << 20  # control messages are small: arrays travel in shared memory


@dataclass(frozen=True)
class ServerSettings:
    """How a policy process batches and where it listens."""

    address: str
    authkey: bytes
    batch: BatchSettings
    threads: int = 0


@dataclass(eq=False)
class _Peer:
    conn: Connection
    reader: ShmReader = field(default_factory=ShmReader)


class PolicyProcess:
    """The serving loop: connections in, ``InferenceCore`` answers out."""

    def __init__(self, s: ServerSettings, deadline: Any = None, step_timeout: float = 30.0) -> None:
        self.s, self.deadline = s, deadline
        self.core = InferenceCore(s.batch, self._arm, step_timeout)
        self.peers: list[_Peer] = []
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
        if peer in self.peers:
            self.peers.remove(peer)
        self.core.leave(peer)

    def _reply(self, peer: _Peer, message: dict[str, Any]) -> None:
        try:
            peer.conn.send_bytes(pack_plain(message))
        except (OSError, ValueError):
            self._drop(peer)

    def _handle(self, peer: _Peer, data: bytes) -> None:
        try:
            msg = peer.reader.unpack(data, MAX_MESSAGE)
            answer = self.core.join(peer, msg.get("worker")) if msg["type"] == "hello" else self.core.handle(peer, msg)
        except Exception as exc:  # answered, never fatal: nothing a worker sends takes the process down
            answer = error(exc)
        if answer is not None:
            self._reply(peer, answer)

    def _arm(self, seconds: float) -> None:
        if self.deadline is not None:
            self.deadline.value = time.monotonic() + seconds if seconds else 0.0

    # ------------------------------------------------------------------ loop
    def serve_forever(self) -> None:
        """Answer workers until killed."""
        while True:
            while self._new:
                self.peers.append(_Peer(self._new.pop()))
            due = self.core.due()
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
            if self.core.due() == 0.0:
                for peer, answer in self.core.run_queue():
                    self._reply(peer, answer)


def _pipe() -> tuple[Connection, Connection]:
    from multiprocessing import Pipe

    return Pipe(duplex=False)


def server_main(settings: ServerSettings, deadline: Any, step_timeout: float) -> None:
    """Process entry point (spawn). OpenMP threads sleep at barriers rather than spin (``OMP_WAIT_POLICY``):
    beside busy simulator workers, spinning threads made a 2-thread torch call 4x slower than a 1-thread one."""
    import os

    from harness.worker import limit_threads

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    limit_threads(settings.threads)
    PolicyProcess(settings, deadline, step_timeout).serve_forever()
