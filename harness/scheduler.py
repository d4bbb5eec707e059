"""The sweep's books: which worker holds which episodes, what is pending, retried or stolen back, and what is
stored. The scheduler hands episodes to workers that ask, blames a written-off worker's episode (or nobody), and
collects the policy check's answers (``describe``) before the store opens.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from harness.errors import CrossviewError
from harness.plan import Episode, PolicyRef
from harness.spec import EpisodeRecord, Status
from harness.store import Store
from harness.wire import policy_info_from_wire
from harness.worker import CHECK_MARK, IDLE_MARK, MEDIA_MARK, POLICY_MARK

if TYPE_CHECKING:
    from policies.base import PolicyInfo

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
    if current.startswith(CHECK_MARK):
        return None, f"while loading policy {current.removeprefix(CHECK_MARK)!r} for the policy check"
    if current.startswith(MEDIA_MARK):
        return current.removeprefix(MEDIA_MARK), "while writing the episode's video or thumbnail"
    if current.startswith(POLICY_MARK):
        return current.removeprefix(POLICY_MARK), "in the policy"
    return current, "in the adapter"


def error_record(ep: Episode, status: Status, reason: str, attempts: int) -> EpisodeRecord:
    """The stored row of an episode that could not be run to its end."""
    return EpisodeRecord(
        episode_id=ep.episode_id, policy=ep.policy.name, checkpoint_sha256=ep.policy.sha256,
        checkpoint_step=ep.policy.step, adapter=ep.env.name, domain=ep.task.domain,
        interaction=ep.task.interaction.name.lower(), target=ep.task.target, difficulty=ep.task.difficulty,
        split=ep.task.split, role=ep.env.role, seed=ep.task.seed, index=ep.index, status=status, success=None,
        steps=0, episode_return=0.0, final_distance=None, wall_s=0.0, error=reason[:1000], attempts=attempts,
        goal=ep.task.goal)


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
        # the policy check (``describe``): what a worker reported per policy key, and which worker was asked
        self.infos: dict[str, PolicyInfo] = {}
        self.load_errors: dict[str, str] = {}
        self.describer: int | None = None
        self.describer_lost: str | None = None
        self.redescribes = 0
        self.unanswered: set[str] = set()  # policy keys the describer has yet to answer for
        # until the store opens (after the check), finished episodes and failed attempts wait here
        self._records: list[EpisodeRecord] = []
        self._attempts: list[tuple[str, int, str, str]] = []

    def start_worker(self) -> None:
        wid, self._next_wid = self._next_wid, self._next_wid + 1
        self.ex.start(wid)
        self.inflight[wid] = {}

    def _store(self, record: EpisodeRecord) -> None:
        if self.store is None:
            self._records.append(record)
            return
        self.store.add(record)
        self.on_record(record)

    def _add_attempt(self, episode_id: str, attempt: int, kind: str, reason: str) -> None:
        if self.store is None:
            self._attempts.append((episode_id, attempt, kind, reason))
        else:
            self.store.add_attempt(episode_id, attempt, kind, reason)

    def open_store(self, store: Store) -> None:
        """The check passed and the store is open: write what finished meanwhile, then write as things finish."""
        self.store = store
        for attempt in self._attempts:
            store.add_attempt(*attempt)
        for record in self._records:
            self._store(record)
        self._records, self._attempts = [], []

    def describe(self, refs: list[PolicyRef]) -> None:
        """Ask the first worker to load the policies ``refs`` and report each one's ``PolicyInfo`` (sent before
        its first episodes, so it loads them while the others start)."""
        self.unanswered = {r.key for r in refs}
        if self.inflight:
            self.describer = min(self.inflight)
            self.ex.send(self.describer, ("describe", [dataclasses.asdict(r) for r in refs]))

    def _fail(self, ep: Episode, kind: str, reason: str, charge: bool = True) -> None:
        """An attempt failed: retry it, or store it as an error once its retries are spent."""
        if kind in (Status.POLICY_ERROR.value, Status.ABORTED.value):  # not retried
            self._store(error_record(ep, Status(kind), reason, self.attempts[ep.episode_id] + 1))
            return
        if charge:
            self.attempts[ep.episode_id] += 1
            self._add_attempt(ep.episode_id, self.attempts[ep.episode_id], kind, reason)
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
        elif kind == "described":  # the policy check (``describe``): a PolicyInfo, or why the policy failed
            key, info, why = msg[2], msg[3], msg[4]
            self.unanswered.discard(key)
            if why is not None:
                self.load_errors[key] = why
            else:
                self.infos[key] = policy_info_from_wire(info)

    def _write_off(self, wid: int, reason: str, current: str) -> None:
        """Kill a worker; charge the episode it was on, re-queue the rest; replace it.

        A worker that stalled or died between calls (idle, talking to the driver) was on no episode: the harness
        is to blame, so its episodes go back to the queue uncharged — at most ``MAX_REQUEUES`` times each, after
        which they count as failed attempts (so a worker that always stalls cannot loop the sweep forever).
        """
        self.ex.kill(wid)
        held = self._forget(wid)
        if wid == self.describer:  # lost while loading a policy: that policy is to blame; otherwise (a simulator
            self.describer = None  # fault, an actor that died unseen) another worker is asked, a few times at most
            self.redescribes += 1
            if current.startswith(CHECK_MARK) or self.redescribes > MAX_REQUEUES:
                self.describer_lost = reason
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
            if wid == self.describer and self.unanswered:
                continue  # still loading policies for the check
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

    def tick(self, wait: float = 0.2) -> None:
        """One turn of the driver's loop: take what workers sent (waiting up to ``wait`` s), write off the
        faulty, hand out work."""
        for msg in self.ex.receive(timeout=wait):
            self.handle(msg)
        self.check_faults()
        self.dispatch()


def await_infos(sched: Scheduler, refs: list[PolicyRef], startup_timeout: float) -> dict[str, PolicyInfo]:
    """Every policy's ``PolicyInfo`` as the asked worker reports it (``Scheduler.describe``), running the sweep
    meanwhile (its results wait for the store); a policy that fails to load, a worker lost while loading one, or
    no answer within a startup timeout per policy (and two to start workers), is a one-line error."""
    limit = startup_timeout * (len(refs) + 2)
    end = time.monotonic() + limit
    while True:
        for ref in refs:
            if ref.key in sched.load_errors:
                raise CrossviewError(f"policy {ref.name!r}: {sched.load_errors[ref.key]}")
        missing = [r for r in refs if r.key not in sched.infos]
        if not missing:
            return sched.infos
        if sched.describer_lost is not None:
            raise CrossviewError(f"policy {missing[0].name!r} could not be loaded for the policy check: the worker "
                                 f"loading it was lost ({sched.describer_lost})")
        if time.monotonic() > end:
            raise CrossviewError(f"policy {missing[0].name!r}: no worker reported it loaded within {limit:.0f}s "
                                 "(timeouts.startup per policy): raise timeouts.startup, or check the workers' log")
        if sched.describer is None:  # the asked worker was lost for another reason: ask one still running, or
            if not sched.inflight:  # start one (the episodes may all have ended meanwhile, with no worker left)
                sched.start_worker()
            sched.describe(missing)
        sched.tick()
