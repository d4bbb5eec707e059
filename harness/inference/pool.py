"""The driver's side of shared inference: start one policy process per copy, watch it, restart it.

Each copy listens on a Unix socket in a private temporary folder, with a per-sweep random key for the HMAC
challenge of ``multiprocessing.connection``. The driver reads each process's deadline (armed during every batched
``act``) like a worker's: a process that hangs past it, or dies, is killed and started again at the same address;
the workers' calls in flight fail with ``PolicyProcessLost`` and their episodes are retried.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from typing import Any

from harness.inference.client import InferenceSettings
from harness.inference.core import BatchSettings
from harness.inference.server import ServerSettings, server_main


@dataclass(frozen=True)
class PolicyFault:
    """A policy process that died or hung."""

    copy: int
    reason: str


class PolicyPool:
    """``copies`` policy processes, each seating ``batch.capacity`` env slots at most."""

    def __init__(self, copies: int, batch: BatchSettings, step_timeout: float, connect_timeout: float = 120.0,
                 threads: int = 0) -> None:
        self._ctx = mp.get_context("spawn")
        self._dir = tempfile.mkdtemp(prefix="cxv-inf-")
        self._key = os.urandom(32)
        self.step_timeout, self.connect_timeout = step_timeout, connect_timeout
        self.restarts = 0
        self._settings = [ServerSettings(os.path.join(self._dir, f"p{i}.sock"), self._key, batch, threads)
                          for i in range(copies)]
        self._procs: list[Any] = [None] * copies
        self._deadlines = [self._ctx.RawValue("d", 0.0) for _ in range(copies)]
        for i in range(copies):
            self._start(i)

    def _start(self, i: int) -> None:
        with contextlib.suppress(FileNotFoundError):  # a killed process leaves its socket file behind
            os.unlink(self._settings[i].address)
        self._deadlines[i].value = 0.0
        proc = self._ctx.Process(target=server_main, name=f"crossview-policy-{i}", daemon=True,
                                 args=(self._settings[i], self._deadlines[i], self.step_timeout))
        proc.start()
        self._procs[i] = proc

    def settings(self) -> tuple[InferenceSettings, ...]:
        """What workers need to reach each copy (worker ``w`` talks to copy ``w % copies``)."""
        return tuple(InferenceSettings(s.address, s.authkey, answer_timeout=2 * self.step_timeout + 5,
                                       connect_timeout=self.connect_timeout) for s in self._settings)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs if p is not None]

    def faults(self) -> list[PolicyFault]:
        """Policy processes that died or hung past their deadline."""
        now, found = time.monotonic(), []
        for i, p in enumerate(self._procs):
            armed = self._deadlines[i].value
            if not p.is_alive():
                found.append(PolicyFault(i, f"policy process died (exit code {p.exitcode})"))
            elif armed and now > armed:
                found.append(PolicyFault(i, "policy process missed its deadline (hung)"))
        return found

    def restart(self, i: int) -> None:
        """Kill copy ``i`` and start it again at the same address."""
        self._kill(i)
        self.restarts += 1
        self._start(i)

    def forget(self, wid: int) -> None:
        """Worker ``wid`` was written off: nothing to do, its policy process saw its socket close."""

    def _kill(self, i: int) -> None:
        p = self._procs[i]
        if p is None:
            return
        if p.is_alive():
            p.kill()
        p.join(5)

    def shutdown(self) -> None:
        """Kill every policy process and remove the sockets' folder."""
        for i in range(len(self._procs)):
            self._kill(i)
        shutil.rmtree(self._dir, ignore_errors=True)
