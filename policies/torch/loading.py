"""Safe checkpoint loading: safetensors, or ``torch.load(weights_only=True)`` — never an unrestricted pickle.

Every checkpoint sits beside a manifest ``<file>.json``: architecture, hyperparameters, training step, input size.
A corrupt, truncated or mismatched checkpoint fails with one line naming the file and what to do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.errors import CrossviewError, require
from policies.series import manifest_path, manifest_step, read_manifest_object


def import_torch() -> Any:
    """torch, or a one-line error saying how to install it."""
    return require("torch", "checkpoint policies", "pip install 'crossview-harness[torch]'")


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest beside a checkpoint, validated for the keys every architecture needs."""
    manifest = manifest_path(path)
    if not manifest.is_file():
        raise CrossviewError(f"checkpoint {path} has no manifest {manifest.name} beside it (architecture, "
                             "hyperparameters, step, input_size)")
    data = read_manifest_object(manifest)
    manifest_step(data, manifest)
    missing = [k for k in ("architecture", "hyperparameters", "step") if k not in data]
    if missing:
        raise CrossviewError(f"checkpoint manifest {manifest} lacks {', '.join(missing)}")
    return data


def load_state_dict(path: str | Path) -> dict[str, Any]:
    """Tensors of a checkpoint: safetensors, else a weights-only torch file."""
    torch = import_torch()
    p = Path(path)
    if not p.is_file():
        raise CrossviewError(f"checkpoint {p} does not exist")
    try:
        if p.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(p))
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # safetensors, zipfile and unpickler errors all mean: unusable file
        first = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        if "weights_only" in str(exc) or "Unsupported global" in str(exc):
            raise CrossviewError(f"checkpoint {p} holds objects beyond plain tensors and is refused (it could run "
                                 "code when unpickled): re-save it as a state_dict or safetensors") from None
        raise CrossviewError(f"checkpoint {p} is corrupt or truncated ({first}): re-download or re-save it") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(hasattr(v, "shape") for v in state.values()):
        raise CrossviewError(f"checkpoint {p} is not a mapping of tensor names to tensors")
    return state


def load_into(module: Any, state: dict[str, Any], path: str | Path) -> None:
    """Load tensors into a module strictly; mismatches name the first offending tensor."""
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    extra = [k for k in state if k not in own]
    if missing or extra:
        what = f"missing {missing[0]!r}" if missing else f"unexpected {extra[0]!r}"
        raise CrossviewError(f"checkpoint {path} does not fit its architecture: {what} "
                             f"({len(missing)} missing, {len(extra)} unexpected tensors)")
    for k, v in own.items():
        if tuple(state[k].shape) != tuple(v.shape):
            raise CrossviewError(f"checkpoint {path} does not fit its architecture: {k} has shape "
                                 f"{tuple(state[k].shape)}, expected {tuple(v.shape)} (manifest hyperparameters "
                                 "wrong?)")
    module.load_state_dict(state, strict=True)
