"""Emergency stops: what must happen first on Ctrl-C (and when a worker is told to stop), e.g. halting a robot.

Anything that moves hardware registers a stop callback here. Worker processes ignore Ctrl-C otherwise (the
driver handles it), but they still run these callbacks at once when it arrives.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable
from typing import Any

_stops: list[Callable[[], None]] = []
_lock = threading.Lock()


def register(stop: Callable[[], None]) -> None:
    """Run ``stop`` first on Ctrl-C (SIGINT) or SIGTERM, in registration order."""
    with _lock:
        if stop not in _stops:
            _stops.append(stop)


def unregister(stop: Callable[[], None]) -> None:
    with _lock:
        if stop in _stops:
            _stops.remove(stop)


def emergency_stop() -> None:
    """Run every registered stop, whatever fails."""
    with _lock:
        stops = list(_stops)
    for stop in stops:
        with contextlib.suppress(Exception):  # one broken stop must not keep the others from running
            stop()


def install(ignore_interrupt: bool) -> None:
    """SIGINT/SIGTERM run the emergency stops first; then Ctrl-C is ignored (workers) or raised (main process)."""
    previous = signal.getsignal(signal.SIGINT)

    def on_signal(signum: int, frame: Any) -> None:
        emergency_stop()
        if signum == signal.SIGTERM:
            raise SystemExit(143)
        if not ignore_interrupt:
            if callable(previous):
                previous(signum, frame)
            else:
                raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
