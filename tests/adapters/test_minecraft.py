"""Minecraft: projection of voxel boxes to masks, actions and task files by hand; the engine if present."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from adapters.minecraft.actions import ENV_KEYS, env_action
from adapters.minecraft.projection import block_mask, camera_axes, look_at, project
from adapters.minecraft.tasks import load_tasks, parse_tasks
from harness.errors import BackendUnavailable, CrossviewError
from harness.spec import Action, Interaction

TASKS = Path(__file__).resolve().parents[1] / "fixtures" / "minecraft_tasks.yaml"


def test_camera_axes_follow_minecraft() -> None:
    right, up, forward = camera_axes(0, 0)  # yaw 0 faces south (+z); west (-x) is on the right
    assert forward == pytest.approx([0, 0, 1]) and right == pytest.approx([-1, 0, 0]) and up == pytest.approx([0, 1, 0])
    _, _, forward = camera_axes(90, 0)  # yaw 90 faces west
    assert forward == pytest.approx([-1, 0, 0])
    _, _, forward = camera_axes(0, 90)  # pitch 90 looks straight down
    assert forward == pytest.approx([0, -1, 0])


def test_projection_by_hand() -> None:
    # eye at (0, 65.62, 0) facing +z; block centre (0.5, 65.5, 5.5): x_cam = -0.5, y_cam = -0.12, z = 5.5;
    # focal = 180 / tan(35°) = 257.07 px at 640x360; u = 320 - 257.07*0.5/5.5 = 296.63, v = 180 + 257.07*0.12/5.5
    # = 185.61; scaled to 224x224: (103.82, 115.49)
    uv, front = project(np.array([[0.5, 65.5, 5.5]]), np.array([0, 65.62, 0]), 0, 0, 70, (640, 360), (224, 224))
    assert front.all() and uv[0] == pytest.approx([103.82, 115.49], abs=0.01)


def test_block_mask_is_the_projected_box() -> None:
    mask = block_mask((0, 65, 5), (0.0, 64.0, 0.0), 0.0, 0.0)
    assert mask.shape == (224, 224) and 150 < mask.sum() < 1500
    rows, cols = np.nonzero(mask)
    assert cols.mean() == pytest.approx(103.8, abs=3) and rows.mean() == pytest.approx(115.5, abs=3)
    assert not block_mask((0, 65, -5), (0.0, 64.0, 0.0), 0.0, 0.0).any()  # behind the player
    near = block_mask((0, 65, 2), (0.0, 64.0, 0.0), 0.0, 0.0)
    assert near.sum() > mask.sum()  # closer is bigger


def test_look_at() -> None:
    assert look_at((0, 64, 0), (0, 65.62, 10)) == pytest.approx((0.0, 0.0))
    assert look_at((0, 64, 0), (-10, 65.62, 0))[0] == pytest.approx(90.0)
    yaw, pitch = look_at((0, 64, 0), (0, 60, 5))
    assert pitch > 0 and math.isclose(yaw, 0.0, abs_tol=1e-9)  # looking down is positive pitch
    yaw, pitch = look_at((3, 64, -2), (10.5, 63.0, 7.5))
    assert block_mask((10, 62, 7), (3, 64, -2), yaw, pitch)[100:124, 100:124].any()  # looked-at block is centred


def test_env_action() -> None:
    out = env_action(Action(forward=True, attack=True, jump=True, camera=(2.0, -5.0)), frozenset({"jump"}))
    assert set(out) == {*ENV_KEYS, "camera"}
    assert out["forward"] == 1 and out["attack"] == 1 and out["jump"] == 0 and out["inventory"] == 0
    assert out["camera"].dtype == np.float32 and out["camera"].tolist() == [2.0, -5.0]


def test_task_file() -> None:
    tasks = load_tasks(TASKS)
    assert [t.name for t in tasks] == ["mine_diamond", "hunt_sheep", "approach_tree"]
    assert tasks[0].interaction is Interaction.MINE and tasks[0].inventory == (("iron_pickaxe", 1),)
    assert tasks[1].kind == "mob" and tasks[1].split == "heldout" and tasks[2].max_steps == 600


@pytest.mark.parametrize("task, message", [
    ({"interaction": "mine"}, "tasks[0].target"),
    ({"target": {"block": "stone", "at": [1, 2]}}, "tasks[0].target.at"),
    ({"target": {"block": "stone", "at": [1, 2, 3]}, "colour": 1}, "tasks[0].colour: unknown key"),
    ({"target": {"block": "stone", "at": [1, 2, 3]}, "interaction": "craft"}, "tasks[0].interaction"),
    ({"target": {"block": "stone", "at": [1, 2, 3]}, "difficulty": "nightmare"}, "tasks[0].difficulty"),
])
def test_bad_task_files(task, message) -> None:
    with pytest.raises(CrossviewError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_tasks({"tasks": [task]})
    with pytest.raises(CrossviewError, match="non-empty list"):
        parse_tasks({"tasks": []})


def test_missing_engine_names_what_to_install() -> None:
    from adapters.minecraft.adapter import MinecraftAdapter

    try:
        MinecraftAdapter.check_available()
    except BackendUnavailable as exc:
        assert "MineStudio" in str(exc) or "Java" in str(exc) or "display" in str(exc)
        with pytest.raises(BackendUnavailable):
            MinecraftAdapter(tasks=str(TASKS))
    else:
        pytest.skip("MineStudio, its engine, Java and a display are all present here")


def test_engine_episode() -> None:
    from adapters.minecraft.adapter import MinecraftAdapter

    try:
        MinecraftAdapter.check_available()
    except BackendUnavailable as exc:
        pytest.skip(f"Minecraft engine not runnable here: {exc}")
    adapter = MinecraftAdapter(tasks=str(TASKS))
    try:
        import dataclasses

        task = dataclasses.replace(adapter.tasks("train")[-1], seed=1)
        obs, goal, info = adapter.reset(task)
        assert obs.rgb.shape == (224, 224, 3) and goal.mask.any() and info.distance > 10
        obs, done, success, info = adapter.step(Action(forward=True))
        assert obs.rgb.shape == (224, 224, 3)
    finally:
        adapter.close()
