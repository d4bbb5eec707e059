"""DeepMind Lab: the pure parts by hand (action table, level config, mazes, goal library); the engine if present."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from adapters.action_map import merge_table
from adapters.dmlab import DEFAULT_TABLE, generate_maze, level_config, native_action
from harness.errors import BackendUnavailable, CrossviewError
from harness.goals import load_goal, load_library, save_goal
from harness.spec import Action, CrossViewGoal, Interaction

GOALS = Path(__file__).resolve().parents[1] / "fixtures" / "dmlab_goals"
HAVE_LAB = importlib.util.find_spec("deepmind_lab") is not None


def test_paper_action_table_by_hand() -> None:
    t = merge_table(DEFAULT_TABLE, None, "dmlab")
    # yaw 4° -> 4.75 * 4 = 19 px; pitch 3° -> 2.78 * 3 = 8.34 -> 8 px; forward -> move +1; attack -> fire
    assert native_action(Action(forward=True, attack=True, camera=(3.0, 4.0)), t).tolist() == [19, 8, 0, 1, 1, 0, 0]
    assert native_action(Action(back=True, left=True, sneak=True), t).tolist() == [0, 0, -1, -1, 0, 0, 1]
    assert native_action(Action(jump=True, use=True), t).tolist() == [0] * 7  # masked, as in the paper
    assert native_action(Action(forward=True, back=True), t).tolist() == [0] * 7  # opposite keys cancel
    assert native_action(Action(camera=(-500.0, 200.0)), t).tolist()[:2] == [512, -512]  # clipped to the spec
    assert native_action(Action(camera=(0, 1.0)), t).dtype == np.intc


def test_action_table_overrides() -> None:
    t = merge_table(DEFAULT_TABLE, {"yaw_scale": 1.0, "masked": ["use"]}, "dmlab")
    assert native_action(Action(jump=True, camera=(0.0, 7.0)), t).tolist() == [7, 0, 0, 0, 0, 1, 0]
    with pytest.raises(CrossviewError, match="unknown key 'yawscale'"):
        merge_table(DEFAULT_TABLE, {"yawscale": 1}, "dmlab")
    with pytest.raises(CrossviewError, match="unknown field"):
        merge_table(DEFAULT_TABLE, {"masked": ["fly"]}, "dmlab")


def test_level_config_is_strings() -> None:
    assert level_config(320, 240, 60, extra={"allowHoldOutLevels": True}) == {
        "width": "320", "height": "240", "fps": "60", "allowHoldOutLevels": "True"}


def test_labmaze_layouts() -> None:
    pytest.importorskip("labmaze", reason="labmaze is not installed (pip install labmaze)")
    a, b = generate_maze(11, 13, seed=3), generate_maze(11, 13, seed=3)
    rows = a.strip("\n").split("\n")
    assert a == b and len(rows) == 13 and all(len(r) == 11 for r in rows)
    assert "P" in a and "*" in a and generate_maze(11, 13, seed=4) != a


def test_goal_library_round_trip_and_errors(tmp_path: Path) -> None:
    lib = load_library(GOALS)
    assert [g.name for g in lib] == ["apple_far", "apple_red"]
    assert lib[1].goal.interaction is Interaction.APPROACH and lib[1].goal.mask.sum() == 400
    assert lib[0].split == "heldout" and lib[0].difficulty == "hard"
    img = np.zeros((10, 12, 3), np.uint8)
    mask = np.zeros((10, 12), bool)
    mask[2:4, 3:5] = True
    save_goal(tmp_path, "g", CrossViewGoal(img, mask, Interaction.MINE), target="x")
    g = load_goal(tmp_path, "g")
    assert np.array_equal(g.goal.mask, mask) and g.goal.interaction is Interaction.MINE and g.target == "x"
    (tmp_path / "g.json").write_text("{not json")
    with pytest.raises(CrossviewError, match="not valid JSON"):
        load_goal(tmp_path, "g")
    (tmp_path / "g.mask.png").unlink()
    with pytest.raises(CrossviewError, match="g.mask.png is missing"):
        load_goal(tmp_path, "g")
    with pytest.raises(CrossviewError, match="must be non-empty"):
        save_goal(tmp_path, "e", CrossViewGoal(img, np.zeros((10, 12), bool), Interaction.MINE))
    with pytest.raises(CrossviewError, match="not a folder"):
        load_library(tmp_path / "nope")


@pytest.mark.skipif(HAVE_LAB, reason="deepmind_lab is installed here; the missing-engine path cannot be shown")
def test_missing_engine_says_how_to_build_it() -> None:
    from adapters.dmlab import DMLabAdapter

    with pytest.raises(BackendUnavailable, match="Bazel"):
        DMLabAdapter(goals=str(GOALS))


@pytest.mark.skipif(not HAVE_LAB, reason="deepmind_lab is not installed (built from source with Bazel; README)")
def test_engine_episode() -> None:
    from adapters.dmlab import DMLabAdapter

    adapter = DMLabAdapter(goals=str(GOALS), width=160, height=120)
    try:
        task = dataclasses.replace(adapter.tasks("train")[0], seed=1)
        obs, goal, info = adapter.reset(task)
        assert obs.rgb.shape == (120, 160, 3) and goal.mask.any()
        obs, done, success, info = adapter.step(Action(forward=True, camera=(0.0, 5.0)))
        assert obs.rgb.shape == (120, 160, 3)
    finally:
        adapter.close()
