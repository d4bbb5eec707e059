"""The common action as a MineRL-style env action (what MinecraftSim(action_type="env") steps with)."""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.spec import BUTTONS, Action

ENV_KEYS = (*BUTTONS, "inventory", *(f"hotbar.{i}" for i in range(1, 10)))


def env_action(action: Action, masked: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Every env key present (the simulator wants them all); camera as float32 [pitch, yaw] degrees."""
    a = action.without(masked)
    out: dict[str, Any] = {k: 0 for k in ENV_KEYS}
    for b in BUTTONS:
        out[b] = int(getattr(a, b))
    out["camera"] = np.array([a.pitch, a.yaw], np.float32)
    return out
