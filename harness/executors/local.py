"""The local executor: spawned worker processes, one duplex pipe each, deadlines in shared memory.

A pipe per worker (rather than one shared queue) means a worker killed mid-message can only tear its own pipe;
the driver drops that worker and never blocks on a lock the dead process held.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from harness import safety
from harness.worker import WorkerSettings, hang_reason, worker_main

KILL_GRACE_S = 0.5  # between SIGTERM and SIGKILL: a worker's robots are stopped within milliseconds of SIGTERM


@dataclass
class _Proc:
    process: Any
    conn: Connection
    deadline: Any
    current: Any
    started: float
    ready: bool = False
    retired: bool = False  # told to leave early (no work left for it): its exit is no fault
    left: bool = False  # ... and its pipe has closed: nothing more to read (``shutdown`` still joins it)


@dataclass(frozen=True)
class Fault:
    """A worker that hung past its deadline or died; ``current`` is what it was working on then, if known."""

    wid: int
    reason: str
    current: str


class LocalExecutor:
    """Starts, talks to, watches and kills worker processes on this machine."""

    can_steal = True  # workers answer ("steal", n) by giving back episodes they have not started

    def __init__(self, settings: WorkerSettings, startup_timeout: float = 120.0) -> None:
        self.settings = settings
        self.startup_timeout = startup_timeout
        self._ctx = mp.get_context("spawn")
        self._procs: dict[int, _Proc] = {}
        safety.register(self._forward)

    def start(self, wid: int) -> None:
        """Start worker ``wid``."""
        ours, theirs = self._ctx.Pipe(duplex=True)
        deadline = self._ctx.RawValue("d", 0.0)
        current = self._ctx.RawArray("c", 64)
        proc = self._ctx.Process(target=worker_main, name=f"crossview-worker-{wid}", daemon=True,
                                 args=(wid, self.settings, theirs, deadline, current, os.getpid()))
        proc.start()
        theirs.close()
        self._procs[wid] = _Proc(proc, ours, deadline, current, time.monotonic())

    def send(self, wid: int, msg: Any) -> bool:
        """Send a message; False if the worker is gone (its fault is reported by ``faults``)."""
        try:
            self._procs[wid].conn.send(msg)
            return True
        except (OSError, KeyError):
            return False

    def receive(self, timeout: float) -> list[Any]:
        """Messages from any worker, waiting up to ``timeout`` seconds for the first."""
        conns = {p.conn: wid for wid, p in self._procs.items() if not p.left}
        out = []
        for conn in wait(list(conns), timeout):
            wid = conns[conn]
            try:
                while conn.poll():
                    msg = conn.recv()
                    if msg[0] == "ready":
                        self._procs[wid].ready = True
                    out.append(msg)
            except (EOFError, OSError, ValueError, TypeError):  # dead or torn pipe: faults() reports it,
                if self._procs[wid].retired:  # unless the worker was retired: it left, as told. Its pipe
                    self._procs[wid].left = True  # would read as ready forever and spin this loop to the end
        return out

    def faults(self) -> list[Fault]:
        """Workers that died, missed their deadline, or never became ready."""
        now, found = time.monotonic(), []
        for wid, p in self._procs.items():
            if p.retired:
                continue
            armed = p.deadline.value
            doing = p.current.value.decode(errors="replace") if armed else ""
            if not p.process.is_alive():
                found.append(Fault(wid, f"worker died (exit code {p.process.exitcode})", doing))
            elif armed and now > armed:
                found.append(Fault(wid, hang_reason(doing), doing))
            elif not p.ready and now - p.started > self.startup_timeout:
                found.append(Fault(wid, f"worker did not start within {self.startup_timeout:.0f}s", ""))
        return found

    def retire(self, wid: int) -> None:
        """Let an idle worker leave now (the sweep has no more work for it), while the others finish: its exit
        overlaps their tail rather than adding to the end of the sweep."""
        p = self._procs.get(wid)
        if p is not None and self.send(wid, ("stop",)):
            p.retired = True

    def kill(self, wid: int) -> None:
        """Kill a worker and forget it: SIGTERM first (its robots stop at once, harness.safety), then SIGKILL."""
        p = self._procs.pop(wid, None)
        if p is None:
            return
        if p.process.is_alive():
            p.process.terminate()
            p.process.join(KILL_GRACE_S)
        if p.process.is_alive():
            p.process.kill()
        p.process.join(5)
        p.conn.close()

    def _forward(self, reason: str) -> None:
        """An emergency stop in the driver (a signal): pass it on to every worker, which stops its robots."""
        for p in list(self._procs.values()):
            with contextlib.suppress(OSError, ValueError, TypeError):  # already gone
                os.kill(p.process.pid, signal.SIGINT)

    def interrupt(self, grace: float) -> list[Any]:
        """The sweep is interrupted: have every worker stop its robots and abort its episodes; the messages they
        sent (aborted episodes' records) until they all left or ``grace`` seconds passed."""
        self._forward("interrupted")
        out: list[Any] = []
        end = time.monotonic() + grace
        while any(p.process.is_alive() for p in self._procs.values()) and time.monotonic() < end:
            out.extend(self.receive(timeout=0.05))
        out.extend(self.receive(timeout=0))
        self.shutdown(graceful=False)
        return out

    def shutdown(self, graceful: bool = True, timeout: float = 10.0) -> None:
        """Stop every worker: ask first (when ``graceful``), then kill what is left."""
        if graceful:
            for wid in list(self._procs):
                self.send(wid, ("stop",))
            end = time.monotonic() + timeout
            for p in self._procs.values():
                p.process.join(max(0.0, end - time.monotonic()))
        for wid in list(self._procs):
            self.kill(wid)
        safety.unregister(self._forward)
