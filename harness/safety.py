"""Emergency stops: what must happen first when a run is interrupted or fails, e.g. halting a robot.

Anything that moves hardware registers a stop callback here (``register``); ``emergency_stop(reason)`` runs every
one of them, whatever fails. ``install`` makes SIGINT, SIGTERM and SIGHUP run the stops at once from a watchdog
thread that the signal itself wakes (``signal.set_wakeup_fd``): a Python signal handler runs only when the main
thread next executes bytecode, which can be long after the signal while it sits in a simulator, a policy or a
robot command. The same thread watches the parent process (a worker's driver): on Linux the kernel wakes it the
moment the parent dies (``PR_SET_PDEATHSIG``), elsewhere it looks every ``period`` seconds; when the parent is gone
(SIGKILLed, say) it runs the stops and ends the process.

A signal or a vanished parent also *trips* the process (``tripped``): a worker then aborts its episodes and winds
down. A stop's reason stays *unconfirmed* until someone (the rig's operator) calls ``confirm``: a rig does not start
another episode after an emergency stop until then.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from harness.errors import CrossviewError

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
EXIT_ORPHANED = 1  # a worker's exit status after its driver vanished
PARENT_GONE = signal.SIGUSR2  # what the kernel sends a worker when its driver dies (Linux): wakes the watchdog only
SLOW_PERIOD_S = 0.5  # the parent check's fallback period where the kernel wakes the watchdog itself

_stops: list[Callable[[str], None]] = []
_lock = threading.Lock()
_state: dict[str, str | None] = {"tripped": None, "unconfirmed": None, "said": None}
_signals = {"seen": 0, "acted": 0}  # signals the main thread's handler saw / the watchdog has run the stops for
EXIT_GRACE_S = 1.0  # how long a process leaving after a signal waits for the watchdog's stops


class EmergencyStop(CrossviewError):
    """A robot was stopped by an emergency stop: the episode it was in is aborted."""


def register(stop: Callable[[str], None]) -> None:
    """Run ``stop(reason)`` on every emergency stop, in registration order."""
    with _lock:
        if stop not in _stops:
            _stops.append(stop)


def unregister(stop: Callable[[str], None]) -> None:
    """Forget a stop registered with ``register``."""
    with _lock:
        if stop in _stops:
            _stops.remove(stop)


def emergency_stop(reason: str) -> None:
    """Run every registered stop now (each with ``reason``), whatever fails; a stop that fails says so on stderr."""
    with _lock:
        stops = list(_stops)
        if stops and _state["unconfirmed"] is None:
            _state["unconfirmed"] = reason
    for stop in stops:
        try:
            stop(reason)
        except Exception as exc:  # one broken stop must not keep the others from running
            say(str(exc))


def needs_confirmation(reason: str) -> None:
    """Mark the rig unsafe until ``confirm`` without running the stops (a stop that itself failed calls this)."""
    with _lock:
        if _state["unconfirmed"] is None:
            _state["unconfirmed"] = reason


def say(line: str) -> None:
    """One line on stderr (never twice the same in a row), whatever state stderr is in."""
    if _state["said"] != line:
        _state["said"] = line
        with contextlib.suppress(Exception):
            print(f"crossview: {line}", file=sys.stderr, flush=True)


def trip(reason: str) -> None:
    """An interruption (a signal, the driver gone): run the stops and mark the process as winding down."""
    with _lock:
        if _state["tripped"] is None:
            _state["tripped"] = reason
    emergency_stop(reason)


def tripped() -> str | None:
    """Why this process was interrupted, or None."""
    return _state["tripped"]


def unconfirmed() -> str | None:
    """The reason of an emergency stop nobody has confirmed yet, or None."""
    return _state["unconfirmed"]


def confirm() -> None:
    """The operator has seen the stop and made the rig safe: episodes may start again."""
    with _lock:
        _state["unconfirmed"] = None


def reset() -> None:
    """Forget every registered stop and every state (for tests that run rigs in one process)."""
    with _lock:
        _stops.clear()
        _state.update(tripped=None, unconfirmed=None, said=None)


def _name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _watch(fd: int, parent: int, period: float) -> None:
    while True:
        ready, _, _ = select.select([fd], [], [], period if parent else None)
        if parent and os.getppid() != parent:
            trip("the sweep's driver process is gone")
            os._exit(EXIT_ORPHANED)
        if ready:
            try:
                data = os.read(fd, 64)
            except BlockingIOError:
                data = b""
            for signum in data:
                if signum == PARENT_GONE:  # the kernel's word on the parent (checked above), not a stop
                    continue
                trip(f"{_name(signum)} received")
                _signals["acted"] += 1  # written by this thread only


def _kernel_watches(parent: int) -> bool:
    """Ask Linux to send ``PARENT_GONE`` when the parent dies (prctl PR_SET_PDEATHSIG, linux/prctl.h), so the
    watchdog sleeps instead of polling 100 times a second beside the simulator. It fires when the thread that
    started this process ends; the watchdog then finds the parent alive and ignores it."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(1, int(PARENT_GONE), 0, 0, 0) != 0:  # 1 = PR_SET_PDEATHSIG (/usr/include/linux/prctl.h:9)
            return False
    except (OSError, AttributeError):
        return False
    return os.getppid() == parent  # gone before prctl: the first check finds it at once


def install(interrupt: bool, parent: int = 0, period: float = 0.01) -> None:
    """Run the emergency stops on SIGINT/SIGTERM/SIGHUP (and, with ``parent``, when that process is gone).

    Call it once, from the main thread. With ``interrupt`` the first of these signals also raises
    ``KeyboardInterrupt`` in the main thread (the driver winds down; later signals are only forwarded as stops);
    without it the main thread is left alone and reads ``tripped()`` (workers).
    """
    r, w = os.pipe()
    os.set_blocking(r, False)
    os.set_blocking(w, False)
    signal.set_wakeup_fd(w, warn_on_full_buffer=False)
    raised = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        _signals["seen"] += 1  # written by this handler only (no lock: the main thread may hold _lock right now)
        if interrupt and not raised.is_set():
            raised.set()
            raise KeyboardInterrupt

    for sig in SIGNALS:
        signal.signal(sig, on_signal)
    if parent:
        signal.signal(PARENT_GONE, lambda signum, frame: None)  # a handler, so the wakeup fd carries it
        if _kernel_watches(parent):
            period = max(period, SLOW_PERIOD_S)
    threading.Thread(target=_watch, args=(r, parent, period), name="emergency-stop", daemon=True).start()
    atexit.register(_let_stops_finish)


def _let_stops_finish() -> None:
    """At exit, wait (at most ``EXIT_GRACE_S``) until the watchdog has run the stops for every signal received: a
    main thread that leaves on KeyboardInterrupt must not end the process (and its daemon watchdog) before the
    robot's STOP went out. Daemon threads still run while atexit handlers do."""
    deadline = time.monotonic() + EXIT_GRACE_S
    while _signals["acted"] < _signals["seen"] and time.monotonic() < deadline:
        time.sleep(0.002)
