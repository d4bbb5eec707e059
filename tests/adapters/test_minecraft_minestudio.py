"""Minecraft through MineStudio's own Python layer, up to the engine boundary (nox session ``minestudio``).

``MinecraftSim`` is built for real (it needs only the engine jar's file to exist: minestudio/simulator/entry.py:80,
118) in a private ``MINESTUDIO_DIR``; its action and observation handlers turn our actions into the engine's
command text and the engine's JSON into ``info`` exactly as in a live episode. Launching the (empty) engine fails
the way a broken install does, which is how the seed and launch-failure tests reach MineStudio's reset.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from adapters.minecraft import world
from adapters.minecraft.actions import env_action
from adapters.minecraft.tasks import INTERACT_STATS, MinecraftTask
from harness.errors import CrossviewError
from harness.spec import Action, Interaction

pytestmark = pytest.mark.minestudio
TASK = MinecraftTask("t", Interaction.MINE, "block", "diamond_ore", (1.0, 2.0), seed=7,
                     inventory=(("iron_pickaxe", 1),))


@pytest.fixture(scope="module")
def studio_dir(tmp_path_factory):
    """A private MINESTUDIO_DIR holding an empty engine jar, set before MineStudio is first imported.

    MineStudio fixes its database folder at import (minestudio/simulator/minerl/env/database_manager.py:17), and
    its reset starts a watchdog (database_manager.py:46-56, daemon.py) that exits once this process has.
    """
    folder = tmp_path_factory.mktemp("minestudio")
    jar = folder / "engine" / "build" / "libs" / "mcprec-6.13.jar"
    jar.parent.mkdir(parents=True)
    jar.write_bytes(b"")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINESTUDIO_DIR", str(folder))
        yield folder


@pytest.fixture()
def sim(studio_dir):
    """A real MinecraftSim whose engine jar is an empty file (so nothing can launch a game)."""
    pytest.importorskip("minestudio.simulator", reason="MineStudio's Python layer is not importable here "
                        "(pip install minestudio==1.1.6 in its own environment: nox -s minestudio)")
    from minestudio.simulator import MinecraftSim

    from adapters.minecraft.adapter import sim_options

    s = MinecraftSim(**sim_options((90, 160), (640, 360), TASK))
    yield s
    s.env.close()


def _engine_json(**extra):
    """The per-step JSON the engine sends: the keys MineStudio's observation handlers read."""
    return json.dumps({"xpos": 10.7, "ypos": 64.0, "zpos": -3.2, "pitch": 12.0, "yaw": -90.0, "isGuiOpen": False,
                       "inventory": [], "equipped_items": {}, **extra})


def _observe(sim, **extra):
    name = sim.env.task.agent_names[0]
    obs, monitor = sim.env._process_observation(name, np.zeros((360, 640, 3), np.uint8), _engine_json(**extra))
    return sim._wrap_obs_info(obs, monitor)


def test_observation_is_height_by_width(sim) -> None:
    # obs_size (H, W) = (90, 160) reaches MineStudio as (W, H), which cv2.resize takes as dsize (entry.py:239)
    obs, _ = _observe(sim)
    assert obs["image"].shape == (90, 160, 3)


def test_actions_become_the_engine_commands(sim) -> None:
    name = sim.env.task.agent_names[0]
    action = env_action(Action(forward=True, camera=(2.0, -5.0)))
    action["voxels"] = world.voxel_request((12, 63, -7), (10.7, 64.0, -3.2))
    text = sim.env._process_action(name, action).split("\n")
    assert "forward 1" in text and "camera 2.0 -5.0" in text and "voxels 2,2,-1,-1,-3,-3" in text
    assert not any(t.startswith("mobs") for t in text)  # only what is asked for is sent (_multiagent.py:293-298)
    noop = sim.env.action_space.no_op()
    noop["chat"] = world.setblock((12, 63, -7), "diamond_ore")  # what execute_cmd sends (_singleagent.py:38-43)
    assert "chat /setblock 12 63 -7 minecraft:diamond_ore" in sim.env._process_action(name, noop).split("\n")


def test_info_reads_back_through_minestudio(sim) -> None:
    voxels = [{"type": "minecraft:air", "x": 12, "y": 63, "z": -7}]
    _, info = _observe(sim, voxels=voxels, custom={"open_chest": 3}, kill_entity={"sheep": 1})
    assert world.player_position(info) == (10.7, 64.0, -3.2, -90.0, 12.0)
    assert world.single_voxel(info["voxels"]) == "air"
    assert world.stat_value(info, "custom", "open_chest") == 3 and world.stat_value(info, "kill_entity", "sheep") == 1
    assert world.stat_value(info, "use_item", "chest") == 0  # a stat the engine did not send reads as 0
    _, later = _observe(sim)  # MineStudio keeps the last voxels in info (entry.py:240-244): read only when asked
    assert later["voxels"] == voxels


def test_interact_statistics_exist_in_minestudio(studio_dir) -> None:
    mc = pytest.importorskip("minestudio.simulator.minerl.herobraine.hero.mc",
                             reason="MineStudio's Python layer is not importable here (nox -s minestudio)")
    known = {tuple(k) for k in mc.ALL_STAT_KEYS}
    for block, stat in INTERACT_STATS.items():
        assert tuple(stat.split(".")) in known, (block, stat)
    assert ("use_item", "chest") in known  # what the old adapter read: placing a chest, not opening one


def test_mob_sizes_come_from_minecraft_data() -> None:
    data = pytest.importorskip("minecraft_data", reason="minecraft_data (a MineStudio dependency) is not installed")
    from adapters.minecraft.adapter import mob_size

    sheep = data("1.16.5").entities_name["sheep"]
    assert mob_size("sheep") == (float(sheep["width"]), float(sheep["height"]))


def test_every_reset_is_seeded(sim, monkeypatch) -> None:
    from adapters.minecraft.adapter import engine_call, reset_world

    seen = []
    real = type(sim.env).reset

    def watch(env):  # records the seed the mission would carry (_multiagent.py:642-643), then runs the real reset
        seen.append(env._seed)
        return real(env)

    monkeypatch.setattr(type(sim.env), "reset", watch)
    for _ in range(2):
        with pytest.raises(CrossviewError):  # the empty engine cannot launch
            engine_call("reset", lambda: reset_world(sim, 7))
    assert seen == [7, 7]
    assert sim.env._seed is None  # MineStudio forgot it after the reset (_multiagent.py:508)


def test_launch_trailer_is_minestudios(studio_dir) -> None:
    from importlib.resources import files

    from adapters.minecraft.adapter import LAUNCH_TRAILER

    pytest.importorskip("minestudio.simulator.minerl.env", reason="MineStudio's Python layer is not importable "
                        "here (nox -s minestudio)")
    assert LAUNCH_TRAILER in files("minestudio.simulator.minerl.env").joinpath("malmo.py").read_text()


def test_a_failed_launch_is_one_line(sim) -> None:
    from adapters.minecraft.adapter import engine_call, reset_world

    with pytest.raises(CrossviewError) as exc:
        engine_call("reset", lambda: reset_world(sim, 7))
    line = str(exc.value)
    assert "\n" not in line and line.startswith("minecraft: the engine failed during reset (EOFError")
    from adapters.minecraft.adapter import LAUNCH_TRAILER

    # MineStudio's fixed last sentence (malmo.py:453-454) is dropped: the launch log's own words fill the line
    assert LAUNCH_TRAILER not in line and "logs to" in line


def test_launch_client_needs_no_virtual_display_on_macos(studio_dir) -> None:
    from importlib.resources import files

    from adapters.minecraft.prereqs import display_tools

    pytest.importorskip("minestudio.simulator.minerl.env", reason="MineStudio's Python layer is not importable "
                        "here (nox -s minestudio)")
    script = files("minestudio.simulator.minerl.env").joinpath("launchClient.sh").read_text()
    darwin, _, rest = script.partition('if [ "$(uname)" = "Darwin" ]; then')[2].partition("else")
    assert "xvfb-run" not in darwin and "java" in darwin  # launchClient.sh:38-39
    assert "xvfb-run -a java" in rest.partition("fi")[0]  # launchClient.sh:41
    assert display_tools("Darwin") == () and display_tools("Linux") == ("xvfb-run",)


def test_a_lost_connection_drops_the_simulator(sim) -> None:
    """A closed socket is what a dead engine leaves; MineStudio's own step then fails (its error path raises
    TypeError from Text.sample, spaces.py:491-497, after setting done: _multiagent.py:360-376)."""
    import socket
    import types

    from adapters.minecraft.adapter import MinecraftAdapter

    dead = socket.socket()
    dead.close()
    name = sim.env.task.agent_names[0]
    # an instance whose engine is gone: its socket closed, its process no longer running (malmo.py:357)
    sim.env.instances, sim.env.done, sim.env.has_finished = [types.SimpleNamespace(
        client_socket=dead, running=False)], False, {name: False}
    adapter = object.__new__(MinecraftAdapter)  # the engine plumbing only
    adapter._sim, adapter._ended = sim, False
    with pytest.raises(CrossviewError) as exc:
        adapter._step(env_action(Action()))
    assert "\n" not in str(exc.value) and str(exc.value).startswith("minecraft: the engine failed during a step")
    assert adapter._sim is None  # the next reset builds a fresh simulator instead of reusing a dead one
    assert sim.env.done  # MineStudio's env would refuse every later step (_multiagent.py:405-406)


def test_a_report_is_never_a_kept_one(sim) -> None:
    # MinecraftSim keeps the last mobs report when the engine sends none (entry.py:240-244, _multiagent.py:248-249)
    listed = [{"name": world.TARGET_TAG, "type": "sheep"}]
    _observe(sim, mobs=listed)
    _, info = _observe(sim)
    assert info["mobs"] == listed  # upstream: the old report stands
    world.forget_reports(sim, {"mobs": [0, 0, 0, 0, 0, 0]})  # what the adapter does before a step that asks
    _, info = _observe(sim)
    assert "mobs" not in info  # so a missing report reads as none, not as the target still being there
    _observe(sim, voxels=[{"type": "air", "x": 0, "y": 0, "z": 0}])
    world.forget_reports(sim, {"mobs": [0, 0, 0, 0, 0, 0]})
    assert "voxels" in sim.info  # only what the action asks for is dropped
