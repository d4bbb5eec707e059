"""A single-threaded server loop over many connections (selectors): all rendering stays on one thread, as the
GL context wants, while several clients may be connected at once, as with a real simulator."""

from __future__ import annotations

import argparse
import selectors
import socket
from collections.abc import Callable

# handler(connection state, bytes received) -> bytes to send back (possibly empty); state starts as {}
Handler = Callable[[dict, bytes], bytes]


def serve_forever(sock: socket.socket, on_data: Handler, greeting: bytes = b"") -> None:
    sel = selectors.DefaultSelector()
    sock.setblocking(False)
    sel.register(sock, selectors.EVENT_READ, None)
    while True:
        for key, _ in sel.select():
            if key.data is None:
                conn, _ = sock.accept()
                conn.setblocking(True)
                state: dict = {}
                if greeting:
                    conn.sendall(greeting)
                sel.register(conn, selectors.EVENT_READ, state)
                continue
            conn = key.fileobj
            try:
                data = conn.recv(1 << 16)
            except OSError:
                data = b""
            if not data:
                sel.unregister(conn)
                conn.close()
                continue
            reply = on_data(key.data, data)
            if reply:
                try:
                    conn.sendall(reply)
                except OSError:
                    sel.unregister(conn)
                    conn.close()


def listen(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1 (``port`` 0 picks a free one), announced as ``PORT <n>`` on stdout."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(4)
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    return sock


def arguments(*extra: tuple[str, dict]) -> argparse.Namespace:
    """Command-line options every test server takes (--port, --seed) plus its own."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seed", type=int, default=3)
    for flag, kwargs in extra:
        parser.add_argument(flag, **kwargs)
    return parser.parse_args()
