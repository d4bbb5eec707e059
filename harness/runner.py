"""The sweep driver: plan → check → schedule episodes on workers → store every finished episode.

The driver is the only writer of the store. It re-queues the episodes of a worker that hung or died, charging an
attempt only to the episode that worker was working on, and gives up on an episode after ``retries`` failed
attempts (stored as ``env_error``). Re-running a sweep skips every stored episode id.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import atomic, runlog
from harness.compat import check_policies
from harness.config import SweepConfig
from harness.errors import CrossviewError
from harness.executors.local import LocalExecutor
from harness.plan import Episode, Plan, build_plan
from harness.provenance import provenance
from harness.spec import EpisodeRecord, Status
from harness.store import Store
from harness.worker import IDLE_MARK, MEDIA_MARK, POLICY_MARK, WorkerSettings

ERROR_STATUSES = (Status.ENV_ERROR.value, Status.POLICY_ERROR.value)
HARNESS_CAUSE = "harness: "  # prefix of a stored error the harness caused (retried by a plain resume)
LEGACY_HARNESS_CAUSES = ("worker crashed: ",)  # what older versions stored for the same (e.g. a failed video)
MAX_REQUEUES = 3  # uncharged re-queues of an episode whose worker stalled between calls


def blame(current: str) -> tuple[str | None, str]:
    """Which episode a written-off worker's marker blames, and where: None when the worker was between calls
    (nobody), "" when unknown (a Ray actor that died unseen: everything it held)."""
    if not current:
        return "", ""
    if current == IDLE_MARK:
        return None, "while idle or between episodes"
    if current.startswith(MEDIA_MARK):
        return current.removeprefix(MEDIA_MARK), "while writing the episode's video or thumbnail"
    if current.startswith(POLICY_MARK):
        return current.removeprefix(POLICY_MARK), "in the policy"
    return current, "in the adapter"
INTERRUPT_GRACE_S = 5.0  # how long interrupted workers may take to report the episodes they abort


@dataclass
class SweepOutcome:
    """What a sweep run did."""

    run_dir: Path
    planned: int
    skipped: int
    finished: int = 0
    errors: int = 0
    interrupted: bool = False
    counts: Counter = field(default_factory=Counter)

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return 130
        return 1 if self.errors or self.counts[Status.ABORTED.value] else 0


def error_record(ep: Episode, status: Status, reason: str, attempts: int) -> EpisodeRecord:
    """The stored row of an episode that could not be run to its end."""
    return EpisodeRecord(
        episode_id=ep.episode_id, policy=ep.policy.name, checkpoint_sha256=ep.policy.sha256,
        checkpoint_step=ep.policy.step, adapter=ep.env.name, domain=ep.task.domain,
        interaction=ep.task.interaction.name.lower(), target=ep.task.target, difficulty=ep.task.difficulty,
        split=ep.task.split, role=ep.env.role, seed=ep.task.seed, index=ep.index, status=status, success=None,
        steps=0, episode_return=0.0, final_distance=None, wall_s=0.0, error=reason[:1000], attempts=attempts,
        goal=ep.task.goal)


def plan_plugins(plan: Plan) -> dict[str, Any]:
    """Provenance of every adapter and policy kind the plan uses: builtin, import path, or which distribution."""
    from adapters.base import get_entry as adapter_entry
    from harness.registry import plugin_provenance
    from policies.base import get_entry as policy_entry

    adapters = {e.env.adapter for e in plan.episodes}
    kinds = {e.policy.kind for e in plan.episodes}
    return {"adapters": plugin_provenance({a: adapter_entry(a) for a in sorted(adapters)}),
            "policies": plugin_provenance({k: policy_entry(k) for k in sorted(kinds)})}


def run_dir_for(config: SweepConfig, out: str | Path) -> Path:
    return Path(out) / config.name


def prepare_run(config: SweepConfig, run_dir: Path, plan: Plan, allow_config_change: bool) -> Store:
    """Open (or create) the run's store; refuse a different config unless asked; record provenance."""
    existing = (run_dir / "results.sqlite").is_file()
    store = Store(run_dir)
    old = store.get_meta("fingerprint") if existing else None
    if old is not None and old != config.fingerprint() and not allow_config_change:
        store.close()
        raise CrossviewError(f"{run_dir} was made by a different config: use --allow-config-change to add this "
                             "config's episodes to it, or --out DIR to start a new run")
    history = (store.get_meta("configs") or []) if existing else []
    if not history or history[-1]["fingerprint"] != config.fingerprint():
        history.append({"fingerprint": config.fingerprint(), "at": time.time(), "config": config.model_dump()})
    facts = {**provenance(), "plugins": plan_plugins(plan)}
    store.set_meta({"fingerprint": config.fingerprint(), "config": config.model_dump(), "configs": history,
                    "plan_ids": [e.episode_id for e in plan.episodes], **facts})
    atomic.write_text(run_dir / "run.json", json.dumps({"config": config.model_dump(), **facts}, indent=2,
                                                      default=str))
    return store


class Scheduler:
    """Hands pending episodes to workers that ask, and keeps the books on what each worker holds."""

    def __init__(self, executor: Any, store: Store | None, pending: list[Episode], retries: int,
                 on_record: Callable[[EpisodeRecord], None], pool: Any = None) -> None:
        self.ex, self.store, self.retries, self.pool = executor, store, retries, pool
        self.pending: deque[Episode] = deque(pending)
        self.inflight: dict[int, dict[str, Episode]] = {}
        self.waiting: dict[int, int] = {}
        self.attempts: Counter[str] = Counter()
        self.requeues: Counter[str] = Counter()
        self.on_record = on_record
        self.slots = 1  # env slots per worker (set by run_sweep): a worker holding more has episodes queued
        self.stealing: set[int] = set()  # workers asked to give back queued episodes, answer pending
        self._next_wid = 0

    def start_worker(self) -> None:
        wid, self._next_wid = self._next_wid, self._next_wid + 1
        self.ex.start(wid)
        self.inflight[wid] = {}

    def _store(self, record: EpisodeRecord) -> None:
        self.store.add(record)
        self.on_record(record)

    def _fail(self, ep: Episode, kind: str, reason: str, charge: bool = True) -> None:
        """An attempt failed: retry it, or store it as an error once its retries are spent."""
        if kind in (Status.POLICY_ERROR.value, Status.ABORTED.value):  # not retried
            self._store(error_record(ep, Status(kind), reason, self.attempts[ep.episode_id] + 1))
            return
        if charge:
            self.attempts[ep.episode_id] += 1
            self.store.add_attempt(ep.episode_id, self.attempts[ep.episode_id], kind, reason)
        if self.attempts[ep.episode_id] > self.retries:
            self._store(error_record(ep, Status.ENV_ERROR, reason, self.attempts[ep.episode_id]))
        else:
            self.pending.appendleft(ep)

    def handle(self, msg: tuple) -> None:
        kind, wid = msg[0], msg[1]
        held = self.inflight.get(wid)
        if held is None:  # a message from a worker already written off
            return
        if kind == "want":
            self.waiting[wid] = int(msg[2])
        elif kind == "done":
            record = EpisodeRecord.from_row(msg[2])
            ep = held.pop(record.episode_id, None)
            if ep is not None:
                self._store(record if not self.attempts[ep.episode_id] else
                            EpisodeRecord.from_row({**msg[2], "attempts": self.attempts[ep.episode_id] + 1}))
        elif kind == "failed":
            ep = held.pop(msg[2], None)
            if ep is not None:
                self._fail(ep, msg[3], msg[4])
        elif kind == "returned":  # queued episodes given back for an idle worker (``_steal``): never started
            self.stealing.discard(wid)
            for eid in msg[2]:
                ep = held.pop(eid, None)
                if ep is not None:
                    self.pending.append(ep)
        elif kind == "fatal":
            self._write_off(wid, f"worker crashed: {msg[2]}", IDLE_MARK)

    def _write_off(self, wid: int, reason: str, current: str) -> None:
        """Kill a worker; charge the episode it was on, re-queue the rest; replace it.

        A worker that stalled or died between calls (idle, talking to the driver) was on no episode: the harness
        is to blame, so its episodes go back to the queue uncharged — at most ``MAX_REQUEUES`` times each, after
        which they count as failed attempts (so a worker that always stalls cannot loop the sweep forever).
        """
        self.ex.kill(wid)
        held = self._forget(wid)
        culprit, where = blame(current)
        for eid, ep in held.items():
            if culprit is None:
                self.requeues[eid] += 1
                if self.requeues[eid] <= MAX_REQUEUES:
                    self.pending.appendleft(ep)
                else:
                    self._fail(ep, Status.ENV_ERROR.value, f"{HARNESS_CAUSE}{reason} {where}")
            elif eid == culprit or not culprit:
                cause = HARNESS_CAUSE if current.startswith(MEDIA_MARK) else ""
                self._fail(ep, Status.ENV_ERROR.value, f"{cause}{reason} {where}".strip())
            else:
                self.pending.appendleft(ep)
        if self.pending or any(self.inflight.values()):
            self.start_worker()

    def check_faults(self) -> None:
        for fault in self.ex.faults():
            if fault.wid in self.inflight:
                self._write_off(fault.wid, fault.reason, fault.current)
        if self.pool is not None:  # shared inference: a dead or hung policy process is restarted; the workers
            for pfault in self.pool.faults():  # hand back the episodes it held (PolicyProcessLost), retried
                logging.getLogger("crossview.inference").warning("%s: restarting policy process %d", pfault.reason,
                                                                 pfault.copy)
                self.pool.restart(pfault.copy)

    def prime(self, want: int) -> None:
        """Hand every started worker its first episodes at once: they build simulators and load policies while
        the driver is still checking policies and opening the store (their records wait in the pipes)."""
        for wid in self.inflight:
            self.waiting.setdefault(wid, want)
        self.dispatch()

    def dispatch(self) -> None:
        for wid, want in list(self.waiting.items()):
            if not self.pending:
                break
            # leave work for the other workers when little is left: never more than an even share of what remains
            share = max(1, min(want, -(-len(self.pending) // max(1, len(self.inflight)))))
            chunk = [self.pending.popleft() for _ in range(min(share, len(self.pending)))]
            if self.ex.send(wid, ("run", [e.to_wire() for e in chunk])):
                self.inflight[wid].update({e.episode_id: e for e in chunk})
                del self.waiting[wid]
            else:
                self.pending.extendleft(reversed(chunk))
        if not self.pending and self.waiting and getattr(self.ex, "can_steal", False):
            self._steal()
        if not self.pending and not self.stealing:
            self._retire_idle()

    def _retire_idle(self) -> None:
        """The tail: a worker that asks for work when none is left, and holds none, leaves now. Nothing is queued
        behind another worker's running episodes either (else ``_steal`` would have asked for it back); a retry
        that comes later goes to a worker still running."""
        if any(len(held) > self.slots for held in self.inflight.values()):
            return
        for wid in [w for w in self.waiting if not self.inflight.get(w)]:
            if len(self.inflight) <= 1:
                break  # the last one stays: it takes any retry, then the graceful end
            self.ex.retire(wid)
            self._forget(wid)

    def _forget(self, wid: int) -> dict[str, Episode]:
        """Stop counting worker ``wid`` (killed or retired); the episodes it held. With shared inference its
        policy copy frees its slots too: a Ray actor never closes its link, so the copy would wait for it (a
        local policy process also sees the socket close)."""
        if self.pool is not None:
            self.pool.forget(wid)
        self.waiting.pop(wid, None)
        self.stealing.discard(wid)
        return self.inflight.pop(wid, {})

    def _steal(self) -> None:
        """The tail: a worker waits for work while another holds episodes it has not started. Ask the fullest for
        half of its queue back; it returns those still queued (``returned``) and they go to whoever asks."""
        slots = self.slots
        victim = max(self.inflight, key=lambda w: len(self.inflight[w]))
        extra = len(self.inflight[victim]) - slots
        if victim in self.waiting or victim in self.stealing or extra < 1:
            return
        if self.ex.send(victim, ("steal", -(-extra // 2))):
            self.stealing.add(victim)

    @property
    def busy(self) -> bool:
        return bool(self.pending) or any(self.inflight.values())


def _stored_ids(run_dir: Path, retry_errors: bool) -> set[str]:
    """Ids of the episodes a run already holds (errors excluded when they are to be retried)."""
    db = run_dir / "results.sqlite"
    if not db.is_file() or db.stat().st_size == 0:  # none yet, or a sweep killed before it wrote the schema
        return set()
    # aborted episodes were cut short: they run again, and so do errors the harness caused; others on request
    with Store(run_dir, create=False, readonly=True) as store:
        again = store.done_ids((Status.ABORTED.value, *(ERROR_STATUSES if retry_errors else ())))
        return store.done_ids() - again - store.error_ids((HARNESS_CAUSE, *LEGACY_HARNESS_CAUSES))


def make_pool(config: SweepConfig, n_workers: int, address: str | None = None) -> Any:
    """Shared inference's policy copies (``inference: shared``): processes on this machine, or Ray actors with
    ``executor: ray``; None for a policy copy per worker."""
    if config.inference != "shared":
        return None
    from harness.inference.core import BatchSettings

    b = config.batching
    per_copy = 2 * -(-n_workers // b.copies)  # room for replaced workers while the old ones' slots are freed
    batch = BatchSettings(per_copy * config.envs_per_worker, b.max_batch, b.max_wait_ms / 1000)
    if config.executor == "ray":
        from harness.inference.ray_actor import RayPolicyPool

        return RayPolicyPool(b.copies, batch, config.timeouts.step, config.timeouts.startup, b.cpus_per_copy,
                             b.gpus_per_copy, threads=max(1, int(b.cpus_per_copy)), address=address)
    from harness.inference.pool import PolicyPool

    return PolicyPool(b.copies, batch, config.timeouts.step, connect_timeout=config.timeouts.startup,
                      threads=max(1, (os.cpu_count() or 1) // b.copies))


def make_executor(config: SweepConfig, settings: WorkerSettings, address: str | None) -> Any:
    """The executor the config asks for: local worker processes, or Ray actors."""
    if config.executor == "ray":
        robots = [e for e in config.environments if e.adapter == "realsense"
                  and isinstance(e.options.get("robot"), dict) and e.options["robot"].get("driver", "none") != "none"]
        if robots:  # Ray kills its actors outright: no SIGTERM, no parent to watch, so no STOP (harness.safety)
            raise CrossviewError("environment 'realsense' drives a robot (options.robot.driver), which only executor: "
                                 "local stops on a signal or a killed driver: set executor: local")
        from harness.executors.ray_cluster import RayExecutor

        return RayExecutor(settings, address=address, cpus_per_worker=config.ray.cpus_per_worker,
                           gpus_per_worker=config.ray.gpus_per_worker)
    return LocalExecutor(settings, startup_timeout=config.timeouts.startup)


def _first_missing(path: Path) -> Path | None:
    """The outermost folder of ``path`` that does not exist yet (everything a new run creates), or None."""
    missing = None
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing = folder
    return missing


def run_sweep(config: SweepConfig, out: str | Path = "runs", *, workers: int | None = None,
              allow_config_change: bool = False, retry_errors: bool = False, base: str | Path = ".",
              progress: Any = None, address: str | None = None) -> SweepOutcome:
    """Run (or resume) a sweep; returns counts and whether anything failed. See module docstring."""
    held = runlog.hold()  # what libraries log while planning goes to the run's log once its folder exists
    try:
        plan = build_plan(config, base)
    except BaseException:
        runlog.detach(held)
        raise
    run_dir = run_dir_for(config, out)
    created = _first_missing(Path(run_dir))  # what a refused new run must not leave behind
    skip = _stored_ids(run_dir, retry_errors)
    todo = [e for e in plan.episodes if e.episode_id not in skip]
    outcome = SweepOutcome(run_dir, len(plan), len(plan) - len(todo))
    n_workers = max(1, min(workers or config.workers, len(todo) or 1))
    cores = os.cpu_count() or 1
    settings = WorkerSettings(
        threads=max(1, cores // n_workers) if n_workers > 1 else 0,
        slots=config.envs_per_worker, reset_timeout=config.timeouts.reset, step_timeout=config.timeouts.step,
        run_dir=str(run_dir), video_mode=config.video.mode, video_every=config.video.every,
        video_fps=config.video.fps, thumbnails=config.video.thumbnails, heartbeat=config.timeouts.step,
        media_timeout=config.timeouts.media, startup_timeout=config.timeouts.startup)

    def on_record(record: EpisodeRecord) -> None:
        outcome.finished += 1
        outcome.counts[record.status.value] += 1
        outcome.errors += record.status.value in ERROR_STATUSES
        if progress is not None:
            progress.advance(record)

    pool = None
    try:  # a refused pool or executor leaves nothing running (a Ray the pool started, its policy copies)
        pool = make_pool(config, n_workers, address) if todo else None
        if pool is not None:
            settings = dataclasses.replace(settings, inference=pool.settings(), threads=1)
        executor = make_executor(config, settings, address)
    except BaseException:
        if pool is not None:
            pool.shutdown()
        runlog.detach(held)
        raise
    sched = Scheduler(executor, None, todo, config.retries, on_record, pool)
    sched.slots = config.envs_per_worker
    try:  # workers start up (imports, GL contexts) and begin episodes while the driver checks policies and opens
        if todo:  # the store; if a check fails, they are killed before anything is stored
            for _ in range(n_workers):
                sched.start_worker()
            sched.prime(2 * config.envs_per_worker)
        check_policies(plan)
        store = prepare_run(config, run_dir, plan, allow_config_change)
    except BaseException:
        executor.shutdown(graceful=False)
        if pool is not None:
            pool.shutdown()
        runlog.detach(held)
        if created is not None:  # early workers may have logged into a run folder the refusal leaves unused
            shutil.rmtree(created, ignore_errors=True)
        raise
    log = runlog.release(held, run_dir)
    sched.store = store
    atomic.clear_stale(run_dir)  # temporary files a killed sweep left (videos, thumbnails)
    if progress is not None:
        progress.start(len(plan), outcome.skipped)
    try:
        while sched.busy:
            for msg in executor.receive(timeout=0.2):
                sched.handle(msg)
            sched.check_faults()
            sched.dispatch()
        executor.shutdown(graceful=True)
    except KeyboardInterrupt:  # Ctrl-C, SIGTERM, SIGHUP (harness.safety): workers stop robots, report, then go
        outcome.interrupted = True
        for msg in executor.interrupt(grace=INTERRUPT_GRACE_S):
            sched.handle(msg)
    finally:
        executor.shutdown(graceful=False)
        if pool is not None:
            pool.shutdown()
        store.close()
        atomic.clear_stale(run_dir)
        runlog.detach(log)
        if progress is not None:
            progress.stop()
    return outcome
