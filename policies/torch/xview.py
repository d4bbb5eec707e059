"""A compact cross-view goal-conditioned policy: first-person image + goal image + goal mask + interaction → Action.

Two small conv encoders (the view; the goal image with its mask as a 4th channel). The goal's embedding and the
interaction modulate the view's features (FiLM), so "find the thing marked in the goal" is one multiplication
away. Heads: six buttons (Bernoulli) and binned camera turns (categorical), sampled per slot with a seeded
generator, or taken greedily.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import CrossviewError
from harness.spec import Action, CrossViewGoal, Goal, Interaction, Modality, Observation, PrivilegedFacts
from policies.base import PolicyInfo, SlotRandom
from policies.baselines import PITCH_STEPS, YAW_STEPS
from policies.series import file_sha256
from policies.torch.loading import import_torch, load_into, load_state_dict, read_manifest

torch = import_torch()
nn = torch.nn
F = torch.nn.functional

ARCHITECTURE = "xview-cnn"
BUTTONS_OUT = ("forward", "back", "left", "right", "attack", "use")
YAW_BINS, PITCH_BINS = YAW_STEPS, PITCH_STEPS  # the oracle's own turning steps, so cloning is exact
INTERACTION_ORDER = tuple(Interaction)  # NONE first, so index 0 is the null goal


def _encoder(in_ch: int, width: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, width, 5, stride=2, padding=2), nn.ReLU(),
        nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(2 * width, 2 * width, 3, stride=2, padding=1), nn.ReLU())


class XViewNet(nn.Module):
    """The network; ``hyperparameters``: width, embed, input (square input side in pixels)."""

    def __init__(self, width: int = 16, embed: int = 128, input: int = 64) -> None:  # noqa: A002
        super().__init__()
        self.input = input
        c = 2 * width
        self.view = _encoder(3, width)
        self.goal = _encoder(4, width)
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.goal_fc = nn.Linear(c * 16, embed)
        self.interaction = nn.Embedding(len(INTERACTION_ORDER), embed)
        self.film = nn.Linear(embed, 2 * c)
        self.view_fc = nn.Linear(c * 16, embed)
        self.trunk = nn.Sequential(nn.Linear(2 * embed, embed), nn.ReLU())
        self.buttons = nn.Linear(embed, len(BUTTONS_OUT))
        self.yaw = nn.Linear(embed, len(YAW_BINS))
        self.pitch = nn.Linear(embed, len(PITCH_BINS))

    def embed_goal(self, goal: Any, interaction: Any) -> Any:
        """The goal's embedding (B x embed) that modulates the view: image+mask encoder plus the interaction."""
        return F.relu(self.goal_fc(self.pool(self.goal(goal)).flatten(1))) + self.interaction(interaction)

    def forward(self, view: Any, goal: Any, interaction: Any) -> tuple[Any, Any, Any]:
        return self.heads(view, self.embed_goal(goal, interaction))

    def heads(self, view: Any, g: Any) -> tuple[Any, Any, Any]:
        """The action heads' logits from the view and an already computed goal embedding (``embed_goal``)."""
        gamma, beta = self.film(g).chunk(2, dim=1)
        v = self.view(view) * (1 + gamma[:, :, None, None]) + beta[:, :, None, None]
        v = F.relu(self.view_fc(self.pool(F.relu(v)).flatten(1)))
        h = self.trunk(torch.cat([v, g], dim=1))
        return self.buttons(h), self.yaw(h), self.pitch(h)


def interaction_index(kind: Interaction) -> int:
    return INTERACTION_ORDER.index(kind)


def prepare_views(observations: Sequence[Observation], size: int, device: str = "cpu") -> Any:
    """The views as a batch tensor at ``size``×``size``, area-resized to [0, 1]."""
    view = torch.from_numpy(np.stack([o.rgb for o in observations])).to(device).permute(0, 3, 1, 2).float() / 255
    return F.interpolate(view, size=(size, size), mode="area")


def prepare_goals(goals: Sequence[CrossViewGoal], size: int, device: str = "cpu") -> tuple[Any, Any]:
    """The goals as batch tensors: image area-resized to [0, 1] with the mask (nearest) as a 4th channel; the
    interactions' indices."""
    gimg = torch.from_numpy(np.stack([g.image for g in goals])).to(device).permute(0, 3, 1, 2).float() / 255
    mask = torch.from_numpy(np.stack([g.mask for g in goals]).astype(np.float32))[:, None].to(device)
    gimg = F.interpolate(gimg, size=(size, size), mode="area")
    mask = F.interpolate(mask, size=(size, size), mode="nearest")
    kinds = torch.tensor([interaction_index(g.interaction) for g in goals], device=device)
    return torch.cat([gimg, mask], dim=1), kinds


def prepare(observations: Sequence[Observation], goals: Sequence[CrossViewGoal], size: int,
            device: str = "cpu") -> tuple[Any, Any, Any]:
    """The network's three inputs for a batch (``prepare_views`` and ``prepare_goals``)."""
    return prepare_views(observations, size, device), *prepare_goals(goals, size, device)


def encode_actions(actions: Sequence[Action]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training targets: button bits, nearest yaw bin, nearest pitch bin."""
    buttons = np.array([[getattr(a, b) for b in BUTTONS_OUT] for a in actions], np.float32)
    yaw = np.abs(np.array([a.yaw for a in actions])[:, None] - np.array(YAW_BINS)).argmin(1)
    pitch = np.abs(np.array([a.pitch for a in actions])[:, None] - np.array(PITCH_BINS)).argmin(1)
    return buttons, yaw, pitch


def decode_actions(buttons: Any, yaw: Any, pitch: Any, rngs: Sequence[np.random.Generator] | None) -> list[Action]:
    """Actions from head outputs: buttons where their probability exceeds ½; camera turns sampled with each slot's
    generator (or their most likely bin when ``rngs`` is None). Sampled buttons would press attack now and then on
    whatever is in view, which ends mine/interact episodes on the wrong object."""
    pb = torch.sigmoid(buttons).cpu().numpy()
    py = torch.softmax(yaw, 1).cpu().numpy()
    pp = torch.softmax(pitch, 1).cpu().numpy()
    out = []
    for k in range(len(pb)):
        bits = pb[k] > 0.5
        if rngs is None:
            yi, pi = int(py[k].argmax()), int(pp[k].argmax())
        else:
            yi, pi = int(rngs[k].choice(len(YAW_BINS), p=py[k])), int(rngs[k].choice(len(PITCH_BINS), p=pp[k]))
        out.append(Action(**{b: bool(v) for b, v in zip(BUTTONS_OUT, bits)}, camera=(PITCH_BINS[pi], YAW_BINS[yi])))
    return out


ARCHITECTURES: dict[str, Any] = {ARCHITECTURE: XViewNet}
GOAL_MODALITIES: dict[str, tuple[Modality, ...]] = {ARCHITECTURE: (Modality.CROSS_VIEW,)}
GOAL_INPUTS: dict[str, Any] = {ARCHITECTURE: lambda net, goals, device: prepare_goals(goals, net.input, device)}


def register(name: str, net: Any, modalities: tuple[Modality, ...], goal_inputs: Any) -> None:
    """Add an architecture: its network class (an XViewNet: ``embed_goal`` and ``heads``), the goal modalities it
    reads, and how to batch its goals into ``embed_goal``'s two inputs: ``goal_inputs(net, goals, device)``."""
    ARCHITECTURES[name], GOAL_MODALITIES[name], GOAL_INPUTS[name] = net, modalities, goal_inputs


MAX_HYPER = 4096  # widths and sizes: larger would only exhaust memory


class TorchPolicy:
    """A checkpointed network (kind ``torch``): ``checkpoint`` file + its manifest; batched on CPU or GPU."""

    def __init__(self, checkpoint: str, device: str = "cpu", sample: bool = True, threads: int | None = None) -> None:
        manifest = read_manifest(checkpoint)
        arch = manifest["architecture"]
        if arch not in ARCHITECTURES:
            import policies.torch.xview_lang  # noqa: F401  (registers the language-conditioned variant)
        if arch not in ARCHITECTURES:
            raise CrossviewError(f"checkpoint {checkpoint}: unknown architecture {arch!r} in its manifest "
                                 f"(known: {', '.join(ARCHITECTURES)})")
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise CrossviewError(f"policy option device={device!r} but no CUDA device is visible: use device: cpu")
        if threads:
            torch.set_num_threads(int(threads))
        hyper = manifest["hyperparameters"]
        bad = (not isinstance(hyper, dict) or next((f"{k}: {v!r}" for k, v in hyper.items() if k != "vocab" and (
            isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_HYPER)), None))
        vocab = hyper.get("vocab", []) if isinstance(hyper, dict) else []
        if not bad and (not isinstance(vocab, list) or len(vocab) > MAX_HYPER
                        or not all(isinstance(w, str) and 0 < len(w) <= 64 for w in vocab)):
            bad = f"vocab: a list of at most {MAX_HYPER} words"
        if bad:
            raise CrossviewError(f"checkpoint manifest {checkpoint}.json: hyperparameters must map names to whole "
                                 f"numbers in 1..{MAX_HYPER} ({bad if isinstance(bad, str) else 'not a mapping'})")
        try:
            self.net = ARCHITECTURES[arch](**hyper)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise CrossviewError(f"checkpoint {checkpoint}: manifest hyperparameters do not fit {arch}: {exc}") \
                from None
        load_into(self.net, load_state_dict(checkpoint), checkpoint)
        self.net.to(device).eval()
        self.device, self.sample = device, bool(sample)
        self.arch = arch
        self.info = PolicyInfo(name=Path(checkpoint).stem, input_size=None, batchable=True, device=device,
                               checkpoint_sha256=file_sha256(checkpoint), checkpoint_step=manifest.get("step"),
                               goals=GOAL_MODALITIES[arch])
        self._rand = SlotRandom(77)
        # per slot: the goal object last given and its embedding. A goal is constant for its episode, so it is
        # resized and encoded once, not every step (a fifth of a step's CPU); a new object is a new goal
        self._goals: dict[int, tuple[object, Any]] = {}

    def reset(self, n: int, slots: Sequence[int] | None = None, seeds: Sequence[int] | None = None) -> None:
        for slot in self._rand.reset(n, slots, seeds):
            self._goals.pop(slot, None)

    @torch.no_grad()
    def act(self, observations: Sequence[Observation], goals: Sequence[CrossViewGoal | Goal],
            privileged: Sequence[PrivilegedFacts | None], slots: Sequence[int] | None = None) -> list[Action]:
        slots = list(range(len(observations))) if slots is None else list(slots)
        new = [k for k, (s, g) in enumerate(zip(slots, goals)) if self._goals.get(s, (None,))[0] is not g]
        if new:
            inputs = GOAL_INPUTS[self.arch](self.net, [goals[k] for k in new], self.device)
            for k, row in zip(new, self.net.embed_goal(*inputs)):
                self._goals[slots[k]] = (goals[k], row)
        embedded = torch.stack([self._goals[s][1] for s in slots])
        heads = self.net.heads(prepare_views(observations, self.net.input, self.device), embedded)
        return decode_actions(*heads, [self._rand.rngs[s] for s in slots] if self.sample else None)
