"""The AirSim route through the AirSim client installed here — ``cosysairsim`` in the main environment, the
archived ``airsim`` 1.8.1 in the nox session ``airsim`` (CROSSVIEW_AIRSIM_CLIENT names the one expected) — against
the local msgpack-rpc server: versions, the oracle on the privileged facts, vehicles that move themselves."""

from __future__ import annotations

import math
import os
import time

import numpy as np
import pytest

from adapters.base import make_adapter
from harness.errors import BackendUnavailable, CrossviewError
from harness.spec import Action
from policies.baselines import OraclePolicy
from tests.servers.fixtures import SEED, start, suite
from tests.servers.scene import RoomsLevel

CLIENT = os.environ.get("CROSSVIEW_AIRSIM_CLIENT", "auto")
PLUGIN = {"airsim": "airsim", "cosysairsim": "cosys"}  # the plugin each client is written for


def make(*server_args: str, **options):
    try:
        return make_adapter("airsim", tasks=str(suite("airsim")), port=start("airsim_server", *server_args),
                            client=CLIENT, **options)
    except BackendUnavailable as exc:
        pytest.skip(str(exc))


def test_the_expected_client_drives_the_route() -> None:
    adapter = make()
    try:
        if CLIENT != "auto":
            assert adapter.mod.__name__ == CLIENT
        # both clients' own version calls: static in cosysairsim, instance methods in airsim 1.8.1
        assert adapter.client.getClientVersion() >= 1
        obs, goal, info = adapter.reset(adapter.tasks("train")[0])
        assert obs.rgb.shape == (72, 96, 3) and goal.mask.any() and info.privileged is not None
    finally:
        adapter.close()


def test_oracle_on_the_facts_succeeds_on_both_kinds_of_task() -> None:
    adapter = make()
    try:
        for task in adapter.tasks("train") + adapter.tasks("heldout"):
            obs, goal, info = adapter.reset(task)
            oracle = OraclePolicy()
            oracle.reset(1)
            for _ in range(task.max_steps):
                action = oracle.act([obs], [goal], [info.privileged])[0]
                obs, done, success, info = adapter.step(action)
                if done:
                    break
            assert done and success and info.distance <= task.success_radius
    finally:
        adapter.close()


def test_version_mismatches_name_the_client() -> None:
    with pytest.raises(CrossviewError, match=r"is version 0 but (cosysairsim|airsim) needs >= \d"):
        make("--server-version", "0")
    with pytest.raises(CrossviewError, match="needs client version >= 9 but (cosysairsim|airsim) is"):
        make("--min-client", "9")


@pytest.mark.parametrize("vehicle", ["multirotor", "car"])
def test_vehicles_that_move_themselves(vehicle: str) -> None:
    """The drone's moveByVelocityBodyFrame lasts dt on the server (MultirotorApiBase.cpp:86-106); the car's
    setCarControls returns at once (CarRpcLibServer.cpp:49), so the adapter lets dt pass itself. Poses are read
    back from the simulator."""
    adapter = make(vehicle=vehicle)
    try:
        obs, _, info = adapter.reset(adapter.tasks("train")[0])
        start_pose = adapter._pose
        began = time.monotonic()
        obs2, _, _, info2 = adapter.step(Action(forward=True))
        took = time.monotonic() - began
        moved = math.dist((start_pose.x, start_pose.y), (adapter._pose.x, adapter._pose.y))
        assert info2.distance < info.distance and not np.array_equal(obs.rgb, obs2.rgb)
        assert info2.privileged.pose[3] == pytest.approx(start_pose.yaw, abs=1e-6)
        if vehicle == "multirotor":
            assert moved == pytest.approx(0.25, abs=1e-6)  # 1 m/s for dt = 0.25 s
            adapter.step(Action(camera=(0.0, 20.0)))
            assert adapter._pose.yaw == pytest.approx(start_pose.yaw + 20.0, abs=1e-6)  # 80°/s for dt
        else:
            assert took >= 0.25  # dt passed while the car drove
            assert 0.25 <= moved < 0.6  # 1 m/s for dt and the round trips around it (a loaded 2-core machine)
            adapter.step(Action())  # throttle 0: the toy car stops
            yaw = adapter._pose.yaw
            adapter.step(Action(camera=(0.0, 20.0)))
            assert adapter._pose.yaw == pytest.approx(yaw, abs=1e-6)  # a car does not turn in place
            adapter.step(Action(forward=True, camera=(0.0, 20.0)))
            assert adapter._pose.yaw > yaw + 15.0  # it turns while it drives
    finally:
        adapter.close()


def first_reset(*server_args: str):
    """(first observation, goal) of the first train task against a server started with ``server_args``."""
    adapter = make(*server_args)
    try:
        obs, goal, _ = adapter.reset(adapter.tasks("train")[0])
        return obs, goal
    finally:
        adapter.close()


def renders(*poses: tuple[float, float, float, float] | None) -> list[np.ndarray]:
    """The test level's frames from Rooms-frame poses (x, y, z, theta); ``None`` for the goal camera's view."""
    level = RoomsLevel(SEED)
    try:
        out = []
        for pose in poses:
            if pose is None:
                level.goal_view()
            else:
                level.look(*pose, 0.0)
            out.append(level.rgb())
        return out
    finally:
        level.close()


def start_pose() -> tuple[float, float, float]:
    """The start of the suite's tasks in Rooms' frame: (x, y, heading toward the target)."""
    level = RoomsLevel(SEED)
    try:
        (tx, ty, _), (sx, sy) = level.target_centre(), level.free_start()
        return sx, sy, math.atan2(ty - sy, tx - sx)
    finally:
        level.close()


def test_frames_arrive_in_the_plugins_channel_order() -> None:
    """AirSim's plugin sends uncompressed B, G, R and Cosys-AirSim's R, G, B (RenderRequest.cpp:110-114 and
    :116-121 in microsoft/AirSim and Cosys-Lab/Cosys-AirSim): the frame must be the level's own colours."""
    _, goal = first_reset()
    (expected,) = renders(None)
    assert not np.array_equal(expected, expected[..., ::-1])  # a swap would show
    assert np.abs(goal.image.astype(int) - expected.astype(int)).mean() < 1.0


def test_the_other_plugin_is_refused_in_one_line() -> None:
    """Each client against the other fork's plugin, as their sources have it: versions 1/1 (AirSim) against 4/4
    (Cosys-AirSim) refuse each other; with the versions forced through, rpclib's argument check refuses the call
    (simGetCameraInfo, the first call that differs, takes 3 arguments in AirSim and 2 in Cosys-AirSim)."""
    adapter = make()
    other = {"airsim": "cosys", "cosys": "airsim"}[PLUGIN[adapter.mod.__name__]]
    adapter.close()
    with pytest.raises(CrossviewError, match="version") as err:
        make("--flavour", other)
    assert "\n" not in str(err.value)
    with pytest.raises(CrossviewError, match=r"simGetCameraInfo failed \(rpclib: Function 'simGetCameraInfo' was "
                                             r"called with an invalid number of arguments") as err:
        make("--flavour", other, "--server-version", "4", "--min-client", "1")
    assert "\n" not in str(err.value)


def test_the_camera_stays_where_settings_mount_it() -> None:
    """simSetCameraPose sets the camera's position on the vehicle as well as its angle (PIPCamera.cpp:301-306): the
    pitch must not move a camera mounted 0.5 m ahead and 0.3 m above the vehicle's origin (settings.json X, Z;
    PawnSimApi.cpp:131-139) to the origin."""
    obs, _ = first_reset("--camera-mount", "0.5", "0", "-0.3")
    sx, sy, theta = start_pose()
    ahead = (sx + 0.5 * math.cos(theta), sy + 0.5 * math.sin(theta), 0.7 + 0.3, theta)
    mounted, origin = renders(ahead, (sx, sy, 0.7, theta))
    assert np.abs(mounted.astype(int) - origin.astype(int)).mean() > 5  # the two views really differ
    assert np.abs(obs.rgb.astype(int) - mounted.astype(int)).mean() < 1.0
