"""Upstream's UnrealCV client (``unrealcv.Client``) with real timeouts and quiet output.

unrealcv 1.3.x has no deadline on the connection or on the greeting: ``Client.connect(timeout)`` ignores its
argument and blocks in ``socket.connect`` and in the greeting's ``recv`` (unrealcv/unrealcv
client/python/unrealcv/__init__.py:307-369, as released in 1.3.2), so a server that accepts and never greets hangs
forever. ``TimedClient.connect`` opens the socket with a timeout and reads the greeting with upstream's own framing
(``SocketMessage.ReceivePayload``, __init__.py:79-111) under that timeout, then hands the socket to upstream's
receive thread (``receive_loop_queue``, __init__.py:435); every request uses upstream's ``request`` with the same
timeout (__init__.py:556, waiting on its response queue, __init__.py:256-272). A timeout or a lost connection
marks the client broken: it is closed, never reused. The client's log lines and ``print`` calls go to the
``unrealcv`` logger, which propagates to the run's log instead of the terminal.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from typing import Any

from harness.errors import BackendUnavailable, CrossviewError

START_BINARY = ("start the UnrealZoo/UnrealCV binary (it listens on port 9000 unless unrealcv.ini sets another "
                "Port) and check host and port")
_LOG = logging.getLogger("unrealcv")


def _import() -> Any:
    try:
        import unrealcv
    except ImportError:
        raise BackendUnavailable("the unrealcv client is not installed: pip install 'crossview-harness[unreal]'") \
            from None
    # unrealcv/__init__.py:43-50 gives its logger a terminal handler and no propagation; its print() calls
    # (__init__.py:97, 103, 128, 317, 320, 415, 448, 461) write to stdout. Route both to the logging tree (the
    # run's log).
    _LOG.handlers = [logging.NullHandler()]
    _LOG.propagate = True
    unrealcv.print = lambda *args, **_: _LOG.info(" ".join(str(a) for a in args))
    return unrealcv


def connect(host: str, port: int, timeout: float) -> Any:
    """A connected ``TimedClient`` (an ``unrealcv.Client``); one-line errors for dead and silent servers."""
    unrealcv = _import()

    class TimedClient(unrealcv.Client):
        broken = False

        def connect(self, timeout: float = 1) -> bool:
            where = f"{host}:{port}"
            try:
                sock = socket.create_connection(self.endpoint, timeout=timeout)
            except OSError as exc:
                raise CrossviewError(f"cannot reach UnrealCV at {where} ({exc.strerror or exc}): {START_BINARY}") \
                    from None
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                greeting = unrealcv.SocketMessage.ReceivePayload(sock)
            except OSError:
                greeting = None
            if not greeting or not bytes(greeting).startswith(b"connected"):
                sock.close()
                raise CrossviewError(
                    f"UnrealCV at {where} accepted the connection but sent no greeting within {timeout:g} s: the "
                    "server serves one client at a time (is another client connected?) or is still loading")
            _LOG.info("UnrealCV %s: %s", where, bytes(greeting)[:200].decode(errors="replace"))
            self.sock = sock
            self.t = threading.Thread(target=self._receive, daemon=True, name=f"unrealcv-{where}")
            self.t.start()
            # the capability probe (__init__.py:228) waits a fixed 15 s on a silent server: crossview checks the
            # version itself, under its own timeout
            self._command_capabilities_checked = True
            return True

        def _receive(self) -> None:
            """Upstream's receive loop; its final ConnectionError after a lost server (__init__.py:426-431) is
            logged, not left to threading's hook, which would print a traceback on the terminal."""
            try:
                self.receive_loop_queue()
            except Exception as exc:
                _LOG.info("UnrealCV %s: receive loop ended: %s", f"{host}:{port}", exc)

        def ask(self, command: str) -> Any:
            """Upstream's request under the timeout; a timeout or lost connection breaks the client."""
            if self.broken or not self.isconnected():
                raise CrossviewError(f"UnrealCV at {host}:{port}: the connection is closed")
            try:
                return self.request(command, timeout=self.deadline)
            except (TimeoutError, ConnectionError, OSError) as exc:
                self.broken = True
                what = (f"did not answer {command[:60]!r} within {self.deadline:g} s"
                        if isinstance(exc, TimeoutError) else f"lost the connection during {command[:60]!r}")
                raise CrossviewError(f"UnrealCV at {host}:{port} {what}: has the binary hung or exited?") from None

        def close(self) -> None:
            """Disconnect; a broken client's receive thread is left to end on its own (it is a daemon)."""
            if self.broken:
                self.t = None  # upstream's disconnect would wait 2 s for a thread stuck in its retry loop
            with contextlib.suppress(Exception):
                self.disconnect()

    client = TimedClient((host, int(port)))
    client.deadline = float(timeout)
    client.connect(timeout=float(timeout))
    return client
