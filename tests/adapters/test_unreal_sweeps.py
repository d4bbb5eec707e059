"""Sweeps of the random floor and the oracle ceiling through both Unreal routes, against the local servers, with
the shipped suites: the oracle succeeds on the privileged facts and the report normalizes the Unreal worlds."""

from __future__ import annotations

from pathlib import Path

from harness.config import parse_config
from harness.runner import run_sweep
from reports.tables import by_world, cells, load_runs, with_normalized
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
    df, kinds, _ = load_runs([tmp_path / "unreal"])
    for route in ROUTES:
        oracle = df[(df.adapter == route) & (df.policy == "oracle")]
        assert oracle["success"].astype(bool).mean() >= 0.9, route
        assert oracle["final_distance"].max() < 2.0  # metres on both routes (UnrealCV's native unit is cm)
    world = by_world(with_normalized(cells(df), kinds)).set_index(["policy", "adapter"])["normalized"]
    for route in ROUTES:
        assert world[("oracle", route)] == 1.0 and world[("random", route)] <= 0.2
