"""ROCKET-2 / ROCKET-3 (CraftJarvis) as a crossview policy, through MineStudio (``kind: rocket``).

    - {name: rocket2, kind: rocket, options: {checkpoint: phython96/ROCKET-2-1x-22w, cfg_coef: 1.5, device: cuda}}

``checkpoint`` is a Hugging Face hub name (``from_pretrained``) or a local Lightning ``.ckpt`` (weights under
``state_dict`` with prefix ``mine_policy.``, loaded with ``weights_only=True``). Inputs are resized to 224×224
(mask nearest-neighbour), recurrent memory is kept per env slot and cleared when a slot starts an episode, and
with ``cfg_coef`` > 0 the action logits are guided: (1 + k)·conditioned − k·null-goal.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import CrossviewError, require
from harness.spec import Action, CrossViewGoal, Interaction, Observation, PrivilegedFacts
from policies.base import PolicyInfo
from policies.rocket.actions import vpt_to_action
from policies.series import file_sha256

SIZE = 224
INSTALL = "pip install 'crossview-harness[rocket]' (MineStudio; Java 8 only for the Minecraft simulator)"


def _minestudio() -> Any:
    return require("minestudio.models", "the rocket policy (MineStudio)", INSTALL).CrossViewRocket


def resize(image: np.ndarray, nearest: bool = False) -> np.ndarray:
    """Resize to 224×224 (area-like for images, nearest for masks) without an OpenCV dependency."""
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(np.ascontiguousarray(image)).float()
    t = t[None, None] if t.ndim == 2 else t.permute(2, 0, 1)[None]
    out = F.interpolate(t, size=(SIZE, SIZE), mode="nearest" if nearest else "area")[0]
    out = out[0] if image.ndim == 2 else out.permute(1, 2, 0)
    return out.round().clamp(0, 255).to(torch.uint8).numpy()


class RocketPolicy:
    """A ROCKET checkpoint behind the Policy protocol."""

    def __init__(self, checkpoint: str = "phython96/ROCKET-2-1x-22w", cfg_coef: float = 1.5, device: str = "cpu",
                 deterministic: bool = False) -> None:
        import torch

        model_cls = _minestudio()
        local = Path(checkpoint)
        try:
            if local.is_file():
                model = _load_lightning(model_cls, local, torch)
                sha = file_sha256(local)
            else:
                model = model_cls.from_pretrained(checkpoint)
                sha = ""
        except CrossviewError:
            raise
        except Exception as exc:  # hub, network and state-dict errors from MineStudio / huggingface_hub
            raise CrossviewError(f"rocket checkpoint {checkpoint!r} could not be loaded: {exc}") from None
        self.model = model.to(device).eval()
        self.torch, self.device, self.cfg = torch, device, float(cfg_coef)
        self.deterministic = bool(deterministic)
        self.info = PolicyInfo(name=f"rocket:{checkpoint}", input_size=None, batchable=True, device=device,
                               interactions=tuple(i for i in Interaction if i is not Interaction.NONE),
                               checkpoint_sha256=sha)
        self._state: list[Any] = []

    def reset(self, n: int, slots: Sequence[int] | None = None, seeds: Sequence[int] | None = None) -> None:
        if len(self._state) != n:
            self._state = [None] * n
        for s in range(n) if slots is None else slots:
            self._state[s] = None  # memory starts empty for a new episode
        if seeds is not None:
            self.torch.manual_seed(int(seeds[0]) & 0x7FFFFFFF)

    def _inputs(self, observations: Sequence[Observation], goals: Sequence[CrossViewGoal], null: bool) -> dict:
        t = self.torch
        image = np.stack([resize(o.rgb) for o in observations])
        if null:
            goals = [CrossViewGoal.null(SIZE, SIZE) for _ in goals]
        cv_image = np.stack([resize(g.image) for g in goals])
        cv_mask = np.stack([resize(g.mask.astype(np.uint8), nearest=True) for g in goals])
        kinds = np.array([int(g.interaction) for g in goals])
        as_t = lambda a, dtype: t.from_numpy(a).to(self.device, dtype)[:, None]  # noqa: E731  (B, T=1, ...)
        return {"image": as_t(image, t.uint8),
                "segment": {"obj_id": as_t(kinds, t.long), "obj_mask": as_t(cv_mask, t.uint8),
                            "cross_view_image": as_t(cv_image, t.uint8)},
                "cross_view": {"cross_view_image": as_t(cv_image, t.uint8), "cross_view_obj_mask": as_t(cv_mask,
                               t.uint8), "cross_view_obj_id": as_t(kinds, t.long)}}

    def act(self, observations: Sequence[Observation], goals: Sequence[CrossViewGoal],
            privileged: Sequence[PrivilegedFacts | None], slots: Sequence[int] | None = None) -> list[Action]:
        slots = list(range(len(observations)) if slots is None else slots)
        t, model = self.torch, self.model
        state = _stack_state(model, [self._state[s] for s in slots], len(slots), t)
        with t.no_grad():
            latents, new_state = model(self._inputs(observations, goals, null=False), state)
            logits = latents["pi_logits"]
            if self.cfg > 0:
                uncond, _ = model(self._inputs(observations, goals, null=True), state)
                logits = {k: (1 + self.cfg) * v - self.cfg * uncond["pi_logits"][k] for k, v in logits.items()}
            action = model.pi_head.sample(logits, deterministic=self.deterministic)
        for k, s in enumerate(slots):
            self._state[s] = [x[k:k + 1] for x in new_state]
        buttons = action["buttons"].reshape(len(slots), -1)[:, -1].cpu().numpy()
        camera = action["camera"].reshape(len(slots), -1)[:, -1].cpu().numpy()
        return [vpt_to_action(int(b), int(c)) for b, c in zip(buttons, camera)]


def _stack_state(model: Any, states: list[Any], n: int, torch: Any) -> list[Any]:
    """Batch per-slot recurrent states; slots starting an episode take the model's initial state."""
    fresh = model.initial_state(1)
    parts = [s if s is not None else fresh for s in states]
    return [torch.cat([p[i] for p in parts], dim=0) for i in range(len(fresh))]


def _load_lightning(model_cls: Any, path: Path, torch: Any) -> Any:
    """A Lightning checkpoint: hyper_parameters.model builds the net; weights under ``mine_policy.``."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CrossviewError(f"rocket checkpoint {path} is not loadable with weights_only=True ({exc}); "
                             "export its state_dict to safetensors") from None
    hyper = (ckpt.get("hyper_parameters") or {}).get("model") or {}
    model = model_cls(**hyper)
    state = {k.removeprefix("mine_policy."): v for k, v in ckpt["state_dict"].items() if k.startswith("mine_policy.")}
    model.load_state_dict(state, strict=True)
    return model
