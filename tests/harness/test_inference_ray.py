"""Shared inference on Ray (a local Ray instance, 2 CPUs, no GPU): policy copies as Ray actors, same episodes as a
policy copy per worker, and a policy actor that dies or hangs restarted with its episodes retried."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import time

import pytest

from harness.config import parse_config
from harness.errors import CrossviewError
from harness.plan import build_plan
from harness.runner import run_sweep
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


@pytest.mark.parametrize("fault", ["die", "hang", "hold"])
def test_a_lost_policy_actor_is_restarted_and_every_episode_stored_once(local_ray, tmp_path,  # noqa: F811
                                                                        fault) -> None:
    """``hold``: the policy hangs holding the GIL, so the actor's event loop cannot answer ``deadline`` either; the
    driver must count the unanswered poll itself (else the actor is never restarted and every later episode
    fails)."""
    oracle = [{"name": "oracle", "kind": "tests.harness.faulty:FailingOnceOracle",
               "options": {"marker": str(tmp_path / "marker"), "fault": fault, "at_call": 6}}]
    cfg = {**small_config(policies=oracle, timeouts={"reset": 20, "step": 3, "startup": 30}), **ON_RAY,
           "name": "shared"}
    outcome = run_sweep(parse_config(cfg), tmp_path)
    assert (tmp_path / "marker").exists(), "the policy actor never failed"
    assert int((tmp_path / "marker").read_text()) != os.getpid()  # it ran in the policy actor
    with Store(tmp_path / "shared", create=False) as store:
        rows = store.rows()
        retried = [a for a in store.attempts() if "policy" in a["reason"]]
    plan = {e.episode_id for e in build_plan(parse_config(cfg)).episodes}
    assert outcome.exit_code == 0 and sorted(r["episode_id"] for r in rows) == sorted(plan)  # each stored once
    assert {r["status"] for r in rows} <= {"success", "failure", "timeout"}
    assert retried and max(r["attempts"] for r in rows) == 2  # the episodes in flight ran again from their start
    clean = run_sweep(parse_config({**small_config(policies=[{"name": "oracle", "kind": "oracle"}]),
                                    "name": "clean"}), tmp_path)
    assert clean.exit_code == 0 and outcomes(tmp_path / "shared") == outcomes(tmp_path / "clean")


def test_a_policy_copy_the_cluster_cannot_hold_is_refused_in_one_line(local_ray, tmp_path) -> None:  # noqa: F811
    cfg = small_config(**{**ON_RAY, "batching": {"gpus_per_copy": 1}})
    with pytest.raises(CrossviewError, match="batching.gpus_per_copy: 1 but the Ray cluster has 0 GPUs") as err:
        run_sweep(parse_config(cfg), tmp_path)
    assert len(str(err.value).splitlines()) == 1 and not any(tmp_path.iterdir())
    assert local_ray.is_initialized() and released(local_ray)  # the test's Ray is left as it was


def _session(sid: int) -> list[str]:
    """The processes still in session ``sid`` (Ray's own processes stay in the session of the driver that started
    them: ray 2.60.0 _private/services.py:1130-1132 changes only their process group)."""
    import subprocess

    ps = subprocess.run(["ps", "-eo", "pid=,sid=,args="], capture_output=True, text=True, check=True).stdout
    return [line for line in ps.splitlines() if line.split()[1] == str(sid)]


@pytest.mark.parametrize("how", ["interrupt", "refusal"])
def test_ctrl_c_or_a_refusal_leaves_no_ray_process_behind(tmp_path, how) -> None:
    """The CLI starts its own Ray (shared inference on ``executor: ray``): Ctrl-C while a batch runs in the policy
    actor, or a policy copy the cluster cannot hold, ends with the exit code that says so and nothing of that Ray
    left running (its GCS, raylet, simulator and policy actors)."""
    import signal
    import subprocess
    import sys

    from tests.harness.sweeps import write

    oracle = [{"name": "oracle", "kind": "tests.harness.faulty:FailingOnceOracle",
               "options": {"marker": str(tmp_path / "marker"), "fault": "hang", "at_call": 3}}]
    cfg = {**small_config(policies=oracle, timeouts={"reset": 60, "step": 120, "startup": 60}), **ON_RAY}
    if how == "refusal":
        cfg["batching"] = {**ON_RAY["batching"], "gpus_per_copy": 1}
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
        if how == "refusal":
            assert "batching.gpus_per_copy" in err and "Traceback" not in err
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
