"""Episode videos and thumbnails: the agent's view beside the goal image with the target's mask overlaid."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from harness.spec import CrossViewGoal

OUTLINE = np.array([255, 255, 255], np.uint8)


def goal_overlay(goal: CrossViewGoal, dim: float = 0.4) -> np.ndarray:
    """The goal image with the target's true colours kept, everything else dimmed, and the mask's edge outlined
    (a tint would change the target's colour, which is what the policy must recognise)."""
    mask = np.asarray(goal.mask, bool)
    img = goal.image.astype(np.float32)
    img[~mask] *= dim
    inner = mask.copy()  # pixels whose four neighbours are all in the mask
    inner[1:, :] &= mask[:-1, :]
    inner[:-1, :] &= mask[1:, :]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    out = img.astype(np.uint8)
    out[mask & ~inner] = OUTLINE
    return out


def _fit(img: np.ndarray, height: int) -> np.ndarray:
    """Nearest-neighbour resize to ``height`` keeping the aspect ratio."""
    h, w = img.shape[:2]
    if h == height:
        return img
    width = max(1, round(w * height / h))
    rows = (np.arange(height) * h // height).clip(0, h - 1)
    cols = (np.arange(width) * w // width).clip(0, w - 1)
    return img[rows][:, cols]


def side_by_side(agent_rgb: np.ndarray, goal: CrossViewGoal, height: int | None = None) -> np.ndarray:
    """One frame: agent view | goal with mask overlay, both at ``height`` (default: the agent's), even sized."""
    height = height or agent_rgb.shape[0]
    height += height % 2
    frame = np.concatenate([_fit(agent_rgb, height), _fit(goal_overlay(goal), height)], axis=1)
    if frame.shape[1] % 2:  # H.264 wants even sizes
        frame = np.concatenate([frame, frame[:, -1:]], axis=1)
    return frame


def _atomic(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.name}.{os.getpid()}.tmp{path.suffix}")


def write_mp4(path: str | Path, frames: list[np.ndarray], fps: int) -> None:
    """Write frames as an H.264 MP4 (imageio-ffmpeg's bundled ffmpeg), atomically."""
    import imageio.v2 as imageio

    path = Path(path)
    tmp = _atomic(path)
    with imageio.get_writer(tmp, fps=fps, codec="libx264", quality=6, macro_block_size=1,
                            ffmpeg_log_level="error") as writer:
        for f in frames:
            writer.append_data(f)
    os.replace(tmp, path)


def write_png(path: str | Path, image: np.ndarray) -> None:
    """Write a PNG atomically."""
    import imageio.v3 as iio

    path = Path(path)
    tmp = _atomic(path)
    iio.imwrite(tmp, image, extension=".png")
    os.replace(tmp, path)
