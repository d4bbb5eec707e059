"""Tiny random-weight MineStudio policies for the ``minestudio`` tests (no hub, no network).

- ``tiny_vpt``: MineStudio's own ``VPTPolicy`` (minestudio/models/vpt/body.py:370-450) with a small
  ``MinecraftPolicy`` config (VPT's foundation-model keys, sizes shrunk).
- ``tiny_timm_backbone``: a small timm ViT saved with ``timm.models.save_for_hf`` and named ``local-dir:FOLDER``,
  so upstream constructors that call ``timm.create_model(name, pretrained=True)`` (ROCKET-1, ROCKET-2, GROOT) build
  offline.
- ``TinyCrossView``: a small cross-view-goal ``MinePolicy`` written here for tests.  It reads ROCKET-2's inputs
  (CraftJarvis/ROCKET-2:model.py:118-208: ``cross_view`` image/mask/id, ``env_prev_action``) with a tiny encoder and
  MineStudio's own recurrent transformer (``ResidualRecurrentBlocks``, minestudio/utils/vpt_lib/util.py:133-213), so
  the cross-view path runs in CI where ROCKET-2's code (a repository without a licence) is not available.
  Its previous-action keys are upstream's (``PrevActionCallback``'s ``avail_keys``), not the wrapper's.
"""

from __future__ import annotations

from pathlib import Path

import torch
from huggingface_hub import PyTorchModelHubMixin
from minestudio.models import MinePolicy, VPTPolicy
from minestudio.simulator.callbacks.prev_action import avail_keys
from minestudio.utils.vpt_lib.util import ResidualRecurrentBlocks
from torch import nn

VPT_TINY = {"attention_heads": 2, "attention_mask_style": "clipped_causal", "attention_memory_size": 8,
            "hidsize": 32, "img_shape": [128, 128, 3], "impala_chans": [4, 4, 4],
            "impala_kwargs": {"post_pool_groups": 1},
            "impala_width": 1, "init_norm_kwargs": {"batch_norm": False, "group_norm_groups": 1},
            "n_recurrence_layers": 1, "only_img_input": True, "pointwise_ratio": 4, "pointwise_use_activation": False,
            "recurrence_is_residual": True, "recurrence_type": "transformer", "timesteps": 4,
            "use_pointwise_layer": True, "use_pre_lstm_ln": False}


def tiny_vpt(seed: int = 0) -> VPTPolicy:
    """MineStudio's VPTPolicy, tiny and random."""
    torch.manual_seed(seed)
    return VPTPolicy(policy_kwargs=VPT_TINY).eval()


def tiny_timm_backbone(folder: Path) -> str:
    """A 3-block, 32-wide ViT-Tiny saved for timm's ``local-dir:`` loader; returns the model name to pass to timm."""
    import timm
    from timm.models import save_for_hf

    args = {"embed_dim": 32, "depth": 3, "num_heads": 2}
    torch.manual_seed(0)
    save_for_hf(timm.create_model("vit_tiny_patch16_224", pretrained=False, **args), str(folder), model_args=args,
                safe_serialization=True)
    return f"local-dir:{folder}"


# the previous-action keys, from upstream rather than from the wrapper: what MineStudio's PrevActionCallback hands on
# (minestudio/simulator/callbacks/prev_action.py:14-17), the camera apart; ROCKET-2 reads a subset of them
# (CraftJarvis/ROCKET-2:model.py:22-40, ``key.replace("_", ".")``)
PREV_BUTTONS = tuple(k for k in avail_keys if k != "camera")


class TinyCrossView(MinePolicy, PyTorchModelHubMixin):
    """A small MinePolicy conditioned on a cross-view goal, fed exactly ROCKET-2's input keys."""

    goal_kind = "cross_view"

    def __init__(self, hiddim: int = 32, use_prev_action: bool = True, mem_len: int = 8, action_space=None) -> None:
        super().__init__(hiddim=hiddim, action_space=action_space)
        self.use_prev_action = use_prev_action
        # observation (3) + cross-view image (3) + mask (1) channels, 224 -> 28 -> 2×2
        self.encode = nn.Sequential(nn.Conv2d(7, 8, 8, stride=8), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                                    nn.Linear(32, hiddim))
        self.interaction = nn.Embedding(10, hiddim)
        self.prev_action = nn.Linear(len(PREV_BUTTONS) + 2, hiddim)
        self.recurrent = ResidualRecurrentBlocks(
            hidsize=hiddim, timesteps=4, recurrence_type="transformer", is_residual=True, use_pointwise_layer=True,
            pointwise_ratio=4, pointwise_use_activation=False, attention_mask_style="clipped_causal",
            attention_heads=2, attention_memory_size=mem_len + 4, n_block=1)

    def forward(self, input, state_in=None, **kwargs):
        b, t = input["image"].shape[:2]
        cv = input["cross_view"]
        x = torch.cat([input["image"].float() / 255, cv["cross_view_image"].float() / 255,
                       cv["cross_view_obj_mask"].float()[..., None]], dim=-1)
        x = self.encode(x.reshape(b * t, *x.shape[2:]).permute(0, 3, 1, 2)).reshape(b, t, -1)
        x = x + self.interaction(cv["cross_view_obj_id"] + 1)
        if self.use_prev_action:
            prev = input["env_prev_action"]
            flat = torch.cat([torch.stack([prev[k].float() for k in PREV_BUTTONS], dim=-1), prev["camera"].float()],
                             dim=-1)
            x = x + self.prev_action(flat)
        first = torch.zeros((b, t), dtype=torch.bool, device=x.device)
        state_in = self.initial_state(b) if state_in is None else state_in
        z, state_out = self.recurrent(x, first, state_in)
        return {"pi_logits": self.pi_head(z), "vpred": self.value_head(z)}, state_out

    def initial_state(self, batch_size=None):
        if batch_size is None:
            return [s.squeeze(0).to(self.device) for s in self.recurrent.initial_state(1)]
        return [s.to(self.device) for s in self.recurrent.initial_state(batch_size)]


class TiedCrossView(TinyCrossView):
    """TinyCrossView with one weight shared by two modules (safetensors stores it under one name only)."""

    def __init__(self, hiddim: int = 32, use_prev_action: bool = True, mem_len: int = 8, action_space=None) -> None:
        super().__init__(hiddim=hiddim, use_prev_action=use_prev_action, mem_len=mem_len, action_space=action_space)
        self.interaction_copy = nn.Embedding(10, hiddim)
        self.interaction_copy.weight = self.interaction.weight


def saved(model: nn.Module, folder: Path) -> Path:
    """``model.save_pretrained(folder)`` (huggingface_hub's ModelHubMixin: config.json + model.safetensors)."""
    model.save_pretrained(str(folder))
    return folder
