"""Checks every adapter must pass: shapes and dtypes, goals, masking, determinism, close(), Gymnasium."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from adapters.base import Adapter
from adapters.gym_env import CrossViewEnv
from harness.spec import BUTTONS, Action, CrossViewGoal, Observation, StepInfo, TaskSpec
from tests.conformance.cases import ADAPTER_CASES, build_adapter


@pytest.fixture(params=sorted(ADAPTER_CASES))
def case(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def adapter(case: str):
    a = build_adapter(case)
    yield a
    a.close()


def first_task(adapter: Adapter, seed: int = 3) -> TaskSpec:
    return dataclasses.replace(adapter.tasks("train")[0], seed=seed)


def test_protocol_shapes_and_types(adapter: Adapter) -> None:
    assert isinstance(adapter, Adapter)
    h, w = adapter.info.obs_size
    obs, goal, info = adapter.reset(first_task(adapter))
    assert isinstance(obs, Observation) and isinstance(goal, CrossViewGoal) and isinstance(info, StepInfo)
    assert obs.rgb.dtype == np.uint8 and obs.rgb.shape == (h, w, 3)
    if adapter.info.has_depth:
        assert obs.depth is not None and obs.depth.dtype == np.float32 and obs.depth.shape == (h, w)
        assert np.isfinite(obs.depth).all() and (obs.depth > 0).all()
    else:
        assert obs.depth is None
    assert goal.image.dtype == np.uint8 and goal.image.ndim == 3 and goal.image.shape[2] == 3
    assert goal.mask.dtype == bool and goal.mask.shape == goal.image.shape[:2]
    assert goal.mask.any(), "the goal mask must mark the target"
    assert goal.interaction in adapter.info.interactions
    obs2, done, success, info2 = adapter.step(Action(forward=True))
    assert obs2.rgb.shape == (h, w, 3) and isinstance(done, bool) and isinstance(info2, StepInfo)
    assert success is None or isinstance(success, bool)
    assert obs2.t > obs.t


def test_tasks_are_replayable_specs(adapter: Adapter) -> None:
    tasks = adapter.tasks("train")
    assert tasks and all(isinstance(t, TaskSpec) and t.adapter == adapter.info.name for t in tasks)
    for t in tasks:
        assert TaskSpec.from_dict(t.to_dict()) == t


def test_masked_fields_are_ignored(adapter: Adapter) -> None:
    if not adapter.info.seedable:
        pytest.skip("masking is compared across two replays, which needs a seedable adapter")
    task = first_task(adapter)
    masked = adapter.info.masked
    assert masked, "an adapter declares the action fields it cannot honour"
    loud = Action(**{b: b in masked for b in BUTTONS},
                  camera=(7.0 if "pitch" in masked else 0.0, 9.0 if "yaw" in masked else 0.0))
    adapter.reset(task)
    frames_masked = [adapter.step(loud)[0].rgb for _ in range(3)]
    adapter.reset(task)
    frames_noop = [adapter.step(Action())[0].rgb for _ in range(3)]
    for a, b in zip(frames_masked, frames_noop):
        np.testing.assert_array_equal(a, b)


def test_deterministic_for_a_task(adapter: Adapter) -> None:
    if not adapter.info.seedable:
        pytest.skip("adapter declares itself not seedable")
    task = first_task(adapter, seed=11)
    script = [Action(forward=True, camera=(2.0, 5.0)), Action(left=True), Action(camera=(-3.0, -20.0))]

    def rollout() -> list[np.ndarray]:
        obs, goal, _ = adapter.reset(task)
        frames = [obs.rgb, goal.image, goal.mask]
        frames += [adapter.step(a)[0].rgb for a in script]
        return frames

    for a, b in zip(rollout(), rollout()):
        np.testing.assert_array_equal(a, b)


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_close_releases_resources(case: str) -> None:
    def cycle() -> None:
        a = build_adapter(case)
        a.reset(first_task(a))
        a.step(Action(forward=True))
        a.close()
        a.close()  # idempotent

    cycle()
    before = _open_fds()
    for _ in range(3):
        cycle()
    assert _open_fds() <= before


def test_gymnasium_env_checker(case: str) -> None:
    adapter = build_adapter(case)
    adapter.close()
    from tests.conformance.cases import adapter_case

    name, options = adapter_case(case)
    env = CrossViewEnv(name, **options)
    try:
        check_env(env, skip_render_check=True)
        obs, _ = env.reset(seed=5)
        assert env.observation_space.contains(obs)
    finally:
        env.close()
