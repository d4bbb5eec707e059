"""Shared inference on Ray (a local Ray instance, 2 CPUs, no GPU): policy copies as Ray actors, same episodes as a
policy copy per worker, and a policy actor that dies or hangs restarted with its episodes retried."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import os
import re
import time

import numpy as np
import pytest

from harness.config import parse_config
from harness.errors import CrossviewError
from harness.plan import build_plan
from harness.runner import run_sweep
from harness.spec import Goal
from harness.store import Store
from tests.harness.sweeps import REPO, small_config
from tests.harness.test_inference import language_sweep, needs_torch, outcomes
from tests.harness.test_ray import local_ray  # noqa: F401  (the module's Ray instance)

pytestmark = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                                reason="Ray is not installed (pip install 'crossview-harness[ray]')")

# two simulator actors and a policy actor fit the test's 2 CPUs
ON_RAY = {"executor": "ray", "inference": "shared", "ray": {"cpus_per_worker": 0.5},
          "batching": {"cpus_per_copy": 1, "max_batch": 3, "max_wait_ms": 2}}
XVIEW = str(REPO / "checkpoints" / "xview" / "xview-step06000.safetensors")


def test_policy_actor_gives_the_same_episodes_as_per_worker_copies_under_every_goal(local_ray,  # noqa: F811
                                                                                     tmp_path) -> None:
    """Cross-view goals (the torch xview checkpoint), language goals (xview-lang) and video goals (the oracle)."""
    needs_torch("the xview checkpoint")
    base = language_sweep()
    base["policies"].append({"name": "xview", "kind": "torch", "checkpoints": XVIEW, "goals": ["cross_view"]})
    base["goals"] = ["cross_view", "language", "video"]
    per = run_sweep(parse_config({**base, "name": "per"}), tmp_path)
    shared = run_sweep(parse_config({**base, **ON_RAY, "name": "shared"}), tmp_path)
    assert per.exit_code == shared.exit_code == 0 and per.finished == shared.finished == per.planned == 18
    a, b = outcomes(tmp_path / "per"), outcomes(tmp_path / "shared")
    assert a == b and any(s == "success" for s, *_ in a.values())
    assert released(local_ray), "the sweep left actors holding the cluster's CPUs"


@pytest.mark.parametrize("executor", ["local", "ray"])
def test_one_policy_copy_batches_the_slots_of_several_workers(local_ray, tmp_path, executor) -> None:  # noqa: F811
    """Two workers of two slots each: the copy's batches hold both workers' slots (``max_wait_ms`` is long, so a
    batch waits until every connected worker asks: the rule that runs it at once). Requests are never split, so
    ``max_batch`` 4 is what lets two requests of 2 share a batch."""
    (tmp_path / "batches").mkdir()
    oracle = [{"name": "oracle", "kind": "tests.harness.faulty:BatchRecordingOracle",
               "options": {"record": str(tmp_path / "batches")}}]
    cfg = {**small_config(policies=oracle), **ON_RAY, "executor": executor,
           "batching": {**ON_RAY["batching"], "max_batch": 4, "max_wait_ms": 200}}
    # enough episodes that the workers overlap: the first starts its episodes after loading the policies for the
    # sweep's policy check
    cfg["environments"] = [{**e, "episodes": 8} for e in cfg["environments"]]
    assert run_sweep(parse_config(cfg), tmp_path).exit_code == 0
    largest = [int(f.read_text()) for f in (tmp_path / "batches").iterdir()]
    assert len(largest) == 1 and 2 < largest[0] <= 4  # one policy copy, batching both workers' slots together


def released(ray, wait: float = 20.0) -> bool:
    """Every CPU of the local Ray is free again (the sweep's simulator and policy actors are gone): ray 2.60.0
    ``available_resources``/``cluster_resources``, _private/state.py:1234,1219."""
    end = time.monotonic() + wait
    while time.monotonic() < end:
        if ray.available_resources().get("CPU", 0) >= ray.cluster_resources().get("CPU", 0):
            return True
        time.sleep(0.2)
    return False


@pytest.mark.parametrize("fault", ["die", "hang", "hold", "exit"])
def test_a_lost_policy_actor_is_restarted_and_every_episode_stored_once(local_ray, tmp_path,  # noqa: F811
                                                                        fault) -> None:
    """``hold``: the policy hangs holding the GIL, so the actor's event loop cannot answer ``deadline`` either; the
    driver must count the unanswered poll itself (else the actor is never restarted and every later episode
    fails). ``exit``: the policy raises ``SystemExit``, which ends a local policy process; the actor answers that
    batch's requests ``lost`` (their episodes retried) and its batcher goes on."""
    oracle = [{"name": "oracle", "kind": "tests.harness.faulty:FailingOnceOracle",
               "options": {"marker": str(tmp_path / "marker"), "fault": fault, "at_call": 6}}]
    cfg = {**small_config(policies=oracle, timeouts={"reset": 20, "step": 3, "startup": 30}), **ON_RAY,
           "name": "shared"}
    outcome = run_sweep(parse_config(cfg), tmp_path)
    assert (tmp_path / "marker").exists(), "the policy actor never failed"
    assert int((tmp_path / "marker").read_text()) != os.getpid()  # it ran in the policy actor
    with Store(tmp_path / "shared", create=False) as store:
        rows = store.rows()
        attempts = store.attempts()
        retried = [a for a in attempts if "policy" in a["reason"]]
    plan = {e.episode_id for e in build_plan(parse_config(cfg)).episodes}
    assert outcome.exit_code == 0 and sorted(r["episode_id"] for r in rows) == sorted(plan)  # each stored once
    assert {r["status"] for r in rows} <= {"success", "failure", "timeout"}
    assert retried and max(r["attempts"] for r in rows) == 2  # the episodes in flight ran again from their start
    if fault == "exit":  # answered by the actor, which lived on (not a call failed by its death)
        assert any("the policy copy failed: SystemExit" in a["reason"] for a in retried), retried
        assert not [a for a in attempts if "SystemExit" not in a["reason"]], attempts  # nor hung, nor restarted
    clean = run_sweep(parse_config({**small_config(policies=[{"name": "oracle", "kind": "oracle"}]),
                                    "name": "clean"}), tmp_path)
    assert clean.exit_code == 0 and outcomes(tmp_path / "shared") == outcomes(tmp_path / "clean")


@pytest.mark.parametrize(("batching", "refusal"), [
    ({"gpus_per_copy": 1}, "batching.gpus_per_copy: 1 but the Ray cluster has 0 GPUs in all"),
    ({"copies": 3, "cpus_per_copy": 1},  # each copy fits the test's 2 CPUs alone, three together do not
     "batching.copies: 3 copies x batching.cpus_per_copy 1 need 3 CPUs but the Ray cluster has 2: set "
     "batching.copies: 2 (or batching.cpus_per_copy: 0.66)")], ids=["one copy", "copies together"])
def test_policy_copies_the_cluster_cannot_hold_are_refused_in_one_line(local_ray, tmp_path, batching,  # noqa: F811
                                                                      refusal) -> None:
    cfg = small_config(**{**ON_RAY, "batching": batching})
    with pytest.raises(CrossviewError, match=re.escape(refusal)) as err:
        run_sweep(parse_config(cfg), tmp_path)
    assert len(str(err.value).splitlines()) == 1 and not any(tmp_path.iterdir())
    assert local_ray.is_initialized() and released(local_ray)  # the test's Ray is left as it was


def _act(obs_t: float) -> dict:
    """An act request for slot 0 of policy ``echo`` (its goal as sent before), as ``SharedPolicy.act`` writes it."""
    from harness.spec import Observation
    from harness.wire import observation_to_wire

    obs = Observation(np.zeros((4, 4, 3), np.uint8), t=obs_t)
    return {"type": "act", "key": "echo", "slots": [0], "obs": [observation_to_wire(obs)], "goals": [None],
            "privileged": [None]}


def test_an_answer_late_past_the_timeout_is_never_taken_for_a_later_request(local_ray) -> None:  # noqa: F811
    """A batch runs past the client's answer timeout (the echo policy sleeps on the observation at t=2): the call
    fails as a lost copy, and the worker's next requests get their own answers (each names its observation), never
    the late one. Then, by hand, what Ray's out-of-order execution of an async actor allows: a newer request while
    the older one's batch runs (the older is answered ``lost``, its late answer discarded), and an older request
    arriving after a newer one (answered ``lost``, never queued)."""
    from harness.inference.client import PolicyProcessLost, SharedPolicy
    from harness.inference.core import BatchSettings
    from harness.inference.ray_actor import RayInferenceClient, RayPolicyPool
    from harness.spec import Interaction, LanguageGoal, Observation, TargetAttributes

    pool = RayPolicyPool(1, BatchSettings(capacity=4, max_batch=4, max_wait=0.001), step_timeout=30,
                         connect_timeout=20, cpus=1, gpus=0, threads=1)
    try:
        client = RayInferenceClient(0, dataclasses.replace(pool.settings()[0], answer_timeout=1.0))
        policy = SharedPolicy(client, "echo", "tests.harness.faulty:EchoingPolicy", {"slow_at": 2.0, "seconds": 3.0})
        goal = Goal(language=LanguageGoal("find the box", Interaction.APPROACH,
                                          TargetAttributes("box", Interaction.APPROACH)))

        def act(t: float) -> float:
            return policy.act([Observation(np.zeros((4, 4, 3), np.uint8), t=t)], [goal], [None])[0].yaw

        policy.reset(1)
        assert act(1.0) == 1.0
        begun = time.monotonic()
        with pytest.raises(PolicyProcessLost, match="no answer within 1s"):
            act(2.0)
        assert time.monotonic() - begun < 2.5  # given up on, while the batch still runs
        policy.reset(1)  # the worker reconnects (its episodes are retried) and asks again
        assert [act(3.0), act(4.0)] == [3.0, 4.0]

        handle, epoch, rid = pool.handles[0], client.conn, client.rid
        older = handle.request.remote(0, rid + 1, epoch, _act(2.0))  # its batch sleeps for 3 s
        time.sleep(1.0)
        newer = handle.request.remote(0, rid + 2, epoch, _act(5.0))
        got = local_ray.get(newer, timeout=15)
        assert got["rid"] == rid + 2 and got["actions"][0]["camera"] == [0.0, 5.0], got
        assert local_ray.get(older, timeout=15)["type"] == "lost"
        assert local_ray.get(handle.request.remote(0, rid + 1, epoch, _act(6.0)), timeout=15)["type"] == "lost"
        client.rid = rid + 2  # past the ids used by hand: the client's next request is the newest again
        assert act(7.0) == 7.0
    finally:
        pool.shutdown()
    assert released(local_ray)


def test_a_batcher_that_ended_is_started_again_and_its_batch_answered() -> None:
    """The actor's body driven on an event loop of the test's own (Ray plays no part in the batcher): the batcher
    cancelled while a batch runs answers that batch ``lost`` rather than leaving it waiting forever, and the next
    request starts a batcher again, which answers it."""
    import asyncio

    from harness.inference.core import BatchSettings
    from harness.inference.ray_actor import PolicyActor
    from harness.spec import Interaction, LanguageGoal, TargetAttributes
    from harness.wire import full_goal_to_wire

    goal = Goal(language=LanguageGoal("find the box", Interaction.APPROACH,
                                      TargetAttributes("box", Interaction.APPROACH)))
    load = {"key": "echo", "kind": "tests.harness.faulty:EchoingPolicy", "options": {"slow_at": 2.0, "seconds": 1.0}}

    async def scenario(actor: PolicyActor) -> list:
        epoch = (await actor.request(0, 1, None, {"type": "hello", "worker": 0}))["epoch"]
        assert (await actor.request(0, 2, epoch, {"type": "load", **load}))["type"] == "info"
        reset = {"type": "reset", **load, "slots": [0], "seeds": None}
        assert (await actor.request(0, 3, epoch, reset))["type"] == "ok"
        first = await actor.request(0, 4, epoch, {**_act(1.0), "goals": [full_goal_to_wire(goal)]})
        slow = asyncio.ensure_future(actor.request(0, 5, epoch, _act(2.0)))  # its batch sleeps for 1 s
        await asyncio.sleep(0.3)
        assert actor._batcher is not None
        actor._batcher.cancel()
        lost = await asyncio.wait_for(slow, timeout=5)
        assert actor._batcher.done()  # the next request finds it ended
        return [first, lost, await asyncio.wait_for(actor.request(0, 6, epoch, _act(3.0)), timeout=5)]

    actor = PolicyActor(BatchSettings(capacity=2, max_batch=2, max_wait=0.001), step_timeout=30, threads=1)
    try:
        first, lost, again = asyncio.run(scenario(actor))
    finally:
        actor._thread.shutdown(wait=True)
    assert first["actions"][0]["camera"] == [0.0, 1.0] and lost["type"] == "lost" and lost["rid"] == 5
    assert again["rid"] == 6 and again["actions"][0]["camera"] == [0.0, 3.0], again


def _run_rows(run) -> dict:
    with Store(run, create=False) as store:
        return {r["episode_id"]: (r["status"], r["steps"], r["final_distance"], r["error"]) for r in store.rows()}


def test_a_policy_that_raises_fails_its_episodes_as_with_a_local_policy_copy(local_ray, tmp_path) -> None:  # noqa: F811
    """The oracle raising on the third step of even-seeded episodes: the Ray policy actor answers those episodes
    ``policy_error`` with the policy's own message, as the local policy process does (and a policy per worker);
    the actor's batcher goes on, and every other episode ends as it would. One slot per worker and ``max_batch``
    1 keep a batch to one episode, so the failing episodes are the same however requests are batched."""
    policy = [{"name": "oracle", "kind": "tests.harness.faulty:RaisingOracle", "options": {"every": 2, "at_step": 3}}]
    base = small_config(policies=policy, envs_per_worker=1, retries=1)
    batching = {"max_batch": 1, "max_wait_ms": 2}
    outcomes_of = {}
    for name, extra in (("per", {}), ("local", {"inference": "shared", "batching": batching}),
                        ("ray", {**ON_RAY, "batching": {**ON_RAY["batching"], **batching}})):
        outcome = run_sweep(parse_config({**base, **extra, "name": name}), tmp_path)
        outcomes_of[name] = (outcome.exit_code, outcome.finished, _run_rows(tmp_path / name))
    assert outcomes_of["ray"] == outcomes_of["local"] == outcomes_of["per"]  # the same rows, messages included
    code, finished, ray_rows = outcomes_of["ray"]
    statuses = [status for status, *_ in ray_rows.values()]
    assert code == 1 and finished == 6 and "policy_error" in statuses and "success" in statuses, ray_rows
    assert {v[3] for v in ray_rows.values() if v[3]} == {"ValueError: injected policy failure"}
    assert released(local_ray)


def _session(sid: int) -> list[str]:
    """The processes still in session ``sid`` (Ray's own processes stay in the session of the driver that started
    them: ray 2.60.0 _private/services.py:1130-1132 changes only their process group)."""
    import subprocess

    ps = subprocess.run(["ps", "-eo", "pid=,sid=,args="], capture_output=True, text=True, check=True).stdout
    return [line for line in ps.splitlines() if line.split()[1] == str(sid)]


@pytest.mark.parametrize("how", ["interrupt", "refusal", "copies"])
def test_ctrl_c_or_a_refusal_leaves_no_ray_process_behind(tmp_path, how) -> None:
    """The CLI starts its own Ray (shared inference on ``executor: ray``): Ctrl-C while a batch runs in the policy
    actor, or policy copies the cluster cannot hold (one copy, or ``copies`` together), end with the exit code that
    says so and nothing of that Ray left running (its GCS, raylet, simulator and policy actors)."""
    import signal
    import subprocess
    import sys

    from tests.harness.sweeps import write

    oracle = [{"name": "oracle", "kind": "tests.harness.faulty:FailingOnceOracle",
               "options": {"marker": str(tmp_path / "marker"), "fault": "hang", "at_call": 3}}]
    cfg = {**small_config(policies=oracle, timeouts={"reset": 60, "step": 120, "startup": 60}), **ON_RAY}
    if how == "refusal":
        cfg["batching"] = {**ON_RAY["batching"], "gpus_per_copy": 1}
    if how == "copies":  # two copies of all the CPUs the CLI's Ray will have (ray 2.60.0 sizes a local instance
        from ray._private.utils import get_num_cpus  # with it: _private/resource_and_label_spec.py:262)

        cfg["batching"] = {**ON_RAY["batching"], "copies": 2, "cpus_per_copy": get_num_cpus()}
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "sweep", str(write(tmp_path, cfg)), "--out",
                             str(tmp_path / "runs"), "--quiet"], cwd=REPO, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        if how == "interrupt":
            end = time.monotonic() + 180
            while not (tmp_path / "marker").exists() and proc.poll() is None and time.monotonic() < end:
                time.sleep(0.2)
            assert (tmp_path / "marker").exists(), "the policy actor never ran a batch"
            os.kill(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == (130 if how == "interrupt" else 2), err
        if how != "interrupt":
            assert "batching.gpus_per_copy: 1 but" in err if how == "refusal" else "batching.copies: 2 copies x" in err
            assert "Traceback" not in err, err
        end = time.monotonic() + 30
        while _session(proc.pid) and time.monotonic() < end:
            time.sleep(0.5)
        assert not _session(proc.pid), _session(proc.pid)
    finally:
        if proc.poll() is None:
            proc.kill()
        for line in _session(proc.pid):  # whatever the sweep left, so that the test leaves nothing
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(line.split()[0]), signal.SIGKILL)
