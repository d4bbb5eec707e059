"""The Ray executor: sweep workers as Ray actors, for sweeps that outgrow one machine (optional extra ``ray``).

Each actor owns its simulators and a policy copy (with ``inference: shared``, a client of a policy actor instead:
``harness.inference.ray_actor``) and runs the same ``Worker`` as the local executor, on one
dedicated thread (GL contexts belong to a thread). The driver hands an actor a chunk of episodes at a time; the
actor answers with the chunk's records when it is done, while a second, concurrent method reports its deadline
and the episode it is on, so the driver sees a hung simulator without waiting for the chunk. A dead actor or lost
node surfaces as a fault for its in-flight episodes; the driver stays the only writer of the store.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

from harness.errors import require
from harness.executors.local import Fault
from harness.plan import Episode, PolicyRef
from harness.worker import CHECK_MARK, Worker, WorkerSettings, hang_reason, limit_threads

BEAT_GRACE_S = 5.0  # a running actor answers its heartbeat at once (its own thread); this much late is a hang


def import_ray() -> Any:
    return require("ray", "executor 'ray'", "pip install 'crossview-harness[ray]'")


def connect_ray(address: str | None) -> tuple[Any, bool]:
    """Ray, joined to ``address`` (a local instance when None) unless this process is connected already; and
    whether this call started it (its owner shuts it down). ray 2.60.0: ``ray.is_initialized``
    _private/worker.py:2496, ``ray.init`` :1446-1460 (options), ``ray.shutdown`` :2083."""
    ray = import_ray()
    if ray.is_initialized():
        return ray, False
    ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False,
             ignore_reinit_error=True)
    return ray, True


class _Value:
    """What shared memory is to a local worker: a field the heartbeat can read."""

    def __init__(self, value: Any) -> None:
        self.value = value


class _Outbox:
    """The worker's connection, collecting its messages for the current chunk."""

    def __init__(self) -> None:
        self.messages: list[tuple] = []

    def send(self, msg: tuple) -> None:
        self.messages.append(msg)


class ActorWorker:
    """The body of a Ray actor (wrapped with ``ray.remote`` at run time)."""

    def __init__(self, wid: int, settings: WorkerSettings) -> None:
        limit_threads(settings.threads)
        self.deadline, self.current = _Value(0.0), _Value(b"")
        self.outbox = _Outbox()
        self.worker = Worker(wid, settings, self.outbox, self.deadline, self.current, parent=0)
        self.jobs: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._loop, name="crossview-episodes", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while True:  # jobs run one at a time on this thread, each collecting its own messages
            job, box, done = self.jobs.get()
            self.outbox.messages = box
            try:
                job()
            except BaseException as exc:  # a bug in the worker, or a SystemExit from a policy: report it rather
                self.outbox.send(("fatal", self.worker.wid, f"{type(exc).__name__}: {exc}"))  # than hang the call
            finally:
                self.worker.park()  # between jobs Ray watches the actor; no heartbeat runs
                done.set()

    def _job(self, job: Any) -> list[tuple]:
        box: list[tuple] = []
        done = threading.Event()
        self.jobs.put((job, box, done))
        done.wait()
        return box

    def _run(self, chunk: list[dict]) -> None:
        self.worker.queue.extend(Episode.from_wire(e) for e in chunk)
        while self.worker.busy:
            self.worker.advance()

    def run(self, chunk: list[dict]) -> list[tuple]:
        """Run a chunk of episodes to their ends; the messages (records, failures) it produced."""
        return self._job(lambda: self._run(chunk))

    def describe(self, refs: list[dict]) -> list[tuple]:
        """The policy check's answers for ``refs`` (``Worker.describe``), on the episodes' thread."""
        return self._job(lambda: self.worker.describe([PolicyRef(**r) for r in refs]))

    def heartbeat(self) -> tuple[float, str]:
        """Seconds left before the current call's deadline (inf when idle), and what it is working on."""
        armed = self.deadline.value
        left = armed - time.monotonic() if armed else float("inf")
        return left, self.current.value.decode(errors="replace") if armed else ""


@dataclass
class _Actor:
    handle: Any
    run_ref: Any = None
    describe_ref: Any = None  # the policy check's call (``ActorWorker.describe``), answered apart from chunks
    held: list[dict] | None = None  # a chunk sent while the check runs: submitted once it is answered
    beat_ref: Any = None
    want_sent: bool = False
    beat_sent: float = 0.0  # when the outstanding heartbeat was asked for
    current: str = ""  # what the last answered heartbeat said it was working on


class RayExecutor:
    """Starts, talks to, watches and kills Ray actors; the same interface as ``LocalExecutor``."""

    def __init__(self, settings: WorkerSettings, address: str | None = None, cpus_per_worker: float = 1.0,
                 gpus_per_worker: float = 0.0) -> None:
        self.settings = settings
        self.ray, self._started_ray = connect_ray(address)
        self._remote = self.ray.remote(ActorWorker).options(num_cpus=cpus_per_worker, num_gpus=gpus_per_worker,
                                                             max_concurrency=3, max_restarts=0)
        # (three calls at once: a chunk, the heartbeat and the policy check)
        self._actors: dict[int, _Actor] = {}
        self._faults: list[Fault] = []
        s = settings  # a heartbeat unanswered past the longest deadline a worker arms: the actor is hung
        self._beat_bound = max(s.reset_timeout, s.step_timeout, s.heartbeat, s.media_timeout, s.startup_timeout,
                               s.startup_timeout + 2 * s.step_timeout + 10) + BEAT_GRACE_S  # (+ a shared policy's
        # reconnect and answer: Worker arms connect_timeout + answer_timeout + 5 for it)

    def start(self, wid: int) -> None:
        self._actors[wid] = _Actor(self._remote.remote(wid, self.settings))

    def send(self, wid: int, msg: Any) -> bool:
        a = self._actors.get(wid)
        if a is None:
            return False
        if msg[0] == "run" and a.describe_ref is not None:  # the policy check first, as a local worker does:
            a.held = msg[1]  # calls to one actor may run in any order, and a chunk would delay the check
            a.want_sent = False
        elif msg[0] == "run":
            a.run_ref = a.handle.run.remote(msg[1])
            a.want_sent = False
        elif msg[0] == "describe":
            a.describe_ref = a.handle.describe.remote(msg[1])
        return True

    def receive(self, timeout: float) -> list[Any]:
        out: list[Any] = []
        for wid, a in self._actors.items():  # an idle actor asks for work, as a local worker does
            if a.run_ref is None and a.held is None and not a.want_sent:
                out.append(("want", wid, 2 * self.settings.slots))
                a.want_sent = True
        refs = {ref: wid for wid, a in self._actors.items() for ref in (a.run_ref, a.describe_ref) if ref is not None}
        if out or not refs:
            if not refs:
                time.sleep(min(timeout, 0.05))
            return out
        ready, _ = self.ray.wait(list(refs), num_returns=1, timeout=timeout)
        for ref in ready:
            wid = refs[ref]
            a = self._actors[wid]
            checking = ref == a.describe_ref
            if checking:
                a.describe_ref = None
            else:
                a.run_ref = None
            try:
                out.extend(self.ray.get(ref))
            except Exception as exc:  # RayActorError, a lost node, a crashed worker process; during the policy
                self._faults.append(Fault(wid, f"ray actor died ({type(exc).__name__})",  # check the policy
                                          CHECK_MARK + "?" if checking else ""))  # being loaded is to blame
                continue
            if checking and a.held is not None:  # the chunk that waited for the check, to a live actor
                a.run_ref, a.held = a.handle.run.remote(a.held), None
        return out

    def faults(self) -> list[Fault]:
        found, self._faults = self._faults, []
        for wid, a in self._actors.items():
            if a.run_ref is None and a.describe_ref is None:
                continue
            if a.beat_ref is None:
                a.beat_ref, a.beat_sent = a.handle.heartbeat.remote(), time.monotonic()
                continue
            ready, _ = self.ray.wait([a.beat_ref], timeout=0)
            if not ready:  # a call holding the GIL (a C extension that never releases it) stalls the heartbeat too
                if time.monotonic() - a.beat_sent > self._beat_bound:
                    found.append(Fault(wid, hang_reason(a.current), a.current))
                continue
            try:
                left, current = self.ray.get(a.beat_ref)
            except Exception as exc:
                found.append(Fault(wid, f"ray actor died ({type(exc).__name__})", ""))
                continue
            finally:
                a.beat_ref = None
            a.current = current
            if left < 0:
                found.append(Fault(wid, hang_reason(current), current))
        return found

    def retire(self, wid: int) -> None:
        """An idle actor with no work left: release it now (no robots run on Ray, harness.runner.make_executor)."""
        self.kill(wid)

    def kill(self, wid: int) -> None:
        a = self._actors.pop(wid, None)
        if a is not None:
            self.ray.kill(a.handle, no_restart=True)

    def interrupt(self, grace: float) -> list[Any]:
        """The sweep is interrupted: Ray actors are killed at once (robots belong on the local executor)."""
        self.shutdown(graceful=False)
        return []

    def shutdown(self, graceful: bool = True, timeout: float = 10.0) -> None:
        for wid in list(self._actors):
            self.kill(wid)
        if self._started_ray and self.ray.is_initialized():
            self.ray.shutdown()
            self._started_ray = False
