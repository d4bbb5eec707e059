"""``crossview goal capture`` and ``show``: make a rig goal from a camera frame and a box around the target.

The mask starts from OpenCV's GrabCut seeded by the box, then keeps the pixels whose depth is close to the
target's (the median depth of GrabCut's foreground), which cuts away background that has the target's colours.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.errors import CrossviewError
from harness.goals import load_goal, save_goal
from harness.spec import CrossViewGoal, Interaction
from harness.video import side_by_side, write_png


def parse_box(text: str, height: int, width: int) -> tuple[int, int, int, int]:
    """``x0,y0,x1,y1`` in pixels of the captured frame; one-line errors for anything else."""
    try:
        x0, y0, x1, y1 = (int(float(v)) for v in text.split(","))
    except ValueError:
        raise CrossviewError(f"--box {text!r}: give x0,y0,x1,y1 in pixels") from None
    if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
        raise CrossviewError(f"--box {text!r} is not inside the {width}x{height} frame with x0 < x1 and y0 < y1")
    return x0, y0, x1, y1


def target_mask(rgb: np.ndarray, depth: np.ndarray | None, box: tuple[int, int, int, int],
                depth_tolerance: float = 0.15, iterations: int = 5) -> np.ndarray:
    """GrabCut seeded by ``box``, refined by depth; falls back to the box itself if nothing survives."""
    import cv2

    x0, y0, x1, y1 = box
    mask = np.zeros(rgb.shape[:2], np.uint8)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.grabCut(np.ascontiguousarray(rgb[..., ::-1]), mask, (x0, y0, x1 - x0, y1 - y0), bgd, fgd, iterations,
                cv2.GC_INIT_WITH_RECT)
    fg = (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)
    if depth is not None and fg.any():
        valid = fg & (depth > 0)
        if valid.any():
            near = float(np.median(depth[valid]))
            close = np.abs(depth - near) <= max(0.05, depth_tolerance * near)
            fg &= close | (depth <= 0)  # unknown depth keeps GrabCut's label
    if not fg.any():
        fg = np.zeros(rgb.shape[:2], bool)
        fg[y0:y1, x0:x1] = True
    return fg


def capture(out: str | Path, name: str, box: str, interaction: str = "approach", file: str | None = None,
            serial: str | None = None, frame: int = 0, size: tuple[int, int] = (224, 224),
            target: str = "", split: str = "train", instruction: str = "") -> Path:
    """Take frame ``frame`` from a camera or recording, mask the boxed target, save the goal and a preview;
    ``instruction`` attaches the task's words (a language goal for the same episodes)."""
    from adapters.realsense.camera import RealSenseCamera

    camera = RealSenseCamera(serial=serial, file=file, size=size)
    try:
        camera.start()
        got = None
        for _ in range(frame + 1):
            got = camera.read()
            if got is None:
                raise CrossviewError(f"the source has fewer than {frame + 1} frames")
        rgb, depth, _ = got
        intrinsics = camera.intrinsics
    finally:
        camera.stop()
    mask = target_mask(rgb, depth, parse_box(box, *rgb.shape[:2]))
    goal = CrossViewGoal(rgb, mask, Interaction.parse(interaction))
    path = save_goal(out, name, goal, target=target or name, split=split, box=box, intrinsics=intrinsics,
                     source=file or serial or "camera", frame=frame,
                     **({"instruction": instruction.strip()} if instruction.strip() else {}))
    write_png(Path(out) / f"{name}.preview.png", side_by_side(rgb, goal))
    return path


def show(path: str | Path, out: str | Path | None = None) -> Path:
    """Write the preview (image | image with the mask) of a saved goal; returns the PNG's path."""
    p = Path(path)
    stored = load_goal(p.parent, p.name.removesuffix(".png").removesuffix(".json"))
    target = Path(out) if out else p.parent / f"{stored.name}.preview.png"
    write_png(target, side_by_side(stored.goal.image, stored.goal))
    return target
