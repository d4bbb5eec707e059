"""A robot for tests: a TCP server speaking the rig's line protocol, recording every line it receives."""

from __future__ import annotations

import socket
import threading
import time


class RobotPeer:
    """Answers ``OK`` to each command (none to ``STOP``) and keeps the lines, in order, with arrival times."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.lines: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def commands(self) -> list[str]:
        return [line for _, line in self.lines]

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._client, args=(conn,), daemon=True).start()

    def _client(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rwb", buffering=0) as f:
            for raw in f:
                line = raw.decode().strip()
                self.lines.append((time.monotonic(), line))
                if line != "STOP":
                    f.write(b"OK\n")

    def wait_for(self, line: str, timeout: float = 5.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if line in self.commands():
                return True
            time.sleep(0.02)
        return False

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
        self._thread.join(2)
