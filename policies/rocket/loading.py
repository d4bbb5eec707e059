"""Find a MineStudio policy class and load its weights, with one-line errors for everything a user can get wrong.

The class comes from an import path (``model: model:CrossViewRocket`` with ``code: /path/to/ROCKET-2``: ROCKET-2 is a
research repository, not a package, and is never copied here).  The weights come from one of:

- a Hugging Face hub name (``phython96/ROCKET-2-1x-22w``), fetched with ``huggingface_hub.snapshot_download``;
- a local folder written by ``save_pretrained`` (``config.json`` + ``model.safetensors`` or ``pytorch_model.bin``),
  which works offline: the class is built by its own ``from_pretrained`` (huggingface_hub's ``ModelHubMixin``
  decodes ``config.json`` into the constructor's arguments), then the file's keys are compared with the model's,
  because ``from_pretrained`` loads with ``strict=False`` and would drop a mismatch silently;
- a Lightning ``.ckpt`` (``hyper_parameters.model`` builds the net, weights under ``state_dict`` with the prefix
  ``mine_policy.``, as ROCKET-2's CraftJarvis/ROCKET-2:model.py:216-221 and MineStudio's
  minestudio/models/rocket_one/body.py:199-203 read them), opened with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from harness.errors import BackendUnavailable, CrossviewError

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")  # huggingface_hub constants SAFETENSORS_SINGLE_FILE, ...
_OFFLINE = {"LocalEntryNotFoundError", "OfflineModeIsEnabled", "ConnectError", "ConnectionError", "ConnectTimeout",
            "RepositoryNotFoundError", "GatedRepoError", "HfHubHTTPError", "EntryNotFoundError"}


def model_class(model: str, code: str | None) -> type:
    """The class ``module:Class`` names, with ``code`` (a folder) put first on ``sys.path``."""
    if code is not None:
        folder = Path(os.path.expandvars(code)).expanduser()
        if not folder.is_dir():
            unset = " (an environment variable in it is not set)" if "$" in str(folder) else ""
            raise CrossviewError(f"code folder {code!r} does not exist{unset}: give the path of your checkout "
                                 "(git clone https://github.com/CraftJarvis/ROCKET-2)")
        if str(folder.resolve()) not in sys.path:
            sys.path.insert(0, str(folder.resolve()))
    module, _, attr = model.partition(":")
    if not module or not attr:
        raise CrossviewError(f"model {model!r} must be an import path 'module:Class' (e.g. model:CrossViewRocket "
                             "with code: /path/to/ROCKET-2)")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except ModuleNotFoundError as exc:
        if exc.name and not module.startswith(exc.name):  # the model's own dependency is missing
            raise BackendUnavailable(f"model {model!r} cannot be imported: {exc}") from None
        where = f"in code folder {code!r}" if code else "on PYTHONPATH (or name the folder with the code: option)"
        raise CrossviewError(f"model {model!r} cannot be imported: {exc} {where}") from None
    except AttributeError:
        raise CrossviewError(f"model {model!r}: module {module!r} has no {attr!r}") from None
    except ImportError as exc:  # the model's own imports (timm, minestudio, ...) failed
        raise BackendUnavailable(f"model {model!r} cannot be imported: {exc}") from None
    from minestudio.models import MinePolicy

    if not (isinstance(cls, type) and issubclass(cls, MinePolicy)):
        raise CrossviewError(f"model {model!r} is not a minestudio.models.MinePolicy subclass")
    return cls


def _hub_names(config: dict[str, Any]) -> list[str]:
    """Strings in a model config that name hub repositories (timm backbones such as timm/vit_base_patch16_224.dino)."""
    names = []
    for value in config.values():
        if isinstance(value, str) and ("/" in value or value.startswith("hf-hub:")) and not Path(value).exists():
            names.append(value.removeprefix("hf-hub:"))
        elif isinstance(value, dict):
            names += _hub_names(value)
    return names


def _offline(exc: BaseException) -> bool:
    """Whether an exception (or one it came from) says the hub could not be reached or the file is not cached."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if any(c.__name__ in _OFFLINE for c in type(e).__mro__):
            return True
        e = e.__cause__ or e.__context__
    return False


def _build(what: str, config: dict[str, Any], build: Any) -> Any:
    """Call ``build()``; a hub failure while building (a timm backbone not in the cache) becomes one line."""
    try:
        return build()
    except CrossviewError:
        raise
    except Exception as exc:
        if _offline(exc):
            names = ", ".join(repr(n) for n in _hub_names(config)) or "its backbones"
            raise CrossviewError(
                f"{what}: building the model fetches {names} (timm backbone weights) from the Hugging Face hub, "
                f"which cannot be reached and which is not in the local cache ({type(exc).__name__}): run once with "
                "network, or 'hf download NAME' for each, or copy ~/.cache/huggingface from a machine that has them"
            ) from None
        hint = ""
        if "has no source prefix" in str(exc):  # timm >= 1.0.29 refuses names like 'timm/vit_base_patch16_224.dino'
            hint = " (timm >= 1.0.29 refuses MineStudio's and ROCKET's backbone names: pip install timm==1.0.28)"
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise CrossviewError(f"{what}: the model could not be built: {type(exc).__name__}: {first}{hint}") from None


def check_keys(what: str, expected: set[str], found: set[str]) -> None:
    """Raise a one-line error naming missing and unexpected state-dict keys (a few of each)."""
    missing, unexpected = sorted(expected - found), sorted(found - expected)
    if not missing and not unexpected:
        return
    parts = []
    for label, keys in (("missing", missing), ("unexpected", unexpected)):
        if keys:
            more = f" (+{len(keys) - 5} more)" if len(keys) > 5 else ""
            parts.append(f"{len(keys)} {label} keys: {', '.join(keys[:5])}{more}")
    raise CrossviewError(f"{what}: weights do not match the model ({'; '.join(parts)}): is 'model' the class these "
                         "weights were trained with, and are its options the same?")


def _file_keys(path: Path, torch: Any) -> set[str]:
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            return set(f.keys())
    return set(torch.load(path, map_location="cpu", weights_only=True, mmap=True))


def from_folder(cls: type, folder: Path, what: str) -> Any:
    """A ``save_pretrained`` folder: built by the class's ``from_pretrained``, keys checked strictly."""
    import torch

    if not hasattr(cls, "from_pretrained"):
        raise CrossviewError(f"{what}: {cls.__name__} has no from_pretrained (not a huggingface_hub "
                             "PyTorchModelHubMixin); give a Lightning .ckpt instead")
    weights = next((folder / n for n in WEIGHT_FILES if (folder / n).is_file()), None)
    if weights is None or not (folder / "config.json").is_file():
        raise CrossviewError(f"{what}: folder {folder} has no config.json with {' or '.join(WEIGHT_FILES)} "
                             "(write it with model.save_pretrained(folder))")
    config = json.loads((folder / "config.json").read_text())
    model = _build(what, config, lambda: cls.from_pretrained(str(folder)))
    state, found = model.state_dict(), _file_keys(weights, torch)
    check_keys(what, set(state) - _tied_elsewhere(state, found), found)
    return model


def _tied_elsewhere(state: dict[str, Any], found: set[str]) -> set[str]:
    """Keys absent from the file whose tensor shares storage with a key in it: safetensors' ``save_model`` (which
    ``save_pretrained`` calls, huggingface_hub/hub_mixin.py ``PyTorchModelHubMixin._save_pretrained``) writes one name
    per shared storage, and ``load_model`` restores the others through it."""
    stored = {v.untyped_storage().data_ptr() for k, v in state.items() if k in found and v.numel()}
    return {k for k, v in state.items() if k not in found and v.numel() and v.untyped_storage().data_ptr() in stored}


def from_hub(cls: type, name: str, what: str) -> tuple[Any, Path]:
    """A Hugging Face hub name: its files fetched (or found in the cache), then loaded as a folder."""
    from huggingface_hub import snapshot_download

    try:
        folder = Path(snapshot_download(name, allow_patterns=["config.json", *WEIGHT_FILES]))
    except Exception as exc:
        if _offline(exc):
            raise CrossviewError(
                f"{what}: {name!r} is a Hugging Face hub name, but the hub cannot be reached and it is not in the "
                f"local cache ({type(exc).__name__}): run once with network, or 'hf download {name} --local-dir DIR' "
                "and set checkpoint: DIR") from None
        raise CrossviewError(f"{what}: hub checkpoint {name!r} could not be fetched: {exc}") from None
    return from_folder(cls, folder, what), folder


def from_lightning(cls: type, path: Path, what: str) -> Any:
    """A Lightning checkpoint: ``hyper_parameters.model`` builds the net; weights under ``mine_policy.``."""
    import torch

    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CrossviewError(f"{what}: {path} is not loadable with weights_only=True ({type(exc).__name__}); "
                             "export it with model.save_pretrained(folder) and give the folder") from None
    hyper = ((ckpt.get("hyper_parameters") or {}).get("model")) if isinstance(ckpt, dict) else None
    if not isinstance(hyper, dict) or "state_dict" not in ckpt:
        raise CrossviewError(f"{what}: {path} has no hyper_parameters.model and state_dict (not a MineStudio "
                             "Lightning checkpoint)")
    model = _build(what, hyper, lambda: cls(**hyper))
    prefix = "mine_policy."
    state = {k.removeprefix(prefix): v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)}
    check_keys(what, set(model.state_dict()), set(state))
    model.load_state_dict(state, strict=True)
    return model
