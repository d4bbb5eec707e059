"""What the adapter says to Minecraft and how it reads the answers: command text, voxel and mob reports.

Commands go through ``sim.env.execute_cmd(text)``, which sends them as a chat action on a no-op step
(CraftJarvis/MineStudio:minestudio/simulator/minerl/env/_singleagent.py:35-43); upstream's task files and callbacks
use the same commands (``/setblock ~2 ~ ~ minecraft:chest``: minestudio/benchmark/task_configs/hard/
explore_chest.yaml:3; ``/summon minecraft:sheep ...``: callbacks/summon_mobs.py:70-74; ``/tp``: callbacks/
hard_reset.py:90).

Voxels and mobs are asked for per step with the env action keys ``voxels`` and ``mobs``, each a box
[x0, x1, y0, y1, z0, z1] of block offsets from the player (minerl/herobraine/hero/handlers/agent/actions/
voxel.py:17-21 and 41-47, mob.py:17-21 and 41-47; callbacks/voxels.py:16-30 sends them the same way; whether the
engine reads them from the feet block is not in MineStudio's Python source, so every reset checks it by reading
the placed target back: ``MinecraftAdapter._verify``); MineStudio only sends keys present in the action
(minerl/env/_multiagent.py:293-298) and passes the answers through as ``info["voxels"]`` and
``info["mobs"]`` (_multiagent.py:244-249). A voxel report is a list of entries with a ``type`` and ``x, y, z``
(callbacks/reward_gate.py:67-72). The adapter asks for one voxel (or one column) at a time, so it never depends
on whether those coordinates are absolute or relative. MineStudio keeps the last value of every info key between
steps (entry.py:240-244) and MineRL copies a report into ``info`` only when the engine sent one
(_multiagent.py:244-249), so a report is read only on the step that asked for it, and ``forget_reports`` drops the
kept one first: an engine that answers an empty box with no report must not leave the last one standing.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from harness.errors import CrossviewError

AIR = frozenset({"air", "cave_air", "void_air"})
LIQUID = frozenset({"water", "lava", "bubble_column"})
TARGET_TAG = "crossview_target"


def block_name(entry: Any) -> str:
    """The block type of a voxel entry, without the ``minecraft:`` namespace."""
    value = entry.get("type", "") if isinstance(entry, dict) else entry
    return str(value).removeprefix("minecraft:")


def coords(x: float, y: float, z: float) -> str:
    """Coordinates as command text (two decimals)."""
    return f"{x:.2f} {y:.2f} {z:.2f}"


def setblock(block: tuple[int, int, int], name: str) -> str:
    """Put block ``name`` (``air`` removes it) at integer position ``block``."""
    return f"/setblock {block[0]} {block[1]} {block[2]} minecraft:{name}"


def summon(mob: str, feet: tuple[float, float, float], tag: str) -> str:
    """Summon ``mob`` at ``feet``, tagged and named ``tag``, without AI (it stays put) and never despawning."""
    nbt = f'{{Tags:["{tag}"],CustomName:\'"{tag}"\',NoAI:1b,PersistenceRequired:1b}}'
    return f"/summon minecraft:{mob} {coords(*feet)} {nbt}"


def teleport(feet: tuple[float, float, float], yaw: float, pitch: float) -> str:
    """Teleport the player to ``feet`` looking along (yaw, pitch) in Minecraft degrees."""
    return f"/tp @p {coords(*feet)} {yaw:.2f} {pitch:.2f}"


def to_surface(x: float, z: float) -> str:
    """Move the player onto the top block of the column at (x, z) (never into lava), within one block of it.

    ``/spreadplayers <x> <z> <spreadDistance> <maxRange> <respectTeams> <targets>`` places its targets on the top
    block of a random column within ``maxRange`` of (x, z) (maxRange must exceed spreadDistance by at least 1).
    """
    return f"/spreadplayers {x:.2f} {z:.2f} 0 1 false @p"


def set_visible(tag: str, visible: bool) -> str:
    """Hide or show the tagged mob (an invisibility effect, without particles)."""
    if visible:
        return f"/effect clear @e[tag={tag}] minecraft:invisibility"
    return f"/effect give @e[tag={tag}] minecraft:invisibility 1000000 0 true"


def offsets(block: tuple[int, int, int], player: tuple[float, float, float]) -> tuple[int, int, int]:
    """Offset of a block from the block the player's feet are in."""
    return tuple(int(b) - math.floor(p) for b, p in zip(block, player))  # type: ignore[return-value]


def voxel_request(block: tuple[int, int, int], player: tuple[float, float, float]) -> list[int]:
    """The ``voxels`` action value asking for exactly one block."""
    dx, dy, dz = offsets(block, player)
    return [dx, dx, dy, dy, dz, dz]


def column_request() -> list[int]:
    """The ``voxels`` action value asking for the block under the player's feet, at its feet and at its head."""
    return [0, 0, -1, 1, 0, 0]


def mob_request(centre: tuple[float, float, float], player: tuple[float, float, float], margin: int = 4) -> list[int]:
    """The ``mobs`` action value asking for a box of ``margin`` blocks around a point."""
    dx, dy, dz = offsets(tuple(math.floor(c) for c in centre), player)  # type: ignore[arg-type]
    return [dx - margin, dx + margin, dy - margin, dy + margin, dz - margin, dz + margin]


REPORTS = ("voxels", "mobs")


def forget_reports(sim: Any, action: dict[str, Any]) -> None:
    """Drop the reports ``action`` asks for from MinecraftSim's kept ``info`` (entry.py:240-244) before the step."""
    kept = getattr(sim, "info", None)
    if isinstance(kept, dict):
        for key in REPORTS:
            if key in action:
                kept.pop(key, None)


def single_voxel(report: Any) -> str | None:
    """The block type in a one-voxel report, or None if the report holds no voxel."""
    entries = list(report) if isinstance(report, (list, tuple)) else []
    return block_name(entries[0]) if len(entries) == 1 else None


def standable(report: Any) -> bool:
    """Whether a column report (below, feet, head; see ``column_request``) is solid ground with room to stand.

    The ground must be neither air nor liquid, feet and head must be air.
    """
    entries = [e for e in (report if isinstance(report, (list, tuple)) else []) if isinstance(e, dict) and "y" in e]
    if len(entries) != 3:
        return False
    below, feet, head = (block_name(e) for e in sorted(entries, key=lambda e: float(e["y"])))
    return below not in AIR and below not in LIQUID and feet in AIR and head in AIR


def mentions(report: Any, name: str) -> bool:
    """Whether ``name`` appears anywhere in a mob report (the tagged mob carries it as its name)."""
    try:
        return name in json.dumps(report, default=str)
    except (TypeError, ValueError):
        return name in str(report)


def stat_value(info: dict[str, Any], group: str, name: str) -> float:
    """A statistic from MineStudio's info (``info[group][name]``, with or without the ``minecraft:`` prefix)."""
    table = info.get(group) or {}
    try:
        value = table.get(name, table.get(f"minecraft:{name}", 0))
    except AttributeError:
        return 0.0
    return float(np.asarray(value, np.float64).sum())


def visible_fraction(with_target: np.ndarray, without_target: np.ndarray, mask: np.ndarray,
                     threshold: int = 24) -> float:
    """Share of the mask's pixels that change when the target is removed: 1 fully visible, 0 hidden."""
    if not mask.any():
        return 0.0
    diff = np.abs(with_target.astype(np.int16) - without_target.astype(np.int16)).sum(axis=-1)
    return float((diff[mask] > threshold).mean())


def player_position(info: dict[str, Any]) -> tuple[float, float, float, float, float]:
    """(x, y, z, yaw, pitch) of the player from MineStudio's ``player_pos`` (minerl/env/_multiagent.py:258-264)."""
    p = info.get("player_pos") or {}
    try:
        return tuple(float(p[k]) for k in ("x", "y", "z", "yaw", "pitch"))  # type: ignore[return-value]
    except (KeyError, TypeError, ValueError):
        raise CrossviewError(f"minecraft: MineStudio's info has no usable player_pos ({p!r})") from None
