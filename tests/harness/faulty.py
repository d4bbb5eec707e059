"""Rooms with injected faults, for testing the runner's recovery (named in configs by import path).

``fault``: "hang" sleeps for an hour inside ``step`` ("hold": holding the GIL, as a C extension that never releases
it); "die" SIGKILLs its own process inside ``step``; "raise"
raises from ``step``. Episodes whose seed is divisible by ``every`` are faulty, at step ``at_step``. With
``once_dir`` set, each faulty episode fails only on its first attempt (a marker file remembers it).
"""

from __future__ import annotations

import ctypes
import os
import signal
import time
from pathlib import Path
from typing import Any

from adapters.rooms.adapter import RoomsAdapter
from harness.spec import Action, TaskSpec


class UnreachableProtocol:
    """The Adapter protocol's methods for test adapters whose constructor never completes (so the import check in
    harness/plugins.py lets them be constructed); none of them is ever reached."""

    def tasks(self, suite: str) -> list:
        raise NotImplementedError

    def reset(self, task: object) -> tuple:
        raise NotImplementedError

    def step(self, action: object) -> tuple:
        raise NotImplementedError

    def close(self) -> None:
        pass


class FaultyRooms(RoomsAdapter):
    def __init__(self, fault: str = "hang", every: int = 3, at_step: int = 2, once_dir: str | None = None,
                 **options: Any) -> None:
        super().__init__(**options)
        self.fault, self.every, self.at_step, self.once_dir = fault, every, at_step, once_dir
        self._faulty = False
        self._n = 0

    def reset(self, task: TaskSpec):
        self._faulty = task.seed % self.every == 0
        if self._faulty and self.once_dir is not None:
            marker = Path(self.once_dir) / f"{task.seed}-{task.domain}-{task.interaction.name}-{task.difficulty}"
            self._faulty = not marker.exists()
            marker.touch()
        self._n = 0
        return super().reset(task)

    def step(self, action: Action):
        self._n += 1
        if self._faulty and self._n == self.at_step:
            if self.fault == "hang":
                time.sleep(3600)
            elif self.fault == "hold":  # hangs holding the GIL: libc sleep(3) through ctypes.PyDLL
                ctypes.PyDLL(None).sleep(3600)
            elif self.fault == "die":
                os.kill(os.getpid(), signal.SIGKILL)
            else:
                raise RuntimeError("injected simulator failure")
        return super().step(action)


class RaisingPolicy:
    """A policy that raises on its n-th call (for policy_error)."""

    def __init__(self, after: int = 3) -> None:
        from policies.base import PolicyInfo

        self.info = PolicyInfo(name="raising")
        self.after, self.calls = after, 0

    def reset(self, n, slots=None, seeds=None) -> None:
        pass

    def act(self, observations, goals, privileged, slots=None):
        self.calls += 1
        if self.calls >= self.after:
            raise ValueError("policy exploded")
        return [Action(forward=True) for _ in observations]


class FailingOnceOracle:
    """The oracle, except that its process dies (``fault="die"``: SIGKILL; ``"exit"``: ``SystemExit`` raised from
    ``act``) or hangs (``"hang"``; ``"hold"``: hangs holding the interpreter's lock, as a C extension that never
    releases it, so no other thread of the process runs)
    on its ``at_call``-th act, once per ``marker`` file: the recovery of a lost policy process, tested for real."""

    def __init__(self, marker: str, fault: str = "die", at_call: int = 5) -> None:
        from policies.baselines import OraclePolicy

        self.inner = OraclePolicy()
        self.info = self.inner.info
        self.marker, self.fault, self.at_call, self.calls = Path(marker), fault, at_call, 0

    def reset(self, n, slots=None, seeds=None) -> None:
        self.inner.reset(n, slots, seeds)

    def act(self, observations, goals, privileged, slots=None):
        self.calls += 1
        if self.calls == self.at_call and not self.marker.exists():
            self.marker.write_text(str(os.getpid()))
            if self.fault == "die":
                os.kill(os.getpid(), signal.SIGKILL)
            if self.fault == "hold":  # libc sleep(3) through ctypes.PyDLL, which keeps the GIL during the call
                ctypes.PyDLL(None).sleep(3600)
            if self.fault == "exit":  # not an Exception: a local policy process ends on it
                raise SystemExit(3)
            time.sleep(3600)
        return self.inner.act(observations, goals, privileged, slots)


class StallingPolicy:
    """Random actions, but its per-episode ``reset`` blocks for an hour on the first episode whose seed is divisible
    by ``every`` (a marker file in ``once_dir`` remembers it): a worker stalled between calls, outside any reset or
    step of the adapter."""

    def __init__(self, once_dir: str, every: int = 2) -> None:
        from policies.base import PolicyInfo
        from policies.baselines import RandomPolicy

        self.info = PolicyInfo(name="stalling")
        self.inner = RandomPolicy()
        self.once_dir, self.every = Path(once_dir), every

    def reset(self, n, slots=None, seeds=None) -> None:
        self.inner.reset(n, slots, seeds)
        for seed in seeds or []:
            marker = self.once_dir / "stalled"
            if seed % self.every == 0 and not marker.exists():
                marker.touch()
                time.sleep(3600)

    def act(self, observations, goals, infos, slots=None):
        return self.inner.act(observations, goals, infos, slots)


class BatchRecordingOracle:
    """The oracle, writing the largest batch its process was asked to act on to ``record/<pid>``: where a shared
    policy copy batched slots of several workers together."""

    def __init__(self, record: str) -> None:
        from policies.baselines import OraclePolicy

        self.inner = OraclePolicy()
        self.info = self.inner.info
        self.path, self.largest = Path(record) / str(os.getpid()), 0

    def reset(self, n, slots=None, seeds=None) -> None:
        self.inner.reset(n, slots, seeds)

    def act(self, observations, goals, privileged, slots=None):
        if len(observations) > self.largest:
            self.largest = len(observations)
            self.path.write_text(str(self.largest))
        return self.inner.act(observations, goals, privileged, slots)


class EchoingPolicy:
    """Answers each observation with its own time as the camera yaw (so an answer names the request it belongs to),
    after sleeping ``seconds`` on an observation at time ``slow_at``: an answer late past a client's timeout."""

    def __init__(self, slow_at: float = -1.0, seconds: float = 0.0) -> None:
        from harness.spec import Modality
        from policies.base import PolicyInfo

        self.info = PolicyInfo(name="echo", goals=(Modality.LANGUAGE,))
        self.slow_at, self.seconds = slow_at, seconds

    def reset(self, n, slots=None, seeds=None) -> None:
        pass

    def act(self, observations, goals, privileged, slots=None):
        if any(o.t == self.slow_at for o in observations):
            time.sleep(self.seconds)
        return [Action(camera=(0.0, float(o.t))) for o in observations]


class RaisingOracle:
    """The oracle, except that it raises on the ``at_step``-th act of each episode whose seed is divisible by
    ``every`` (per slot: the same episodes fail whichever process runs the policy and however calls are batched)."""

    def __init__(self, every: int = 2, at_step: int = 3) -> None:
        from policies.baselines import OraclePolicy

        self.inner = OraclePolicy()
        self.info = self.inner.info
        self.every, self.at_step = every, at_step
        self.steps: dict[int, tuple[int, int]] = {}  # slot -> (its episode's seed, acts so far)

    def reset(self, n, slots=None, seeds=None) -> None:
        self.inner.reset(n, slots, seeds)
        for slot, seed in zip(slots or range(n), seeds or [1] * n):
            self.steps[slot] = (seed, 0)

    def act(self, observations, goals, privileged, slots=None):
        slots = list(range(len(observations))) if slots is None else slots
        for slot in slots:
            seed, n = self.steps.get(slot, (1, 0))
            self.steps[slot] = (seed, n + 1)
            if seed % self.every == 0 and n + 1 == self.at_step:
                raise ValueError("injected policy failure")
        return self.inner.act(observations, goals, privileged, slots)
