"""The run's log, ``runs/<name>/run.log``: what libraries log (simulator clients such as unrealcv, msgpack-rpc,
tornado) is appended there by the driver and by every worker, never printed on the terminal."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

FILE = "run.log"
FORMAT = "%(asctime)s %(processName)s %(name)s %(levelname)s %(message)s"


class _RunFile(logging.FileHandler):
    """A file handler that creates the run folder on its first record (workers may log before the driver has)."""

    def _open(self):  # type: ignore[no-untyped-def]
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()


def attach(run_dir: str | Path) -> logging.Handler:
    """Send the root logger's INFO and above to the run's log; returns the handler for ``detach``."""
    handler = _RunFile(Path(run_dir) / FILE, delay=True)
    handler.setFormatter(logging.Formatter(FORMAT))
    return _install(handler)


def hold() -> logging.handlers.MemoryHandler:
    """Keep records in memory until the run folder exists (``release``); the driver plans before it creates it."""
    return _install(logging.handlers.MemoryHandler(capacity=10_000, flushLevel=logging.CRITICAL + 1))


def release(held: logging.handlers.MemoryHandler, run_dir: str | Path) -> logging.Handler:
    """Write what ``hold`` kept to the run's log and log there from now on."""
    handler = attach(run_dir)
    held.setTarget(handler)
    held.flush()
    detach(held)
    return handler


def detach(handler: logging.Handler) -> None:
    """Stop logging to ``handler`` and close it."""
    logging.getLogger().removeHandler(handler)
    handler.close()


def _install(handler: logging.Handler) -> logging.Handler:
    handler.setLevel(logging.INFO)
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    return handler
