"""Episode videos and thumbnails: the agent's view beside the goal as the agent was given it — the goal image with
the target's mask overlaid, a strip of a video goal's frames (masks overlaid), or, for a language goal, the
agent's view alone (the report prints the instruction beside it)."""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from pathlib import Path

import numpy as np

from harness.atomic import atomic_path
from harness.spec import CrossViewGoal, Goal

OUTLINE = np.array([255, 255, 255], np.uint8)


def goal_overlay(goal: CrossViewGoal, dim: float = 0.4) -> np.ndarray:
    """The goal image with the target's true colours kept, everything else dimmed, and the mask's edge outlined
    (a tint would change the target's colour, which is what the policy must recognise)."""
    return _overlay(goal.image, goal.mask, dim)


def _overlay(image: np.ndarray, mask: np.ndarray, dim: float = 0.4) -> np.ndarray:
    mask = np.asarray(mask, bool)
    img = image.astype(np.float32)
    img[~mask] *= dim
    inner = mask.copy()  # pixels whose four neighbours are all in the mask
    inner[1:, :] &= mask[:-1, :]
    inner[:-1, :] &= mask[1:, :]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    out = img.astype(np.uint8)
    out[mask & ~inner] = OUTLINE
    return out


def _overlay_at(image: np.ndarray, mask: np.ndarray, height: int) -> np.ndarray:
    """``goal_overlay`` drawn at ``height``: resized first, so the outline is one pixel at the size shown (and a
    thumbnail costs a quarter of the work)."""
    return _overlay(_fit(image, height), _fit(np.asarray(mask, bool), height))


def _fit(img: np.ndarray, height: int) -> np.ndarray:
    """Nearest-neighbour resize to ``height`` keeping the aspect ratio."""
    h, w = img.shape[:2]
    if h == height:
        return img
    width = max(1, round(w * height / h))
    rows = (np.arange(height) * h // height).clip(0, h - 1)
    cols = (np.arange(width) * w // width).clip(0, w - 1)
    return img[rows][:, cols]


STRIP_FRAMES = 4


def video_strip(goal: Goal, height: int) -> np.ndarray:
    """Up to ``STRIP_FRAMES`` evenly spaced frames of a video goal, masks overlaid, side by side."""
    video = goal.video
    assert video is not None
    picks = np.unique(np.linspace(0, len(video.frames) - 1, STRIP_FRAMES).round().astype(int))
    masks = video.masks if video.masks is not None else np.zeros(video.frames.shape[:3], bool)
    return np.concatenate([_overlay_at(video.frames[k], masks[k], height) for k in picks], axis=1)


def goal_panel(goal: CrossViewGoal | Goal, height: int) -> np.ndarray | None:
    """What the agent was shown, as an image at ``height``: the goal image with its mask, a strip of the video
    goal, or None for a language goal (words are printed by the report, not drawn into frames)."""
    if isinstance(goal, CrossViewGoal):
        return _overlay_at(goal.image, goal.mask, height)
    if goal.video is not None:
        return video_strip(goal, height)
    if goal.cross_view is not None and goal.language is None:
        return _overlay_at(goal.cross_view.image, goal.cross_view.mask, height)
    return None


_PANELS: OrderedDict[tuple[int, int], tuple[object, np.ndarray | None]] = OrderedDict()
_PANELS_KEPT = 64  # goals are constant per episode: a video draws its panel once, not once per frame


def _panel(goal: CrossViewGoal | Goal, height: int) -> np.ndarray | None:
    """``goal_panel``, kept for the last few goal objects (the goal itself is held, so its id cannot be reused)."""
    key = (id(goal), height)
    kept = _PANELS.get(key)
    if kept is not None and kept[0] is goal:
        _PANELS.move_to_end(key)
        return kept[1]
    panel = goal_panel(goal, height)
    _PANELS[key] = (goal, panel)
    while len(_PANELS) > _PANELS_KEPT:
        _PANELS.popitem(last=False)
    return panel


def side_by_side(agent_rgb: np.ndarray, goal: CrossViewGoal | Goal, height: int | None = None) -> np.ndarray:
    """One frame: agent view | the goal as given (``goal_panel``), both at ``height`` (default: the agent's),
    even sized."""
    height = height or agent_rgb.shape[0]
    height += height % 2
    panel = _panel(goal, height)
    frame = _fit(agent_rgb, height) if panel is None else np.concatenate([_fit(agent_rgb, height), panel], axis=1)
    if frame.shape[1] % 2:  # H.264 wants even sizes
        frame = np.concatenate([frame, frame[:, -1:]], axis=1)
    return frame


class VideoError(OSError):
    """ffmpeg could not write a video (a full disk, a broken encoder); the message is ffmpeg's last line."""


def write_mp4(path: str | Path, frames: list[np.ndarray], fps: int, crf: int = 20) -> None:
    """Write frames as an H.264 MP4 atomically, with imageio-ffmpeg's bundled ffmpeg; VideoError if it fails.

    The command is the one imageio-ffmpeg's ``write_frames`` builds (imageio/imageio-ffmpeg:imageio_ffmpeg/_io.py:
    518-540: raw RGB24 frames on stdin, libx264, yuv420p; its quality 6 is crf 20), run here directly because
    ``write_frames`` never checks ffmpeg's exit status and lets it print to the terminal (_io.py:589-595,
    641-686): on a full disk it would publish a broken file and flood the sweep's output.
    """
    import subprocess
    import tempfile

    from imageio_ffmpeg import get_ffmpeg_exe

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = frames[0].shape[:2]
    with atomic_path(path) as tmp, tempfile.TemporaryFile() as log:
        cmd = [get_ffmpeg_exe(), "-y", "-f", "rawvideo", "-vcodec", "rawvideo", "-s", f"{w}x{h}", "-pix_fmt", "rgb24",
               "-r", f"{fps:.02f}", "-i", "-", "-an", "-vcodec", "libx264", "-pix_fmt", "yuv420p", "-crf", str(crf),
               "-v", "error", str(tmp)]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log,
                                start_new_session=True)  # Ctrl-C is the driver's, not ffmpeg's
        try:
            for f in frames:
                proc.stdin.write(np.ascontiguousarray(f, dtype=np.uint8).tobytes())
        except BrokenPipeError:
            pass  # ffmpeg quit early: its exit status and log say why
        finally:
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.close()
            code = proc.wait()
        if code != 0:
            log.seek(0)
            lines = [ln.strip() for ln in log.read().decode(errors="replace").splitlines() if ln.strip()]
            raise VideoError(f"ffmpeg exit {code}: {lines[-1][:200] if lines else 'no message'}")


def write_png(path: str | Path, image: np.ndarray) -> None:
    """Write a PNG atomically (Pillow directly: imageio's plugin lookup cost a third of a thumbnail's time)."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)).save(tmp, format="PNG")
