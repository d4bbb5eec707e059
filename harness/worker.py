"""A sweep worker: owns its simulators and policy copies and steps K env slots in lockstep.

Each lockstep step makes one batched ``act`` call per policy among the active slots, then steps every slot's
adapter. Only small messages travel back to the driver (episode records, failures); before every adapter or policy
call the worker publishes a deadline and the episode it is working on in shared memory, so the driver can tell a
hung or dead worker and whom it was working for, even when the worker can no longer speak.
"""

from __future__ import annotations

import contextlib
import os
import time
import traceback
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.base import Adapter, make_adapter, masked_step, step_info
from harness import runlog, safety
from harness.errors import CrossviewError
from harness.inference.client import PolicyProcessLost, SharedPolicy, make_client
from harness.plan import Episode, PolicyRef, bounded_options
from harness.spec import CrossViewGoal, EpisodeRecord, Goal, Observation, Status, StepInfo
from harness.video import side_by_side, write_mp4, write_png
from harness.wire import policy_info_to_wire
from policies.base import Policy, make_policy

POLICY_MARK = "policy:"  # prefix of the "current" marker while a policy call runs
MEDIA_MARK = "media:"  # ... while an episode's video or thumbnail is written
CHECK_MARK = "check:"  # ... while a policy loads for the sweep's policy check (``Worker.describe``): no episode
IDLE_MARK = "idle"  # ... between calls: waiting for work, bookkeeping, talking to the driver
MAX_POLICIES = 2  # policy copies a worker keeps loaded


@dataclass
class WorkerSettings:
    """What a worker needs to know about the sweep (picklable for the spawn start method)."""

    slots: int
    reset_timeout: float
    step_timeout: float
    run_dir: str
    video_mode: str = "off"
    video_every: int = 10
    video_fps: int = 10
    thumbnails: bool = True
    threads: int = 0  # CPU threads per worker for torch and Mesa (0: leave the libraries' defaults)
    inference: tuple[Any, ...] = ()  # shared inference: the policy copies' InferenceSettings or RayInferenceSettings
    # (worker w uses copy w % n)
    heartbeat: float = 30.0  # seconds a worker may go between beats while idle or between calls
    media_timeout: float = 120.0  # seconds to write one episode's video and thumbnail
    startup_timeout: float = 120.0  # seconds to load a policy


@dataclass
class _Slot:
    episode: Episode
    obs: Observation
    goal: Goal  # what the agent is given: the episode's one modality (harness.spec.Goal.only)
    info: StepInfo
    started: float
    steps: int = 0
    success: bool | None = False
    frames: list[Any] | None = field(default=None)
    provenance: str | None = None


def _provenance(info: StepInfo) -> str | None:
    """An adapter's per-episode provenance (e.g. camera intrinsics) as JSON for the store."""
    import json

    return None if info.provenance is None else json.dumps(dict(info.provenance), default=str)


def _for_policy(goal: Goal, policy: Policy) -> CrossViewGoal | Goal:
    """A cross-view-only policy gets the plain ``CrossViewGoal`` (the path older policies know), others the Goal."""
    if policy.info.cross_view_only:
        assert goal.cross_view is not None  # harness.compat refused any other pairing before the sweep began
        return goal.cross_view
    return goal


def hang_reason(current: str) -> str:
    """Why a worker whose deadline passed was written off, from what it was doing."""
    if not current or current == IDLE_MARK:
        return "worker stopped responding (missed its heartbeat)"
    if current.startswith(MEDIA_MARK):
        return "writing media missed its deadline (hung)"
    return "simulator or policy missed its deadline (hung)"


def _short(exc: BaseException) -> str:
    """One line for a stored error: our own errors as written, others with their type."""
    if isinstance(exc, CrossviewError):  # written as one line that names the fix: kept whole
        return str(exc).replace("\n", " ")[:1000]
    tail = traceback.format_exception_only(type(exc), exc)[-1].strip()
    return tail.replace("\n", " ")[:500]


class Worker:
    """The per-process loop; ``run`` returns when told to stop or when the driver is gone."""

    def __init__(self, wid: int, settings: WorkerSettings, conn: Any, deadline: Any, current: Any,
                 parent: int) -> None:
        self.wid, self.s, self.conn = wid, settings, conn
        self.deadline, self.current, self.parent = deadline, current, parent
        self.slots: list[_Slot | None] = [None] * settings.slots
        self.adapters: list[tuple[str, Adapter] | None] = [None] * settings.slots
        self.policies: OrderedDict[str, Policy] = OrderedDict()
        self.queue: deque[Episode] = deque()
        self.asked = False
        self.stopping = False
        shared = settings.inference
        self.client = make_client(wid, shared[wid % len(shared)]) if shared else None

    # --------------------------------------------------------------- heartbeat
    # The deadline in shared memory is armed for the worker's whole life: around each adapter, policy or media
    # call with that call's own limit, and otherwise with the heartbeat (refreshed while waiting for work), so the
    # driver writes off a worker stalled anywhere (idle, between episodes, writing a video) within a deadline.
    def _arm(self, seconds: float, what: str) -> None:
        self.current.value = what.encode()[:63]
        self.deadline.value = time.monotonic() + seconds

    def _disarm(self) -> None:
        """Back to the heartbeat after a call: the worker is between calls, no episode is to blame."""
        self._arm(self.s.heartbeat, IDLE_MARK)

    def park(self) -> None:
        """No deadline at all: for a worker whose liveness is watched otherwise (a Ray actor between chunks)."""
        self.deadline.value = 0.0

    def _send(self, *msg: Any) -> None:
        self.conn.send((msg[0], self.wid, *msg[1:]))

    def _orphaned(self) -> bool:
        return bool(self.parent) and os.getppid() != self.parent

    def _receive(self, block: bool) -> None:
        """Take the driver's messages; with ``block``, wait for one (checking that the driver still lives)."""
        while True:
            self._disarm()  # a beat: this worker is alive and waiting
            if not self.conn.poll(0.5 if block else 0):
                if not block:
                    return
                if self._orphaned():
                    self._abandon()
                if safety.tripped():
                    return
                continue
            msg = self.conn.recv()
            if msg[0] == "run":
                self.queue.extend(Episode.from_wire(e) for e in msg[1])
                self.asked = False
            elif msg[0] == "steal":  # the sweep's tail: give back episodes not started, for an idle worker
                given = [self.queue.pop() for _ in range(min(int(msg[1]), len(self.queue)))]
                self._send("returned", [e.episode_id for e in given])
            elif msg[0] == "stop":
                self.stopping = True
            elif msg[0] == "describe":
                self.describe([PolicyRef(**wire) for wire in msg[1]])
            block = False

    # --------------------------------------------------------------- emergency stops (harness.safety)
    def _abandon(self) -> None:
        """The driver is gone: stop every robot, then leave at once (the driver resumes the sweep itself)."""
        safety.trip("the sweep's driver process is gone")
        os._exit(safety.EXIT_ORPHANED)

    def _abort(self, i: int, reason: str) -> None:
        """End slot ``i``'s episode as aborted: its robot was stopped before it could finish."""
        slot = self.slots[i]
        safety.say(f"episode {slot.episode.episode_id} aborted: {reason}")
        self._finish(i, Status.ABORTED, error=reason)

    def _abort_all(self, reason: str) -> None:
        for i, slot in enumerate(self.slots):
            if slot is not None:
                self._abort(i, reason)
        self.queue.clear()

    # --------------------------------------------------------------- resources
    def _policy(self, ep: Episode) -> Policy:
        return self._load(ep.policy, POLICY_MARK + ep.episode_id)

    def _load(self, ref: PolicyRef, mark: str) -> Policy:
        """The policy ``ref`` names, loaded once and kept (at most ``MAX_POLICIES``); ``mark`` says whom a hang
        while loading blames."""
        key = ref.key
        if key in self.policies:
            self.policies.move_to_end(key)
            return self.policies[key]
        running = {s.episode.policy.key for s in self.slots if s is not None}
        for old in [k for k in self.policies if k not in running]:  # least recently used first; never one a
            if len(self.policies) < MAX_POLICIES:  # running episode still needs (its state would be lost)
                break
            del self.policies[old]
        self._arm(self.s.startup_timeout, mark)
        if self.client is not None:  # shared inference: the policy lives in the policy process, whose slots are
            policy: Policy = SharedPolicy(self.client, key, ref.kind, ref.build_options())  # reset
        else:  # per episode only (a reset of all would clear the slots other policies run there)
            policy = make_policy(ref.kind, **ref.build_options())
            policy.reset(len(self.slots))
        self._disarm()
        self.policies[key] = policy
        return policy

    def describe(self, refs: list[PolicyRef]) -> None:
        """The sweep's policy check, done where policies load anyway (the driver never imports their frameworks
        nor holds their weights): load each policy and tell the driver its ``PolicyInfo``, or the one line that
        says why it failed. The last ones loaded stay for the episodes that follow."""
        for ref in refs:
            try:
                info = policy_info_to_wire(self._load(ref, CHECK_MARK + ref.name).info)
                self._send("described", ref.key, info, None)
            except Exception as exc:
                self._disarm()
                self._send("described", ref.key, None, _short(exc))

    def _adapter(self, i: int, ep: Episode) -> Adapter:
        held = self.adapters[i]
        if held is not None and held[0] == ep.env.key:
            return held[1]
        self._drop_adapter(i)
        adapter = make_adapter(ep.env.adapter, **bounded_options(ep.env.adapter, ep.env.options,
                                                                 self.s.reset_timeout, self.s.step_timeout))
        self.adapters[i] = (ep.env.key, adapter)
        return adapter

    def _drop_adapter(self, i: int) -> None:
        held, self.adapters[i] = self.adapters[i], None
        if held is not None:
            with contextlib.suppress(Exception):  # a broken simulator may fail to close; it is discarded anyway
                held[1].close()

    # --------------------------------------------------------------- episodes
    def _wants_video(self, ep: Episode) -> bool:
        mode = self.s.video_mode
        return mode in ("all", "failures") or (mode == "every" and ep.index % self.s.video_every == 0)

    def _start(self, i: int, ep: Episode) -> None:
        try:
            self._arm(self.s.reset_timeout, ep.episode_id)
            adapter = self._adapter(i, ep)
            obs, goal, info = adapter.reset(ep.task)
            self._disarm()
            info = step_info(info, ep.env.adapter)
            goal = Goal.of(goal).only(ep.task.goal)
        except Exception as exc:
            self._disarm()
            if isinstance(exc, safety.EmergencyStop):
                safety.say(f"episode {ep.episode_id} aborted: {exc}")
                self._send("failed", ep.episode_id, Status.ABORTED.value, str(exc))
                return
            self._drop_adapter(i)
            self._send("failed", ep.episode_id, Status.ENV_ERROR.value, f"reset failed: {_short(exc)}")
            return
        try:
            policy = self._policy(ep)
            if self.client is not None:  # a round trip to the policy process, which may be restarting
                self._arm(self.client.s.connect_timeout + self._policy_timeout, POLICY_MARK + ep.episode_id)
            policy.reset(len(self.slots), slots=[i], seeds=[ep.task.seed])
            self._disarm()
        except Exception as exc:
            self._disarm()
            self._send("failed", ep.episode_id, _policy_status(exc).value, f"policy setup failed: {_short(exc)}")
            return
        slot = _Slot(ep, obs, goal, info, time.perf_counter(), provenance=_provenance(info))
        if self._wants_video(ep):
            slot.frames = [side_by_side(obs.rgb, goal)]
        self.slots[i] = slot

    def _finish(self, i: int, status: Status, error: str | None = None) -> None:
        slot = self.slots[i]
        assert slot is not None
        self.slots[i] = None
        ep, run = slot.episode, Path(self.s.run_dir)
        video, notes = None, []
        if slot.frames and (self.s.video_mode != "failures" or status != Status.SUCCESS):
            frames = slot.frames
            if self._media(ep, "video", lambda: write_mp4(run / "videos" / f"{ep.episode_id}.mp4", frames,
                                                          self.s.video_fps), notes):
                video = f"videos/{ep.episode_id}.mp4"
        if self.s.thumbnails:
            self._media(ep, "thumbnail", lambda: write_png(run / "thumbs" / f"{ep.episode_id}.png",
                                                           side_by_side(slot.obs.rgb, slot.goal, 112)), notes)
        language = slot.goal.language
        info = slot.info
        record = EpisodeRecord(
            episode_id=ep.episode_id, policy=ep.policy.name, checkpoint_sha256=ep.policy.sha256,
            checkpoint_step=ep.policy.step, adapter=ep.env.name, domain=ep.task.domain,
            interaction=ep.task.interaction.name.lower(), target=info.target or ep.task.target,
            difficulty=ep.task.difficulty, split=ep.task.split, role=ep.env.role, seed=ep.task.seed,
            index=ep.index, status=status, success=slot.success, steps=slot.steps,
            episode_return=info.episode_return if info.episode_return is not None else float(bool(slot.success)),
            final_distance=info.distance, score=info.score,
            wall_s=time.perf_counter() - slot.started, video=video, provenance=slot.provenance,
            error="; ".join(e for e in (error, *notes) if e) or None,
            goal=ep.task.goal, instruction=None if language is None else language.instruction)
        self._send("done", record.to_row())

    def _media(self, ep: Episode, what: str, write: Any, notes: list[str]) -> bool:
        """Write one media file of ``ep`` under its own deadline; a failure is noted on ``ep`` alone."""
        self._arm(self.s.media_timeout, MEDIA_MARK + ep.episode_id)
        try:
            write()
            return True
        except Exception as exc:  # a full disk, a broken encoder: the episode's result stands, without it
            notes.append(f"{what} not written: {_short(exc)[:200]}")
            return False
        finally:
            self._disarm()

    def _step_all(self) -> None:
        groups: dict[str, list[int]] = {}
        for i, slot in enumerate(self.slots):
            if slot is not None:
                groups.setdefault(slot.episode.policy.key, []).append(i)
        for idx in groups.values():
            first = self.slots[idx[0]]
            assert first is not None
            policy = self._policy(first.episode)
            batch = [self.slots[i] for i in idx]
            facts = [s.info.privileged if policy.info.privileged else None for s in batch]  # oracle only
            goals = [_for_policy(s.goal, policy) for s in batch]
            try:
                self._arm(self._policy_timeout, POLICY_MARK + first.episode.episode_id)
                actions = policy.act([s.obs for s in batch], goals, facts, slots=idx)
                self._disarm()
                if len(actions) != len(idx):
                    raise ValueError(f"act returned {len(actions)} actions for {len(idx)} slots")
            except Exception as exc:
                self._disarm()
                safety.emergency_stop(f"the policy failed: {_short(exc)}")
                if not isinstance(exc, PolicyProcessLost):  # a lost policy process is restarted, the proxy kept
                    self.policies.pop(first.episode.policy.key, None)
                for i in idx:
                    slot = self.slots[i]
                    self.slots[i] = None
                    self._send("failed", slot.episode.episode_id, _policy_status(exc).value, _short(exc))
                continue
            for i, action in zip(idx, actions):
                self._step_one(i, action)

    @property
    def _policy_timeout(self) -> float:
        """The deadline of a policy call; with shared inference the policy process's own deadline (watched by the
        driver) comes first, so a hung policy process is restarted rather than this worker killed."""
        return self.s.step_timeout if self.client is None else self.client.s.answer_timeout + 5

    def _step_one(self, i: int, action: Any) -> None:
        slot = self.slots[i]
        assert slot is not None and self.adapters[i] is not None
        try:
            self._arm(self.s.step_timeout, slot.episode.episode_id)
            slot.obs, done, success, slot.info = masked_step(self.adapters[i][1], action)
            self._disarm()
        except Exception as exc:
            self._disarm()
            if isinstance(exc, safety.EmergencyStop) or safety.tripped():
                self._abort(i, str(exc) if isinstance(exc, safety.EmergencyStop) else safety.tripped() or "")
                return
            self.slots[i] = None
            self._drop_adapter(i)
            self._send("failed", slot.episode.episode_id, Status.ENV_ERROR.value, f"step failed: {_short(exc)}")
            return
        slot.steps += 1
        slot.success = success
        if slot.frames is not None:
            slot.frames.append(side_by_side(slot.obs.rgb, slot.goal))
        if done:
            self._finish(i, Status.UNJUDGED if success is None else Status.SUCCESS if success else Status.FAILURE)
        elif slot.steps >= slot.episode.task.max_steps:
            self._finish(i, Status.TIMEOUT)

    # --------------------------------------------------------------- loop
    @property
    def busy(self) -> bool:
        """Episodes queued or running."""
        return bool(self.queue) or any(s is not None for s in self.slots)

    def advance(self) -> None:
        """Start queued episodes in free slots, then take one lockstep step of every running slot."""
        for i in range(len(self.slots)):
            if self.slots[i] is None and self.queue:
                self._start(i, self.queue.popleft())
        if any(s is not None for s in self.slots):
            self._step_all()

    def close(self) -> None:
        """Close every simulator this worker holds."""
        for i in range(len(self.slots)):
            self._drop_adapter(i)
        if self.client is not None:
            self.client.close()

    def run(self) -> None:
        """The process loop: ask the driver for work before the queue runs dry, so slots never wait."""
        self._send("ready")
        while True:
            if not self.busy and self.stopping:
                break
            self._receive(block=not self.busy and self.asked)
            if self._orphaned():  # the driver was killed: stop at once, it will resume the sweep itself
                self._abandon()
            if safety.tripped():  # a signal: robots are stopped already; report what was cut short, then leave
                self._abort_all(safety.tripped() or "interrupted")
                break
            if len(self.queue) < len(self.slots) and not self.asked and not self.stopping:
                self._send("want", len(self.slots) * 2 - len(self.queue))
                self.asked = True
            self.advance()
        self.close()


def _policy_status(exc: BaseException) -> Status:
    """A policy failure's status: a lost policy process is retried like a simulator fault; the rest are the
    policy's own errors."""
    return Status.ENV_ERROR if isinstance(exc, PolicyProcessLost) else Status.POLICY_ERROR


def limit_threads(threads: int) -> None:
    """Cap torch/OpenMP and Mesa's software rasteriser threads, before either library is imported."""
    if threads > 0:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "LP_NUM_THREADS"):
            os.environ[var] = str(threads)


def worker_main(wid: int, settings: WorkerSettings, conn: Any, deadline: Any, current: Any, parent: int) -> None:
    """Process entry point (spawn): signals and a vanished driver stop robots at once (harness.safety); the loop
    then aborts its episodes and ends. A crash stops the robots before anything else."""
    safety.install(interrupt=False, parent=parent)
    limit_threads(settings.threads)
    runlog.attach(settings.run_dir)  # simulator clients' log lines go to the run's log, not the terminal
    try:
        Worker(wid, settings, conn, deadline, current, parent).run()
        _leave()
    except (BrokenPipeError, ConnectionResetError, EOFError):  # the driver is gone; it resumes the sweep itself
        safety.emergency_stop("the driver is gone")
        os._exit(0)  # nothing to say: no traceback on the terminal
    except BaseException as exc:  # a bug in the worker: robots stop first, the driver gets one line, no traceback
        safety.emergency_stop(f"the worker crashed: {_short(exc)}")
        with contextlib.suppress(Exception):  # the driver may be gone
            conn.send(("fatal", wid, _where(exc)))
        if os.environ.get("CROSSVIEW_DEBUG"):
            traceback.print_exc()
        os._exit(1)


def _leave() -> None:
    """A clean end: simulators are closed and every message is sent, so skip the interpreter's teardown (a second
    or more with torch and GL loaded, which the sweep's end would otherwise wait for); logs are flushed first."""
    import logging
    import sys

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(0)


def _where(exc: BaseException) -> str:
    """``_short`` plus the innermost file:line, for the one line the driver stores."""
    frames = traceback.extract_tb(exc.__traceback__)
    at = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"{_short(exc)}{at}"
