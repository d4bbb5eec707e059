"""Policies for ``shared_inference.py``: a ROCKET-2-sized network with random weights, and a GPU-memory reporter.

``RocketSizedPolicy`` has ROCKET-2's size and per-step work (CraftJarvis/ROCKET-2:config.yaml:30-41, as
``rocket_speed.py`` reads it: a ViT-B/16 view backbone at 224x224, a ViT-Tiny mask backbone, a 4-layer fusion
transformer of width 1024), written here in plain torch so it runs without MineStudio or ROCKET-2's checkout: each
step encodes the view and the goal image with the ViT-B (two ViT passes), the mask with the ViT-Tiny, and runs the
fusion twice (goal and null goal: classifier-free guidance). It keeps a recurrent state per slot (a GRU cell). It
is about 140M parameters at full size; ``size: tiny`` shrinks every width and depth for a CPU smoke run. The
weights are random (seeded, so every copy is the same network) and its actions mean nothing: this is a cost model.

``MemoryReport`` wraps any policy kind and writes ``torch.cuda.max_memory_allocated()`` of its process to
``report/<pid>`` whenever it grows: the benchmark sums them (one file per policy copy).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.spec import Action, CrossViewGoal, Modality, Observation, PrivilegedFacts
from policies.base import Policy, PolicyInfo, make_policy
from policies.torch.xview import BUTTONS_OUT, PITCH_BINS, YAW_BINS, decode_actions, interaction_index, prepare, torch

nn = torch.nn
SIZES = {  # ViT-B/16 + ViT-Tiny + 4 x 1024 fusion, as ROCKET-2's config; tiny: a CPU smoke test
    "full": {"image": 224, "patch": 16, "width": 768, "depth": 12, "heads": 12, "mask_width": 192, "mask_depth": 12,
             "mask_heads": 3, "hid": 1024, "layers": 4},
    "tiny": {"image": 64, "patch": 16, "width": 64, "depth": 1, "heads": 2, "mask_width": 32, "mask_depth": 1,
             "mask_heads": 2, "hid": 64, "layers": 1},
}


class ViT(nn.Module):
    """A plain vision transformer (patch embedding, class token, pre-norm encoder); returns the class token."""

    def __init__(self, channels: int, image: int, patch: int, width: int, depth: int, heads: int) -> None:
        super().__init__()
        self.embed = nn.Conv2d(channels, width, patch, stride=patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, width))
        self.pos = nn.Parameter(torch.randn(1, (image // patch) ** 2 + 1, width) * 0.02)
        layer = nn.TransformerEncoderLayer(width, heads, 4 * width, batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)

    def forward(self, x: Any) -> Any:
        tokens = self.embed(x).flatten(2).transpose(1, 2)
        tokens = torch.cat([self.cls.expand(len(x), -1, -1), tokens], dim=1) + self.pos
        return self.norm(self.blocks(tokens))[:, 0]


class RocketSizedNet(nn.Module):
    """View and goal through one ViT, the mask through a small one, fused with the recurrent state (see module)."""

    def __init__(self, image: int, patch: int, width: int, depth: int, heads: int, mask_width: int,
                 mask_depth: int, mask_heads: int, hid: int, layers: int) -> None:
        super().__init__()
        self.image = image
        self.view = ViT(3, image, patch, width, depth, heads)
        self.mask = ViT(1, image, patch, mask_width, mask_depth, mask_heads)
        self.proj = nn.ModuleList([nn.Linear(width, hid), nn.Linear(width, hid), nn.Linear(mask_width, hid)])
        self.interaction = nn.Embedding(8, hid)
        layer = nn.TransformerEncoderLayer(hid, max(1, hid // 64), 4 * hid, batch_first=True, norm_first=True)
        self.fusion = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.memory = nn.GRUCell(hid, hid)
        self.heads = nn.Linear(hid, len(BUTTONS_OUT) + len(YAW_BINS) + len(PITCH_BINS))

    def forward(self, view: Any, goal: Any, kinds: Any, state: Any, scale: float = 1.5) -> tuple[Any, Any]:
        v = self.proj[0](self.view(view))
        g = self.proj[1](self.view(goal[:, :3])) + self.proj[2](self.mask(goal[:, 3:])) + self.interaction(kinds)
        tokens = torch.stack([v, g, state], dim=1)
        null = torch.stack([v, torch.zeros_like(g), state], dim=1)
        both = self.fusion(torch.cat([tokens, null]))[:, 0]  # goal and null goal in one batch
        cond, uncond = both.chunk(2)
        logits = self.heads(uncond + scale * (cond - uncond))
        return logits, self.memory(cond, state)


class RocketSizedPolicy:
    """The ROCKET-2-sized cost model as a crossview policy (kind ``rocket_sized:RocketSizedPolicy``)."""

    def __init__(self, size: str = "full", device: str = "cpu", seed: int = 0) -> None:
        torch.manual_seed(seed)
        self.net = RocketSizedNet(**SIZES[size]).to(device).eval()
        self.device, self.hid = device, SIZES[size]["hid"]
        self.state = torch.zeros(0, self.hid, device=device)
        self.info = PolicyInfo(name=f"rocket-sized-{size}", batchable=True, device=device,
                               goals=(Modality.CROSS_VIEW,))

    def reset(self, n: int, slots: Sequence[int] | None = None, seeds: Sequence[int] | None = None) -> None:
        if len(self.state) < n:
            self.state = torch.cat([self.state, torch.zeros(n - len(self.state), self.hid, device=self.device)])
        self.state[list(range(n)) if slots is None else list(slots)] = 0

    @torch.no_grad()
    def act(self, observations: Sequence[Observation], goals: Sequence[CrossViewGoal],
            privileged: Sequence[PrivilegedFacts | None], slots: Sequence[int] | None = None) -> list[Action]:
        slots = list(range(len(observations))) if slots is None else list(slots)
        view, goal, _ = prepare(observations, goals, self.net.image, self.device)
        kinds = torch.tensor([interaction_index(g.interaction) for g in goals], device=self.device)
        logits, self.state[slots] = self.net(view, goal, kinds, self.state[slots])
        b, y = len(BUTTONS_OUT), len(YAW_BINS)
        return decode_actions(logits[:, :b], logits[:, b:b + y], logits[:, b + y:], None)


class MemoryReport:
    """Any policy kind (``inner`` with its options), reporting its process's peak GPU memory to ``report``."""

    def __init__(self, inner: str, report: str, **options: Any) -> None:
        self.inner: Policy = make_policy(inner, **options)
        self.info = self.inner.info
        self.path, self.peak = Path(report) / str(os.getpid()), -1

    def reset(self, n: int, slots: Sequence[int] | None = None, seeds: Sequence[int] | None = None) -> None:
        self.inner.reset(n, slots, seeds)

    def act(self, observations: Sequence[Observation], goals: Sequence[Any], privileged: Sequence[Any],
            slots: Sequence[int] | None = None) -> list[Action]:
        actions = self.inner.act(observations, goals, privileged, slots)
        peak = torch.cuda.max_memory_allocated() if torch.cuda.is_initialized() else 0
        if peak > self.peak:
            self.peak = peak
            self.path.write_text(str(peak))
        return actions


def gpu_peaks(report: Path) -> list[int]:
    """The peak GPU memory of every policy copy that reported (bytes)."""
    return [int(p.read_text() or 0) for p in report.iterdir()] if report.is_dir() else []
