"""The common action as a MineRL-style env action (what MinecraftSim(action_type="env") steps with)."""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.spec import BUTTONS, Action

ENV_KEYS = (*BUTTONS, "inventory", *(f"hotbar.{i}" for i in range(1, 10)))


def env_action(action: Action, masked: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Every env key present; camera as float32 [pitch, yaw] degree deltas.

    MineStudio's CameraAction takes <delta_pitch, delta_yaw> in degrees (minerl/herobraine/hero/handlers/agent/
    actions/camera.py:11); its own play interface maps mouse-up to negative pitch and mouse-right to positive yaw
    (minerl/human_play_interface/human_play_interface.py:190-198): pitch > 0 looks down, yaw > 0 turns right, as
    crossview's Action. Keys left out are simply not sent (minerl/env/_multiagent.py:293-298).
    """
    a = action.without(masked)
    out: dict[str, Any] = {k: 0 for k in ENV_KEYS}
    for b in BUTTONS:
        out[b] = int(getattr(a, b))
    out["camera"] = np.array([a.pitch, a.yaw], np.float32)
    return out
