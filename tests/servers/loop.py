"""A single-threaded server loop over many connections (selectors): all rendering stays on one thread, as the
GL context wants. Faults for the timeout tests: ``--fault silent`` accepts connections and never sends a byte;
``--fault mute`` answers ``--after N`` requests (counted over the server's life) and then goes silent; ``--fault
die`` answers N requests and then exits, as a simulator killed mid-episode."""

from __future__ import annotations

import argparse
import contextlib
import os
import selectors
import socket
from collections.abc import Callable

# handler(connection state, bytes received) -> bytes to send back (possibly empty); state starts as {}; raising
# ConnectionAbortedError closes that connection
Handler = Callable[[dict, bytes], bytes]


class Budget:
    """How many more requests the server answers (``None``: all of them)."""

    def __init__(self, fault: str, after: int) -> None:
        self.left = 0 if fault == "silent" else (after if fault in ("mute", "die") else None)
        self.die = fault == "die"

    def take(self) -> bool:
        """Whether to answer one more request (``die``: exit instead of going silent)."""
        if self.left is None:
            return True
        self.left -= 1
        if self.left < 0 and self.die:
            os._exit(0)
        return self.left >= 0


def serve_forever(sock: socket.socket, on_data: Handler, greeting: bytes = b"", single_client: bool = False,
                  silent: bool = False) -> None:
    """Serve until killed. ``single_client``: accept the next connection only once the current one has closed (the
    others wait in the listen backlog without a greeting, as UnrealCV's listener does). ``silent``: send nothing."""
    sel = selectors.DefaultSelector()
    sock.setblocking(False)
    sel.register(sock, selectors.EVENT_READ, None)
    clients = 0
    while True:
        for key, _ in sel.select():
            if key.data is None:
                conn, _ = sock.accept()
                conn.setblocking(True)
                state: dict = {}
                if greeting and not silent:
                    conn.sendall(greeting)
                sel.register(conn, selectors.EVENT_READ, state)
                clients += 1
                if single_client:
                    sel.unregister(sock)
                continue
            conn = key.fileobj
            try:
                data = conn.recv(1 << 16)
            except OSError:
                data = b""
            try:
                reply = b"" if silent or not data else on_data(key.data, data)
            except ConnectionAbortedError:  # the handler ends this connection (a malformed frame)
                data = reply = b""
            if not data:
                sel.unregister(conn)
                conn.close()
                clients -= 1
                if single_client and clients == 0:
                    sel.register(sock, selectors.EVENT_READ, None)
                continue
            if reply:
                with contextlib.suppress(OSError):  # the peer is gone: the next recv sees it and closes
                    conn.sendall(reply)


def listen(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1 (``port`` 0 picks a free one), announced as ``PORT <n>`` on stdout."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(8)
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    return sock


def arguments(*extra: tuple[str, dict]) -> argparse.Namespace:
    """Command-line options every test server takes (--port, --seed, --fault, --after) plus its own."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--fault", choices=("none", "silent", "mute", "die"), default="none")
    parser.add_argument("--after", type=int, default=0, help="with --fault mute|die: requests answered first")
    for flag, kwargs in extra:
        parser.add_argument(flag, **kwargs)
    return parser.parse_args()
