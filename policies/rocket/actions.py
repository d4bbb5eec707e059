"""VPT's hierarchical action space (what ROCKET outputs) to and from crossview's common action.

Buttons are one joint index over groups in this order, the last varying fastest:
hotbar (none, hotbar.1..9) × forward/back × left/right × sprint/sneak × use × drop × attack × jump × camera-meta,
10·3·3·3·2·2·2·2·2 = 8640 combinations, plus index 8640 for "inventory" alone. The camera is one joint index
``pitch_bin * 11 + yaw_bin`` over 11 μ-law bins per axis (max 10°, μ = 10, bin size 2). These are the definitions of
OpenAI's VPT, which MineStudio keeps (CraftJarvis/MineStudio@46caf08, PyPI 1.1.6):
minestudio/utils/vpt_lib/action_mapping.py:22-31,131-135 (groups, joint index), :154-180 (``_precompute_to_factored``),
:218-235 (``to_factored``); minestudio/utils/vpt_lib/actions.py:21-33 (``Buttons.ALL``), :94-102 (μ-law
``undiscretize``); minestudio/simulator/entry.py:36-39 (bin size 2, max 10, μ 10) and :147-169
(``MinecraftSim.agent_action_to_env_action`` = ``to_factored`` then ``policy2env``).

The camera head is ignored (null bin) exactly where ``to_factored`` marks the button index "camera meta off": every
combination whose camera group is "none".  Index 8640 ("inventory") never gets that mark (action_mapping.py:164-172
skips it), so upstream applies the camera head with the inventory key; so do we.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from harness.spec import Action

GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("hotbar", ("none",) + tuple(f"hotbar.{i}" for i in range(1, 10))),
    ("fore_back", ("none", "forward", "back")),
    ("left_right", ("none", "left", "right")),
    ("sprint_sneak", ("none", "sprint", "sneak")),
    ("use", ("none", "use")),
    ("drop", ("none", "drop")),
    ("attack", ("none", "attack")),
    ("jump", ("none", "jump")),
    ("camera", ("none", "camera")),
)
COMBINATIONS: list[tuple[str, ...]] = list(itertools.product(*(choices for _, choices in GROUPS)))
INVENTORY = len(COMBINATIONS)  # 8640
# MineStudio's env-action buttons (Buttons.ALL, minestudio/utils/vpt_lib/actions.py:21-33), in order
ENV_BUTTONS: tuple[str, ...] = ("attack", "back", "forward", "jump", "left", "right", "sneak", "sprint", "use", "drop",
                                "inventory") + tuple(f"hotbar.{i}" for i in range(1, 10))
N_BUTTONS = INVENTORY + 1  # 8641
N_BINS, MAX_DEG, MU, BIN_SIZE = 11, 10.0, 10.0, 2.0
NULL_BIN = N_BINS // 2
N_CAMERA = N_BINS * N_BINS  # 121
_INDEX = {c: i for i, c in enumerate(COMBINATIONS)}


def bin_to_degrees(b: int | np.ndarray) -> np.ndarray:
    """Centre of a μ-law camera bin in degrees (bin 5 is 0°, bins 0 and 10 are ∓10°)."""
    x = (np.asarray(b, np.float64) * BIN_SIZE - MAX_DEG) / MAX_DEG  # linear position in [-1, 1]
    return np.sign(x) * ((1 + MU) ** np.abs(x) - 1) / MU * MAX_DEG


def degrees_to_bin(deg: float | np.ndarray) -> np.ndarray:
    """The μ-law bin of a camera turn in degrees (clipped to ±10°)."""
    x = np.clip(np.asarray(deg, np.float64), -MAX_DEG, MAX_DEG) / MAX_DEG
    encoded = np.sign(x) * np.log1p(MU * np.abs(x)) / math.log1p(MU) * MAX_DEG
    return np.rint((encoded + MAX_DEG) / BIN_SIZE).astype(np.int64)


def decode_buttons(index: int) -> dict[str, str]:
    """The choice of each group for a joint button index (``{"inventory": "inventory"}`` for 8640)."""
    if not 0 <= index < N_BUTTONS:
        raise ValueError(f"VPT button index {index} is outside 0..{N_BUTTONS - 1}")
    if index == INVENTORY:
        return {"inventory": "inventory"}
    return {name: choice for (name, _), choice in zip(GROUPS, COMBINATIONS[index])}


def camera_applies(buttons: int) -> bool:
    """Whether ``to_factored`` keeps the camera head for this button index (camera meta on, or inventory)."""
    return buttons == INVENTORY or COMBINATIONS[buttons][-1] == "camera"


def vpt_to_action(buttons: int, camera: int) -> Action:
    """Common action of a VPT (buttons, camera) pair; hotbar, drop and inventory have no common equivalent."""
    if not 0 <= camera < N_CAMERA:
        raise ValueError(f"VPT camera index {camera} is outside 0..{N_CAMERA - 1}")
    g = decode_buttons(int(buttons))
    moves = camera_applies(int(buttons))
    pitch_bin, yaw_bin = divmod(int(camera), N_BINS)
    cam = (float(bin_to_degrees(pitch_bin)), float(bin_to_degrees(yaw_bin))) if moves else (0.0, 0.0)
    return Action(forward=g.get("fore_back") == "forward", back=g.get("fore_back") == "back",
                  left=g.get("left_right") == "left", right=g.get("left_right") == "right",
                  jump=g.get("jump") == "jump", sneak=g.get("sprint_sneak") == "sneak",
                  sprint=g.get("sprint_sneak") == "sprint", attack=g.get("attack") == "attack",
                  use=g.get("use") == "use", camera=cam)


def action_to_vpt(action: Action) -> tuple[int, int]:
    """The VPT (buttons, camera) pair of a common action, as ``MinecraftSim.env_action_to_agent_action`` maps it
    (minestudio/simulator/entry.py:171-180): forward+back and left+right cancel, and of sprint+sneak the later in
    the group (sneak) wins (minestudio/utils/vpt_lib/action_mapping.py:91-103)."""
    fb = "forward" if action.forward and not action.back else "back" if action.back and not action.forward else "none"
    lr = "left" if action.left and not action.right else "right" if action.right and not action.left else "none"
    ss = "sneak" if action.sneak else "sprint" if action.sprint else "none"
    pitch_bin, yaw_bin = (int(degrees_to_bin(v)) for v in action.camera)
    moves = (pitch_bin, yaw_bin) != (NULL_BIN, NULL_BIN)
    combo = ("none", fb, lr, ss, "use" if action.use else "none", "none", "attack" if action.attack else "none",
             "jump" if action.jump else "none", "camera" if moves else "none")
    return _INDEX[combo], (pitch_bin * N_BINS + yaw_bin) if moves else NULL_BIN * N_BINS + NULL_BIN


def vpt_to_env(buttons: int, camera: int) -> dict[str, np.ndarray]:
    """MineStudio's env action of a VPT (buttons, camera) pair: each of ``ENV_BUTTONS`` as a 0-d int array, and
    ``camera`` as float [pitch°, yaw°] — the format ``PrevActionCallback`` hands back as ``env_prev_action``
    (minestudio/simulator/callbacks/prev_action.py:14-17,74,86-93)."""
    g = decode_buttons(int(buttons))
    pressed = set(g.values())
    out = {name: np.array(int(name in pressed)) for name in ENV_BUTTONS}
    if not 0 <= camera < N_CAMERA:
        raise ValueError(f"VPT camera index {camera} is outside 0..{N_CAMERA - 1}")
    bins = divmod(int(camera), N_BINS) if camera_applies(int(buttons)) else (NULL_BIN, NULL_BIN)
    out["camera"] = bin_to_degrees(np.array(bins))
    return out
