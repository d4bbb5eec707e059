"""Behaviour cloning of the cross-view network from the Rooms oracle; writes a checkpoint series.

    python -m policies.torch.train_xview --out checkpoints/xview [--episodes 60] [--steps 6000]

Data: oracle rollouts on the Rooms ``train`` split of one domain (``apartment`` by default), every interaction and
difficulty, with noise injection (a fraction of executed actions are random, labels are always the oracle's), so
the clone learns to recover from its own mistakes. Checkpoints are written at the ``--save`` steps as
safetensors with a manifest beside each; fixed seeds make the series reproducible on one machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path

import numpy as np

from adapters.rooms.adapter import RoomsAdapter
from harness.spec import Action, CrossViewGoal, Observation
from policies.baselines import OraclePolicy, RandomPolicy
from policies.torch.xview import (
    ARCHITECTURE,
    BUTTONS_OUT,
    YAW_BINS,
    XViewNet,
    encode_actions,
    prepare,
    torch,
)

F = torch.nn.functional
MIRROR = [BUTTONS_OUT.index(b) for b in ("forward", "back", "right", "left", "attack", "use")]


@dataclasses.dataclass
class Dataset:
    """Views, goals (one per episode) and oracle labels."""

    views: list[np.ndarray]
    goal_of: list[int]
    goals: list[CrossViewGoal]
    labels: list[Action]


def collect(domain: str, episodes: int, noise: float, seed: int, image: int) -> Dataset:
    """Oracle rollouts with noise injection on the train split of ``domain``."""
    adapter = RoomsAdapter(image_size=(image, image), depth=False)
    templates = [t for t in adapter.tasks("train") if t.domain == domain]
    oracle, jitter = OraclePolicy(), RandomPolicy(max_turn=30)
    rng = np.random.default_rng(seed)
    data = Dataset([], [], [], [])
    for k in range(episodes * len(templates)):
        template = templates[k % len(templates)]
        task = dataclasses.replace(template, seed=int(rng.integers(2**31 - 1)))
        obs, goal, info = adapter.reset(task)
        oracle.reset(1, seeds=[task.seed])
        jitter.reset(1, seeds=[task.seed])
        data.goals.append(goal)
        for _ in range(task.max_steps):
            label = oracle.act([obs], [goal], [info.privileged])[0]
            data.views.append(obs.rgb)
            data.goal_of.append(len(data.goals) - 1)
            data.labels.append(label)
            executed = jitter.act([obs], [goal], [None])[0] if rng.random() < noise else label
            obs, done, _, info = adapter.step(executed)
            if done:
                break
    adapter.close()
    return data


def save(net: XViewNet, out: Path, step: int, hyper: dict, meta: dict) -> Path:
    """Write ``xview-step{step}.safetensors`` and its manifest."""
    from safetensors.torch import save_file

    path = out / f"xview-step{step:05d}.safetensors"
    save_file({k: v.detach().contiguous() for k, v in net.state_dict().items()}, str(path))
    manifest = {"architecture": ARCHITECTURE, "hyperparameters": hyper, "step": step,
                "input_size": [hyper["input"], hyper["input"]], **meta}
    Path(f"{path}.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return path


def _tensors(data: Dataset, size: int, chunk: int = 512) -> tuple:
    """The dataset resized once, exactly as the policy resizes at inference (``prepare``)."""
    views, goals, kinds = [], [], []
    for s in range(0, len(data.views), chunk):
        views.append(prepare([Observation(v) for v in data.views[s:s + chunk]], data.goals[:1], size)[0])
    for s in range(0, len(data.goals), chunk):
        _, g, k = prepare([Observation(g.image) for g in data.goals[s:s + chunk]], data.goals[s:s + chunk], size)
        goals.append(g)
        kinds.append(k)
    return torch.cat(views), torch.cat(goals), torch.cat(kinds)


def train(data: Dataset, out: Path, steps: int, saves: list[int], seed: int, batch: int, lr: float,
          hyper: dict, meta: dict) -> list[Path]:
    torch.manual_seed(seed)
    net = XViewNet(**hyper)
    optim = torch.optim.Adam(net.parameters(), lr=lr)
    buttons, yaw, pitch = (torch.from_numpy(np.asarray(a)) for a in encode_actions(data.labels))
    views, goals, kinds = _tensors(data, hyper["input"])
    goal_of = torch.from_numpy(np.asarray(data.goal_of))
    # rare buttons (attack, use: once an episode) weigh as much as common ones
    pos = buttons.mean(0).clamp(min=1e-3)
    pos_weight = ((1 - pos) / pos).clamp(max=20.0)
    rng = np.random.default_rng(seed)
    written = []
    out.mkdir(parents=True, exist_ok=True)
    start = time.time()
    for step in range(steps + 1):
        if step in saves:
            written.append(save(net, out, step, hyper, meta))
            print(f"step {step:5d}: saved {written[-1].name} ({time.time() - start:.0f}s)", flush=True)
        if step == steps:
            break
        idx = torch.from_numpy(rng.integers(len(data.views), size=batch))
        gi = goal_of[idx]
        v, g, tb, ty = views[idx], goals[gi], buttons[idx], yaw[idx]
        flip = torch.from_numpy(rng.random(batch) < 0.5)  # mirror half the batch: left <-> right
        v = torch.where(flip[:, None, None, None], v.flip(3), v)
        g = torch.where(flip[:, None, None, None], g.flip(3), g)
        tb = torch.where(flip[:, None], tb[:, MIRROR], tb)
        ty = torch.where(flip, len(YAW_BINS) - 1 - ty, ty)
        b, y, p = net(v, g, kinds[gi])
        loss = (F.binary_cross_entropy_with_logits(b, tb, pos_weight=pos_weight) * len(BUTTONS_OUT)
                + F.cross_entropy(y, ty) + F.cross_entropy(p, pitch[idx]))
        optim.zero_grad()
        loss.backward()
        optim.step()
        if step % 250 == 0:
            print(f"step {step:5d}: loss {loss.item():.3f}", flush=True)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="checkpoints/xview", help="folder for the checkpoint series")
    parser.add_argument("--domain", default="apartment", help="the source domain to clone in")
    parser.add_argument("--episodes", type=int, default=60, help="oracle episodes per task template")
    parser.add_argument("--noise", type=float, default=0.3, help="fraction of executed actions that are random")
    parser.add_argument("--steps", type=int, default=6000, help="gradient steps")
    parser.add_argument("--save", default="0,300,1000,2500,6000", help="steps at which to write checkpoints")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--image", type=int, default=224, help="render size (the policy resizes to 64)")
    args = parser.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    t0 = time.time()
    data = collect(args.domain, args.episodes, args.noise, args.seed, args.image)
    print(f"collected {len(data.views)} labelled views from {len(data.goals)} oracle episodes "
          f"in {time.time() - t0:.0f}s", flush=True)
    hyper = {"width": 16, "embed": 128, "input": 64}
    meta = {"trained_on": {"adapter": "rooms", "domain": args.domain, "split": "train"},
            "training": {k: v for k, v in vars(args).items() if k != "out"}}
    saves = sorted({int(s) for s in args.save.split(",")} | {args.steps})
    train(data, Path(args.out), args.steps, saves, args.seed, args.batch, args.lr, hyper, meta)


if __name__ == "__main__":
    main()
