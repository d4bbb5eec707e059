"""The byte link to a line-protocol robot (TCP or serial) and its replies, matched to commands in order.

A reader thread takes every reply line off the link and hands it to the oldest command still waiting for one, so
a reply can never be read as another command's answer, a late reply is absorbed by the command that timed out, and
STOP (the one command that may overtake another, see ``adapters.realsense.robot``) gets its own reply. Sending
and latching (``send`` with a ``guard``) happen under one lock, so nothing the guard refuses is ever written after
a STOP.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections import deque
from collections.abc import Callable
from urllib.parse import parse_qs, urlparse

from harness.errors import BackendUnavailable, CrossviewError


class RobotFault(CrossviewError):
    """A command the robot refused (``ERR``) or did not answer in time; the message names the command."""


class Reply:
    """The reply a sent command is waiting for."""

    def __init__(self, line: str) -> None:
        self.line = line
        self.text: str | None = None
        self.done = threading.Event()

    def give(self, text: str) -> None:
        self.text = text
        self.done.set()


class LineLink:
    """One connection to the robot: ``send`` a line, ``wait`` for its reply."""

    def __init__(self, url: str, connect_timeout: float = 5.0) -> None:
        parsed = urlparse(url)
        self.url, self.sock, self.serial = url, None, None
        if parsed.scheme == "tcp":
            try:
                self.sock = socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 9100),
                                                     timeout=connect_timeout)
            except OSError as exc:
                raise CrossviewError(f"cannot reach the robot at {url} ({exc}): is its line server running?") \
                    from None
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sock.settimeout(None)  # replies are awaited with deadlines in wait(), not on the socket
            self._in, self._out = self.sock.makefile("rb"), self.sock.makefile("wb", buffering=0)
        elif parsed.scheme == "serial":
            try:
                import serial
            except ImportError:
                raise BackendUnavailable("serial robots need pyserial: pip install 'crossview-harness[realsense]'") \
                    from None
            baud = int(parse_qs(parsed.query).get("baud", ["115200"])[0])
            try:  # pyserial/pyserial serial/serialutil.py:180-193 (port, baudrate, timeout); a read timeout lets
                self.serial = serial.Serial(parsed.path, baudrate=baud, timeout=0.2)  # close() end the reader
            except Exception as exc:  # serial.SerialException and OS errors
                raise CrossviewError(f"cannot open the robot's serial port {parsed.path} ({exc})") from None
            self._in = self._out = self.serial
        else:
            raise CrossviewError(f"robot url {url!r}: use tcp://HOST:PORT or serial:///dev/DEVICE?baud=115200")
        self._waiting: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self.lost: str | None = None  # why the link is gone, once it is
        self._reader = threading.Thread(target=self._read, name="robot-replies", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        partial = b""
        try:
            while not self._closed.is_set():
                # pyserial: read_until(b"\n") returns what came before its timeout (serial/serialutil.py:664)
                chunk = self.serial.read_until(b"\n") if self.serial is not None else self._in.readline()
                if not chunk:
                    if self.serial is not None:
                        continue  # a serial read timeout: nothing yet
                    break
                partial += chunk
                if not partial.endswith(b"\n"):
                    continue
                text, partial = partial.decode(errors="replace").strip(), b""
                with self._lock:
                    reply = self._waiting.popleft() if self._waiting else None
                if reply is None:
                    self.lost = f"the robot at {self.url} sent {text!r} when no command was waiting for a reply"
                    break
                reply.give(text)
        except Exception:  # noqa: S110 - a closed or broken link (pyserial raises TypeError once closed): lost
            pass
        with self._lock:
            self.lost = self.lost or f"the connection to the robot at {self.url} closed"
            waiting, self._waiting = list(self._waiting), deque()
        for reply in waiting:
            reply.done.set()  # no text: wait() reports the lost link

    def send(self, line: str, guard: Callable[[], None] | None = None) -> Reply:
        """Write one command line; ``guard`` runs first under the same lock and may refuse by raising."""
        with self._lock:
            if guard is not None:
                guard()
            if self.lost:
                raise RobotFault(f"cannot send {line!r}: {self.lost}")
            reply = Reply(line)
            self._waiting.append(reply)
            try:
                self._out.write(line.encode() + b"\n")  # pyserial: serial/serialposix.py:619
            except (OSError, ValueError) as exc:
                self._waiting.remove(reply)
                self.lost = f"the link to the robot at {self.url} failed ({exc})"
                raise RobotFault(f"cannot send {line!r}: {self.lost}") from None
        return reply

    def locked(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` under the lock that ``send`` writes and latches under (no STOP can be written meanwhile)."""
        with self._lock:
            fn()

    def wait(self, reply: Reply, timeout: float) -> str:
        """The command's ``OK`` reply; ``RobotFault`` naming the command on ``ERR``, silence or a lost link."""
        if not reply.done.wait(timeout):
            raise RobotFault(f"the robot at {self.url} did not answer {reply.line!r} within {timeout:g} s")
        if reply.text is None:
            raise RobotFault(f"no answer to {reply.line!r}: {self.lost}")
        if reply.text != "OK" and not reply.text.startswith("OK "):
            raise RobotFault(f"the robot at {self.url} answered {reply.text!r} to {reply.line!r}")
        return reply.text

    def close(self) -> None:
        """Close the link (the reader thread ends)."""
        self._closed.set()
        with contextlib.suppress(OSError):
            if self.sock is not None:
                self.sock.shutdown(socket.SHUT_RDWR)  # wakes the reader blocked in recv
        with contextlib.suppress(Exception):
            (self.sock or self.serial).close()
        self._reader.join(1.0)

    @property
    def idle(self) -> bool:
        """No command is waiting for its reply."""
        return not self._waiting
