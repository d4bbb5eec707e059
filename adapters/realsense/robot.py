"""Robot bases for the rig: the ``RobotBase`` protocol, drivers, limits, a heartbeat and a watchdog.

Drivers: ``none`` (camera only: dry runs, recordings) and ``line``, a plain-text protocol over TCP
(``tcp://HOST:PORT``) or a serial port (``serial:///dev/ttyUSB0?baud=115200``, pyserial). crossview is the client;
the robot (or a bridge on it) is the server.

The line protocol
-----------------
- Every command is one ASCII line ending in a newline. The robot answers **every** command, ``STOP`` and ``PING``
  included, with exactly one line: ``OK`` once the command has been carried out to its end (a ``MOVE`` has finished
  driving), or ``ERR <reason>`` when it refused or failed it. Replies come in the order of the commands.
- Lockstep: crossview sends a command only once the previous command's reply has arrived, and waits for each reply
  at most ``timeout_s`` seconds (``STOP``: ``stop_timeout_s``). An ``ERR``, no reply in time, or a closed link stops
  the robot (``STOP``) and aborts the episode, with one line that names the command.
- ``STOP`` is the only command that may be sent while another one is running: a stop cannot wait. The robot halts
  at once, answers the interrupted command (``ERR stopped``, or ``OK``), then answers ``STOP`` with ``OK``.
  A second ``STOP`` may arrive before the first one's reply (a signal during a routine stop): answer each ``OK``.
  After a ``STOP`` crossview sends no motion command (``MOVE TURN PITCH BEEP``) until the next episode starts; after
  an emergency stop, or a ``STOP`` answered ``ERR`` or not answered in time, not before the operator has confirmed
  that the rig is safe.
- The robot sends nothing but these replies: a line when no command is waiting for one ends the connection.

    MOVE <forward_m> <right_m>     drive this far in the robot frame (crossview moves one axis at a time)
    TURN <degrees>                 rotate in place, positive to the right
    PITCH <degrees>                tilt the camera, positive down
    BEEP                           sound the beeper (the paper's "attack")
    STOP                           halt now; sent first on Ctrl-C, SIGTERM, SIGHUP, a vanished sweep driver, a failed
                                   policy, camera or command, a late policy, the end of every episode and of the sweep
    PING                           do nothing: the heartbeat

Heartbeat, for firmware authors: when ``heartbeat_s`` seconds (0.25 by default; 0 turns it off) have passed since
crossview's last command and that command has been answered, crossview sends ``PING`` (never while a command runs:
lockstep), so a healthy host sends the robot a line within ``heartbeat_s`` (plus network latency) of every reply.
Use it as a dead-man switch: when no line has arrived for a period of your choosing (say 1 s, four heartbeats) after
your last reply, or when the connection closes, halt the motors; and bound how long any one command may run. This
covers what the host cannot: a frozen machine, a cut cable, a killed process.

The paper's car mapping: forward/back = MOVE ±0.1 0, left/right = MOVE 0 ∓0.1, yaw = TURN, pitch = PITCH (masked
on the paper's car), attack = BEEP; a composite action runs as its parts one after another. Steps and turns are
clamped to the configured limits, and motion commands are spaced by ``min_interval_s`` (heartbeats go on
meanwhile). A watchdog stops the robot when no action arrives within ``deadline_s`` seconds of the last one (a late
or dead policy).
"""

from __future__ import annotations

import inspect
import threading
import time
from typing import Any, Protocol, runtime_checkable

from adapters.realsense.line import LineLink, RobotFault
from harness import safety
from harness.errors import CrossviewError
from harness.spec import Action


@runtime_checkable
class RobotBase(Protocol):
    """Something that moves the camera through the world."""

    def apply(self, action: Action) -> None:
        """Carry out one action; ``safety.EmergencyStop`` when the robot is stopped (the episode is aborted)."""

    def stop(self, reason: str | None = None) -> None:
        """Halt now; no motion until ``rearm``. ``reason`` marks an emergency, None a routine stop."""

    def rearm(self) -> None:
        """Allow motion again (a new episode, after the operator confirmed)."""

    def close(self) -> None:
        """Stop and let go of the robot."""


class NoBase:
    """No robot: the camera alone (dry runs, recordings)."""

    def apply(self, action: Action) -> None:
        pass

    def stop(self, reason: str | None = None) -> None:
        pass

    def rearm(self) -> None:
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


class LineBase:
    """A robot speaking the line protocol (see the module docstring): lockstep, limits, heartbeat, watchdog."""

    def __init__(self, url: str, step_m: float = 0.1, max_step_m: float = 0.3, max_turn_deg: float = 45.0,
                 min_interval_s: float = 0.0, deadline_s: float = 2.0, timeout_s: float = 5.0,
                 stop_timeout_s: float = 1.0, heartbeat_s: float = 0.25,
                 masked: frozenset[str] = frozenset()) -> None:
        for name, value in (("deadline_s", deadline_s), ("timeout_s", timeout_s), ("stop_timeout_s", stop_timeout_s)):
            if not value > 0:
                raise CrossviewError(f"robot option {name} must be > 0 seconds, got {value!r}")
        self.link = LineLink(url, timeout_s)
        self.step_m, self.max_step_m, self.max_turn = step_m, max_step_m, max_turn_deg
        self.min_interval, self.deadline, self.masked = min_interval_s, deadline_s, masked
        self.timeout, self.stop_timeout, self.heartbeat = timeout_s, stop_timeout_s, max(0.0, heartbeat_s)
        self._order = threading.Lock()  # lockstep: one command (other than STOP) waiting for its reply at a time
        self._latched: str | None = None  # why motion is refused, after a STOP
        self._stops = 0  # STOPs sent so far
        self._last_sent = self._last_action = self._last_motion = time.monotonic()
        self._moving = self._applying = False
        self._beat_ok = True
        self._closed = threading.Event()
        safety.register(self.stop)
        self._watchdog = threading.Thread(target=self._watch, name="robot-watchdog", daemon=True)
        self._watchdog.start()

    # ------------------------------------------------------------------ commands
    def _refuse_motion(self) -> None:
        why = safety.tripped() or self._latched
        if why is not None:
            raise safety.EmergencyStop(f"the robot was stopped ({why}): no motion until the next episode")

    def _exchange(self, line: str, motion: bool) -> None:
        """Send one command and wait for its reply (the caller holds ``_order``)."""
        stops = self._stops
        try:
            reply = self.link.send(line, self._refuse_motion if motion else None)
            self._last_sent = time.monotonic()
            self._moving = self._moving or motion
            self.link.wait(reply, self.timeout)
        except RobotFault as exc:
            if self._stops != stops and self._latched is not None:  # a STOP overtook it: stopped, not failed
                if motion:
                    raise safety.EmergencyStop(f"the robot was stopped ({self._latched}) during {line!r}") from None
                return
            safety.emergency_stop(str(exc))
            raise safety.EmergencyStop(str(exc)) from None

    def apply(self, action: Action) -> None:
        """Run the action's commands one after another, each waiting for its ``OK``."""
        self._applying, self._last_action = True, time.monotonic()
        try:
            for line in car_commands(action, self.step_m, self.max_step_m, self.max_turn, self.masked):
                # the spacing is waited out before taking the lockstep lock, so heartbeats go on meanwhile
                wait = self.min_interval - (time.monotonic() - self._last_motion)
                if wait > 0:
                    time.sleep(wait)
                with self._order:
                    self._exchange(line, motion=True)
                    self._last_motion = time.monotonic()
        finally:
            self._applying, self._last_action = False, time.monotonic()

    def stop(self, reason: str | None = None) -> None:
        """Send STOP at once (overtaking a running command), latch, then wait for STOP's reply."""
        def latch() -> None:
            self._latched = reason or "a routine stop"
            self._stops += 1

        self._moving = False
        try:
            reply = self.link.send("STOP", latch)
            self._last_sent = time.monotonic()
            self.link.wait(reply, self.stop_timeout)
        except RobotFault as exc:
            # the robot did not confirm its stop: nothing moves again until the operator has checked the rig
            safety.needs_confirmation(str(exc))
            raise safety.EmergencyStop(str(exc)) from None

    def rearm(self) -> None:
        """Allow motion again (a new episode), unless an emergency stop is still unconfirmed or the run is ending."""
        def clear() -> None:  # under the link's lock: a STOP latching at this moment lands after, not before
            if safety.unconfirmed() is None and safety.tripped() is None:
                self._latched = None

        self.link.locked(clear)
        self._beat_ok = True
        self._last_action = time.monotonic()

    # ------------------------------------------------------------------ watchdog and heartbeat
    def _watch(self) -> None:
        period = min(0.05, self.deadline / 4, self.heartbeat / 2 if self.heartbeat else 0.05)
        while not self._closed.wait(period):
            now = time.monotonic()
            if self._moving and not self._applying and now - self._last_action > self.deadline:
                safety.emergency_stop(f"no action within deadline_s={self.deadline:g} s (a late policy)")
            elif (self.heartbeat and self._beat_ok and not self.link.lost and now - self._last_sent > self.heartbeat
                  and self._order.acquire(blocking=False)):
                try:
                    self._exchange("PING", motion=False)
                except safety.EmergencyStop:
                    self._beat_ok = False
                finally:
                    self._order.release()

    def close(self) -> None:
        """Send a last STOP (the end of the sweep) and close the link."""
        if self._closed.is_set():
            return
        self._closed.set()
        safety.unregister(self.stop)
        try:
            self.stop()
        except safety.EmergencyStop as exc:
            safety.say(str(exc))
        self._watchdog.join(1.0)
        self.link.close()


def make_base(driver: str = "none", **options: Any) -> RobotBase:
    """A base from config: ``none``, or ``line`` with ``url`` (tcp:// or serial://) and limits."""
    if driver == "none":
        return NoBase()
    if driver == "line":
        if "url" not in options:
            raise CrossviewError("robot driver 'line' needs url: tcp://HOST:PORT or serial:///dev/DEVICE")
        known = set(inspect.signature(LineBase).parameters)
        unknown = sorted(set(options) - known)
        if unknown:
            raise CrossviewError(f"robot option(s) {', '.join(unknown)} unknown for driver 'line': use "
                                 f"{', '.join(sorted(known - {'masked'}))}")
        return LineBase(**options)
    raise CrossviewError(f"unknown robot driver {driver!r}: use none or line")
