"""Unreal routes against local servers speaking the real wire protocols (AirSim msgpack-rpc, UnrealCV frames),
with real rendered frames behind them: masks, motion, success, pick/deliver, version checks, errors, a sweep."""

from __future__ import annotations

import math
import socket

import numpy as np
import pytest
import yaml

from adapters.base import make_adapter
from adapters.unreal.common import Pose, advance, default_table, quaternion, yaw_pitch
from harness.config import parse_config
from harness.errors import CrossviewError
from harness.runner import run_sweep
from harness.spec import Action
from harness.store import Store
from tests.servers.fixtures import start, suite
from tests.servers.scene import RoomsLevel

ROUTES = ["airsim", "unrealcv"]
SERVER = {"airsim": "airsim_server", "unrealcv": "unrealcv_server"}


def make(route: str, **extra):
    return make_adapter(route, tasks=str(suite(route)), port=start(SERVER[route]), **extra)


@pytest.fixture(params=ROUTES)
def route(request) -> str:
    return request.param


def test_quaternions_and_motion_by_hand() -> None:
    assert yaw_pitch(*quaternion(90.0, 0.0)) == pytest.approx((90.0, 0.0))
    assert yaw_pitch(*quaternion(-30.0, 20.0)) == pytest.approx((-30.0, 20.0))
    table = default_table(1.0)  # 1 m/s for 0.25 s
    p = advance(Pose(0, 0, 0, yaw=90.0), Action(forward=True), table)
    assert (p.x, p.y) == pytest.approx((0.0, 0.25))  # yaw 90 heads along +y (east / right)
    p = advance(Pose(0, 0, 0), Action(right=True, camera=(10.0, 0.0)), table)
    assert (p.x, p.y, p.pitch) == pytest.approx((0.0, 0.25, -10.0))  # common pitch down = engine pitch up negative


def test_goal_mask_is_exactly_the_target(route: str) -> None:
    adapter = make(route)
    try:
        task = adapter.tasks("train")[0]
        _, goal, _ = adapter.reset(task)
    finally:
        adapter.close()
    level = RoomsLevel(3)  # the server's scene, rendered here from the same goal pose
    try:
        (gx, gy, gz), theta, pitch = level.goal_view()
        expected = level.object_ids() == list(level.names).index(level.target_name)
        # UnrealCV sends poses as text with two decimals: allow that rounding, nothing more
        iou = (goal.mask & expected).sum() / (goal.mask | expected).sum()
        assert iou >= (1.0 if route == "airsim" else 0.95)
        assert np.abs(goal.image.astype(int) - level.rgb().astype(int)).mean() < 1.0
    finally:
        level.close()


def test_frames_follow_the_pose_and_approach_succeeds(route: str) -> None:
    adapter = make(route)
    try:
        obs, goal, info = adapter.reset(adapter.tasks("train")[0])
        first, start_distance = obs.rgb, info.distance
        obs, done, success, info = adapter.step(Action(camera=(0.0, 30.0)))
        assert not np.array_equal(obs.rgb, first), "turning must change the view"
        for _ in range(40):  # the start faces the target: walk until the adapter says we arrived
            obs, done, success, info = adapter.step(Action(forward=True, camera=(0.0, -30.0 if _ == 0 else 0.0)))
            if done:
                break
        assert done and success and info.distance < start_distance and info.score == 1.0
    finally:
        adapter.close()


def test_pick_then_deliver_scores_half_then_one(route: str) -> None:
    adapter = make(route)
    try:
        task = adapter.tasks("heldout")[0]
        adapter.reset(task)
        info = {}
        for _ in range(40):
            _, done, _, info = adapter.step(Action(forward=True))
            if info.distance <= task.success_radius:
                break
        _, done, success, info = adapter.step(Action(attack=True))
        assert info.extra["picked"] and info.score == 0.5 and not done
        for _ in range(6):  # turn around (6 x 30°)
            adapter.step(Action(camera=(0.0, 30.0)))
        for _ in range(60):
            _, done, success, info = adapter.step(Action(forward=True))
            if done:
                break
        assert done and success and info.score == 1.0
    finally:
        adapter.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("route_name", ROUTES)
def test_unreachable_server_says_how_to_start_it(route_name: str) -> None:
    port = _free_port()
    with pytest.raises(CrossviewError, match=f"127.0.0.1:{port}.*start the") as err:
        make_adapter(route_name, tasks=str(suite(route_name)), port=port, timeout=2)
    assert "\n" not in str(err.value)


def test_version_mismatches() -> None:
    old_server = start("airsim_server", "--server-version", "1")
    with pytest.raises(CrossviewError, match="is version 1 but cosysairsim needs >= 4"):
        make_adapter("airsim", tasks=str(suite("airsim")), port=old_server)
    picky = start("airsim_server", "--min-client", "9")
    with pytest.raises(CrossviewError, match="needs client version >= 9"):
        make_adapter("airsim", tasks=str(suite("airsim")), port=picky)
    old_ucv = start("unrealcv_server", "--version", "v0.3.10")
    with pytest.raises(CrossviewError, match="reports 'v0.3.10'"):
        make_adapter("unrealcv", tasks=str(suite("unrealcv")), port=old_ucv)


def test_missing_object_is_named(route: str, tmp_path) -> None:
    data = yaml.safe_load(suite(route).read_text())
    data["tasks"][0]["target"] = "Statue_404"
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(data))
    adapter = make_adapter(route, tasks=str(path), port=start(SERVER[route]))
    try:
        with pytest.raises(CrossviewError, match="Statue_404"):
            adapter.reset(adapter.tasks("train")[0])
    finally:
        adapter.close()


def test_depth_is_metres_on_both_routes() -> None:
    depths = []
    for r in ROUTES:
        adapter = make(r)
        try:
            depths.append(adapter.reset(adapter.tasks("train")[0])[0].depth)
        finally:
            adapter.close()
    near = depths[0] < 20  # the walls and floor, not the sky
    assert near.mean() > 0.5
    np.testing.assert_allclose(np.median(depths[1][near]), np.median(depths[0][near]), rtol=0.02)  # cm -> m
    assert 0.05 < float(np.median(depths[0][near])) < 20


def test_a_short_sweep_through_each_route(tmp_path) -> None:
    envs = [{"adapter": r, "role": "zeroshot", "episodes": 2, "max_steps": 6,
             "options": {"tasks": str(suite(r)), "port": start(SERVER[r])}} for r in ROUTES]
    cfg = parse_config({"name": "unreal", "policies": [{"name": "random", "kind": "random"}],
                        "environments": envs, "workers": 2, "envs_per_worker": 2})
    outcome = run_sweep(cfg, tmp_path)
    assert outcome.exit_code == 0 and outcome.finished == 4  # 2 routes x 1 train task x 2 episodes
    with Store(tmp_path / "unreal", create=False) as store:
        assert sorted(r.adapter for r in store.records()) == ["airsim", "airsim", "unrealcv", "unrealcv"]


@pytest.mark.parametrize("vehicle", ["multirotor", "car"])
def test_vehicles_that_move_themselves(vehicle: str) -> None:
    adapter = make("airsim", vehicle=vehicle)
    try:
        obs, _, info = adapter.reset(adapter.tasks("train")[0])
        start = adapter._pose
        obs2, _, _, info2 = adapter.step(Action(forward=True))
        moved = math.dist((start.x, start.y), (adapter._pose.x, adapter._pose.y))
        assert moved == pytest.approx(0.25, abs=1e-6)  # 1 m/s for dt = 0.25 s, read back from the simulator
        assert info2.distance < info.distance and not np.array_equal(obs.rgb, obs2.rgb)
        adapter.step(Action(camera=(0.0, 20.0)))
        assert adapter._pose.yaw == pytest.approx(start.yaw + 20.0, abs=1e-6)  # yaw rate (drone), steering (car)
    finally:
        adapter.close()
