"""Minecraft task files (YAML): what to find, how to interact with it, where to start.

    tasks:
      - name: mine_diamond
        interaction: mine            # approach | mine | hunt | interact
        target: {block: diamond_ore, at: [12, 63, -40]}     # or {mob: sheep, at: [x, y, z]}
        difficulty: easy             # start distance: easy ~20 blocks, hard 40-60 (as in the paper)
        inventory: [{type: iron_pickaxe, quantity: 1}]
        seed: 7                      # the world seed
        max_steps: 600
        split: train
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.errors import CrossviewError
from harness.spec import DIFFICULTIES, SPLITS, Interaction

START_DISTANCE = {"easy": (18.0, 22.0), "hard": (40.0, 60.0)}
INTERACTIONS = (Interaction.APPROACH, Interaction.MINE, Interaction.HUNT, Interaction.INTERACT)


@dataclass(frozen=True)
class MinecraftTask:
    """One parsed task."""

    name: str
    interaction: Interaction
    kind: str  # "block" or "mob"
    target: str
    at: tuple[float, float, float]
    difficulty: str = "easy"
    inventory: tuple[tuple[str, int], ...] = ()
    seed: int = 0
    max_steps: int = 600
    split: str = "train"
    extra: dict[str, Any] = field(default_factory=dict)


def _fail(source: str, where: str, what: str) -> CrossviewError:
    return CrossviewError(f"{source}: {where}: {what}")


def parse_tasks(data: Any, source: str = "minecraft tasks") -> list[MinecraftTask]:
    """Validate a loaded task file; each error names the task index and key."""
    if not isinstance(data, dict) or not isinstance(data.get("tasks"), list) or not data["tasks"]:
        raise CrossviewError(f"{source}: expected a mapping with a non-empty list under 'tasks'")
    allowed = {"name", "interaction", "target", "difficulty", "inventory", "seed", "max_steps", "split"}
    out = []
    for i, t in enumerate(data["tasks"]):
        where = f"tasks[{i}]"
        if not isinstance(t, dict):
            raise _fail(source, where, "each task is a mapping")
        unknown = set(t) - allowed
        if unknown:
            raise _fail(source, f"{where}.{sorted(unknown)[0]}", f"unknown key; allowed: {', '.join(sorted(allowed))}")
        try:
            kind = Interaction.parse(t.get("interaction", "approach"))
        except CrossviewError as exc:
            raise _fail(source, f"{where}.interaction", str(exc)) from None
        if kind not in INTERACTIONS:
            raise _fail(source, f"{where}.interaction", f"use one of {', '.join(i.name.lower() for i in INTERACTIONS)}")
        target = t.get("target")
        if not isinstance(target, dict) or len({"block", "mob"} & set(target)) != 1 or "at" not in target:
            raise _fail(source, f"{where}.target", "give exactly one of block/mob and its position 'at: [x, y, z]'")
        at = target["at"]
        if not (isinstance(at, list) and len(at) == 3 and all(isinstance(v, (int, float)) for v in at)):
            raise _fail(source, f"{where}.target.at", "must be three numbers [x, y, z]")
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
        kind_name = "block" if "block" in target else "mob"
        out.append(MinecraftTask(str(t.get("name", f"task{i}")), kind, kind_name, str(target[kind_name]),
                                 (float(at[0]), float(at[1]), float(at[2])), difficulty, tuple(inventory),
                                 int(t.get("seed", 0)), int(t.get("max_steps", 600)), split))
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
