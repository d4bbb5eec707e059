"""A spawned process that owns one source's adapter and samples frames for the probe driver, so that every
adapter call has a deadline: a hung or dead simulator is killed (and a fresh one started) instead of hanging
``crossview probe``. Frames come back over a multiprocessing pipe between our own two processes.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
from dataclasses import dataclass
from typing import Any

from harness import safety
from harness.errors import BackendUnavailable, CrossviewError
from harness.probe.frames import Frame, Look, sample_frame
from harness.worker import limit_threads


class FrameTimeout(Exception):
    """The adapter did not answer within its deadline (the process was killed)."""


class FrameFailure(Exception):
    """The adapter raised while sampling a frame (the process is still usable)."""


@dataclass(frozen=True)
class Request:
    """Sample frame ``index`` of ``domain``."""

    domain: str
    role: str
    index: int
    probe_seed: int
    look: Look
    suite: str


def _serve(conn: Any, adapter: str, options: dict[str, Any]) -> None:
    """Process entry point (spawn): build the adapter, then answer requests until the pipe closes."""
    safety.install(interrupt=False, parent=os.getppid())  # Ctrl-C is the driver's; leave if the driver dies
    limit_threads(1)
    from adapters.base import make_adapter

    try:
        env = make_adapter(adapter, **options)
    except BackendUnavailable as exc:
        conn.send(("unavailable", str(exc)))
        return
    except CrossviewError as exc:
        conn.send(("user", str(exc)))
        return
    conn.send(("ready", {"domains": list(env.info.domains)}))
    try:
        while True:
            try:
                req = conn.recv()
            except EOFError:
                return
            try:
                conn.send(("frame", sample_frame(env, req.domain, req.role, req.index, req.probe_seed, req.look,
                                                 req.suite)))
            except CrossviewError as exc:
                conn.send(("user", str(exc)))
            except Exception as exc:  # a simulator's failure: the driver retries
                conn.send(("failed", f"{type(exc).__name__}: {exc}"[:500]))
    finally:
        env.close()


class FrameWorker:
    """One adapter in its own process; ``sample`` returns a Frame within ``frame_s`` or raises."""

    def __init__(self, adapter: str, options: dict[str, Any], startup_s: float, frame_s: float) -> None:
        self.adapter, self.options, self.startup_s, self.frame_s = adapter, dict(options), startup_s, frame_s
        self._proc: Any = None
        self.domains: tuple[str, ...] = ()
        self._start()

    def _start(self) -> None:
        ctx = mp.get_context("spawn")
        ours, theirs = ctx.Pipe(duplex=True)
        self._proc = ctx.Process(target=_serve, args=(theirs, self.adapter, self.options), daemon=True,
                                 name=f"crossview-probe-{self.adapter}")
        self._proc.start()
        theirs.close()
        self._conn = ours
        kind, value = self._receive(self.startup_s, "start")
        if kind == "unavailable":
            self.close(force=True)
            raise BackendUnavailable(value)
        if kind == "user":
            self.close(force=True)
            raise CrossviewError(value)
        self.domains = tuple(value["domains"])

    def _receive(self, timeout: float, what: str) -> tuple[str, Any]:
        try:
            if self._conn.poll(timeout):
                return self._conn.recv()
        except (EOFError, OSError):
            pass
        proc = self._proc
        alive = proc.is_alive()
        self.close(force=True)
        if alive:
            raise FrameTimeout(f"adapter {self.adapter!r} did not {what} within {timeout:g} s (killed)")
        raise FrameTimeout(f"adapter {self.adapter!r} died during {what} (exit code {proc.exitcode})")

    def sample(self, request: Request) -> Frame:
        """The frame of ``request``; FrameTimeout (worker replaced on the next call), FrameFailure, or
        CrossviewError (bad options or domain: not retried)."""
        if self._proc is None:
            self._start()
        try:
            self._conn.send(request)
        except OSError:
            self.close(force=True)
            raise FrameTimeout(f"adapter {self.adapter!r} process is gone") from None
        kind, value = self._receive(self.frame_s, "give a frame")
        if kind == "frame":
            return value
        if kind == "user":
            raise CrossviewError(value)
        raise FrameFailure(value)

    def close(self, force: bool = False) -> None:
        """End the process: close its pipe and let it release its simulator, or kill it (``force``, or when it
        does not end within 10 s)."""
        if self._proc is None:
            return
        proc, self._proc = self._proc, None
        if force:
            proc.kill()
        with contextlib.suppress(OSError):
            self._conn.close()
        proc.join(10)
        if proc.is_alive():
            proc.kill()
            proc.join(5)
