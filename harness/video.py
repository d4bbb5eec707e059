"""Episode videos and thumbnails: the agent's view beside the goal image with the target's mask overlaid."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.atomic import atomic_path
from harness.spec import CrossViewGoal

MASK_TINT = np.array([255, 0, 255], np.float32)


def goal_overlay(goal: CrossViewGoal, alpha: float = 0.55) -> np.ndarray:
    """The goal image with the target's mask tinted magenta."""
    img = goal.image.astype(np.float32)
    img[goal.mask] = (1 - alpha) * img[goal.mask] + alpha * MASK_TINT
    return img.astype(np.uint8)


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


def write_mp4(path: str | Path, frames: list[np.ndarray], fps: int) -> None:
    """Write frames as an H.264 MP4 (imageio-ffmpeg's bundled ffmpeg), atomically."""
    import imageio.v2 as imageio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, imageio.get_writer(tmp, fps=fps, codec="libx264", quality=6,
                                                      macro_block_size=1, ffmpeg_log_level="error") as writer:
        for f in frames:
            writer.append_data(f)


def write_png(path: str | Path, image: np.ndarray) -> None:
    """Write a PNG atomically."""
    import imageio.v3 as iio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        iio.imwrite(tmp, image, extension=".png")
