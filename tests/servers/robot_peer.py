"""A reference robot for tests, written from the line protocol as documented (README "The real rig" and the
docstring of adapters/realsense/robot.py), not from crossview's client: a TCP server on 127.0.0.1 that keeps a
timestamped log of every line it receives, and of what it does.

- One line per command; exactly one reply line per command, in order: ``OK`` once it has been carried out, or
  ``ERR <reason>``. A motion command (MOVE TURN PITCH BEEP) takes ``busy_s`` seconds to carry out.
- ``STOP`` may arrive while a command runs: the robot halts, answers that command ``ERR stopped``, then ``OK``.
- ``PING`` is answered ``OK``.
- A command other than STOP that arrives before the previous command's reply is a lockstep violation (logged).
- Dead-man switch (``deadman_s``): no line for that long after its last reply, or the connection closing, halts the
  robot (logged as ``HALT``).

Faults for tests: ``refuse`` (command words answered ``ERR``; ``STOP`` halts, then answers ``ERR``), ``silent``
(command words never answered, as if the robot hung), ``mute`` (nothing is ever answered). ``serial_url()`` serves
the same robot on a pseudo-terminal, as a serial port.
"""

from __future__ import annotations

import contextlib
import os
import pty
import select
import socket
import threading
import time
from dataclasses import dataclass

MOTION = ("MOVE", "TURN", "PITCH", "BEEP")


@dataclass(frozen=True)
class Entry:
    """One log entry: when (time.monotonic, the same clock in every process on Linux), which connection, what."""

    t: float
    conn: int
    kind: str  # "recv" (a line received), "reply" (a line sent), "halt", "violation"
    text: str


class RobotPeer:
    """The reference robot; ``url`` to connect, ``log`` to read what happened."""

    def __init__(self, busy_s: float = 0.0, refuse: tuple[str, ...] = (), silent: tuple[str, ...] = (),
                 mute: bool = False, deadman_s: float | None = None) -> None:
        self.busy_s, self.refuse, self.silent, self.mute, self.deadman_s = busy_s, refuse, silent, mute, deadman_s
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.log: list[Entry] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self._ptys: list[tuple[int, int]] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def serial_url(self) -> str:
        """The same robot behind a serial port (a pseudo-terminal); connect with this url."""
        master, slave = pty.openpty()
        path = os.ttyname(slave)
        self._ptys.append((master, slave))
        threading.Thread(target=self._client, args=(_PtyConn(master), 0), daemon=True).start()
        return f"serial://{path}?baud=115200"

    def _note(self, conn: int, kind: str, text: str) -> None:
        with self._lock:
            self.log.append(Entry(time.monotonic(), conn, kind, text))

    def entries(self, kind: str = "recv") -> list[Entry]:
        with self._lock:
            return [e for e in self.log if e.kind == kind]

    def commands(self) -> list[str]:
        """The lines received, in order."""
        return [e.text for e in self.entries("recv")]

    def wait_for(self, line: str, timeout: float = 5.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if line in self.commands():
                return True
            time.sleep(0.01)
        return False

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        n = 0
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            n += 1
            self._conns.append(conn)
            threading.Thread(target=self._client, args=(conn, n), daemon=True).start()

    def _client(self, conn: socket.socket, cid: int) -> None:
        running: tuple[str, float] | None = None  # the command being carried out, and when it is done
        buf = b""
        last = time.monotonic()  # the last line received or reply sent
        halted = False

        def reply(text: str) -> None:
            nonlocal last
            if not self.mute:
                self._note(cid, "reply", text)  # before sending: the log never shows a reply later than it was read
                conn.sendall(text.encode() + b"\n")
            last = time.monotonic()

        with conn:
            while not self._stop.is_set():
                now = time.monotonic()
                if running is not None and now >= running[1]:
                    running = None
                    reply("OK")
                waits = [0.1]
                if running is not None:
                    waits.append(running[1] - now)
                if self.deadman_s is not None and running is None and not halted:
                    if now - last > self.deadman_s:
                        halted = True
                        self._note(cid, "halt", "dead-man: no line in time")
                    waits.append(self.deadman_s - (now - last))
                conn.settimeout(max(0.001, min(waits)))
                try:
                    data = conn.recv(4096)
                except (TimeoutError, BlockingIOError):
                    continue
                except OSError:
                    break
                if not data:
                    self._note(cid, "halt", "connection closed")
                    break
                buf += data
                while b"\n" in buf:
                    raw, buf = buf.split(b"\n", 1)
                    line = raw.decode(errors="replace").strip()
                    self._note(cid, "recv", line)
                    last, halted = time.monotonic(), False
                    word = line.split(" ", 1)[0]
                    if word == "STOP":
                        if running is not None:
                            running = None
                            reply("ERR stopped")
                        reply("ERR refused STOP" if "STOP" in self.refuse else "OK")  # halted, but says it failed
                        continue
                    if running is not None:
                        self._note(cid, "violation", f"{line!r} before the reply to {running[0]!r}")
                    if word in self.silent:
                        running = (line, float("inf"))
                    elif word in self.refuse:
                        reply(f"ERR refused {word}")
                    elif word == "PING":
                        reply("OK")
                    elif word in MOTION:
                        running = (line, time.monotonic() + self.busy_s)
                    else:
                        reply(f"ERR unknown command {word}")

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
        for conn in self._conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._thread.join(2)
        for fds in self._ptys:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)


class _PtyConn:
    """The robot's end of a pseudo-terminal, with the few socket methods the robot uses."""

    def __init__(self, fd: int) -> None:
        self.fd, self.timeout = fd, 0.1

    def settimeout(self, seconds: float) -> None:
        self.timeout = seconds

    def recv(self, n: int) -> bytes:
        if not select.select([self.fd], [], [], self.timeout)[0]:
            raise TimeoutError
        return os.read(self.fd, n)

    def sendall(self, data: bytes) -> None:
        os.write(self.fd, data)

    def __enter__(self) -> _PtyConn:
        return self

    def __exit__(self, *exc: object) -> None:
        pass
