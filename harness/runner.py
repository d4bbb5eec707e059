"""The sweep driver: plan → start workers → check policies → schedule episodes on workers → store every finished
episode.

Workers start at once and begin their first episodes while the first of them loads every policy of the plan and
reports its ``PolicyInfo`` for the compatibility check (``harness.compat``): the driver never imports a policy's
framework nor holds its weights. Nothing is stored until the check passes (``harness.scheduler``); a refused sweep
kills its workers and leaves nothing behind.

The driver is the only writer of the store. It re-queues the episodes of a worker that hung or died, charging an
attempt only to the episode that worker was working on, and gives up on an episode after ``retries`` failed
attempts (stored as ``env_error``). Re-running a sweep skips every stored episode id.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import atomic, runlog
from harness.compat import check_policies
from harness.config import SweepConfig
from harness.errors import CrossviewError
from harness.executors.local import LocalExecutor
from harness.plan import Plan, build_plan
from harness.provenance import provenance
from harness.scheduler import ERROR_STATUSES, HARNESS_CAUSE, LEGACY_HARNESS_CAUSES, Scheduler, await_infos
from harness.spec import EpisodeRecord, Status
from harness.store import Store
from harness.worker import WorkerSettings

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
    try:  # workers start up (imports, GL contexts) and begin episodes while the first of them loads every policy
        if todo:  # for the check; if the check fails, they are killed before anything is stored
            for _ in range(n_workers):
                sched.start_worker()
            refs = list({e.policy.key: e.policy for e in plan.episodes}.values())
            sched.describe(refs)
            sched.prime(2 * config.envs_per_worker)
            check_policies(plan, await_infos(sched, refs, config.timeouts.startup))
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
    atomic.clear_stale(run_dir)  # temporary files a killed sweep left (videos, thumbnails)
    if progress is not None:
        progress.start(len(plan), outcome.skipped)
    sched.open_store(store)
    try:
        while sched.busy:
            sched.tick()
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
