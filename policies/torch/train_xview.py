"""Behaviour cloning of the xview networks from the Rooms oracle; writes one checkpoint series per goal modality.

    python -m policies.torch.train_xview --out checkpoints/xview --out-language checkpoints/xview-lang

Data: oracle rollouts on the Rooms ``train`` split of one domain (``apartment`` by default), every interaction and
difficulty, with noise injection (a fraction of executed actions are random, labels are always the oracle's), so
the clone learns to recover from its own mistakes. Each episode is reset as a language task, which gives the same
scene and cross-view goal plus the instruction (written only in the train phrasings), so one set of rollouts trains
both the cross-view network and the language-conditioned one (policies.torch.xview_lang).

Domain randomization (``--appearance randomized``, the default): every rollout is rendered in a look of its own —
floor texture and colours, walls, sky, light colour and level, object shades (hue kept, so colour words stay true)
and field of view (adapters.rooms.domains.randomized) — in the source domain's layouts. Networks trained on the
domain's one look score 0% in the ``warehouse`` domain; with randomized rollouts they transfer partially.

Appearance augmentation on top, drawn per sample and applied alike to the view and the goal image (they show one
world): brightness, contrast and per-channel tint, and a random zoom-out of each image, as a wider field of view
shows; on request (``--swap-colours``) the cross-view network also sees a share of samples with permuted colour
channels (at 2,000 steps this cost it all its source-world success). On request (``--drop-colours``) the language
network reads a share of its colour words as unknown (at 0.35 it lost source-world success and gained nothing).
``--init`` goes on from a checkpoint (its weights, hyperparameters and step; a fresh optimizer), so a series can
switch recipe part-way: the shipped cross-view series was trained on the domain's look to step 6,000, then on
randomized rollouts. Checkpoints are written at the ``--save`` steps as safetensors with a manifest beside each;
fixed seeds make a series reproducible on one machine.

The shipped series (each manifest records its own command line under ``training``; ``C`` stands for
``--episodes 60 --image 224 --batch 128 --cache data.npz``, one set of randomized rollouts for every run):

    # language, randomized from the start: steps 0-6000, then two continuations at lower rates
    python -m policies.torch.train_xview $C --modalities language --steps 6000 --save 0,3000,6000
    python -m policies.torch.train_xview $C --modalities language --lr 5e-4 --steps 9000 \
        --init checkpoints/xview-lang/xview-lang-step06000.safetensors
    python -m policies.torch.train_xview $C --modalities language --lr 3e-4 --steps 12000 \
        --init checkpoints/xview-lang/xview-lang-step09000.safetensors
    # cross-view: steps 0-6000 on the apartment's own look (an earlier run), then randomized rollouts
    python -m policies.torch.train_xview $C --modalities cross_view --lr 5e-4 --steps 9000 \
        --init checkpoints/xview/xview-step06000.safetensors
    python -m policies.torch.train_xview $C --modalities cross_view --lr 5e-4 --steps 12000 --init <step 9000>
    python -m policies.torch.train_xview $C --modalities cross_view --lr 3e-4 --steps 15000 --init <step 12000>
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from adapters.rooms.adapter import RoomsAdapter
from harness.spec import Action, CrossViewGoal, Modality, Observation
from policies.baselines import OraclePolicy, RandomPolicy
from policies.torch.xview import (
    ARCHITECTURE,
    BUTTONS_OUT,
    YAW_BINS,
    XViewNet,
    encode_actions,
    prepare_goals,
    prepare_views,
    torch,
)
from policies.torch.xview_lang import ARCHITECTURE as LANG_ARCHITECTURE
from policies.torch.xview_lang import UNK, XViewLangNet, build_vocab

F = torch.nn.functional
MIRROR = [BUTTONS_OUT.index(b) for b in ("forward", "back", "right", "left", "attack", "use")]


@dataclasses.dataclass
class Dataset:
    """Views, goals and instructions (one per episode) and oracle labels."""

    views: list[np.ndarray]
    goal_of: list[int]
    goals: list[CrossViewGoal]
    texts: list[str]
    labels: list[Action]


def collect(domain: str, episodes: int, noise: float, seed: int, image: int, appearance: str = "randomized") -> Dataset:
    """Oracle rollouts with noise injection on the train split of ``domain`` (train phrasings only), each episode
    in a look of its own when ``appearance`` is ``randomized``."""
    adapter = RoomsAdapter(image_size=(image, image), depth=False, appearance=appearance)
    templates = [t for t in adapter.tasks("train") if t.domain == domain]
    oracle, jitter = OraclePolicy(), RandomPolicy(max_turn=30)
    rng = np.random.default_rng(seed)
    data = Dataset([], [], [], [], [])
    for k in range(episodes * len(templates)):
        template = templates[k % len(templates)]
        task = dataclasses.replace(template, seed=int(rng.integers(2**31 - 1)), goal=Modality.LANGUAGE.value)
        obs, both, info = adapter.reset(task)
        goal = both.cross_view
        oracle.reset(1, seeds=[task.seed])
        jitter.reset(1, seeds=[task.seed])
        data.goals.append(goal)
        data.texts.append(both.language.instruction)
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


def save(net: Any, out: Path, prefix: str, architecture: str, step: int, hyper: dict, meta: dict) -> Path:
    """Write ``{prefix}-step{step}.safetensors`` and its manifest."""
    from safetensors.torch import save_file

    path = out / f"{prefix}-step{step:05d}.safetensors"
    save_file({k: v.detach().contiguous() for k, v in net.state_dict().items()}, str(path))
    manifest = {"architecture": architecture, "hyperparameters": hyper, "step": step,
                "input_size": [hyper["input"], hyper["input"]], **meta}
    Path(f"{path}.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return path


def random_checkpoint(out: Path, width: int = 16, embed: int = 128, seed: int = 0) -> tuple[Path, int]:
    """A freshly initialised xview network saved like a trained one (for benchmarks); (path, parameter count)."""
    torch.manual_seed(seed)
    hyper = {"width": width, "embed": embed, "input": 64}
    net = XViewNet(**hyper)
    return save(net, out, "xview", ARCHITECTURE, 0, hyper, {}), sum(p.numel() for p in net.parameters())


def _tensors(data: Dataset, size: int, chunk: int = 512) -> tuple:
    """The dataset resized once, exactly as the policy resizes at inference (``prepare``)."""
    views, goals, kinds = [], [], []
    for s in range(0, len(data.views), chunk):
        views.append(prepare_views([Observation(v) for v in data.views[s:s + chunk]], size))
    for s in range(0, len(data.goals), chunk):
        g, k = prepare_goals(data.goals[s:s + chunk], size)
        goals.append(g)
        kinds.append(k)
    return torch.cat(views), torch.cat(goals), torch.cat(kinds)


def _zoom_out(x: Any, rng: np.random.Generator) -> Any:
    """With probability ½ shrink the batch's images by one random factor and pad with their border pixels."""
    if rng.random() < 0.5:
        return x
    n = x.shape[-1]
    m = int(round(n * rng.uniform(0.7, 0.95)))
    small = F.interpolate(x, size=(m, m), mode="area")
    a = (n - m) // 2
    return F.pad(small, (a, n - m - a, a, n - m - a), mode="replicate")


def augment(view: Any, goal_rgb: Any | None, rng: np.random.Generator, permute: float) -> tuple[Any, Any | None]:
    """Per-sample appearance changes shared by a view and its goal image (see the module docstring)."""
    b = view.shape[0]
    def draw(lo: float, hi: float, *shape: int) -> Any:
        return torch.from_numpy(rng.uniform(lo, hi, (b, *shape)).astype(np.float32))
    bright, contrast, tint = draw(0.45, 1.3, 1, 1, 1), draw(0.6, 1.4, 1, 1, 1), draw(0.75, 1.25, 3, 1, 1)
    order = torch.from_numpy(np.stack([rng.permutation(3) if permute > 0 and rng.random() < permute else np.arange(3)
                                       for _ in range(b)]))

    def apply(x: Any) -> Any:
        x = torch.gather(x, 1, order[:, :, None, None].expand_as(x))
        mean = x.mean((1, 2, 3), keepdim=True)
        return (((x - mean) * contrast + mean) * bright * tint).clamp(0, 1)

    return _zoom_out(apply(view), rng), None if goal_rgb is None else _zoom_out(apply(goal_rgb), rng)


@dataclasses.dataclass
class Arrays:
    """The dataset as the networks read it (images already resized to the input size, as ``prepare`` does)."""

    views: np.ndarray  # uint8 N x 3 x S x S
    goals: np.ndarray  # uint8 E x 4 x S x S (image and mask)
    kinds: np.ndarray  # int64 E
    goal_of: np.ndarray  # int64 N
    texts: np.ndarray  # str E
    buttons: np.ndarray
    yaw: np.ndarray
    pitch: np.ndarray

    @classmethod
    def of(cls, data: Dataset, size: int) -> Arrays:
        views, goals, kinds = _tensors(data, size)
        quant = lambda t: (t * 255).round().to(torch.uint8).numpy()  # noqa: E731
        return cls(quant(views), quant(goals), kinds.numpy(), np.asarray(data.goal_of, np.int64),
                   np.asarray(data.texts), *encode_actions(data.labels))

    def save(self, path: Path) -> None:
        """An .npz cache (plain arrays, read back without pickle), so two series can train in two processes."""
        from harness.atomic import atomic_path

        with atomic_path(path) as tmp, open(tmp, "wb") as f:  # complete or absent, for a process waiting on it
            np.savez(f, **dataclasses.asdict(self))

    @classmethod
    def load(cls, path: Path) -> Arrays:
        with np.load(path, allow_pickle=False) as z:
            return cls(**{f.name: z[f.name] for f in dataclasses.fields(cls)})


def colour_words() -> list[str]:
    """The colour names of every Rooms domain's palette (the words a new domain is most likely not to share)."""
    from adapters.rooms.domains import DOMAINS

    return sorted({name for style in DOMAINS.values() for name, _ in style.palette})


def _drop_colours(tokens: Any, colours: Any, rng: np.random.Generator, share: float) -> Any:
    """Colour words replaced by the unknown word in a random ``share`` of the batch, so the policy learns to act on
    the rest of the instruction (shape, room, verb) when a colour name is new to it, as in another domain."""
    drop = torch.from_numpy(rng.random(tokens.shape[0]) < share)[:, None]
    return torch.where(drop & torch.isin(tokens, colours), torch.full_like(tokens, UNK), tokens)


def train(data: Arrays, out: Path, modality: Modality, steps: int, saves: list[int], seed: int, batch: int,
          lr: float, hyper: dict, meta: dict, swap: float = 0.0, drop_colours: float = 0.0,
          init: Path | None = None) -> list[Path]:
    """Clone the oracle into the network of ``modality``; checkpoints at ``saves``. With ``init`` (a checkpoint of
    the same network), training goes on from its weights and step up to ``steps``."""
    from policies.torch.loading import load_into, load_state_dict, read_manifest

    torch.manual_seed(seed)
    language = modality == Modality.LANGUAGE
    first = 0
    if init is not None:
        manifest = read_manifest(init)
        hyper, first = manifest["hyperparameters"], int(manifest["step"])
    net = XViewLangNet(**hyper) if language else XViewNet(**hyper)
    if init is not None:
        load_into(net, load_state_dict(init), init)
    prefix, arch = ("xview-lang", LANG_ARCHITECTURE) if language else ("xview", ARCHITECTURE)
    optim = torch.optim.Adam(net.parameters(), lr=lr)
    buttons, yaw, pitch = (torch.from_numpy(a) for a in (data.buttons, data.yaw, data.pitch))
    views, goals = (torch.from_numpy(a) for a in (data.views, data.goals))
    kinds = torch.from_numpy(data.kinds)
    if language:
        goals = net.tokens([str(t) for t in data.texts])
        colours = torch.tensor(sorted(net.vocab[c] for c in colour_words() if c in net.vocab))
    goal_of = torch.from_numpy(data.goal_of)
    # rare buttons (attack, use: once an episode) weigh as much as common ones
    pos = buttons.mean(0).clamp(min=1e-3)
    pos_weight = ((1 - pos) / pos).clamp(max=20.0)
    rng = np.random.default_rng(seed)
    written = []
    out.mkdir(parents=True, exist_ok=True)
    start = time.time()
    for step in range(first, steps + 1):
        if step in saves:
            written.append(save(net, out, prefix, arch, step, hyper, meta))
            print(f"{prefix} step {step:5d}: saved {written[-1].name} ({time.time() - start:.0f}s)", flush=True)
        if step == steps:
            break
        idx = torch.from_numpy(rng.integers(len(data.views), size=batch))
        gi = goal_of[idx]
        v, g, tb, ty = views[idx].float() / 255, goals[gi], buttons[idx], yaw[idx]
        if not language:
            g = g.float() / 255
        if language:
            v, _ = augment(v, None, rng, permute=0.0)
            if drop_colours > 0:
                g = _drop_colours(g, colours, rng, drop_colours)
        else:
            v, rgb = augment(v, g[:, :3], rng, permute=swap)
            g = torch.cat([rgb, g[:, 3:]], dim=1)
        flip = torch.from_numpy(rng.random(batch) < 0.5)  # mirror half the batch: left <-> right
        v = torch.where(flip[:, None, None, None], v.flip(3), v)
        if not language:
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
            print(f"{prefix} step {step:5d}: loss {loss.item():.3f}", flush=True)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="checkpoints/xview", help="folder for the cross-view checkpoint series")
    parser.add_argument("--out-language", default="checkpoints/xview-lang",
                        help="folder for the language-conditioned series")
    parser.add_argument("--modalities", default="cross_view,language", help="which series to train")
    parser.add_argument("--domain", default="apartment", help="the source domain to clone in")
    parser.add_argument("--episodes", type=int, default=20, help="oracle episodes per task template")
    parser.add_argument("--noise", type=float, default=0.3, help="fraction of executed actions that are random")
    parser.add_argument("--steps", type=int, default=2000, help="gradient steps (the last step, with --init)")
    parser.add_argument("--init", default="", help="go on training from this checkpoint (its step and "
                        "hyperparameters); with --modalities naming the one series it belongs to")
    parser.add_argument("--save", default="0,200,700,2000", help="steps at which to write checkpoints")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--appearance", default="randomized", choices=("randomized", "domain"),
                        help="randomized: every episode's floor, walls, sky, light, object shades and field of view "
                             "are drawn anew (the layout is the domain's); domain: the domain's own look")
    parser.add_argument("--image", type=int, default=128, help="render size (the policy resizes to 64)")
    parser.add_argument("--cache", default="", help="an .npz file to keep the collected data in (and read it from)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: one per core)")
    parser.add_argument("--drop-colours", type=float, default=0.0,
                        help="language: share of instructions whose colour words are read as unknown")
    parser.add_argument("--swap-colours", type=float, default=0.0,
                        help="cross-view: share of samples whose colour channels are permuted (view and goal alike)")
    args = parser.parse_args()
    modalities = [Modality.parse(m) for m in args.modalities.split(",")]
    torch.set_num_threads(args.threads or max(1, os.cpu_count() or 1))
    t0 = time.time()
    size = 64
    if args.cache and Path(args.cache).is_file():
        data = Arrays.load(Path(args.cache))
        print(f"read {len(data.views)} labelled views from {args.cache}", flush=True)
    else:
        raw = collect(args.domain, args.episodes, args.noise, args.seed, args.image, args.appearance)
        print(f"collected {len(raw.views)} labelled views from {len(raw.goals)} oracle episodes "
              f"in {time.time() - t0:.0f}s", flush=True)
        data = Arrays.of(raw, size)
        del raw
        if args.cache:
            data.save(Path(args.cache))
    saves = sorted({int(s) for s in args.save.split(",")} | {args.steps})
    training = {k: v for k, v in vars(args).items() if not k.startswith("out")}
    for modality in modalities:
        hyper: dict[str, Any] = {"width": 16, "embed": 128, "input": size}
        if modality == Modality.LANGUAGE:
            hyper["vocab"] = build_vocab(str(t) for t in data.texts)
        meta = {"trained_on": {"adapter": "rooms", "domain": args.domain, "split": "train", "phrasings": "train",
                               "goal": modality.value, "appearance": args.appearance}, "training": training}
        out = Path(args.out_language if modality == Modality.LANGUAGE else args.out)
        if args.init:
            meta["trained_on"]["continued_from"] = Path(args.init).name
        train(data, out, modality, args.steps, saves, args.seed, args.batch, args.lr, hyper, meta, args.swap_colours,
              args.drop_colours, Path(args.init) if args.init else None)


if __name__ == "__main__":
    main()
