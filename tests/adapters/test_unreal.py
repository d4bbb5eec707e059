"""Unreal routes against local servers speaking the real wire protocols (AirSim msgpack-rpc, UnrealCV frames),
with real rendered frames behind them: masks, motion, privileged facts in metres and crossview's frame, the oracle
on those facts, pick/deliver scoring, depth, resolution, the shipped suites."""

from __future__ import annotations

import math
import socket
import struct
from pathlib import Path

import numpy as np
import pytest
import yaml

from adapters.base import make_adapter
from adapters.unreal.common import AIRSIM_FRAME, UNREAL_FRAME, Pose, advance, default_table
from harness.errors import CrossviewError
from harness.spec import Action, StepInfo
from policies.baselines import OraclePolicy
from tests.servers.fixtures import SEED, native, start, suite
from tests.servers.scene import RoomsLevel
from tests.servers.suites import FILES, write

ROUTES = ["airsim", "unrealcv"]
SERVER = {"airsim": "airsim_server", "unrealcv": "unrealcv_server"}
SMALL = {"airsim": {}, "unrealcv": {"resolution": [96, 72]}}  # the AirSim server's own frame size
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def make(route: str, tasks: str | Path | None = None, **extra):
    return make_adapter(route, tasks=str(tasks or suite(route)), port=start(SERVER[route]), **SMALL[route], **extra)


@pytest.fixture(params=ROUTES)
def route(request) -> str:
    return request.param


def run_oracle(adapter, task) -> tuple[bool, bool, StepInfo, int]:
    """The oracle on the adapter's privileged facts, as the worker hands them to it."""
    obs, goal, info = adapter.reset(task)
    oracle = OraclePolicy()
    oracle.reset(1)
    done = success = False
    for k in range(task.max_steps):
        action = oracle.act([obs], [goal], [info.privileged])[0]
        obs, done, success, info = adapter.step(action)
        if done:
            return done, success, info, k + 1
    return done, success, info, task.max_steps


def test_frames_and_motion_by_hand() -> None:
    table = default_table(1.0)  # 1 m/s for 0.25 s
    p = advance(Pose(0, 0, 0, yaw=90.0), Action(forward=True), table)
    assert (p.x, p.y) == pytest.approx((0.0, 0.25))  # yaw 90 heads along +y (east / right)
    p = advance(Pose(0, 0, 0), Action(right=True, camera=(10.0, 0.0)), table)
    assert (p.x, p.y, p.pitch) == pytest.approx((0.0, 0.25, -10.0))  # common pitch down = engine pitch up negative
    # NED metres and Unreal centimetres land on the same crossview point (x, y ground, z up; y left of x)
    assert AIRSIM_FRAME.point(1.0, 2.0, -3.0) == pytest.approx((1.0, -2.0, 3.0))
    assert UNREAL_FRAME.point(100.0, 200.0, 300.0) == pytest.approx((1.0, -2.0, 3.0))
    assert UNREAL_FRAME.pose(Pose(0, 0, 0, yaw=30.0, pitch=10.0))[3:] == (30.0, -10.0)  # pitch > 0 looks down


def test_goal_mask_is_exactly_the_target(route: str) -> None:
    adapter = make(route)
    try:
        _, goal, _ = adapter.reset(adapter.tasks("train")[0])
    finally:
        adapter.close()
    level = RoomsLevel(SEED)  # the server's scene, rendered here from the same goal pose
    try:
        level.goal_view()
        expected = level.object_ids() == list(level.names).index(level.target_name)
        # UnrealCV sends poses as text with two decimals: allow that rounding, nothing more
        iou = (goal.mask & expected).sum() / (goal.mask | expected).sum()
        assert iou >= (1.0 if route == "airsim" else 0.95)
        assert np.abs(goal.image.astype(int) - level.rgb().astype(int)).mean() < 1.0
    finally:
        level.close()


def test_privileged_facts_are_the_scene_in_metres(route: str) -> None:
    """The servers map each route's frame onto Rooms' (metres, z up, y left), which is crossview's: the facts
    must be the level's own coordinates, whatever the route's units."""
    level = RoomsLevel(SEED)
    try:
        tx, ty, tz = level.target_centre()
        sx, sy = level.free_start()
        reach = level.layout.target_thing.radius + 0.8
    finally:
        level.close()
    adapter = make(route)
    try:
        task = adapter.tasks("train")[0]
        _, _, info = adapter.reset(task)
        facts = info.privileged
        assert facts.target_pos == pytest.approx((tx, ty, tz), abs=1e-3)
        assert facts.pose[:3] == pytest.approx((sx, sy, 0.7), abs=1e-3)
        assert facts.pose[3] == pytest.approx(-math.degrees(math.atan2(ty - sy, tx - sx)), abs=1e-3)
        assert facts.success_radius == pytest.approx(reach) == task.success_radius
        assert info.distance == facts.distance == pytest.approx(math.hypot(tx - sx, ty - sy), abs=1e-3)
        assert facts.target_centred and facts.waypoint == pytest.approx((tx, ty), abs=1e-3)
        _, _, _, info = adapter.step(Action(camera=(10.0, 30.0)))  # turn right, look down
        assert info.privileged.pose[3] == pytest.approx(facts.pose[3] + 30.0)
        assert info.privileged.pose[4] == pytest.approx(10.0) and not info.privileged.target_centred
    finally:
        adapter.close()


def test_oracle_on_the_facts_approaches_and_rescues(route: str) -> None:
    adapter = make(route)
    try:
        approach, rescue = adapter.tasks("train")[0], adapter.tasks("heldout")[0]
        done, success, info, _ = run_oracle(adapter, approach)
        assert done and success and info.distance <= approach.success_radius and info.score is None
        done, success, info, _ = run_oracle(adapter, rescue)
        assert done and success and info.score == 1.0 and info.episode_return == 1.0 and info.extra["picked"]
    finally:
        adapter.close()


def test_pick_then_deliver_scores_half_then_one(route: str) -> None:
    adapter = make(route)
    try:
        task = adapter.tasks("heldout")[0]
        adapter.reset(task)
        _, _, _, info = adapter.step(Action(attack=True))
        assert not info.extra["picked"] and info.score == 0.0  # out of reach: nothing picked
        for _ in range(40):
            _, done, _, info = adapter.step(Action(forward=True))
            if info.distance <= task.success_radius:
                break
        _, done, success, info = adapter.step(Action(attack=True))
        assert info.extra["picked"] and info.score == 0.5 and not done
        assert info.privileged.target_pos[:2] == pytest.approx(info.privileged.waypoint)  # now toward delivery
        for _ in range(6):  # turn around (6 x 30°)
            adapter.step(Action(camera=(0.0, 30.0)))
        for _ in range(60):
            _, done, success, info = adapter.step(Action(forward=True))
            if done:
                break
        assert done and success and info.score == 1.0
    finally:
        adapter.close()


def test_waypoints_lead_around_and_are_passed_in_order(route: str) -> None:
    level = RoomsLevel(SEED)
    try:
        sx, sy = level.free_start()
        tx, ty, _ = level.target_centre()
    finally:
        level.close()
    detour = [(sx + 1.5, sy), (sx + 1.5, ty)]  # a dog-leg instead of the straight line
    path = suite(route, {"waypoints": [native(route, x, y, 0.0) for x, y in detour]})
    adapter = make(route, tasks=path)
    try:
        task = adapter.tasks("train")[0]
        _, _, info = adapter.reset(task)
        assert info.privileged.waypoint == pytest.approx(detour[0], abs=1e-3)
        done, success, info, steps = run_oracle(adapter, task)
        assert done and success
        straight = math.hypot(tx - sx, ty - sy) / 0.25
        assert steps > straight  # it walked the dog-leg, not the straight line
    finally:
        adapter.close()


def test_depth_is_planar_metres_on_both_routes() -> None:
    """Both routes give depth along the view axis in metres — AirSim's DepthPlanar (not DepthPerspective, the
    distance to the camera centre: microsoft/AirSim docs/image_apis.md:225-226), UnrealCV's SceneDepth in
    centimetres (unrealcv/unrealcv Source/UnrealCV/Private/Sensor/CameraSensor/DepthCamSensor.cpp:11) — pixel for
    pixel the level's own planar depth at the start pose."""
    depths = []
    for r in ROUTES:
        adapter = make(r)
        try:
            depths.append(adapter.reset(adapter.tasks("train")[0])[0].depth)
        finally:
            adapter.close()
    level = RoomsLevel(SEED)
    try:
        (tx, ty, _), (sx, sy) = level.target_centre(), level.free_start()
        level.look(sx, sy, 0.7, math.atan2(ty - sy, tx - sx), 0.0)
        planar, ray = level.depth(), level.range_depth()
    finally:
        level.close()
    near = planar < 20  # the walls and floor, not the sky
    assert near.mean() > 0.5 and np.abs(ray - planar)[near].max() > 0.05  # the two kinds really differ here
    np.testing.assert_allclose(depths[0][near], planar[near], rtol=1e-5)  # AirSim: metres already
    assert np.median(np.abs(depths[1][near] / planar[near] - 1)) < 0.01  # UnrealCV: cm -> m (poses sent to 0.01 cm)


def test_unrealcv_renders_the_papers_640x480_by_default() -> None:
    adapter = make_adapter("unrealcv", tasks=str(suite("unrealcv")), port=start("unrealcv_server"))
    try:
        assert adapter.info.obs_size == (480, 640)
        obs, goal, _ = adapter.reset(adapter.tasks("train")[0])
        assert obs.rgb.shape == (480, 640, 3) and obs.depth.shape == (480, 640) and goal.mask.shape == (480, 640)
    finally:
        adapter.close()
    with pytest.raises(CrossviewError, match="resolution must be"):
        make_adapter("unrealcv", tasks=str(suite("unrealcv")), port=start("unrealcv_server"), resolution=[640])


def test_missing_object_is_named(route: str, tmp_path) -> None:
    data = yaml.safe_load(suite(route).read_text())
    data["tasks"][0]["target"] = "Statue_404"
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(data))
    adapter = make(route, tasks=path)
    try:
        with pytest.raises(CrossviewError, match="Statue_404"):
            adapter.reset(adapter.tasks("train")[0])
    finally:
        adapter.close()


def test_bad_suite_keys_are_named(tmp_path) -> None:
    data = yaml.safe_load(suite("airsim").read_text())
    data["tasks"][0]["waypoints"] = [[1.0, 2.0]]
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(CrossviewError, match=r"tasks\[0\].waypoints\[0\]: needs a point \[x, y, z\]"):
        make("airsim", tasks=path)


def test_shipped_suites_are_the_ones_written_for_the_test_level(tmp_path) -> None:
    write(tmp_path)
    for name in FILES.values():
        assert (EXAMPLES / "unreal_tasks" / name).read_text() == (tmp_path / name).read_text(), \
            f"examples/unreal_tasks/{name} is stale: python -m tests.servers.suites examples/unreal_tasks"


def test_oracle_solves_every_shipped_task(route: str) -> None:
    adapter = make(route, tasks=EXAMPLES / "unreal_tasks" / FILES[route])
    try:
        tasks = adapter.tasks("train") + adapter.tasks("heldout")
        assert {t.interaction.name for t in tasks} == {"APPROACH", "MINE"} and any(t.params["waypoints"] for t in tasks)
        for task in tasks:
            done, success, info, _ = run_oracle(adapter, task)
            assert done and success, task.params["task"]
            if "deliver_to" in task.params:
                assert info.score == 1.0
    finally:
        adapter.close()


def test_unrealcv_versions_are_the_plugins_own() -> None:
    """`vget /unrealcv/version` answers the plugin descriptor's VersionName (PluginHandler.cpp:69): branch 4.27
    (UnrealZoo's UE4 binaries) says 0.3.10 and binds every command the route uses, so it is accepted; an older
    plugin is refused in one line naming what it reported."""
    port = start("unrealcv_server", "--version", "0.3.10")
    adapter = make_adapter("unrealcv", tasks=str(suite("unrealcv")), port=port, resolution=[96, 72])
    try:
        _, goal, _ = adapter.reset(adapter.tasks("train")[0])
        assert goal.mask.any()
    finally:
        adapter.close()
    with pytest.raises(CrossviewError, match=r"reports '0.2.0'; crossview needs >= 0.3.10") as err:
        make_adapter("unrealcv", tasks=str(suite("unrealcv")), port=start("unrealcv_server", "--version", "0.2.0"))
    assert "\n" not in str(err.value)


def test_unrealcv_server_answers_unbound_commands_as_the_plugin_does() -> None:
    """No plugin branch binds `vget /unrealcv/commands` (the 1.3 client's capability probe): the dispatcher's own
    error comes back (CommandDispatcher.cpp:199, ExecStatus.cpp:105), and the adapter never depends on it."""
    adapter = make("unrealcv")
    try:
        assert adapter.client.ask("vget /unrealcv/commands") == \
            "error No handler found for URI 'vget /unrealcv/commands'"
    finally:
        adapter.close()


def test_unrealcv_server_drops_a_bad_frame_as_the_plugin_does() -> None:
    """A frame with a wrong magic ends that connection and the listener takes the next client
    (Server/TcpServer.cpp:81-85, 197-205); a payload without ``id:`` gets no answer (UnrealcvServer.cpp:280-283)."""
    port = start("unrealcv_server", "--version", "1.0.1")  # a server of its own: one connection is broken here
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        header = sock.recv(8)
        magic, size = struct.unpack("<II", header)
        assert magic == 0x9E2B83C1 and sock.recv(size).startswith(b"connected to ")
        sock.sendall(struct.pack("<II", 0x9E2B83C1, 9) + b"no id yet")  # dropped
        sock.sendall(struct.pack("<II", 0x12345678, 3) + b"0:x")  # ends the connection
        assert sock.recv(8) == b""
    adapter = make_adapter("unrealcv", tasks=str(suite("unrealcv")), port=port, resolution=[96, 72])
    adapter.close()
