"""Minecraft, pure parts by hand: projection and frames, task files, commands and reports, prerequisites.

MineStudio's own Python layer is exercised in test_minecraft_minestudio.py (nox session ``minestudio``).
"""

from __future__ import annotations

import math
import stat
from pathlib import Path

import numpy as np
import pytest

from adapters.minecraft import prereqs, world
from adapters.minecraft.actions import ENV_KEYS, env_action
from adapters.minecraft.projection import (
    block_mask,
    box_mask,
    camera_axes,
    distance_to_box,
    entity_box,
    look_at,
    project,
    to_crossview,
    yaw_to_crossview,
)
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
    assert block_mask((0, 65, 2), (0.0, 64.0, 0.0), 0.0, 0.0).sum() > mask.sum()  # closer is bigger


def test_mask_of_a_wide_observation_is_height_by_width() -> None:
    # (H, W) = (90, 160): the block straight ahead lands in the middle column band, not a transposed one
    mask = block_mask((0, 65, 5), (0.5, 64.0 - 0.12, 0.5), 0.0, 0.0, out_size=(90, 160))
    rows, cols = np.nonzero(mask)
    assert mask.shape == (90, 160)
    assert cols.mean() == pytest.approx(80, abs=2) and rows.mean() == pytest.approx(45, abs=2)


def test_entity_box_and_distance() -> None:
    lo, hi = entity_box((10.5, 64.0, -3.5), 0.9, 1.3)  # a sheep's box on its feet
    assert lo == pytest.approx((10.05, 64.0, -3.95)) and hi == pytest.approx((10.95, 65.3, -3.05))
    assert distance_to_box(np.array([10.5, 65.0, 0.0]), (lo, hi)) == pytest.approx(3.05)
    assert distance_to_box(np.array([10.5, 65.0, -3.5]), (lo, hi)) == 0.0
    assert box_mask((lo, hi), (10.5, 64.0, -8.0), 0.0, 10.0).any()  # seen from 4.5 blocks north, facing south


def test_look_at() -> None:
    assert look_at((0, 64, 0), (0, 65.62, 10)) == pytest.approx((0.0, 0.0))
    assert look_at((0, 64, 0), (-10, 65.62, 0))[0] == pytest.approx(90.0)
    yaw, pitch = look_at((0, 64, 0), (0, 60, 5))
    assert pitch > 0 and math.isclose(yaw, 0.0, abs_tol=1e-9)  # looking down is positive pitch
    yaw, pitch = look_at((3, 64, -2), (10.5, 63.0, 7.5))
    assert block_mask((10, 62, 7), (3, 64, -2), yaw, pitch)[100:124, 100:124].any()  # looked-at block is centred


def test_crossview_frame() -> None:
    # Minecraft east (+x) stays +x, south (+z) becomes -y, up (+y) becomes +z
    assert to_crossview((1.0, 2.0, 3.0)) == (1.0, -3.0, 2.0)
    # facing east is Minecraft yaw 270 (-90) and crossview 0; south (mc 0) is a right turn from east: crossview 90
    assert yaw_to_crossview(-90.0) == 0.0 and yaw_to_crossview(270.0) == 0.0 and yaw_to_crossview(0.0) == 90.0
    assert yaw_to_crossview(180.0) == -90.0  # north: a left turn from east
    # crossview bearing of a point straight ahead: -atan2(dy, dx); Minecraft looking south at a point 5 blocks south
    x, y, _ = to_crossview((0.0, 0.0, 5.0))
    assert -math.degrees(math.atan2(y, x)) == pytest.approx(yaw_to_crossview(look_at((0, 0, 0), (0, 1.62, 5))[0]))


def test_env_action() -> None:
    out = env_action(Action(forward=True, attack=True, jump=True, camera=(2.0, -5.0)), frozenset({"jump"}))
    assert set(out) == {*ENV_KEYS, "camera"}
    assert out["forward"] == 1 and out["attack"] == 1 and out["jump"] == 0 and out["inventory"] == 0
    assert out["camera"].dtype == np.float32 and out["camera"].tolist() == [2.0, -5.0]


def test_task_file() -> None:
    tasks = load_tasks(TASKS)
    assert [t.name for t in tasks] == ["mine_diamond", "hunt_sheep", "approach_tree", "open_chest"]
    mine, hunt, tree, chest = tasks
    assert mine.interaction is Interaction.MINE and mine.inventory == (("iron_pickaxe", 1),)
    assert mine.on_ground and mine.at == (12.0, -40.0) and not tree.on_ground and tree.at == (-5.0, 64.0, 20.0)
    assert hunt.kind == "mob" and hunt.split == "heldout" and tree.max_steps == 600
    # interacting with a chest counts in custom.open_chest, not in use_item (which counts placing one)
    assert chest.stat == ("custom", "open_chest")


@pytest.mark.parametrize("task, message", [
    ({"interaction": "mine"}, "tasks[0].target"),
    ({"target": {"block": "stone", "at": [1]}}, "tasks[0].target.at"),
    ({"target": {"block": "stone", "at": [1, 2, 3]}, "colour": 1}, "tasks[0].colour: unknown key"),
    ({"target": {"block": "stone", "at": [1, 2, 3]}, "interaction": "craft"}, "tasks[0].interaction"),
    ({"target": {"block": "stone", "at": [1, 2, 3]}, "difficulty": "nightmare"}, "tasks[0].difficulty"),
    ({"target": {"mob": "sheep", "at": [1, 2]}, "interaction": "mine"}, "mine needs a block target"),
    ({"target": {"block": "stone", "at": [1, 2]}, "interaction": "hunt"}, "hunt needs a mob target"),
    ({"target": {"block": "stone", "at": [1, 2]}, "interaction": "interact"}, "tasks[0].stat: no statistic"),
    ({"target": {"block": "chest", "at": [1, 2]}, "stat": "open_chest"}, "tasks[0].stat"),
    ({"target": {"block": "chest", "at": [1, 2], "size": [1, 1]}}, "tasks[0].target.size: only for mobs"),
    ({"target": {"block": "chest", "at": [1, 2]}, "seed": "7"}, "tasks[0].seed: must be an integer"),
])
def test_bad_task_files(task, message) -> None:
    with pytest.raises(CrossviewError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_tasks({"tasks": [task]})


def test_bad_task_file_shapes(tmp_path: Path) -> None:
    with pytest.raises(CrossviewError, match="non-empty list"):
        parse_tasks({"tasks": []})
    with pytest.raises(CrossviewError, match="appears twice"):
        parse_tasks({"tasks": [{"name": "a", "target": {"block": "x", "at": [0, 0]}}] * 2})
    bad = tmp_path / "t.yaml"
    bad.write_text("tasks: [")
    with pytest.raises(CrossviewError, match="not valid YAML"):
        load_tasks(bad)


def test_commands_place_and_tag_the_target() -> None:
    assert world.setblock((12, 63, -40), "diamond_ore") == "/setblock 12 63 -40 minecraft:diamond_ore"
    assert world.setblock((12, 63, -40), "air") == "/setblock 12 63 -40 minecraft:air"
    summon = world.summon("sheep", (30.5, 70.0, 12.5), world.TARGET_TAG)
    assert summon.startswith("/summon minecraft:sheep 30.50 70.00 12.50 {")
    assert 'Tags:["crossview_target"]' in summon and "NoAI:1b" in summon and "PersistenceRequired:1b" in summon
    assert world.teleport((1.0, 64.0, -2.5), 90.0, 12.5) == "/tp @p 1.00 64.00 -2.50 90.00 12.50"
    assert world.to_surface(3.0, -4.5) == "/spreadplayers 3.00 -4.50 0 1 false @p"
    assert world.set_visible("t", False) == "/effect give @e[tag=t] minecraft:invisibility 1000000 0 true"
    assert world.set_visible("t", True) == "/effect clear @e[tag=t] minecraft:invisibility"


def test_voxel_and_mob_requests_are_offsets_from_the_feet_block() -> None:
    # player's feet at (10.7, 64.0, -3.2) are in block (10, 64, -4); the target block (12, 63, -7) is (+2, -1, -3)
    assert world.voxel_request((12, 63, -7), (10.7, 64.0, -3.2)) == [2, 2, -1, -1, -3, -3]
    assert world.column_request() == [0, 0, -1, 1, 0, 0]
    assert world.mob_request((12.5, 63.6, -6.5), (10.7, 64.0, -3.2), margin=2) == [0, 4, -3, 1, -5, -1]


def test_reports() -> None:
    column = [{"type": "minecraft:air", "x": 1, "y": 65, "z": 2}, {"type": "grass_block", "x": 1, "y": 63, "z": 2},
              {"type": "air", "x": 1, "y": 64, "z": 2}]
    assert world.standable(column)
    assert not world.standable([{**c, "type": "water"} if c["y"] == 63 else c for c in column])  # no footing
    assert not world.standable([{**c, "type": "stone"} if c["y"] == 64 else c for c in column])  # inside stone
    assert not world.standable(column[:2]) and not world.standable(None)
    assert world.single_voxel([{"type": "minecraft:diamond_ore", "x": 0, "y": 0, "z": 0}]) == "diamond_ore"
    assert world.single_voxel([]) is None and world.single_voxel(None) is None
    assert world.mentions([{"name": "crossview_target", "type": "sheep"}], "crossview_target")
    assert not world.mentions([{"name": "Sheep"}], "crossview_target") and not world.mentions(None, "x")
    info = {"custom": {"open_chest": np.asarray(2.0)}, "kill_entity": {"minecraft:sheep": 1}}
    assert world.stat_value(info, "custom", "open_chest") == 2.0 and world.stat_value(info, "kill_entity", "sheep") == 1
    assert world.stat_value(info, "use_item", "chest") == 0.0
    assert world.player_position({"player_pos": {"x": 1, "y": 2, "z": 3, "yaw": 4, "pitch": 5}}) == (1, 2, 3, 4, 5)
    with pytest.raises(CrossviewError, match="player_pos"):
        world.player_position({})


def test_visible_fraction_tells_an_occluded_target() -> None:
    mask = np.zeros((10, 10), bool)
    mask[2:6, 2:6] = True  # 16 pixels
    before = np.full((10, 10, 3), 100, np.uint8)
    after = before.copy()
    after[2:6, 2:4] = 200  # half the mask changes when the target goes
    assert world.visible_fraction(before, after, mask) == pytest.approx(0.5)
    assert world.visible_fraction(before, before, mask) == 0.0  # hidden behind something: nothing changes
    assert world.visible_fraction(before, after, np.zeros((10, 10), bool)) == 0.0


def test_java_versions() -> None:
    assert prereqs.java_major('openjdk version "1.8.0_392"\nOpenJDK Runtime') == 8
    assert prereqs.java_major('java version "1.8.0_401"') == 8
    assert prereqs.java_major('openjdk version "17.0.9" 2023-10-17') == 17
    assert prereqs.java_major('openjdk version "11" 2018-09-25') == 11
    assert prereqs.java_major("no java here") is None


def _tool(folder: Path, name: str, text: str = "") -> None:
    path = folder / name
    path.write_text(f"#!/bin/sh\necho '{text}' >&2\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_engine_is_looked_for_where_minestudio_looks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINESTUDIO_DIR", str(tmp_path / "ms"))
    assert prereqs.engine_path() == tmp_path / "ms" / "engine" / "build" / "libs" / "mcprec-6.13.jar"
    monkeypatch.delenv("MINESTUDIO_DIR")
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    assert prereqs.engine_path() == tmp_path / "tmp" / "MineStudio" / "engine" / "build" / "libs" / "mcprec-6.13.jar"
    assert not (tmp_path / "tmp").exists()  # looking does not create MineStudio's folder


def test_every_missing_prerequisite_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from adapters.minecraft.adapter import MinecraftAdapter

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("MINESTUDIO_DIR", str(tmp_path / "ms"))
    monkeypatch.delenv("MINESTUDIO_GPU_RENDER", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None if name == "minestudio" else object())
    with pytest.raises(BackendUnavailable) as exc:
        MinecraftAdapter.check_available()
    line = str(exc.value)
    assert "\n" not in line and line.startswith("minecraft: ")
    for part in ("MineStudio is not installed", str(tmp_path / "ms"), "Java 8 is not on PATH", "xvfb-run"):
        assert part in line
    assert "DISPLAY" not in line  # MineStudio runs xvfb-run itself
    _tool(bin_dir, "java", 'openjdk version "17.0.9" 2023-10-17')
    assert any("needs Java 8 but PATH has Java 17" in m for m in prereqs.missing())
    _tool(bin_dir, "java", 'openjdk version "1.8.0_392"')
    _tool(bin_dir, "xvfb-run")
    jar = prereqs.engine_path()
    jar.parent.mkdir(parents=True)
    jar.write_bytes(b"")
    assert [m.split(" (")[0] for m in prereqs.missing()] == ["MineStudio is not installed"]
    monkeypatch.setenv("MINESTUDIO_GPU_RENDER", "1")  # MineStudio then renders through vglrun, not xvfb-run
    assert any(m.startswith("vglrun is not on PATH") for m in prereqs.missing())


def test_adapter_refuses_to_start_without_its_backend() -> None:
    from adapters.minecraft.adapter import MinecraftAdapter

    if not prereqs.missing():
        pytest.skip("MineStudio, its engine, Java 8 and xvfb-run are all present here")
    with pytest.raises(BackendUnavailable, match="^minecraft: "):
        MinecraftAdapter(tasks=str(TASKS))


def test_engine_episode() -> None:
    from adapters.minecraft.adapter import MinecraftAdapter

    gaps = prereqs.missing()
    if gaps:
        pytest.skip("Minecraft engine not runnable here: " + "; ".join(gaps))
    adapter = MinecraftAdapter(tasks=str(TASKS), image_size=(90, 160))
    try:
        task = adapter.tasks("train")[-1]
        obs, goal, info = adapter.reset(task)
        placed = info.provenance["target_block"]
        assert obs.rgb.shape == (90, 160, 3) and goal.mask.any() and info.distance > 10
        assert info.privileged is not None and info.privileged.success_radius > 0
        obs, done, success, info = adapter.step(Action(forward=True))
        assert obs.rgb.shape == (90, 160, 3) and success is False
        _, goal2, info2 = adapter.reset(task)  # the same seed gives the same world: the target lands where it did
        assert goal2.mask.any() and info2.provenance["target_block"] == placed
    finally:
        adapter.close()


def test_display_tools_follow_launch_client() -> None:
    # launchClient.sh:37-45: java runs bare on macOS, under xvfb-run elsewhere, under vglrun on a GPU render device
    assert prereqs.display_tools("Darwin") == ()
    assert prereqs.display_tools("Linux") == ("xvfb-run",)


def test_interact_counts_only_within_reach_of_the_target() -> None:
    # custom.open_chest rises for ANY chest the player opens, so a rise far from the placed chest is not success
    from adapters.minecraft.adapter import REACH, MinecraftAdapter
    from adapters.minecraft.tasks import parse_tasks

    (task,) = parse_tasks({"tasks": [{"interaction": "interact", "target": {"block": "chest", "at": [0, 0]}}]})
    adapter = object.__new__(MinecraftAdapter)  # the success rule only; no engine
    adapter._baseline = {"custom": 0.0}
    opened = {"custom": {"open_chest": 1}}
    adapter._dist = 3.0
    assert adapter._succeeded(task, opened, {})
    adapter._dist = REACH + 10.0  # a village chest twenty blocks away
    assert not adapter._succeeded(task, opened, {})
    adapter._dist = 3.0
    assert not adapter._succeeded(task, {"custom": {"open_chest": 0}}, {})
