"""Any MineStudio policy (``kind: minestudio``) and ROCKET-2/3 (``kind: rocket``) behind crossview's Policy protocol.

    - {name: rocket2, kind: rocket, options: {model: "model:CrossViewRocket", code: /path/to/ROCKET-2,
       checkpoint: phython96/ROCKET-2-1x-22w, cfg_coef: 1.0}}
    - {name: vpt, kind: minestudio, options: {model: "minestudio.models:VPTPolicy", checkpoint: /path/to/folder}}

``model`` names the ``minestudio.models.MinePolicy`` subclass by import path (``code`` puts a checkout on the path);
``checkpoint`` is a hub name, a ``save_pretrained`` folder or a Lightning ``.ckpt`` (policies/rocket/loading.py).
Each step calls the model as MineStudio's ``MinePolicy.get_action`` does (minestudio/models/base_policy.py:120-165):
``forward(input, state_in)`` over a batch of env slots with time 1, then ``pi_head.sample``.  Every slot keeps its own
recurrent memory (the model's ``initial_state(1)`` at the start of an episode), and with ``cfg_coef`` k > 0 a second,
separate memory for the unconditioned stream, reset with the slot: logits = (1 + k)·conditioned − k·null goal, as
CraftJarvis/ROCKET-2:cfg_wrapper.py:21-54 does.  Sampling draws from a per-slot generator seeded per episode, so the
actions of a slot do not depend on which other slots share its batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.errors import BackendUnavailable, CrossviewError
from harness.spec import Action, CrossViewGoal, Interaction, Observation, PrivilegedFacts
from policies.base import PolicyInfo
from policies.rocket import loading
from policies.rocket.actions import vpt_to_action
from policies.rocket.inputs import SIZE_BY_CLASS, InputBuilder, goal_kind, null_goals
from policies.series import file_sha256

INSTALL = "MineStudio lives in its own environment: README 'ROCKET-2 and MineStudio policies' (nox -s minestudio)"
# what the wrapper and MineStudio's models import (module, what to install)
NEEDS = (("torch", "torch==2.13.0"), ("minestudio.models", "minestudio==1.1.6 --no-deps"),
         ("timm", "timm"), ("torchvision.transforms", "torchvision==0.16.2 --no-deps"),
         ("cv2", "opencv-python-headless==4.8.0.74"), ("huggingface_hub", "huggingface_hub"),
         ("safetensors", "safetensors"))


def cat_states(states: list[Any], torch: Any) -> Any:
    """Concatenate per-slot recurrent states (nested lists/tuples/dicts of batch-first tensors) along the batch."""
    first = states[0]
    if isinstance(first, torch.Tensor):
        return torch.cat(states, dim=0)
    if isinstance(first, (list, tuple)):
        return type(first)(cat_states([s[i] for s in states], torch) for i in range(len(first)))
    if isinstance(first, dict):
        return {k: cat_states([s[k] for s in states], torch) for k in first}
    if first is None:
        return None
    raise CrossviewError(f"recurrent state of type {type(first).__name__} cannot be batched")


class MineStudioPolicy:
    """A ``minestudio.models.MinePolicy`` (VPT, ROCKET-2/3, or any subclass crossview can feed) as a Policy."""

    kind = "minestudio"
    default_cfg = 0.0

    @classmethod
    def check_available(cls) -> None:
        """Raise BackendUnavailable naming, in one line, every module the wrapper and MineStudio need but lack."""
        import importlib
        import warnings

        missing = []
        for module, package in NEEDS:
            try:
                with warnings.catch_warnings():
                    # torchvision 0.16.2 next to a CPU torch (noxfile.py) warns on import that its C image extension
                    # does not load (pytorch/vision torchvision/io/image.py); only its pure-Python transforms are used,
                    # and the warning would make a one-line error two more lines
                    warnings.filterwarnings("ignore", message="Failed to load image Python extension",
                                            category=UserWarning)
                    importlib.import_module(module)
            except Exception as exc:  # torchvision's CUDA build raises RuntimeError next to a CPU torch
                missing.append(f"{module} ({type(exc).__name__}: {str(exc).splitlines()[0][:80]}; pip install "
                               f"{package})")
        if missing:
            raise BackendUnavailable(f"{cls.kind} policy needs {'; '.join(missing)}. {INSTALL}")

    def __init__(self, model: str | None = None, checkpoint: str | None = None, code: str | None = None,
                 cfg_coef: float | None = None, goal: str | None = None, image_size: int | None = None,
                 device: str = "auto", deterministic: bool = False) -> None:
        self.check_available()
        import torch

        what = f"{self.kind} policy"
        if not model:
            raise CrossviewError(f"{what} needs option model: 'module:Class' (ROCKET-2: model: model:CrossViewRocket "
                                 "with code: /path/to/ROCKET-2; MineStudio's own: minestudio.models:VPTPolicy)")
        if not checkpoint:
            raise CrossviewError(f"{what} needs option checkpoint: a hub name, a save_pretrained folder or a .ckpt")
        cls = loading.model_class(model, code)
        self.goal = goal_kind(cls, goal)
        self.cfg = float(self.default_cfg if cfg_coef is None else cfg_coef)
        if self.cfg and self.goal != "cross_view":
            raise CrossviewError(f"{what}: cfg_coef needs a goal with a null form (cross_view), not {self.goal!r}")
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model, weights = self._load(cls, checkpoint, f"{what} {checkpoint!r}", torch)
        self.model = self.model.to(device).eval()
        self.torch, self.device, self.deterministic = torch, device, bool(deterministic)
        size = int(image_size or SIZE_BY_CLASS.get(cls.__name__, 224))
        self.inputs = InputBuilder(self.goal, size, bool(getattr(self.model, "use_prev_action", False)), device)
        interactions = tuple(i for i in Interaction if i is not Interaction.NONE) if self.goal == "cross_view" else ()
        self.info = PolicyInfo(name=f"{self.kind}:{checkpoint}", input_size=None, batchable=True, device=device,
                               interactions=interactions, checkpoint_sha256=file_sha256(weights))
        self._memory: list[Any] = []  # per slot: conditioned stream's recurrent state, None = fresh
        self._base: list[Any] = []  # per slot: unconditioned stream's state (guidance only)
        self._prev: list[tuple[int, int] | None] = []  # per slot: previous (buttons, camera)
        self._rng: list[Any] = []  # per slot: torch CPU generator state

    @staticmethod
    def _load(cls: type, checkpoint: str, what: str, torch: Any) -> tuple[Any, Path]:
        local = Path(checkpoint).expanduser()
        if local.is_file():
            return loading.from_lightning(cls, local, what), local
        if local.is_dir():
            model = loading.from_folder(cls, local, what)
            return model, next(local / n for n in loading.WEIGHT_FILES if (local / n).is_file())
        if checkpoint.startswith((".", "/", "~")) or checkpoint.count("/") != 1:
            raise CrossviewError(f"{what}: no such file or folder, and not a hub name 'owner/repo'")
        model, folder = loading.from_hub(cls, checkpoint, what)
        return model, next(folder / n for n in loading.WEIGHT_FILES if (folder / n).is_file())

    def reset(self, n: int, slots: Sequence[int] | None = None, seeds: Sequence[int] | None = None) -> None:
        """Clear the memories, previous action and sampling generator of ``slots`` (all when None)."""
        if len(self._memory) != n:
            self._memory, self._base, self._prev, self._rng = [None] * n, [None] * n, [None] * n, [None] * n
        slots = list(range(n)) if slots is None else list(slots)
        for k, s in enumerate(slots):
            self._memory[s] = self._base[s] = self._prev[s] = None
            seed = int(seeds[k]) if seeds is not None else s
            self._rng[s] = self.torch.Generator().manual_seed(seed & 0x7FFFFFFFFFFFFFFF).get_state()

    def _state(self, memories: list[Any]) -> Any:
        fresh = self.model.initial_state(1)
        return cat_states([fresh if m is None else m for m in memories], self.torch)

    def _split(self, state: Any, k: int) -> Any:
        from minestudio.models.base_policy import recursive_tensor_op

        return recursive_tensor_op(lambda x: x[k:k + 1], state)

    def logits(self, observations: Sequence[Observation], goals: Sequence[CrossViewGoal],
               slots: Sequence[int]) -> dict[str, Any]:
        """One forward step for ``slots`` (memories advanced); the guided logits, batch-first."""
        prev = [self._prev[s] for s in slots]
        with self.torch.inference_mode():
            latents, state = self.model(self.inputs.build(observations, goals, prev),
                                        self._state([self._memory[s] for s in slots]))
            logits = latents["pi_logits"]
            if self.cfg:
                base, base_state = self.model(self.inputs.build(observations, null_goals(goals), prev),
                                              self._state([self._base[s] for s in slots]))
                logits = {k: (1 + self.cfg) * v - self.cfg * base["pi_logits"][k] for k, v in logits.items()}
                for k, s in enumerate(slots):
                    self._base[s] = self._split(base_state, k)
        for k, s in enumerate(slots):
            self._memory[s] = self._split(state, k)
        return logits

    def act(self, observations: Sequence[Observation], goals: Sequence[CrossViewGoal],
            privileged: Sequence[PrivilegedFacts | None], slots: Sequence[int] | None = None) -> list[Action]:
        """One action per slot: forward, guidance, a per-slot sample, VPT → common action."""
        slots = list(range(len(observations)) if slots is None else slots)
        if len(self._rng) <= max(slots):  # act() without reset(): every slot starts fresh
            self.reset(max(slots) + 1)
        logits = self.logits(observations, goals, slots)
        t = self.torch
        actions = []
        with t.random.fork_rng(devices=[]), t.inference_mode():
            for k, s in enumerate(slots):
                t.set_rng_state(self._rng[s])
                sample = self.model.pi_head.sample({n: v[k:k + 1].cpu() for n, v in logits.items()},
                                                   deterministic=self.deterministic)
                self._rng[s] = t.get_rng_state()
                b, c = int(sample["buttons"].reshape(-1)[-1]), int(sample["camera"].reshape(-1)[-1])
                self._prev[s] = (b, c)
                actions.append(vpt_to_action(b, c))
        return actions


class RocketPolicy(MineStudioPolicy):
    """ROCKET-2 / ROCKET-3: a cross-view-goal MinePolicy, guided by default (CFGWrapper's k = 1.0,
    CraftJarvis/ROCKET-2:cfg_wrapper.py:17)."""

    kind = "rocket"
    default_cfg = 1.0

    def __init__(self, model: str | None = None, checkpoint: str | None = "phython96/ROCKET-2-1x-22w",
                 code: str | None = None, cfg_coef: float | None = None, goal: str | None = "cross_view",
                 image_size: int | None = None, device: str = "auto", deterministic: bool = False) -> None:
        super().__init__(model=model, checkpoint=checkpoint, code=code, cfg_coef=cfg_coef, goal=goal,
                         image_size=image_size, device=device, deterministic=deterministic)
