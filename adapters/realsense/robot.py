"""Robot bases for the rig: the ``RobotBase`` protocol, drivers, limits and a watchdog.

Drivers: ``none`` (camera only: dry runs, recordings) and ``line`` — a plain-text line protocol over TCP
(``tcp://HOST:PORT``) or a serial port (``serial:///dev/ttyUSB0?baud=115200``, pyserial). Each command is one
ASCII line, answered by one line ``OK`` or ``ERR <reason>``:

    MOVE <forward_m> <right_m>     drive this far in the robot frame (one axis at a time from crossview)
    TURN <degrees>                 rotate in place, positive to the right
    PITCH <degrees>                tilt the camera, positive down
    BEEP                           sound the beeper (the paper's "attack")
    STOP                           stop now (the watchdog and Ctrl-C send it; no answer is awaited)

The paper's car mapping: forward/back = MOVE ±0.1 0, left/right = MOVE 0 ∓0.1, yaw = TURN, pitch = PITCH (masked
on the paper's car), attack = BEEP; a composite action runs as its parts one after another. Steps and turns are
clamped to the configured limits, and commands are spaced by the speed limit. A watchdog stops the base when no
action arrives within ``deadline`` seconds of the last one (a late or dead policy).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Any, Protocol, runtime_checkable
from urllib.parse import parse_qs, urlparse

from harness import safety
from harness.errors import BackendUnavailable, CrossviewError
from harness.spec import Action


@runtime_checkable
class RobotBase(Protocol):
    """Something that moves the camera through the world."""

    def apply(self, action: Action) -> None: ...

    def stop(self) -> None: ...

    def close(self) -> None: ...


class NoBase:
    """No robot: the camera alone (dry runs, recordings)."""

    def apply(self, action: Action) -> None:
        pass

    def stop(self) -> None:
        pass

    def close(self) -> None:
        pass


def car_commands(action: Action, step_m: float = 0.1, max_step_m: float = 0.3, max_turn_deg: float = 45.0,
                 masked: frozenset[str] = frozenset()) -> list[str]:
    """The paper's car mapping of one action, as the commands to run one after another."""
    a = action.without(masked)
    step = min(abs(step_m), max_step_m)
    out = []
    if a.yaw:
        out.append(f"TURN {max(-max_turn_deg, min(max_turn_deg, a.yaw)):.2f}")
    fwd = float(a.forward) - float(a.back)
    if fwd:
        out.append(f"MOVE {fwd * step:.3f} 0.000")
    side = float(a.right) - float(a.left)
    if side:
        out.append(f"MOVE 0.000 {side * step:.3f}")
    if a.pitch:
        out.append(f"PITCH {max(-max_turn_deg, min(max_turn_deg, a.pitch)):.2f}")
    if a.attack:
        out.append("BEEP")
    return out


class _Stream:
    """A byte stream to the robot: a TCP socket or a serial port."""

    def __init__(self, url: str, timeout: float) -> None:
        parsed = urlparse(url)
        self.url = url
        if parsed.scheme == "tcp":
            host = parsed.hostname or "127.0.0.1"
            try:
                self.sock: Any = socket.create_connection((host, parsed.port or 9100), timeout=timeout)
            except OSError as exc:
                raise CrossviewError(f"cannot reach the robot at {url} ({exc}): is its line server running?") \
                    from None
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.file = self.sock.makefile("rwb", buffering=0)
            self.serial = None
        elif parsed.scheme == "serial":
            try:
                import serial
            except ImportError:
                raise BackendUnavailable("serial robots need pyserial: pip install 'crossview-harness[realsense]'") \
                    from None
            baud = int(parse_qs(parsed.query).get("baud", ["115200"])[0])
            try:
                self.serial = serial.Serial(parsed.path, baudrate=baud, timeout=timeout)
            except Exception as exc:  # serial.SerialException and OS errors
                raise CrossviewError(f"cannot open the robot's serial port {parsed.path} ({exc})") from None
            self.file, self.sock = self.serial, None
        else:
            raise CrossviewError(f"robot url {url!r}: use tcp://HOST:PORT or serial:///dev/DEVICE?baud=115200")
        self.lock = threading.Lock()

    def command(self, line: str, answer: bool = True) -> str:
        with self.lock:
            self.file.write(line.encode() + b"\n")
            if not answer:
                return ""
            reply = self.file.readline().decode(errors="replace").strip()
        if not reply:
            raise CrossviewError(f"the robot at {self.url} did not answer {line!r}")
        if reply.startswith("ERR"):
            raise CrossviewError(f"the robot at {self.url} refused {line!r}: {reply}")
        return reply

    def close(self) -> None:
        (self.sock or self.serial).close()


class LineBase:
    """A robot speaking the line protocol, with limits, a watchdog and an emergency stop on Ctrl-C."""

    def __init__(self, url: str, step_m: float = 0.1, max_step_m: float = 0.3, max_turn_deg: float = 45.0,
                 min_interval_s: float = 0.0, deadline_s: float = 2.0, timeout_s: float = 5.0,
                 masked: frozenset[str] = frozenset()) -> None:
        self.stream = _Stream(url, timeout_s)
        self.step_m, self.max_step_m, self.max_turn = step_m, max_step_m, max_turn_deg
        self.min_interval, self.deadline, self.masked = min_interval_s, deadline_s, masked
        self._last_cmd = 0.0
        self._last_action = time.monotonic()
        self._moving = False
        self._closed = threading.Event()
        safety.register(self.stop)
        self._watchdog = threading.Thread(target=self._watch, name="robot-watchdog", daemon=True)
        self._watchdog.start()

    def _watch(self) -> None:
        while not self._closed.wait(min(0.05, self.deadline / 4)):
            if self._moving and time.monotonic() - self._last_action > self.deadline:
                self.stop()

    def apply(self, action: Action) -> None:
        self._last_action = time.monotonic()
        for line in car_commands(action, self.step_m, self.max_step_m, self.max_turn, self.masked):
            wait = self.min_interval - (time.monotonic() - self._last_cmd)
            if wait > 0:
                time.sleep(wait)
            self.stream.command(line)
            self._last_cmd = time.monotonic()
            self._moving = True
        self._last_action = time.monotonic()

    def stop(self) -> None:
        """Send STOP without waiting for an answer (it must work even when the link is busy)."""
        self._moving = False
        with contextlib.suppress(Exception):  # a dead link: the robot's own watchdog must act
            self.stream.file.write(b"STOP\n")

    def close(self) -> None:
        if not self._closed.is_set():
            self.stop()
            self._closed.set()
            safety.unregister(self.stop)
            self.stream.close()


def make_base(driver: str = "none", **options: Any) -> RobotBase:
    """A base from config: ``none``, or ``line`` with ``url`` (tcp:// or serial://) and limits."""
    if driver == "none":
        return NoBase()
    if driver == "line":
        if "url" not in options:
            raise CrossviewError("robot driver 'line' needs url: tcp://HOST:PORT or serial:///dev/DEVICE")
        return LineBase(**options)
    raise CrossviewError(f"unknown robot driver {driver!r}: use none or line")
