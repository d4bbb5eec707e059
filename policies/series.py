"""Checkpoint series: a folder or glob of checkpoint files, each with its training step, ordered by step.

A checkpoint's step comes from its manifest (``<file>.json`` beside it, key ``step``) or, failing that, from the
last number in its file name (``ckpt-step=002000.safetensors`` → 2000).
"""

from __future__ import annotations

import glob
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from harness.config import config_path
from harness.errors import CrossviewError

CHECKPOINT_SUFFIXES = (".safetensors", ".pt", ".pth", ".ckpt", ".bin")


@dataclass(frozen=True)
class Checkpoint:
    """One checkpoint file of a series."""

    path: str
    step: int | None
    sha256: str


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, read in blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def manifest_path(path: str | Path) -> Path:
    """Where a checkpoint's manifest sits: ``<file>.json``."""
    return Path(f"{path}.json")


MAX_MANIFEST_BYTES = 1 << 20


def read_manifest_object(manifest: Path) -> dict:
    """A manifest's JSON object; one-line errors for a file too large, not UTF-8, not JSON or not an object."""
    if manifest.stat().st_size > MAX_MANIFEST_BYTES:
        raise CrossviewError(f"checkpoint manifest {manifest} is larger than 1 MiB: a manifest is a small JSON object")
    try:
        data = json.loads(manifest.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise CrossviewError(f"checkpoint manifest {manifest} is not UTF-8 text (byte {exc.start}): rewrite it") \
            from None
    except (json.JSONDecodeError, RecursionError) as exc:
        where = f" ({exc.msg} at line {exc.lineno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise CrossviewError(f"checkpoint manifest {manifest} is not valid JSON{where}: rewrite or remove it") \
            from None
    if not isinstance(data, dict):
        raise CrossviewError(f"checkpoint manifest {manifest} is not a JSON object: rewrite or remove it")
    return data


def manifest_step(data: dict, manifest: Path) -> int | None:
    """The manifest's ``step``: a whole number >= 0, or absent."""
    step = data.get("step")
    if step is None:
        return None
    if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step < 2**63:
        raise CrossviewError(f"checkpoint manifest {manifest}: step {step!r} is not a whole number >= 0 "
                             "(the training step, e.g. 3000)")
    return step


def checkpoint_step(path: str | Path) -> int | None:
    """Training step of a checkpoint, from its manifest or its file name."""
    manifest = manifest_path(path)
    if manifest.is_file():
        step = manifest_step(read_manifest_object(manifest), manifest)
        if step is not None:
            return step
    numbers = re.findall(r"\d+", Path(path).name.split(".")[0])
    return int(numbers[-1]) if numbers else None


def expand_series(spec: str, base: str | Path = ".") -> list[Checkpoint]:
    """The checkpoints a folder or glob names, ordered by step (then name); error if it names none."""
    root = Path(base)
    target = config_path(spec, root)
    if target.is_dir():
        paths = [p for p in target.iterdir() if p.suffix in CHECKPOINT_SUFFIXES and p.is_file()]
    elif target.is_file():
        paths = [target]
    else:
        paths = [Path(p) for p in glob.glob(str(target)) if Path(p).suffix in CHECKPOINT_SUFFIXES
                 and Path(p).is_file()]
    if not paths:
        raise CrossviewError(f"checkpoints {spec!r} match no checkpoint file ({', '.join(CHECKPOINT_SUFFIXES)}) "
                             f"under {root.resolve()}")
    found = [Checkpoint(str(p), checkpoint_step(p), file_sha256(p)) for p in paths]
    return sorted(found, key=lambda c: (c.step is None, c.step or 0, c.path))
