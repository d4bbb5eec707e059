"""Run a probe config: generate the items of every source's frames, have every answerer answer them, export.

Durable and resumable like sweeps: frames and answers have content-hash keys; stored ones are skipped on a
re-run (errored ones too, unless ``retry_errors``). Each source's adapter lives in its own process
(harness.probe.worker) with deadlines (``timeouts``): a frame whose adapter raised, hung or died is retried
``retries`` times (a hung or dead simulator is replaced) before it is stored as an error. A failing answer (a
transport error, a raising callable) is retried and then stored as ``error``, which reports count but never
score; failures an answerer names ``permanent`` (an endpoint's 400/401/403/404/422) are not retried.
Only this driver writes the store; answers are computed on threads (``concurrency`` per answerer) and
written here as they complete.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.atomic import clear_stale
from harness.errors import BackendUnavailable, CrossviewError
from harness.probe.answerers import Answerer, make_answerer
from harness.probe.config import ProbeConfig, SourceConfig, source_fingerprint
from harness.probe.dataset import export, load_item, save_item
from harness.probe.frames import Look
from harness.probe.generate import frame_key, generate
from harness.probe.items import parse_reply
from harness.probe.store import AnswerRow, ProbeStore
from harness.probe.worker import FrameFailure, FrameTimeout, FrameWorker, Request

Say = Callable[[str], None]


@dataclass
class ProbeOutcome:
    """What one ``run_probe`` call did."""

    run_dir: Path
    frames_new: int = 0
    frame_errors: int = 0
    items_new: int = 0
    items_total: int = 0
    generate_s: float = 0.0
    answers: Counter = field(default_factory=Counter)  # (answerer, status) -> count, this call
    answer_s: dict[str, float] = field(default_factory=dict)
    skipped_sources: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        errors = self.frame_errors + sum(n for (_, status), n in self.answers.items() if status == "error")
        return 1 if errors else 0


def answer_id(item_id: str, answerer: Answerer) -> str:
    return hashlib.sha256(f"{item_id}|{answerer.name}|{answerer.fingerprint()}".encode()).hexdigest()[:20]


def _frame_plan(source: SourceConfig, domains: tuple[str, ...]) -> list[tuple[str, int]]:
    return [(d, i) for d in domains for i in range(source.frames)]


def _generate_source(config: ProbeConfig, source: SourceConfig, store: ProbeStore, out: ProbeOutcome,
                     say: Say, retry_errors: bool) -> None:
    fp, opts, look = source_fingerprint(source), config.gen_options(), Look(**source.look.model_dump())
    done = store.frame_keys(with_errors=not retry_errors)
    todo = source.domains is None or any(not any(k.startswith(f"{fp}/{source.adapter}/{d}/{i}/") for k in done)
                                         for d, i in _frame_plan(source, tuple(source.domains)))
    if not todo:
        return
    try:
        worker = FrameWorker(source.adapter, source.options, config.timeouts.startup, config.timeouts.frame)
    except BackendUnavailable as exc:
        if not source.optional:
            raise
        out.skipped_sources.append(f"{source.adapter}: {exc}")  # the command prints these at the end
        return
    except FrameTimeout as exc:
        raise CrossviewError(str(exc)) from None
    domains = tuple(source.domains or worker.domains or ("default",))
    try:
        for domain, index in _frame_plan(source, domains):
            probe_key = f"{fp}/{source.adapter}/{domain}/{index}"
            if any(k.startswith(probe_key + "/") for k in done):
                continue
            t0, error, frame = time.perf_counter(), None, None
            request = Request(domain, source.role, index, config.seed, look, source.suite)
            for attempt in range(config.retries + 1):
                try:
                    frame = worker.sample(request)
                    break
                except (FrameTimeout, FrameFailure) as exc:  # a simulator's failure: retried (a fresh one if hung)
                    error = str(exc)
                    say(f"frame {domain}/{index} of {source.adapter} failed (attempt {attempt + 1}): {error}")
            if frame is None:
                store.add_frame(f"{probe_key}/error", source.adapter, domain, index, [], {}, 0.0, error)
                out.frame_errors += 1
                continue
            key = frame_key(frame, fp)
            items, skipped = generate(frame, key, config.tasks, config.per_task, opts)
            rows = [save_item(item, store.run_dir) for item in items]
            store.add_frame(key, source.adapter, domain, index, rows, skipped, time.perf_counter() - t0)
            out.frames_new += 1
            out.items_new += len(rows)
    finally:
        worker.close()


def _answer_one(answerer: Answerer, row: dict[str, Any], run_dir: Path) -> tuple[Any, float]:
    # on the answering thread: only pending items are read, never all at once; images only for those who look
    item = load_item(row, run_dir, images=getattr(answerer, "reads_images", True))
    t0 = time.perf_counter()
    reply = answerer.answer(item)
    return reply, time.perf_counter() - t0


def _answer_all(answerer: Answerer, rows: list[dict[str, Any]], store: ProbeStore, retries: int,
                out: ProbeOutcome, retry_errors: bool) -> None:
    pending = {answer_id(r["item_id"], answerer): r for r in rows}
    for aid in store.answer_ids(("answered", "unparseable") if retry_errors else None):
        pending.pop(aid, None)
    tries: Counter = Counter()
    t0 = time.perf_counter()
    with cf.ThreadPoolExecutor(max_workers=max(1, int(getattr(answerer, "concurrency", 1)))) as pool:
        futures = {pool.submit(_answer_one, answerer, row, store.run_dir): aid for aid, row in pending.items()}
        while futures:
            finished, _ = cf.wait(futures, return_when=cf.FIRST_COMPLETED)
            for fut in finished:
                aid = futures.pop(fut)
                row = pending[aid]
                tries[aid] += 1
                try:
                    reply, wall = fut.result()
                except Exception as exc:  # transport failures, raising callables: retried, then an error
                    reason = f"{type(exc).__name__}: {exc}"[:500]
                    if tries[aid] <= retries and not isinstance(exc, getattr(answerer, "permanent", ())):
                        store.add_attempt(aid, tries[aid], reason)
                        futures[pool.submit(_answer_one, answerer, row, store.run_dir)] = aid
                        continue
                    result = AnswerRow(aid, row["item_id"], answerer.name, answerer.fingerprint(), "error", None,
                                       None, None, tries[aid], 0.0, reason)
                else:
                    choice = parse_reply(reply, len(row["choices"]), tuple(row["choices"]))
                    result = AnswerRow(aid, row["item_id"], answerer.name, answerer.fingerprint(),
                                       "unparseable" if choice is None else "answered", str(reply)[:2000], choice,
                                       None if choice is None else choice == row["answer"], tries[aid], wall)
                store.add_answer(result)
                out.answers[(answerer.name, result.status)] += 1
    out.answer_s[answerer.name] = time.perf_counter() - t0


def run_probe(config: ProbeConfig, out_dir: str | Path, allow_config_change: bool = False,
              retry_errors: bool = False, say: Say = lambda _msg: None) -> ProbeOutcome:
    """Generate (or resume) the probe set of ``config`` under ``out_dir/<name>``, answer it, export it.

    Stored frames and answers are skipped, errored ones too unless ``retry_errors``."""
    run_dir = Path(out_dir) / config.name
    answerers = [make_answerer(a.name, a.kind, a.options) for a in config.answerers]  # fail before any work
    clear_stale(run_dir)
    with ProbeStore(run_dir) as store:
        stored = store.get_meta("fingerprint")
        if stored is not None and stored != config.fingerprint() and not allow_config_change:
            raise CrossviewError(f"{run_dir} holds a probe set made from a different config (sources, tasks or "
                                 "generation changed): use another name, or --allow-config-change to add to it")
        store.set_meta({"fingerprint": config.fingerprint(), "config": config.model_dump(),
                        "answerers": {a.name: a.fingerprint() for a in answerers},
                        "kinds": {a.name: a.kind for a in config.answerers}})
        out = ProbeOutcome(run_dir)
        t0 = time.perf_counter()
        for source in config.sources:
            _generate_source(config, source, store, out, say, retry_errors)
        out.generate_s = time.perf_counter() - t0
        rows = store.items()
        out.items_total = len(rows)
        say(f"{out.items_new} new items from {out.frames_new} frames ({out.items_total} stored); answering")
        for answerer in answerers:
            _answer_all(answerer, rows, store, config.retries, out, retry_errors)
            close = getattr(answerer, "close", None)
            if close is not None:
                close()
        export(rows, run_dir)
    return out
