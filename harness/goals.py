"""Goal libraries: cross-view goals saved as files, for worlds whose goals are made by hand (DMLab, the real rig).

A goal ``NAME`` in a folder is three files: ``NAME.png`` (the goal image), ``NAME.mask.png`` (the target's mask,
white on black) and ``NAME.json`` (``interaction``, and optionally ``target``, ``split``, ``difficulty`` and any
provenance such as camera intrinsics). ``crossview goal capture`` writes them; ``crossview goal show`` previews them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.atomic import atomic_path
from harness.errors import CrossviewError
from harness.spec import SPLITS, CrossViewGoal, Interaction


@dataclass(frozen=True)
class StoredGoal:
    """A goal from a library, with its metadata."""

    name: str
    goal: CrossViewGoal
    target: str = ""
    split: str = "train"
    difficulty: str = "easy"
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def instruction(self) -> str:
        """The words attached at capture (``--instruction``), or "" when none was."""
        return str(self.meta.get("instruction") or "")


def save_goal(folder: str | Path, name: str, goal: CrossViewGoal, **meta: Any) -> Path:
    """Write a goal's image, mask and metadata (each atomically); returns the image path."""
    import imageio.v3 as iio

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if goal.mask.shape != goal.image.shape[:2] or not goal.mask.any():
        raise CrossviewError(f"goal {name!r}: the mask must be non-empty and the size of the image")
    data = {"interaction": goal.interaction.name.lower(), **meta}
    for path, write in ((folder / f"{name}.png", lambda p: iio.imwrite(p, goal.image, extension=".png")),
                        (folder / f"{name}.mask.png",
                         lambda p: iio.imwrite(p, goal.mask.astype(np.uint8) * 255, extension=".png")),
                        (folder / f"{name}.json", lambda p: p.write_text(json.dumps(data, indent=2, default=str)))):
        with atomic_path(path) as tmp:
            write(tmp)
    return folder / f"{name}.png"


def _read_image(path: Path, name: str) -> np.ndarray:
    """A PNG as an array; one line naming the file when it cannot be decoded."""
    import imageio.v3 as iio

    try:
        return np.asarray(iio.imread(path, extension=".png"))
    except Exception as exc:  # imageio/Pillow raise several types for a damaged file
        raise CrossviewError(f"goal {name!r}: {path} is not a readable PNG ({type(exc).__name__}): capture the "
                             "goal again or replace the file") from None


def load_goal(folder: str | Path, name: str) -> StoredGoal:
    """Read one goal; one-line errors name the missing or malformed file."""
    folder = Path(folder)
    files = {k: folder / f"{name}{suffix}" for k, suffix in (("image", ".png"), ("mask", ".mask.png"),
                                                                ("meta", ".json"))}
    for kind, path in files.items():
        if not path.is_file():
            raise CrossviewError(f"goal {name!r} in {folder}: {path.name} is missing ({kind})")
    try:
        meta = json.loads(files["meta"].read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise CrossviewError(f"goal file {files['meta']} is not valid JSON in UTF-8 ({type(exc).__name__})") from None
    if not isinstance(meta, dict) or "interaction" not in meta:
        raise CrossviewError(f"goal file {files['meta']} must be a JSON object with an 'interaction'")
    image = _read_image(files["image"], name)
    if image.ndim not in (2, 3) or image.size == 0:
        raise CrossviewError(f"goal {name!r}: {files['image']} is not a colour or grey image")
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    image = np.ascontiguousarray(image[..., :3]).astype(np.uint8)
    mask = _read_image(files["mask"], name)
    mask = (mask[..., 0] if mask.ndim == 3 else mask) > 127
    if mask.shape != image.shape[:2]:
        raise CrossviewError(f"goal {name!r}: mask {mask.shape} and image {image.shape[:2]} differ in size")
    if not mask.any():
        raise CrossviewError(f"goal {name!r}: {files['mask'].name} marks nothing")
    split = meta.get("split", "train")
    if split not in SPLITS:
        raise CrossviewError(f"goal file {files['meta']}: split {split!r} is not one of {', '.join(SPLITS)}")
    goal = CrossViewGoal(image, mask, Interaction.parse(meta["interaction"]))
    return StoredGoal(name, goal, str(meta.get("target", "")), split, str(meta.get("difficulty", "easy")), meta)


def load_library(folder: str | Path) -> list[StoredGoal]:
    """Every goal in a folder, by name; error if the folder holds none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CrossviewError(f"goal library {folder} is not a folder (make one with 'crossview goal capture')")
    names = sorted(p.name[: -len(".json")] for p in folder.glob("*.json"))
    if not names:
        raise CrossviewError(f"goal library {folder} holds no goal (NAME.png, NAME.mask.png, NAME.json)")
    return [load_goal(folder, n) for n in names]
