"""DeepMind Lab: the pure parts by hand (actions, turn scale, settings, maze cells, goals, capture scripts); the
engine where ``deepmind_lab`` is built."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from adapters.action_map import merge_table
from adapters.dmlab import (
    DEFAULT_TABLE,
    PICKUP_RADIUS,
    UNITS_PER_METRE,
    cell_position,
    degrees_per_pixel,
    engine_frame_msec,
    level_config,
    native_action,
    setting_text,
    to_crossview,
)
from adapters.dmlab_capture import object_position, parse_steps
from harness.errors import BackendUnavailable, CrossviewError
from harness.goals import load_goal, load_library, save_goal
from harness.spec import Action, CrossViewGoal, Interaction

GOALS = Path(__file__).resolve().parents[1] / "fixtures" / "dmlab_goals"
LEVEL = "contributed/dmlab30/explore_object_locations_small"
HAVE_LAB = importlib.util.find_spec("deepmind_lab") is not None
NO_LAB = "deepmind_lab is not installed (DeepMind Lab is built from source with Bazel; README)"


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


def test_turn_scale_by_hand() -> None:
    # dmlab_connect.c: 0.11 * 60 / 1000 = 0.0066 deg per pixel per engine ms; round(960 / fps) ms per frame
    assert engine_frame_msec(60) == 16 and engine_frame_msec(30) == 32 and engine_frame_msec(15) == 64
    assert degrees_per_pixel(60, 1) == pytest.approx(0.1056)
    # the defaults: 60 fps, action_repeat 2 -> 0.2112° per pixel; the paper's 4.75 px per degree turns 1.0032°
    assert degrees_per_pixel(60, 2) * 4.75 == pytest.approx(1.0032)
    assert degrees_per_pixel(60, 4) * 4.75 == pytest.approx(2.0064)  # the old default turned twice as far
    assert degrees_per_pixel(30, 1) == degrees_per_pixel(60, 2)


def test_settings_are_strings_with_lua_booleans() -> None:
    # common/helpers.lua fromString turns only "true"/"false" into booleans; "True" stays a string
    assert level_config(320, 240, 60, {"allowHoldOutLevels": True, "episodeLengthSeconds": 30, "x": False}) == {
        "width": "320", "height": "240", "fps": "60", "allowHoldOutLevels": "true", "episodeLengthSeconds": "30",
        "x": "false"}
    assert setting_text("True") == "True" and setting_text(0.5) == "0.5"


def test_maze_cells_by_hand() -> None:
    layout = "*****\n*A P*\n*****\n"  # 3 rows: row 2, col 2 holds the object
    # x = (col - 1) * 100 + 50, y = (rows - row) * 100 + 50 (lua_maze_generation.cc:462-470)
    assert cell_position(layout, 2, 2) == (150.0, 150.0) and cell_position(layout, 1, 1) == (50.0, 250.0)
    assert object_position(layout, "2,2", 30.0) == ([150.0, 150.0, 30.0], [2, 2])
    with pytest.raises(CrossviewError, match="holds 'P', not an object"):
        object_position(layout, "2,4", 30.0)
    # doors are 'H' / 'I' in generated mazes with hasDoors (lua_maze_generation.cc:307-308), not objects
    with pytest.raises(CrossviewError, match="holds 'H', not an object"):
        object_position("*****\n*AHP*\n*****\n", "2,3", 30.0)
    with pytest.raises(CrossviewError, match="outside"):
        object_position(layout, "9,1", 30.0)
    with pytest.raises(CrossviewError, match="ROW,COL"):
        object_position(layout, "two", 30.0)


def test_object_cells_of_a_labmaze_layout() -> None:
    labmaze = pytest.importorskip("labmaze", reason="labmaze (DMLab's maze generator) is not installed")
    # google-deepmind/labmaze:labmaze/random_maze.py:28-41 (object_token, random_seed), base.py:30 entity_layer
    maze = labmaze.RandomMaze(height=11, width=11, max_rooms=4, room_min_size=3, room_max_size=5,
                              spawns_per_room=1, objects_per_room=1, object_token="A", random_seed=3)
    layout = str(maze.entity_layer)
    rows = layout.strip("\n").split("\n")
    cells = [(r + 1, c + 1) for r, row in enumerate(rows) for c, ch in enumerate(row) if ch == "A"]
    assert cells
    positions = [object_position(layout, f"{r},{c}", 0.0)[0] for r, c in cells]
    for (r, c), (x, y, _) in zip(cells, positions):
        assert (x, y) == ((c - 1) * 100 + 50, (11 - r) * 100 + 50)
    # objects are at least a cell apart, so a pickup within PICKUP_RADIUS identifies one object
    gaps = [np.hypot(a[0] - b[0], a[1] - b[1]) for i, a in enumerate(positions) for b in positions[i + 1:]]
    assert not gaps or min(gaps) >= 2 * PICKUP_RADIUS


def test_crossview_frame() -> None:
    # 32 units a metre; the eye 26 units above the origin; Quake yaw is counter-clockwise, crossview's clockwise
    x, y, z, yaw, pitch = to_crossview((320.0, 64.0, 0.0), (350.0, 90.0, 0.0))
    assert (x, y, z) == pytest.approx((10.0, 2.0, 26 / 32)) and yaw == -90.0 and pitch == -10.0
    assert to_crossview((32.0, 0.0, 0.0)) == (1.0, 0.0, 0.0)
    # crouching lowers the eye to CROUCH_VIEWHEIGHT = 12 units (bg_public.h:51, bg_pmove.c:1283-1308)
    from adapters.dmlab import CROUCH, CROUCH_EYE_UNITS, JUMP

    assert to_crossview((0.0, 0.0, 0.0), (0.0, 0.0, 0.0), CROUCH_EYE_UNITS)[2] == pytest.approx(12 / 32)
    t = merge_table(DEFAULT_TABLE, None, "dmlab")
    crouch = native_action(Action(sneak=True), t)
    assert crouch[CROUCH] == 1 and crouch[JUMP] == 0  # upmove = (jump - crouch) * 127 < 0 (dmlab_connect.c:1144)
    assert UNITS_PER_METRE == 32.0


def test_capture_scripts() -> None:
    steps = parse_steps("yaw=30*3, forward*2,pitch=-5,attack")
    assert [a.camera for a in steps[:3]] == [(0.0, 30.0)] * 3 and steps[3].forward and steps[4].forward
    assert steps[5].camera == (-5.0, 0.0) and steps[6].attack and len(steps) == 7
    assert parse_steps("") == []
    for bad in ("fly*2", "yaw=ten", "forward*", "roll=3"):
        with pytest.raises(CrossviewError, match="--steps"):
            parse_steps(bad)


def test_goal_library_round_trip_and_errors(tmp_path: Path) -> None:
    lib = load_library(GOALS)
    assert [g.name for g in lib] == ["apple_far", "apple_red"]
    assert lib[1].goal.interaction is Interaction.APPROACH and lib[1].goal.mask.sum() == 400
    assert lib[0].split == "heldout" and lib[0].difficulty == "hard" and lib[1].meta["seed"] == 7
    img = np.zeros((10, 12, 3), np.uint8)
    mask = np.zeros((10, 12), bool)
    mask[2:4, 3:5] = True
    save_goal(tmp_path, "g", CrossViewGoal(img, mask, Interaction.MINE), target="x")
    g = load_goal(tmp_path, "g")
    assert np.array_equal(g.goal.mask, mask) and g.goal.interaction is Interaction.MINE and g.target == "x"
    (tmp_path / "g.json").write_text("{not json")
    with pytest.raises(CrossviewError, match="not valid JSON"):
        load_goal(tmp_path, "g")


def _library(tmp_path: Path, **changes) -> Path:
    folder = tmp_path / "goals"
    shutil.copytree(GOALS, folder)
    meta = json.loads((folder / "apple_red.json").read_text())
    meta.update(changes)
    for key in [k for k, v in changes.items() if v is None]:
        del meta[key]
    (folder / "apple_red.json").write_text(json.dumps(meta))
    return folder


@pytest.mark.parametrize("changes, message", [
    ({"seed": None}, "'seed'"),
    ({"seed": "7"}, "'seed'"),
    ({"level": None}, "'level'"),
    ({"level": "contributed/dmlab30/explore_goal_locations_small"}, "captured in level"),
    ({"object": [1, 2]}, "'object' must be"),
    ({"config": {"episodeLengthSeconds": "10"}}, "captured with level settings"),
])
def test_goals_must_record_their_world(tmp_path: Path, changes, message) -> None:
    from adapters.dmlab import DMLabAdapter

    with pytest.raises(CrossviewError, match=message):
        DMLabAdapter(goals=str(_library(tmp_path, **changes)))


def test_maze_option_is_refused() -> None:
    from adapters.dmlab import DMLabAdapter

    with pytest.raises(CrossviewError, match="overrideEntityLayer"):
        DMLabAdapter(goals=str(GOALS), maze={"width": 11, "height": 11})


@pytest.mark.skipif(HAVE_LAB, reason="deepmind_lab is installed here; the missing-engine path cannot be shown")
def test_missing_engine_says_how_to_build_it() -> None:
    from adapters.base import availability
    from adapters.dmlab import DMLabAdapter

    with pytest.raises(BackendUnavailable, match="^dmlab: deepmind_lab is not installed .*Bazel"):
        DMLabAdapter(goals=str(GOALS))
    ok, line = availability("dmlab")
    assert not ok and "\n" not in line and "deepmind_lab" in line and "DeepMind Lab from source" in line


@pytest.mark.skipif(not HAVE_LAB, reason=NO_LAB)
def test_engine_episodes_reproduce_the_goal_world() -> None:
    from adapters.dmlab import DMLabAdapter

    adapter = DMLabAdapter(goals=str(GOALS), width=160, height=120)
    try:
        task = adapter.tasks("train")[0]
        assert task.seed == 7  # the goal's level seed
        first, goal, info = adapter.reset(dataclasses.replace(task, seed=1))
        again, _, _ = adapter.reset(dataclasses.replace(task, seed=99))  # the runner's seed does not move the world
        assert np.array_equal(first.rgb, again.rgb) and first.rgb.shape == (120, 160, 3) and goal.mask.any()
        assert info.provenance["level_seed"] == 7 and info.provenance["success_rule"] == "the goal's object"
        assert info.provenance["action_repeat"] == 2 and info.provenance["fps"] == 60
        # the fixture's object cell was written by hand: check it against the level's own maze for seed 7
        g = adapter.library[1]
        layout = adapter._lab.observations()["DEBUG.MAZE.LAYOUT"]
        position, cell = object_position(layout, ",".join(map(str, g.meta["object_cell"])), 30.0)
        assert cell == g.meta["object_cell"] and position[:2] == g.meta["object"][:2]
        obs, done, success, info = adapter.step(Action(forward=True, camera=(0.0, 5.0)))
        assert obs.rgb.shape == (120, 160, 3) and info.privileged is not None
    finally:
        adapter.close()


@pytest.mark.skipif(not HAVE_LAB, reason=NO_LAB)
def test_engine_episode_end_reads_no_observations() -> None:
    from adapters.dmlab import DMLabAdapter

    adapter = DMLabAdapter(goals=str(GOALS), width=80, height=60, config={"episodeLengthSeconds": 1})
    try:
        adapter.reset(adapter.tasks("train")[0])
        done, steps = False, 0
        while not done and steps < 200:  # 1 s at 60 fps is 30 agent steps of 2 frames
            obs, done, success, info = adapter.step(Action())  # must not call observations() after the end
            steps += 1
        assert done and obs.rgb.shape == (60, 80, 3)
    finally:
        adapter.close()


def test_goal_capture_cli_fails_in_one_line(tmp_path: Path) -> None:
    from tests.harness.test_cli import crossview

    base = ("goal", "capture", "--dmlab", LEVEL, "--name", "g", "--box", "0,0,10,10", "--out", str(tmp_path / "g"))
    res = crossview(*base)
    assert res.returncode != 0 and "give --seed N" in res.stderr and "Traceback" not in res.stderr
    res = crossview(*base, "--seed", "3", "--steps", "forward*3,fly")
    assert res.returncode != 0 and "--steps: 'fly'" in res.stderr
    if not HAVE_LAB:
        res = crossview(*base, "--seed", "3")
        assert res.returncode != 0 and "deepmind_lab is not installed" in res.stderr
        assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
    assert not (tmp_path / "g").exists()  # nothing half-written


@pytest.mark.skipif(not HAVE_LAB, reason=NO_LAB)
def test_engine_goal_capture_records_its_world(tmp_path: Path) -> None:
    from adapters.dmlab import DMLabAdapter
    from adapters.dmlab_capture import capture

    capture(tmp_path, "g", "100,80,220,160", seed=5, level=LEVEL, steps="yaw=30*2")
    g = load_goal(tmp_path, "g")
    assert g.meta["level"] == LEVEL and g.meta["seed"] == 5 and g.meta["entity_layer"].strip()
    assert g.meta["fps"] == 60 and g.meta["action_repeat"] == 2 and len(g.meta["pose"]) == 6
    adapter = DMLabAdapter(goals=str(tmp_path))
    try:
        obs, _, info = adapter.reset(adapter.tasks("train")[0])
        assert info.provenance["success_rule"].startswith("any apple")  # no --object given
        for _ in range(2):
            obs, _, _, _ = adapter.step(Action(camera=(0.0, 30.0)))
        assert np.array_equal(obs.rgb, g.goal.image)  # same seed, same script: the goal's own view
    finally:
        adapter.close()


def test_maze_waypoints_by_hand() -> None:
    from adapters.dmlab import waypoint, world_cell

    layout = "*****\n* * *\n*   *\n*****\n"  # 4 rows; open cells (2,2), (2,4), (3,2), (3,3), (3,4)
    assert world_cell(layout, 150.0, 250.0) == (2, 2) and world_cell(layout, 399.0, 100.0) == (3, 4)
    # from (2,2) to (2,4): the wall at (2,3) forces the way down through (3,2)
    assert waypoint(layout, (150.0, 250.0), (350.0, 250.0)) == (150.0, 150.0)
    assert waypoint(layout, (150.0, 150.0), (350.0, 250.0)) == (250.0, 150.0)  # then along row 3
    assert waypoint(layout, (340.0, 260.0), (350.0, 250.0)) == (350.0, 250.0)  # same cell: the goal itself
    assert waypoint("***\n* *\n***\n", (150.0, 150.0), (150.0, 50.0)) == (150.0, 50.0)  # no path: the goal


def test_success_is_the_goal_object() -> None:
    from adapters.dmlab import goal_collected

    apple = (450.0, 750.0, 30.0)
    assert goal_collected(1.0, (440.0, 770.0, 30.0), apple)  # picked up where the goal's apple stands
    assert not goal_collected(1.0, (650.0, 750.0, 30.0), apple)  # another apple, two cells away
    assert not goal_collected(0.0, (450.0, 750.0, 30.0), apple)
    assert goal_collected(1.0, (650.0, 750.0, 30.0), None)  # a goal without an object: any apple
    # the map's last apple: object_locations_factory.lua:33-39 finishes the map, the next frame of the same
    # step reloads it (dmlab_connect.c:1181-1202) and respawns the player elsewhere (object_locations_factory.lua:
    # 41-46); the position before the step still shows the pickup
    spawn, beside = (1050.0, 150.0, 30.0), (455.0, 730.0, 30.0)
    assert goal_collected(1.0, spawn, apple, before=beside)
    assert not goal_collected(1.0, spawn, apple, before=(650.0, 750.0, 30.0))
    assert not goal_collected(1.0, None, apple)


def test_episode_provenance_records_timing_and_rule() -> None:
    from adapters.dmlab import episode_provenance

    p = episode_provenance(LEVEL, 7, 60, 2, DEFAULT_TABLE, True)
    assert p["level_seed"] == 7 and p["fps"] == 60 and p["action_repeat"] == 2 and p["engine_frame_msec"] == 16
    assert p["yaw_degrees_per_common_degree"] == pytest.approx(1.0032) and p["success_rule"] == "the goal's object"
    assert episode_provenance(LEVEL, 7, 60, 2, DEFAULT_TABLE, False)["success_rule"].startswith("any apple")
    json.dumps(p)  # stored with the episode as JSON
