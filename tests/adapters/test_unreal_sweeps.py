"""Sweeps of the random floor and the oracle ceiling through both Unreal routes, against the local servers, with
the shipped suites: the oracle succeeds on the privileged facts and the report normalizes the Unreal worlds."""

from __future__ import annotations

from pathlib import Path

from harness.config import parse_config
from harness.counts import MergedRuns
from harness.runner import run_sweep
from harness.store import Store
from reports.tables import with_baselines
from tests.servers.fixtures import start

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ROUTES = {"airsim": ("airsim_server", "unreal_tasks/airsim_suite.yaml", {}),
          "unrealcv": ("unrealcv_server", "unreal_tasks/unrealzoo_suite.yaml", {"resolution": [96, 72]})}


def test_random_and_oracle_sweeps_normalize_both_routes(tmp_path: Path) -> None:
    envs = [{"adapter": route, "role": "zeroshot", "episodes": 1, "max_steps": 60,
             "options": {"tasks": tasks, "port": start(server), **extra}}
            for route, (server, tasks, extra) in ROUTES.items()]
    config = parse_config({"name": "unreal", "policies": [{"name": "random", "kind": "random"},
                                                          {"name": "oracle", "kind": "oracle"}],
                           "environments": envs, "workers": 1, "envs_per_worker": 1})  # one UnrealCV client
    outcome = run_sweep(config, tmp_path, base=EXAMPLES)  # suites resolve against the examples folder
    assert outcome.exit_code == 0 and outcome.finished == 2 * 2 * 8
    with Store(tmp_path / "unreal", create=False) as store:
        records = store.records()
    for route in ROUTES:
        oracle = [r for r in records if r.adapter == route and r.policy == "oracle"]
        assert sum(bool(r.success) for r in oracle) >= 0.9 * len(oracle) and len(oracle) == 8, route
        assert max(r.final_distance for r in oracle) < 2.0  # metres on both routes (UnrealCV's native unit is cm)
    with MergedRuns([tmp_path / "unreal"]) as runs:
        cells = with_baselines(runs.counts())
    normalized = cells.groupby(["policy", "adapter"])["normalized"].mean()  # what the report shows per world
    for route in ROUTES:
        assert normalized[("oracle", route)] == 1.0 and normalized[("random", route)] <= 0.2, normalized
