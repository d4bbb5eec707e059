"""Where a block lands in the picture: project its voxel box with Minecraft's camera and fill the outline.

Minecraft's conventions: yaw 0 faces +z (south) and grows towards -x (west); pitch > 0 looks down; the vertical
field of view is the game's FOV setting (MineStudio uses 70°). The frame is rendered at ``render_size`` and
resized (not cropped) to the observation size, so pixels scale separately along each axis.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.path import Path as PolyPath
from scipy.spatial import ConvexHull, QhullError

EYE_HEIGHT = 1.62


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

    ``render_size`` is (width, height) as MineStudio gives it; ``out_size`` is (height, width) of the observation.
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


def block_corners(x: int, y: int, z: int) -> np.ndarray:
    """The 8 corners of the unit block whose minimum corner is (x, y, z)."""
    return np.array([[x + i, y + j, z + k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], np.float64)


def block_mask(block: tuple[int, int, int], player: tuple[float, float, float], yaw_deg: float, pitch_deg: float,
               fov_deg: float = 70.0, render_size: tuple[int, int] = (640, 360),
               out_size: tuple[int, int] = (224, 224)) -> np.ndarray:
    """Bool mask of the block's silhouette (convex hull of its projected corners) seen from a player's eyes."""
    eye = np.array([player[0], player[1] + EYE_HEIGHT, player[2]])
    uv, front = project(block_corners(*block), eye, yaw_deg, pitch_deg, fov_deg, render_size, out_size)
    mask = np.zeros(out_size, bool)
    if not front.all():  # a corner behind the eye: the block is not (wholly) in view
        return mask
    try:
        hull = uv[ConvexHull(uv).vertices]
    except QhullError:
        return mask
    h, w = out_size
    vv, uu = np.mgrid[0:h, 0:w]
    centres = np.stack([uu.ravel() + 0.5, vv.ravel() + 0.5], axis=1)
    return PolyPath(hull).contains_points(centres).reshape(h, w)


def look_at(player: tuple[float, float, float], target: tuple[float, float, float]) -> tuple[float, float]:
    """Minecraft (yaw, pitch) in degrees that points the player's eyes at a world point."""
    dx, dy, dz = target[0] - player[0], target[1] - (player[1] + EYE_HEIGHT), target[2] - player[2]
    yaw = math.degrees(math.atan2(-dx, dz))
    pitch = math.degrees(-math.atan2(dy, math.hypot(dx, dz)))
    return yaw, pitch
