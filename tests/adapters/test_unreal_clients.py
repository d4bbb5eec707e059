"""The AirSim route through the AirSim client installed here — ``cosysairsim`` in the main environment, the
archived ``airsim`` 1.8.1 in the nox session ``airsim`` (CROSSVIEW_AIRSIM_CLIENT names the one expected) — against
the local msgpack-rpc server: versions, the oracle on the privileged facts, vehicles that move themselves."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

from adapters.base import make_adapter
from harness.errors import BackendUnavailable, CrossviewError
from harness.spec import Action
from policies.baselines import OraclePolicy
from tests.servers.fixtures import start, suite

CLIENT = os.environ.get("CROSSVIEW_AIRSIM_CLIENT", "auto")


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
    adapter = make(vehicle=vehicle)
    try:
        obs, _, info = adapter.reset(adapter.tasks("train")[0])
        start_pose = adapter._pose
        obs2, _, _, info2 = adapter.step(Action(forward=True))
        moved = math.dist((start_pose.x, start_pose.y), (adapter._pose.x, adapter._pose.y))
        assert moved == pytest.approx(0.25, abs=1e-6)  # 1 m/s for dt = 0.25 s, read back from the simulator
        assert info2.distance < info.distance and not np.array_equal(obs.rgb, obs2.rgb)
        adapter.step(Action(camera=(0.0, 20.0)))
        assert adapter._pose.yaw == pytest.approx(start_pose.yaw + 20.0, abs=1e-6)  # yaw rate (drone), steering (car)
        assert info2.privileged.pose[3] == pytest.approx(start_pose.yaw, abs=1e-6)
    finally:
        adapter.close()
