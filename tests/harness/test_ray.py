"""The Ray executor on a local Ray instance (2 CPUs): same episodes and outcomes as local, faults recovered."""

from __future__ import annotations

import importlib.util
import os

import pytest

from harness.config import parse_config
from harness.plan import build_plan
from harness.runner import run_sweep
from harness.store import Store
from tests.harness.sweeps import REPO, small_config

pytestmark = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                                reason="Ray is not installed (pip install 'crossview-harness[ray]')")


@pytest.fixture(scope="module")
def local_ray():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(REPO), "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}})
    yield ray
    ray.shutdown()


def _rows(run) -> dict:
    with Store(run, create=False) as store:
        return {r["episode_id"]: r for r in store.rows()}


def test_ray_and_local_agree_episode_for_episode(local_ray, tmp_path) -> None:
    cfg = small_config()
    local = run_sweep(parse_config(dict(cfg, name="local")), tmp_path)
    remote = run_sweep(parse_config(dict(cfg, name="ray", executor="ray")), tmp_path)
    assert local.exit_code == remote.exit_code == 0
    a, b = _rows(tmp_path / "local"), _rows(tmp_path / "ray")
    assert set(a) == set(b) == {e.episode_id for e in build_plan(parse_config(cfg)).episodes}
    for eid in a:
        assert (a[eid]["status"], a[eid]["steps"], a[eid]["final_distance"]) == \
               (b[eid]["status"], b[eid]["steps"], b[eid]["final_distance"])


def test_a_dying_actor_is_replaced_and_every_episode_stored_once(local_ray, tmp_path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    env = {"adapter": "tests.harness.faulty:FaultyRooms", "role": "source", "domains": ["apartment"],
           "interactions": ["approach"], "difficulties": ["easy"], "episodes": 8, "max_steps": 12,
           "options": {"image_size": [48, 48], "fault": "die", "every": 3, "once_dir": str(marks)}}
    cfg = small_config(policies=[{"name": "random", "kind": "random"}], environments=[env], executor="ray",
                       retries=2)
    outcome = run_sweep(parse_config(cfg), tmp_path)
    rows = _rows(tmp_path / "t")
    plan = {e.episode_id for e in build_plan(parse_config(cfg)).episodes}
    assert set(rows) == plan and outcome.finished == len(plan)
    assert all(r["status"] != "env_error" for r in rows.values())
    with Store(tmp_path / "t", create=False) as store:
        deaths = [a for a in store.attempts() if "ray actor died" in a["reason"]]
    assert deaths, "an actor killed itself mid-episode: the retry must be on record"


@pytest.mark.parametrize("fault", ["hang", "hold"])
def test_hung_simulator_in_an_actor_is_caught(local_ray, tmp_path, fault) -> None:
    """``hold`` hangs holding the GIL, so the actor's heartbeat goes unanswered too: the driver bounds that wait."""
    env = {"adapter": "tests.harness.faulty:FaultyRooms", "role": "source", "domains": ["apartment"],
           "interactions": ["approach"], "difficulties": ["easy"], "episodes": 4, "max_steps": 8,
           "options": {"image_size": [48, 48], "fault": fault, "every": 3}}  # one faulty episode of the four:
    # a GIL-holding hang is only seen when the heartbeat's bound passes (about 40 s), once per fault
    cfg = small_config(policies=[{"name": "random", "kind": "random"}], environments=[env], executor="ray",
                       retries=0, timeouts={"reset": 20, "step": 3, "startup": 20, "media": 20})
    outcome = run_sweep(parse_config(cfg), tmp_path)
    rows = _rows(tmp_path / "t")
    assert len(rows) == 4 and outcome.exit_code == 1
    assert any("missed its deadline" in (r["error"] or "") for r in rows.values())
