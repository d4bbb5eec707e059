"""Language goals read from task files: Minecraft in STEVE-1's prompt style, Unreal from the suite's instruction
(with a default), both through a real reset where the route can run here (Unreal's local wire servers)."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from adapters.minecraft.tasks import parse_tasks, steve_instruction
from harness.errors import CrossviewError
from harness.spec import CrossViewGoal, Goal, Interaction, Modality
from tests.adapters.test_unreal import ROUTES, make
from tests.servers.fixtures import suite


def test_minecraft_instructions_follow_steve1_prompts() -> None:
    tasks = parse_tasks({"tasks": [
        {"name": "d", "interaction": "mine", "target": {"block": "diamond_ore", "at": [1, 2]}},
        {"name": "s", "interaction": "hunt", "target": {"mob": "sheep", "at": [3, 4]}},
        {"name": "c", "interaction": "interact", "target": {"block": "chest", "at": [5, 6]},
         "instruction": "  open the chest by the tree "}]})
    # the style of MineStudio's STEVE-1 prompts, e.g. "mine the diamond ore" (minestudio/tutorials/simulator/
    # test_sim.py:50)
    assert [steve_instruction(t) for t in tasks] == ["mine the diamond ore", "kill the sheep",
                                                     "open the chest by the tree"]
    with pytest.raises(CrossviewError, match=r"tasks\[0\]\.instruction: must be a string"):
        parse_tasks({"tasks": [{"interaction": "mine", "target": {"block": "stone", "at": [0, 0]},
                                "instruction": 3}]})


@pytest.mark.parametrize("route", ROUTES)
def test_unreal_language_goal_from_the_suite(route: str, tmp_path) -> None:
    data = yaml.safe_load(suite(route).read_text())
    data["tasks"][0]["instruction"] = "walk over to the red thing"
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(data))
    adapter = make(route, tasks=path)
    try:
        assert Modality.LANGUAGE in adapter.info.goals
        task = adapter.tasks("train")[0]
        plain_obs, plain, _ = adapter.reset(task)
        obs, goal, _ = adapter.reset(dataclasses.replace(task, goal="language"))
        assert isinstance(plain, CrossViewGoal) and isinstance(goal, Goal)
        assert goal.language.instruction == "walk over to the red thing" and goal.language.phrasing == "task-file"
        assert (goal.cross_view.mask == plain.mask).all()
        others = adapter.tasks("train")[1:]
        for other in others:  # tasks without an instruction get the default words
            _, g, _ = adapter.reset(dataclasses.replace(other, goal="language"))
            verb = "go to" if other.interaction == Interaction.APPROACH else "pick up"
            assert g.language.instruction == f"{verb} the {other.target}"
    finally:
        adapter.close()
