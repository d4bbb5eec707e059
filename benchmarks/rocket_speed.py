"""Steps per second of a ROCKET-2-sized model with random weights through crossview's wrapper (guidance on).

    ROCKET2=/path/to/ROCKET-2 .nox/minestudio/bin/python benchmarks/rocket_speed.py [--batch 1 8 32] [--device cuda]

ROCKET-2's own ``CrossViewRocket`` (from your checkout, never copied here) built with its training config
(CraftJarvis/ROCKET-2:config.yaml:30-41: ViT-B/16 view backbone, ViT-Tiny mask backbone, hiddim 1024, 4 layers,
128 timesteps, 128 memory, previous action, 9 view tokens), backbones with random weights saved for timm's
``local-dir:`` loader, so nothing is downloaded.  Each step is two forward passes (goal and null goal).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.spec import CrossViewGoal, Interaction, Observation  # noqa: E402
from policies.base import make_policy  # noqa: E402
from policies.rocket import loading  # noqa: E402


def random_backbone(name: str, folder: Path) -> str:
    import timm
    from timm.models import save_for_hf

    save_for_hf(timm.create_model(name, pretrained=False), str(folder), safe_serialization=True)
    return f"local-dir:{folder}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    code = os.environ.get("ROCKET2")
    if not code:
        sys.exit("set ROCKET2 to a CraftJarvis/ROCKET-2 checkout")
    import torch

    cls = loading.model_class("model:CrossViewRocket", code)
    with tempfile.TemporaryDirectory() as tmp:
        view = random_backbone("vit_base_patch16_224", Path(tmp) / "view")
        mask = random_backbone("vit_tiny_patch16_224", Path(tmp) / "mask")
        torch.manual_seed(0)
        model = cls(view_backbone=view, mask_backbone=mask, hiddim=1024, num_heads=8, num_layers=4, timesteps=128,
                    mem_len=128, use_prev_action=True, num_view_tokens=9)
        model.save_pretrained(str(Path(tmp) / "rocket2"))
        policy = make_policy("rocket", model="model:CrossViewRocket", code=code,
                             checkpoint=str(Path(tmp) / "rocket2"), device=args.device)
        rng = np.random.default_rng(0)
        print(f"device {policy.device}, torch threads {torch.get_num_threads()}, guidance k={policy.cfg}")
        for n in args.batch:
            obs = [Observation(rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)) for _ in range(n)]
            mask_ = np.zeros((224, 224), bool)
            mask_[80:140, 90:150] = True
            goals = [CrossViewGoal(rng.integers(0, 256, (224, 224, 3), dtype=np.uint8), mask_, Interaction.MINE)] * n
            policy.reset(n, seeds=list(range(n)))
            policy.act(obs, goals, [None] * n)  # warm-up
            t0 = time.perf_counter()
            for _ in range(args.steps):
                policy.act(obs, goals, [None] * n)
            dt = time.perf_counter() - t0
            print(f"batch {n:3d}: {args.steps * n / dt:8.2f} env steps/s ({dt / args.steps * 1000:.0f} ms per call)")


if __name__ == "__main__":
    main()
