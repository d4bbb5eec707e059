"""What a MineStudio policy is fed, built from the goal kind it is conditioned on (not from ROCKET's alone).

Goal kinds, by class (a class may declare its own with a ``goal_kind`` attribute; the ``goal`` option overrides):

- ``cross_view`` (ROCKET-2/3, CraftJarvis/ROCKET-2:model.py:118-172): ``cross_view`` = {``cross_view_image`` uint8
  B×T×224×224×3, ``cross_view_obj_mask`` uint8 B×T×224×224, ``cross_view_obj_id`` long B×T}; its null goal (for
  classifier-free guidance) is a zero image, an empty mask and id -1 (CraftJarvis/ROCKET-2:cfg_wrapper.py:39-42).
- ``none`` (VPT, minestudio/models/vpt/body.py:417-450): the image alone.
- ``segment`` (ROCKET-1: a mask of the target in the agent's *own* view, minestudio/models/rocket_one/body.py:139-154),
  ``video`` (GROOT: ``ref_video_path``, groot_one/body.py:497-500), ``text`` (STEVE-1: ``condition``,
  steve_one/body.py:567): crossview's goals do not carry these yet, so such a policy is refused with one line.

Images are resized as upstream feeds them: the observation as MinecraftSim does (``cv2.resize`` INTER_LINEAR,
minestudio/simulator/entry.py:239), the cross-view image and its mask (as uint8 0/1) as ROCKET-2's demo does
(``cv2.resize`` INTER_LINEAR to 224×224, CraftJarvis/ROCKET-2:launch.py:229-233).  ``env_prev_action`` is the
slot's previous action in MineStudio's env format (``PrevActionCallback``, minestudio/simulator/callbacks/
prev_action.py:74,86-93: all zeros at the start of an episode), as ROCKET-2's ``ActionEmbeddingLayer`` reads it
(CraftJarvis/ROCKET-2:model.py:22-40,176-178).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from harness.errors import CrossviewError
from harness.spec import CrossViewGoal, Observation
from policies.rocket.actions import ENV_BUTTONS, vpt_to_env

GOAL_KINDS_BY_CLASS = {"CrossViewRocket": "cross_view", "VPTPolicy": "none", "RocketPolicy": "segment",
                       "GrootPolicy": "video", "SteveOnePolicy": "text"}
SUPPORTED = ("cross_view", "none")
# the image size each upstream family is run at (MineStudio's tutorials: evaluate_vpts/*.py and
# evaluate_steve/main.py use obs_size (128, 128); ROCKET-2's demo and GROOT's tutorial 224)
SIZE_BY_CLASS = {"VPTPolicy": 128, "SteveOnePolicy": 128}
CROSS_VIEW_SIZE = 224


def goal_kind(cls: type, override: str | None) -> str:
    """The goal kind a MineStudio policy class is conditioned on; one-line error if crossview cannot feed it."""
    kind = override or getattr(cls, "goal_kind", None) or GOAL_KINDS_BY_CLASS.get(cls.__name__)
    if kind is None:
        raise CrossviewError(f"{cls.__name__}: unknown goal kind: set the policy option goal: to one of "
                             f"{', '.join(SUPPORTED)} (or give the class a goal_kind attribute)")
    if kind not in SUPPORTED:
        raise CrossviewError(f"{cls.__name__} is conditioned on a {kind!r} goal, which crossview's goals do not carry "
                             f"yet (supported: {', '.join(SUPPORTED)})")
    return kind


def resize(image: np.ndarray, size: int) -> np.ndarray:
    """``size``×``size`` with OpenCV's INTER_LINEAR, as MinecraftSim and ROCKET-2's demo resize."""
    import cv2

    if image.shape[:2] == (size, size):
        return np.ascontiguousarray(image)
    return cv2.resize(np.ascontiguousarray(image), (size, size), interpolation=cv2.INTER_LINEAR)


def null_goals(goals: Sequence[CrossViewGoal]) -> list[CrossViewGoal]:
    """The unconditioned stream's goals: zero image, empty mask, interaction NONE (id -1)."""
    return [CrossViewGoal.null(CROSS_VIEW_SIZE, CROSS_VIEW_SIZE) for _ in goals]


class InputBuilder:
    """Builds a model's ``input`` dict (batch B, time 1) on its device for one goal kind."""

    def __init__(self, kind: str, image_size: int, prev_action: bool, device: Any) -> None:
        import torch

        self.torch, self.kind, self.size, self.prev_action, self.device = torch, kind, image_size, prev_action, device

    def _t(self, array: np.ndarray, dtype: Any) -> Any:
        return self.torch.from_numpy(np.ascontiguousarray(array)).to(self.device, dtype)[:, None]  # (B, T=1, ...)

    def build(self, observations: Sequence[Observation], goals: Sequence[CrossViewGoal],
              prev: Sequence[tuple[int, int] | None]) -> dict[str, Any]:
        """The input for one step of a batch; ``prev`` holds each slot's previous (buttons, camera) or None."""
        t = self.torch
        out: dict[str, Any] = {"image": self._t(np.stack([resize(o.rgb, self.size) for o in observations]), t.uint8)}
        if self.kind == "cross_view":
            s = CROSS_VIEW_SIZE
            out["cross_view"] = {
                "cross_view_image": self._t(np.stack([resize(g.image, s) for g in goals]), t.uint8),
                "cross_view_obj_mask": self._t(np.stack([resize(g.mask.astype(np.uint8), s) for g in goals]), t.uint8),
                "cross_view_obj_id": self._t(np.array([int(g.interaction) for g in goals]), t.long),
            }
        if self.prev_action:
            out["env_prev_action"] = self.env_prev_action(prev)
        return out

    def env_prev_action(self, prev: Sequence[tuple[int, int] | None]) -> dict[str, Any]:
        """Previous actions in MineStudio's env format, batched: buttons long B×1, camera float B×1×2."""
        envs = [vpt_to_env(*p) if p is not None else None for p in prev]
        out = {k: self._t(np.array([0 if e is None else int(e[k]) for e in envs]), self.torch.long)
               for k in ENV_BUTTONS}
        camera = np.stack([np.zeros(2) if e is None else e["camera"] for e in envs])
        out["camera"] = self._t(camera, self.torch.float32)
        return out
