"""Where a box lands in the picture, and Minecraft's frame in crossview's.

Minecraft's conventions: x east, y up, z south (metres: one block is one metre); yaw 0 faces +z (south) and grows
towards -x (west); pitch > 0 looks down; the vertical field of view is the game's FOV setting, an angle in degrees
(minerl/herobraine/env_specs/human_controls.py:31-33, sent as FOVSetting: hero/handlers/agent/start.py:258-266),
which MineStudio fixes at 70° (CraftJarvis/MineStudio:minestudio/simulator/entry.py:128). The frame is rendered
at ``render_size`` (W, H) and resized, not cropped, to the observation size (entry.py:239,
``cv2.resize(..., dsize=obs_size)``), so pixels scale separately along each axis.

Crossview's frame (harness.spec.PrivilegedFacts): x, y on the ground, z up, yaw 0 facing +x and positive turning
right. Minecraft (x, y, z) is crossview (x, -z, y): east stays +x, north becomes +y, up becomes +z (both
right-handed). Minecraft yaw turns clockwise seen from above too, and faces east (crossview yaw 0) at 270°, so
crossview yaw = Minecraft yaw + 90 (mod 360); pitch is the same in both.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.path import Path as PolyPath
from scipy.spatial import ConvexHull, QhullError

EYE_HEIGHT = 1.62  # the player's eye above its feet, in blocks (= metres)


def wrap_degrees(angle: float) -> float:
    """An angle in degrees, wrapped to [-180, 180)."""
    return (angle + 180.0) % 360.0 - 180.0


def to_crossview(point: tuple[float, float, float]) -> tuple[float, float, float]:
    """A Minecraft world point (x, y up, z south) in crossview's frame (x, y ground, z up), metres."""
    return float(point[0]), -float(point[2]), float(point[1])


def yaw_to_crossview(yaw_deg: float) -> float:
    """Minecraft yaw (0 = south, clockwise) as crossview yaw (0 = +x = east, clockwise)."""
    return wrap_degrees(yaw_deg + 90.0)


def camera_axes(yaw_deg: float, pitch_deg: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit (right, up, forward) vectors of a Minecraft camera."""
    y, p = math.radians(yaw_deg), math.radians(pitch_deg)
    forward = np.array([-math.sin(y) * math.cos(p), -math.sin(p), math.cos(y) * math.cos(p)])
    right = np.array([-math.cos(y), 0.0, -math.sin(y)])
    up = np.cross(right, forward)
    return right, up, forward


def project(points: np.ndarray, eye: np.ndarray, yaw_deg: float, pitch_deg: float, fov_deg: float,
            render_size: tuple[int, int], out_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Pixel (u, v) of world points in the output image, and whether each lies in front of the camera.

    ``render_size`` is (width, height) as MineStudio takes it; ``out_size`` is (height, width) of the observation.
    """
    right, up, forward = camera_axes(yaw_deg, pitch_deg)
    d = np.asarray(points, np.float64) - np.asarray(eye, np.float64)
    x, y, z = d @ right, d @ up, d @ forward
    rw, rh = render_size
    focal = (rh / 2) / math.tan(math.radians(fov_deg) / 2)
    front = z > 1e-3
    zs = np.where(front, z, 1.0)
    u = (rw / 2 + focal * x / zs) * out_size[1] / rw
    v = (rh / 2 - focal * y / zs) * out_size[0] / rh
    return np.stack([u, v], axis=1), front


def box_corners(lo: tuple[float, float, float], hi: tuple[float, float, float]) -> np.ndarray:
    """The 8 corners of the axis-aligned box from ``lo`` to ``hi``."""
    return np.array([[(lo[0], hi[0])[i], (lo[1], hi[1])[j], (lo[2], hi[2])[k]]
                     for i in (0, 1) for j in (0, 1) for k in (0, 1)], np.float64)


def block_box(block: tuple[int, int, int]) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """The unit box of the block whose minimum corner is ``block``."""
    x, y, z = (float(v) for v in block)
    return (x, y, z), (x + 1.0, y + 1.0, z + 1.0)


def entity_box(feet: tuple[float, float, float], width: float, height: float
               ) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """An entity's box: ``width`` square around its feet position, ``height`` tall."""
    h = width / 2
    return (feet[0] - h, feet[1], feet[2] - h), (feet[0] + h, feet[1] + height, feet[2] + h)


def eye_of(player: tuple[float, float, float]) -> np.ndarray:
    """The eye of a player standing at ``player`` (feet)."""
    return np.array([player[0], player[1] + EYE_HEIGHT, player[2]], np.float64)


def box_mask(box: tuple[tuple[float, float, float], tuple[float, float, float]], player: tuple[float, float, float],
             yaw_deg: float, pitch_deg: float, fov_deg: float = 70.0, render_size: tuple[int, int] = (640, 360),
             out_size: tuple[int, int] = (224, 224)) -> np.ndarray:
    """Bool mask (H x W) of a box's silhouette (convex hull of its projected corners) seen from a player's eyes."""
    uv, front = project(box_corners(*box), eye_of(player), yaw_deg, pitch_deg, fov_deg, render_size, out_size)
    mask = np.zeros(out_size, bool)
    if not front.all():  # a corner behind the eye: the box is not (wholly) in view
        return mask
    try:
        hull = uv[ConvexHull(uv).vertices]
    except QhullError:
        return mask
    h, w = out_size
    vv, uu = np.mgrid[0:h, 0:w]
    centres = np.stack([uu.ravel() + 0.5, vv.ravel() + 0.5], axis=1)
    return PolyPath(hull).contains_points(centres).reshape(h, w)


def block_mask(block: tuple[int, int, int], player: tuple[float, float, float], yaw_deg: float, pitch_deg: float,
               fov_deg: float = 70.0, render_size: tuple[int, int] = (640, 360),
               out_size: tuple[int, int] = (224, 224)) -> np.ndarray:
    """Bool mask of a unit block's silhouette seen from a player's eyes."""
    return box_mask(block_box(block), player, yaw_deg, pitch_deg, fov_deg, render_size, out_size)


def look_at(player: tuple[float, float, float], target: tuple[float, float, float]) -> tuple[float, float]:
    """Minecraft (yaw, pitch) in degrees that points the player's eyes at a world point."""
    dx, dy, dz = target[0] - player[0], target[1] - (player[1] + EYE_HEIGHT), target[2] - player[2]
    yaw = math.degrees(math.atan2(-dx, dz))
    pitch = math.degrees(-math.atan2(dy, math.hypot(dx, dz)))
    return yaw, pitch


def distance_to_box(point: np.ndarray, box: tuple[tuple[float, float, float], tuple[float, float, float]]) -> float:
    """Euclidean distance from a point to the nearest point of a box (0 inside it)."""
    lo, hi = np.asarray(box[0], np.float64), np.asarray(box[1], np.float64)
    return float(np.linalg.norm(np.maximum(0.0, np.maximum(lo - point, point - hi))))
