"""The RGB-D probes: regional depth ordering and relative 3D position (after Spatial-SSRL's depth-based tasks).

Depth ordering is adapted from InternLM/Spatial-SSRL:data_process/Depth.py: marked square regions whose depth is
nearly uniform, labelled with numbers, asking which is closer. Upstream differs in ways the issue chose: it
marks three regions (one per band of normalized depth, Depth.py:47-68) and asks for their full order
(Depth.py:88), and calls a 25-pixel patch flat when its normalized-depth range is under 0.15 (Depth.py:33-45);
here two regions per item, flat when the 10-90th percentile spread is under ``flatness`` x the median metric
depth, and pairs whose depths differ by less than ``depth_margin_m`` are skipped as ambiguous.

Relative 3D position is named after arXiv 2510.27606 section 3 ("relative 3D position prediction") but is a
simpler question than upstream's: InternLM/Spatial-SSRL:data_process/Position.py:198-243 and 245-357 pose a
perspective-taking question (a camera placed at marked region 1 facing left/right/towards/away from the viewer;
where is region 2: Left/Right/Front/Back, four lettered options). Here the question is in the capturing camera's
own frame: where one marked object (or region, where the world gives no masks) lies relative to another,
left/right, above/below, in front of/behind, from the back-projected depth of its pixels; pairs closer than
``position_margin_m`` along the asked axis are skipped. Scores on it are not comparable with Spatial-SSRL's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.probe.frames import Frame, SceneObject
from harness.probe.geometry import back_project
from harness.probe.marks import draw_boxes
from harness.probe.options import GenOptions

Box = tuple[int, int, int, int]
Entity = tuple[str, Box, np.ndarray]  # name ('' for a region), marked box, camera-frame point (m)


@dataclass(frozen=True)
class Region:
    """A marked square of nearly uniform depth: its box, median depth, and the object it lies on (if any)."""

    box: Box
    depth: float
    on: str | None


def _box_at(cx: int, cy: int, side: int, h: int, w: int) -> Box:
    x0 = int(np.clip(cx - side // 2, 0, w - side))
    y0 = int(np.clip(cy - side // 2, 0, h - side))
    return x0, y0, x0 + side - 1, y0 + side - 1


def _side(frame: Frame, opts: GenOptions) -> int:
    return max(4, int(round(min(frame.depth.shape) * opts.region_frac)))


def _visible(frame: Frame, opts: GenOptions) -> list[SceneObject]:
    """Objects with enough pixels in view to hold a marked region."""
    side = _side(frame, opts)
    return [o for o in frame.objects if o.mask.sum() >= side * side]


def sample_region(frame: Frame, rng: np.random.Generator, opts: GenOptions,
                  visible: list[SceneObject] | None = None) -> Region | None:
    """One flat-depth region, half the time on one of the ``visible`` objects (default: ``_visible(frame)``);
    None if the drawn spot is unusable (the caller draws again)."""
    depth = frame.depth
    h, w = depth.shape
    side = _side(frame, opts)
    on = None
    visible = _visible(frame, opts) if visible is None else visible
    if visible and rng.random() < 0.5:
        obj = visible[int(rng.integers(len(visible)))]
        ys, xs = np.nonzero(obj.mask)
        k = int(rng.integers(len(ys)))
        box = _box_at(int(xs[k]), int(ys[k]), side, h, w)
        x0, y0, x1, y1 = box
        if not obj.mask[y0:y1 + 1, x0:x1 + 1].all():
            return None
        on = obj.name
    else:
        box = _box_at(int(rng.integers(w)), int(rng.integers(h)), side, h, w)
        x0, y0, x1, y1 = box
        for obj in frame.objects:
            if obj.mask[y0:y1 + 1, x0:x1 + 1].all():
                on = obj.name
    patch = depth[box[1]:box[3] + 1, box[0]:box[2] + 1]
    if not np.isfinite(patch).all() or (patch <= 0).any() or (patch > opts.max_depth_m).any():
        return None
    lo, mid, hi = np.percentile(patch, [10, 50, 90])
    if hi - lo > opts.flatness * mid:
        return None
    return Region(box, float(mid), on)


def _apart(a: Box, b: Box) -> bool:
    return a[2] < b[0] or b[2] < a[0] or a[3] < b[1] or b[3] < a[1]


def depth_order(frame: Frame, rng: np.random.Generator, opts: GenOptions) -> dict | None:
    """Two marked regions whose depths differ by at least the margin; which is closer?"""
    if frame.depth is None:
        return None
    visible = _visible(frame, opts)
    for _ in range(opts.tries):
        a, b = sample_region(frame, rng, opts, visible), sample_region(frame, rng, opts, visible)
        if a is None or b is None or not _apart(a.box, b.box) or abs(a.depth - b.depth) < opts.depth_margin_m:
            continue
        return {"question": "Two regions of the image are marked with numbered boxes. Which marked region is "
                            "closer to the camera?",
                "choices": ("region 1", "region 2"), "answer": int(b.depth < a.depth),
                "images": (draw_boxes(frame.rgb, [a.box, b.box], ["1", "2"]),),
                "truth": {"depth_m": [a.depth, b.depth]},
                "provenance": {"boxes": [list(a.box), list(b.box)], "on": [a.on, b.on]}}
    return None


_AXES = {
    "x": ("In the camera's view, is the marked {n} 1 to the left or to the right of the marked {n} 2?",
          ("left", "right")),
    "y": ("In the camera's view, is the marked {n} 1 above or below the marked {n} 2?", ("above", "below")),
    "z": ("Along the camera's viewing direction, is the marked {n} 1 in front of (closer than) or behind "
          "(farther than) the marked {n} 2?", ("in front of", "behind")),
}


def _entities(frame: Frame, rng: np.random.Generator, opts: GenOptions) -> tuple[str, list[Entity]]:
    """Objects in view as (name, box, camera-frame point); flat-depth regions where fewer than two are."""
    k = frame.intrinsics
    found = []
    for obj in frame.objects:
        mask = obj.mask & np.isfinite(frame.depth) & (frame.depth > 0)
        if mask.sum() < opts.min_object_px:
            continue
        ys, xs = np.nonzero(mask)
        points = back_project(xs, ys, frame.depth[ys, xs], k)
        box = (int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max()))
        found.append((obj.name, box, np.median(points, axis=0)))
    if len(found) >= 2:
        return "object", found
    found = []  # fewer than two objects in view (or a world without masks): marked regions instead
    visible = _visible(frame, opts)
    for _ in range(opts.tries):
        r = sample_region(frame, rng, opts, visible)
        if r is not None and all(_apart(r.box, e[1]) for e in found):
            x0, y0, x1, y1 = r.box
            found.append(("", r.box, back_project(np.array((x0 + x1) / 2), np.array((y0 + y1) / 2),
                                                  np.array(r.depth), k)))
        if len(found) >= 4:
            break
    return "region", found


def relative_position(frame: Frame, rng: np.random.Generator, opts: GenOptions) -> dict | None:
    """Where the first marked object (or region) lies relative to the second, on one camera axis."""
    if frame.intrinsics is None or frame.depth is None:
        return None
    noun, found = _entities(frame, rng, opts)
    if len(found) < 2:
        return None
    for _ in range(opts.tries):
        i, j = rng.choice(len(found), size=2, replace=False)
        (na, ba, pa), (nb, bb, pb) = found[int(i)], found[int(j)]
        axes = [a for n, a in enumerate("xyz") if abs(pa[n] - pb[n]) >= opts.position_margin_m]
        if not axes:
            continue
        axis = axes[int(rng.integers(len(axes)))]
        n = "xyz".index(axis)
        text, choices = _AXES[axis]
        return {"question": text.format(n=noun), "choices": choices, "answer": int(pa[n] > pb[n]),
                "images": (draw_boxes(frame.rgb, [ba, bb], ["1", "2"]),),
                "truth": {"axis": axis, "points_m": [pa.tolist(), pb.tolist()]},
                "provenance": {"boxes": [list(ba), list(bb)], "names": [na, nb], "kind": noun}}
    return None
