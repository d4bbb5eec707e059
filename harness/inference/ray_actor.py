"""Shared inference on Ray: each policy copy is one Ray actor holding the accelerator; simulator actors use CPUs.

The actor (``PolicyActor``) runs the same ``core.InferenceCore`` as the local policy process. It is an asyncio
actor: ``request`` awaits an answer, resolved by a batcher task that runs the queued requests once the core says
they are due (every connected worker waiting, ``max_batch`` slots, or ``max_wait``). Every call into the core
(policy loads, resets, batched ``act``) runs on one dedicated thread, off the event loop, so the actor still
answers ``deadline`` (polled by the driver) while a batch runs or hangs. Arrays travel as Ray task arguments:
numpy arrays serialized out of band (read in place on the actor's side); an argument above Ray's inline limit
(``max_direct_call_object_size``, 100 KiB: ray-project/ray:src/ray/common/ray_config_def.h, used as
``put_threshold`` by ``prepare_args`` in python/ray/_raylet.pyx) goes through the object store, smaller ones ride
in the task's RPC. The core copies a goal's arrays once per episode. A Ray cluster is one trust domain (Ray's
serializer carries the arguments).

Each request carries a request id, monotonic per client, and its answer carries it back: an answer to a request the
worker gave up on (past its answer timeout) is discarded, never taken for a later request's (Ray may run an async
actor's calls out of order). A batch whose policy raises answers that batch's requests ``error``, which the worker
stores as the policy's error, as with a local policy copy; the batcher goes on (and is started again if it ever
ended).

Recovery, as with the local pool: the actor is created with ``max_restarts=-1`` and ``max_task_retries=0``, so Ray
restarts one that died and fails the calls in flight (``RayActorError``), which the client turns into
``PolicyProcessLost``: the worker's episodes are retried. An exception of the actor method's own code
(``RayTaskError``) is not a lost actor: it is the policy's error. Each incarnation draws a random ``epoch``; a request
carries the epoch its worker said hello to, and a restarted actor answers ``lost`` to older ones (its state, the
slots' recurrent state, is gone). A hung actor (past its armed deadline) is killed by the driver and restarted by
Ray (``ray.kill(..., no_restart=False)``).

Ray APIs used, checked against the installed ray 2.60.0 (``site-packages/ray``; github:ray-project/ray):
- ``ray.remote(cls).options(num_cpus, num_gpus, max_restarts, max_task_retries)``: actor.py:1773-1790
  (max_restarts -1 = restart indefinitely; max_task_retries 0 = a call in flight when the actor dies raises);
- async actors (any ``async def`` method) run calls concurrently, up to 1000 by default: actor.py:1939-1946,
  1796-1800;
- ``ray.get(ref, timeout=...)`` raises ``GetTimeoutError``: _private/worker.py:2878,2951; exceptions.py:933;
- a dead or unreachable actor raises ``RayActorError`` (``ActorDiedError``, ``ActorUnavailableError``), both
  ``RayError``: exceptions.py:27,417,456,531; an exception raised by the method raises ``RayTaskError`` (its
  ``cause`` the original exception, exceptions.py:149-186), a ``RayError`` but no ``RayActorError``;
- an asyncio actor always runs its calls out of order (``allow_out_of_order_execution``): actor.py:2167-2178;
- ``ray.wait(refs, timeout=0)``: _private/worker.py:3103;
- ``ray.kill(actor, no_restart=False)`` interrupts running tasks and lets a restartable actor restart:
  _private/worker.py:3474-3502;
- ``ray.cluster_resources()`` (total resources, "GPU" among them): _private/state.py:1219;
- ``ray.init`` / ``ray.is_initialized`` / ``ray.shutdown`` through ``executors.ray_cluster.connect_ray``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from harness.errors import CrossviewError
from harness.inference.client import PolicyProcessLost, answer
from harness.inference.core import BatchSettings, InferenceCore, error
from harness.inference.pool import PolicyFault

LOG = logging.getLogger("crossview.inference")
BEAT_GRACE_S = 5.0  # a running actor answers its deadline poll at once; past a batch's deadline and this, it is hung


class PolicyActor:
    """The body of one policy copy's Ray actor (wrapped with ``ray.remote`` at run time).

    Requests are named by worker and request id (monotonic per ``RayInferenceClient``): Ray runs an async actor's
    calls out of order (ray 2.60.0 actor.py:2167-2178: ``allow_out_of_order_execution`` is forced on for asyncio
    actors), so a worker's abandoned request may reach the actor after its next one. A worker has one request
    outstanding: a newer one supersedes the older (answered ``lost``, its queued act dropped), an older one arriving
    late is answered ``lost`` unseen, and a batch's answer to a superseded request is discarded."""

    def __init__(self, batch: BatchSettings, step_timeout: float, threads: int) -> None:
        from harness.worker import limit_threads

        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the local policy process (server.server_main)
        limit_threads(threads)
        self.epoch = os.urandom(8).hex()
        self._deadline = 0.0
        self.core = InferenceCore(batch, self._arm, step_timeout)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="crossview-policy")  # the core's only caller
        self._waiters: dict[int, tuple[int, asyncio.Future]] = {}  # worker id -> (request id, its act's answer)
        self._latest: dict[int, float] = {}  # worker id -> the newest request id it sent (inf: written off)
        self._kick = asyncio.Event()
        self._batcher: asyncio.Task | None = None

    def _arm(self, seconds: float) -> None:
        self._deadline = time.monotonic() + seconds if seconds else 0.0

    async def _core(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    async def request(self, wid: int, rid: int, epoch: str | None, msg: dict[str, Any]) -> dict[str, Any]:
        """Worker ``wid``'s request number ``rid`` (see ``core``), answered with ``rid`` in the reply; ``hello``
        returns this incarnation's ``epoch``, and a request made to an earlier incarnation, or older than one the
        worker sent since, is answered ``lost``."""
        self._ensure_batcher()
        if not isinstance(msg, dict) or not isinstance(wid, int) or not isinstance(rid, int):
            return {"type": "error", "message": "a request is a map, from an integer worker id and request id"}
        if rid <= self._latest.get(wid, -1):
            return {"type": "lost", "rid": rid, "message": "an older request than one the worker sent since"}
        self._latest[wid] = rid
        self._supersede(wid)  # whatever the worker asked before is nobody's answer now
        try:
            reply = await self._answer(wid, rid, epoch, msg)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the core answers a failing policy itself; anything else here is answered too
            reply = error(exc)
        except BaseException as exc:  # SystemExit & co. from the policy: as a local policy process that died
            reply = _lost(exc)
        return {**reply, "rid": rid}

    async def _answer(self, wid: int, rid: int, epoch: str | None, msg: dict[str, Any]) -> dict[str, Any]:
        if msg.get("type") == "hello":
            return {**await self._core(self._rejoin, wid), "epoch": self.epoch}
        if epoch != self.epoch:
            return {"type": "lost", "message": "the policy actor was restarted"}
        future = asyncio.get_running_loop().create_future()
        self._waiters[wid] = (rid, future)  # before the core sees the request: a batch may answer it at once
        reply = await self._core(self._handle, wid, rid, msg)
        if reply is not None:
            self._pop(wid, rid)
            return reply
        self._kick.set()
        return await future

    def _rejoin(self, wid: int) -> dict[str, Any]:
        """(On the core's thread.) A worker says hello again: its queued requests are dropped."""
        self.core.cancel(wid)
        return self.core.join(wid, wid)

    def _handle(self, wid: int, rid: int, msg: dict[str, Any]) -> dict[str, Any] | None:
        """(On the core's thread.) A newer request of ``wid``: its older queued act, superseded, is dropped."""
        self.core.cancel(wid)
        return self.core.handle(wid, msg, rid)

    def _pop(self, wid: int, rid: Any) -> asyncio.Future | None:
        held = self._waiters.get(wid)
        if held is None or held[0] != rid:
            return None
        del self._waiters[wid]
        return held[1]

    def _supersede(self, wid: int) -> None:
        held = self._waiters.pop(wid, None)
        if held is not None and not held[1].done():
            held[1].set_result({"type": "lost", "message": "superseded by a newer request"})

    def _ensure_batcher(self) -> None:
        """Start the batcher, again if it ended: it never should (each batch's failure is that batch's answer)."""
        task = self._batcher
        if task is not None and not task.done():
            return
        if task is not None:
            LOG.error("the policy actor's batcher ended (%s): started again",
                      "cancelled" if task.cancelled() else repr(task.exception()))
        self._batcher = asyncio.get_running_loop().create_task(self._batch_loop())

    async def _batch_loop(self) -> None:
        while True:
            self._kick.clear()  # before reading ``due``: a request queued after it sets the event again
            due = await self._core(self.core.due)
            if due != 0.0:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._kick.wait(), timeout=due)
                continue
            for key, batch in await self._core(self.core.take):
                self._deliver(batch, await self._run(key, batch))

    async def _run(self, key: str, batch: list[Any]) -> list[dict[str, Any]]:
        """One batch's answers: the core's (a failing policy is answered ``error`` there), else that batch's."""
        try:
            return [reply for _, reply in await self._core(self.core.act, key, batch)]
        except Exception as exc:
            return [error(exc)] * len(batch)
        except BaseException as exc:  # SystemExit & co. from the policy: as a local policy process that died
            task = asyncio.current_task()
            if isinstance(exc, asyncio.CancelledError) and task is not None and task.cancelling():
                self._deliver(batch, [_lost(exc)] * len(batch))
                raise
            return [_lost(exc)] * len(batch)

    def _deliver(self, batch: list[Any], replies: list[dict[str, Any]]) -> None:
        for request, reply in zip(batch, replies):
            future = self._pop(request.peer, request.tag)
            if future is not None and not future.done():  # else an abandoned request's answer: discarded
                future.set_result(reply)

    async def leave(self, wid: int) -> None:
        """The driver wrote worker ``wid`` off: forget its slots (a batch no longer waits for it)."""
        self._ensure_batcher()
        self._latest[wid] = math.inf  # a request of its still in flight (calls run out of order) must not rejoin
        self._supersede(wid)  # it: a batch would wait for it to the end. Worker ids are never reused
        await self._core(self.core.leave, wid)
        self._kick.set()

    async def deadline(self) -> tuple[float, str]:
        """Seconds left before the running batch's deadline (inf when none runs), and this incarnation's epoch."""
        armed = self._deadline
        return (armed - time.monotonic() if armed else math.inf), self.epoch


def _lost(exc: BaseException) -> dict[str, Any]:
    return {"type": "lost", "message": f"the policy copy failed: {type(exc).__name__}"}


@dataclass(frozen=True)
class RayInferenceSettings:
    """What a worker needs to reach its policy actor (the handle travels to the simulator actors with Ray)."""

    handle: Any
    answer_timeout: float
    connect_timeout: float  # reaching a restarted actor


class RayInferenceClient:
    """One worker's connection to its policy actor: ``InferenceClient``'s interface (``request``, ``conn``,
    ``generation``, ``drop``, ``close``), so ``client.SharedPolicy`` works unchanged."""

    def __init__(self, wid: int, settings: RayInferenceSettings) -> None:
        from harness.executors.ray_cluster import import_ray

        self.ray = import_ray()
        self.wid, self.s = wid, settings
        self.conn: str | None = None  # the epoch of the incarnation this worker said hello to
        self.generation = 0
        self.rid = 0  # the last request's id: an answer carries its request's, a late one is never taken

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send a request and return its answer; raises PolicyProcessLost."""
        if self.conn is None:
            self._hello()
        return self._call(message, self.s.answer_timeout)

    def _hello(self) -> None:
        """Say hello, waiting out a restart: with ``max_task_retries=0`` a call to an actor Ray finds unreachable
        fails (``RayActorError``: ray-project/ray doc/source/ray-core/fault_tolerance/actors.rst), and calls in
        flight through ``ray.kill(no_restart=False)`` raise ``ActorUnavailableError`` (exceptions.py:531, seen with
        ray 2.60.0), while a call made after the kill may wait for the new incarnation; so hello is repeated until
        ``connect_timeout``, as a connect to a restarting local policy process is (``InferenceClient._connect``)."""
        end = time.monotonic() + self.s.connect_timeout
        while True:
            try:
                reply = self._call({"type": "hello", "worker": self.wid}, max(1.0, end - time.monotonic()))
                break
            except PolicyProcessLost:
                if time.monotonic() > end:
                    raise
                time.sleep(0.1)
        self.conn, self.generation = str(reply["epoch"]), self.generation + 1

    def _call(self, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        """One request, numbered; a lost actor (died, unreachable, restarted, silent) raises PolicyProcessLost, an
        exception of the actor method's own (``RayTaskError``: the policy's code, exceptions.py:149; ``ray.get``
        raises it as an instance of its cause's class too, _private/worker.py:3020-3021, exceptions.py:291) is the
        policy's error, as a local copy answers it."""
        errors = self.ray.exceptions
        self.rid += 1
        rid = self.rid
        try:
            reply = self.ray.get(self.s.handle.request.remote(self.wid, rid, self.conn, message), timeout=timeout)
        except errors.GetTimeoutError:
            self.drop()
            raise PolicyProcessLost(f"the policy actor gave no answer within {timeout:.0f}s") from None
        except errors.RayActorError as exc:  # died (Ray restarts it) or unreachable: exceptions.py:417,456,531
            self.drop()
            raise PolicyProcessLost(f"the policy actor went away: {type(exc).__name__}") from None
        except errors.RayTaskError as exc:
            raise CrossviewError(error(exc.cause)["message"]) from None
        except errors.RayError as exc:  # Ray itself failed the call (object store, system error): as a lost copy
            self.drop()
            raise PolicyProcessLost(f"the call to the policy actor failed: {type(exc).__name__}") from None
        if not isinstance(reply, dict) or reply.get("rid") != rid or reply.get("type") == "lost":
            self.drop()
            why = reply.get("message") if isinstance(reply, dict) else None
            raise PolicyProcessLost(f"{why or 'the policy actor was restarted'}: these slots' state is gone")
        return answer(reply)

    def drop(self) -> None:
        """Forget the incarnation (the next request says hello again)."""
        self.conn = None

    def close(self) -> None:
        """Leave: the actor forgets this worker's slots."""
        self.drop()
        with contextlib.suppress(Exception):  # the actor or Ray is already gone
            self.s.handle.leave.remote(self.wid)


class RayPolicyPool:
    """``copies`` policy actors, watched like ``pool.PolicyPool``'s processes (same ``settings``, ``faults``,
    ``restart``, ``shutdown``), plus ``forget`` for a worker the driver wrote off."""

    def __init__(self, copies: int, batch: BatchSettings, step_timeout: float, connect_timeout: float,
                 cpus: float, gpus: float | None, threads: int, address: str | None = None) -> None:
        from harness.executors.ray_cluster import connect_ray

        self.ray, self._started_ray = connect_ray(address)
        self.handles: list[Any] = []
        self.step_timeout, self.connect_timeout = step_timeout, connect_timeout
        try:  # a refusal, a failing call or Ctrl-C here leaves no actor nor a Ray this pool started
            self.gpus = gpus_per_copy(self.ray, gpus)
            fits(self.ray, copies, cpus, self.gpus)
            remote = self.ray.remote(PolicyActor).options(num_cpus=cpus, num_gpus=self.gpus, max_restarts=-1,
                                                          max_task_retries=0)
            for _ in range(copies):
                self.handles.append(remote.remote(batch, step_timeout, threads))
        except BaseException:
            self.shutdown()
            raise
        self._beats: list[Any] = [None] * copies
        self._sent = [0.0] * copies  # when each outstanding poll was sent
        self._up = [False] * copies  # answered a poll since it was last started (else it may still be starting)
        self._epochs: list[str | None] = [None] * copies
        self._killed: list[str | None] = [None] * copies  # the epoch last killed for a hang: its late beats don't count
        self.restarts = 0

    def settings(self) -> tuple[RayInferenceSettings, ...]:
        """What workers need to reach each copy (worker ``w`` talks to copy ``w % copies``)."""
        return tuple(RayInferenceSettings(h, answer_timeout=2 * self.step_timeout + 5,
                                          connect_timeout=self.connect_timeout) for h in self.handles)

    def faults(self) -> list[PolicyFault]:
        """Policy actors hung past their deadline, or that leave the deadline poll itself unanswered for longer than
        a batch may run (a policy holding the GIL stalls the actor's event loop too); one that died is restarted by
        Ray (logged here)."""
        found = []
        for i, handle in enumerate(self.handles):
            if self._beats[i] is None:
                self._beats[i], self._sent[i] = handle.deadline.remote(), time.monotonic()
                continue
            ready, _ = self.ray.wait([self._beats[i]], timeout=0)
            if not ready:
                bound = self.step_timeout + BEAT_GRACE_S if self._up[i] else self.connect_timeout
                if time.monotonic() - self._sent[i] > bound:
                    found.append(PolicyFault(i, f"policy actor left its deadline poll unanswered for {bound:.0f}s "
                                                "(hung)"))
                continue
            beat, self._beats[i] = self._beats[i], None
            try:
                left, epoch = self.ray.get(beat)
            except self.ray.exceptions.RayError as exc:  # died under the poll: Ray restarts it
                LOG.warning("policy actor %d died (%s): Ray restarts it", i, type(exc).__name__)
                self._up[i] = False
                continue
            self._up[i] = True
            if self._epochs[i] is not None and epoch != self._epochs[i] and self._killed[i] != self._epochs[i]:
                self.restarts += 1
                LOG.warning("policy actor %d was restarted by Ray after it died", i)
            self._epochs[i] = epoch
            if left < 0 and epoch != self._killed[i]:
                found.append(PolicyFault(i, "policy actor missed its deadline (hung)"))
        return found

    def restart(self, i: int) -> None:
        """Kill copy ``i``; Ray starts it again behind the same handle (the workers' calls in flight fail)."""
        self._killed[i] = self._epochs[i]
        self.ray.kill(self.handles[i], no_restart=False)
        self.restarts += 1
        self._beats[i], self._up[i] = None, False

    def forget(self, wid: int) -> None:
        """Worker ``wid`` was written off: its copy stops counting it and frees its slots."""
        for handle in self.handles:
            handle.leave.remote(wid)

    def shutdown(self) -> None:
        """Kill every policy actor (and Ray itself, when this pool started it)."""
        for handle in self.handles:
            with contextlib.suppress(Exception):  # already gone
                self.ray.kill(handle, no_restart=True)
        if self._started_ray and self.ray.is_initialized():
            self.ray.shutdown()
            self._started_ray = False


def fits(ray: Any, copies: int, cpus: float, gpus: float) -> None:
    """Refuse in one line policy copies the whole cluster could never hold together (one left over would wait
    forever for its resources): ``copies`` x the GPUs and CPUs of one, against the cluster's totals."""
    total = ray.cluster_resources()
    for name, per, key in (("gpus_per_copy", gpus, "GPU"), ("cpus_per_copy", cpus, "CPU")):
        have = total.get(key, 0)
        if copies * per <= have + 1e-9:
            continue
        if per > have + 1e-9:
            raise CrossviewError(f"batching.{name}: {per:g} but the Ray cluster has {have:g} {key}s in all: lower "
                                 f"it, or add nodes that have them")
        most, share = math.floor(have / per + 1e-9), math.floor(100 * have / copies) / 100
        raise CrossviewError(f"batching.copies: {copies} copies x batching.{name} {per:g} need {copies * per:g} "
                             f"{key}s but the Ray cluster has {have:g}: set batching.copies: {most}"
                             + (f" (or batching.{name}: {share:g})" if share > 0 else "")
                             + ", or add nodes that have them")


def gpus_per_copy(ray: Any, gpus: float | None) -> float:
    """``batching.gpus_per_copy``, or its default: one GPU per copy when the cluster has any, else none."""
    if gpus is not None:
        return gpus
    return 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0
