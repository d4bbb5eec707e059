"""Minecraft task files (YAML): which target to place where, how to interact with it, where to start.

    tasks:
      - name: mine_diamond
        interaction: mine            # approach | mine | hunt | interact
        target: {block: diamond_ore, at: [12, -40]}   # [x, z]: on the ground surface there; [x, y, z]: exactly there
        difficulty: easy             # start distance: easy ~20 blocks, hard 40-60 (as in the paper)
        inventory: [{type: iron_pickaxe, quantity: 1}]
        seed: 7                      # the world seed, applied before every reset
        max_steps: 600
        split: train
      - name: hunt_sheep
        interaction: hunt
        target: {mob: sheep, at: [30, 12], size: [0.9, 1.3]}   # size: the mob's box (width, height) in blocks
      - name: open_chest
        interaction: interact
        target: {block: chest, at: [5, 5]}
        stat: custom.open_chest      # the statistic whose rise means success (default: INTERACT_STATS)
        instruction: open the chest  # the words of a language goal (default: steve_instruction, STEVE-1's style)

Every episode places its target: blocks with ``/setblock``, mobs with ``/summon`` (tagged, without AI, so the mob
stays where its goal image shows it). Success comes from the target itself: the block at its position becomes air
(mine), the tagged mob is gone and the player's kill count of its type rose (hunt), the interaction's statistic rose
(interact), or the player is within reach (approach).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.errors import CrossviewError
from harness.spec import DIFFICULTIES, SPLITS, Interaction

START_DISTANCE = {"easy": (18.0, 22.0), "hard": (40.0, 60.0)}
INTERACTIONS = (Interaction.APPROACH, Interaction.MINE, Interaction.HUNT, Interaction.INTERACT)
# Opening or using a block counts in Minecraft's ``custom`` statistics, not in ``use_item`` (which counts placing
# the block item). Names as MineStudio lists them (CraftJarvis/MineStudio:
# minestudio/simulator/minerl/herobraine/hero/mc_constants.1.16.json, e.g. custom.open_chest at line 64456,
# custom.interact_with_crafting_table at 64449, custom.interact_with_furnace at 64442, custom.open_barrel at 64477,
# custom.open_enderchest at 64421, custom.trigger_trapped_chest at 64414); MineStudio observes the ``custom``
# group (minestudio/simulator/minerl/herobraine/env_specs/human_survival_specs.py:45).
INTERACT_STATS = {
    "chest": "custom.open_chest", "trapped_chest": "custom.trigger_trapped_chest",
    "ender_chest": "custom.open_enderchest", "barrel": "custom.open_barrel",
    "crafting_table": "custom.interact_with_crafting_table", "furnace": "custom.interact_with_furnace",
    "blast_furnace": "custom.interact_with_blast_furnace", "smoker": "custom.interact_with_smoker",
    "anvil": "custom.interact_with_anvil", "grindstone": "custom.interact_with_grindstone",
    "stonecutter": "custom.interact_with_stonecutter", "loom": "custom.interact_with_loom",
    "cartography_table": "custom.interact_with_cartography_table", "lectern": "custom.interact_with_lectern",
    "smithing_table": "custom.interact_with_smithing_table", "brewing_stand": "custom.interact_with_brewingstand",
    "beacon": "custom.interact_with_beacon", "dispenser": "custom.inspect_dispenser",
    "dropper": "custom.inspect_dropper", "hopper": "custom.inspect_hopper", "note_block": "custom.play_noteblock",
    "bell": "custom.bell_ring",
}
STAT_GROUPS = ("custom", "mine_block", "kill_entity", "use_item", "craft_item", "pickup", "break_item")
ALLOWED = ("name", "interaction", "target", "stat", "difficulty", "inventory", "seed", "max_steps", "split",
           "instruction")
# STEVE-1's prompts are short lower-case imperatives naming the target: "mine log"
# (CraftJarvis/MineStudio:minestudio/tutorials/inference/evaluate_steve/main.py:49, passed as the condition's
# "text", lines 22-25), "mine the diamond ore" (minestudio/tutorials/simulator/test_sim.py:50), "mine dirt"
# (minestudio/models/steve_one/body.py:699), "chop the tree" (minestudio/simulator/callbacks/task.py:25).
STEVE_VERBS = {Interaction.MINE: "mine", Interaction.HUNT: "kill", Interaction.INTERACT: "open",
               Interaction.APPROACH: "go to"}


@dataclass(frozen=True)
class MinecraftTask:
    """One parsed task; ``at`` is (x, z) for a target on the ground surface or (x, y, z) for an exact block."""

    name: str
    interaction: Interaction
    kind: str  # "block" or "mob"
    target: str
    at: tuple[float, ...]
    difficulty: str = "easy"
    inventory: tuple[tuple[str, int], ...] = ()
    seed: int = 0
    max_steps: int = 600
    split: str = "train"
    stat: tuple[str, str] | None = None  # (group, name) whose rise means success (interact, or a task's own rule)
    size: tuple[float, float] | None = None  # a mob's box (width, height) in blocks
    instruction: str = ""  # the task file's words for a language goal; empty: steve_instruction

    @property
    def on_ground(self) -> bool:
        """Whether the target goes on the ground surface at (x, z) rather than at an exact block."""
        return len(self.at) == 2


def _fail(source: str, where: str, what: str) -> CrossviewError:
    return CrossviewError(f"{source}: {where}: {what}")


def _numbers(value: Any, lengths: tuple[int, ...]) -> bool:
    return isinstance(value, list) and len(value) in lengths and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)


def parse_stat(text: Any, source: str, where: str) -> tuple[str, str]:
    """``group.name`` (e.g. ``custom.open_chest``) as a (group, name) pair."""
    group, _, name = str(text).partition(".")
    if group not in STAT_GROUPS or not name:
        raise _fail(source, where, f"{text!r} is not a statistic: write GROUP.NAME with GROUP one of "
                                   f"{', '.join(STAT_GROUPS)} (e.g. custom.open_chest)")
    return group, name.removeprefix("minecraft:")


def _target(t: dict, source: str, where: str) -> tuple[str, str, tuple[float, ...], tuple[float, float] | None]:
    target = t.get("target")
    if not isinstance(target, dict) or len({"block", "mob"} & set(target)) != 1 or "at" not in target:
        raise _fail(source, f"{where}.target", "give exactly one of block/mob and its position 'at: [x, z]' "
                                               "(on the ground) or 'at: [x, y, z]' (exactly there)")
    unknown = set(target) - {"block", "mob", "at", "size"}
    if unknown:
        raise _fail(source, f"{where}.target.{sorted(unknown)[0]}", "unknown key; allowed: block, mob, at, size")
    if not _numbers(target["at"], (2, 3)):
        raise _fail(source, f"{where}.target.at", "must be [x, z] (on the ground surface) or [x, y, z]")
    kind = "block" if "block" in target else "mob"
    size = None
    if "size" in target:
        if kind != "mob" or not _numbers(target["size"], (2,)) or min(target["size"]) <= 0:
            raise _fail(source, f"{where}.target.size", "only for mobs: [width, height] in blocks, both > 0")
        size = (float(target["size"][0]), float(target["size"][1]))
    name = str(target[kind]).removeprefix("minecraft:")
    return kind, name, tuple(float(v) for v in target["at"]), size


def parse_task(t: Any, i: int, source: str) -> MinecraftTask:
    """Validate one task mapping; errors name the task index and key."""
    where = f"tasks[{i}]"
    if not isinstance(t, dict):
        raise _fail(source, where, "each task is a mapping")
    unknown = set(t) - set(ALLOWED)
    if unknown:
        raise _fail(source, f"{where}.{sorted(unknown)[0]}", f"unknown key; allowed: {', '.join(ALLOWED)}")
    try:
        interaction = Interaction.parse(t.get("interaction", "approach"))
    except CrossviewError as exc:
        raise _fail(source, f"{where}.interaction", str(exc)) from None
    if interaction not in INTERACTIONS:
        raise _fail(source, f"{where}.interaction", f"use one of {', '.join(i.name.lower() for i in INTERACTIONS)}")
    kind, name, at, size = _target(t, source, where)
    if interaction is Interaction.MINE and kind != "block" or interaction is Interaction.HUNT and kind != "mob":
        raise _fail(source, f"{where}.target", f"{interaction.name.lower()} needs a "
                                               f"{'block' if interaction is Interaction.MINE else 'mob'} target")
    stat = parse_stat(t["stat"], source, f"{where}.stat") if "stat" in t else None
    if interaction is Interaction.INTERACT and stat is None:
        if kind != "block" or name not in INTERACT_STATS:
            raise _fail(source, f"{where}.stat", f"no statistic is known for interacting with {name}: name the one "
                                                 "that counts it (e.g. stat: custom.open_chest)")
        stat = parse_stat(INTERACT_STATS[name], source, f"{where}.stat")
    difficulty = t.get("difficulty", "easy")
    if difficulty not in DIFFICULTIES:
        raise _fail(source, f"{where}.difficulty", f"must be one of {', '.join(DIFFICULTIES)}")
    split = t.get("split", "train")
    if split not in SPLITS:
        raise _fail(source, f"{where}.split", f"must be one of {', '.join(SPLITS)}")
    inventory = []
    for j, item in enumerate(t.get("inventory", []) or []):
        if not isinstance(item, dict) or "type" not in item:
            raise _fail(source, f"{where}.inventory[{j}]", "each item needs a 'type' (and optional 'quantity')")
        inventory.append((str(item["type"]), int(item.get("quantity", 1))))
    for key in ("seed", "max_steps"):
        if key in t and (not isinstance(t[key], int) or isinstance(t[key], bool)):
            raise _fail(source, f"{where}.{key}", "must be an integer")
    if int(t.get("max_steps", 600)) < 1:
        raise _fail(source, f"{where}.max_steps", "must be >= 1")
    instruction = t.get("instruction", "")
    if not isinstance(instruction, str):
        raise _fail(source, f"{where}.instruction", "must be a string (the words of a language goal)")
    return MinecraftTask(str(t.get("name", f"task{i}")), interaction, kind, name, at, difficulty, tuple(inventory),
                         int(t.get("seed", 0)), int(t.get("max_steps", 600)), split, stat, size, instruction.strip())


def steve_instruction(task: MinecraftTask) -> str:
    """The task's words: its own ``instruction``, else STEVE-1's style ("mine the diamond ore", "kill the sheep")."""
    return task.instruction or f"{STEVE_VERBS[task.interaction]} the {task.target.replace('_', ' ')}"


def parse_tasks(data: Any, source: str = "minecraft tasks") -> list[MinecraftTask]:
    """Validate a loaded task file; each error names the task index and key."""
    if not isinstance(data, dict) or not isinstance(data.get("tasks"), list) or not data["tasks"]:
        raise CrossviewError(f"{source}: expected a mapping with a non-empty list under 'tasks'")
    out = [parse_task(t, i, source) for i, t in enumerate(data["tasks"])]
    names = [t.name for t in out]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise CrossviewError(f"{source}: task name {dup!r} appears twice; names must be unique")
    return out


def load_tasks(path: str | Path) -> list[MinecraftTask]:
    """Read and validate a task file."""
    p = Path(path)
    if not p.is_file():
        raise CrossviewError(f"minecraft task file {p} does not exist")
    try:
        return parse_tasks(yaml.safe_load(p.read_text()), str(p))
    except yaml.YAMLError as exc:
        raise CrossviewError(f"{p}: not valid YAML: {exc}") from None
