"""Camera geometry for probes: pinhole intrinsics, back-projection, and the world → camera transform.

The camera frame is OpenCV's: x to the right of the image, y down, z forward along the optical axis (metres).
Depth maps hold z (planar depth along the optical axis), as MuJoCo's linearised depth buffer and RealSense's
aligned depth both do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels of the observation as the probe sees it (after any resize)."""

    fx: float
    fy: float
    cx: float
    cy: float

    @classmethod
    def from_fovy(cls, fovy_deg: float, height: int, width: int) -> Intrinsics:
        """Square pixels, principal point at the image centre, vertical field of view ``fovy_deg``."""
        f = (height / 2) / math.tan(math.radians(fovy_deg) / 2)
        return cls(f, f, width / 2, height / 2)

    def scaled(self, from_hw: tuple[int, int], to_hw: tuple[int, int]) -> Intrinsics:
        """The same camera after resizing the image from ``from_hw`` to ``to_hw`` (height, width)."""
        sy, sx = to_hw[0] / from_hw[0], to_hw[1] / from_hw[1]
        return Intrinsics(self.fx * sx, self.fy * sy, self.cx * sx, self.cy * sy)


def back_project(u: np.ndarray, v: np.ndarray, z: np.ndarray, k: Intrinsics) -> np.ndarray:
    """Camera-frame points (N × 3) of pixel centres (u column, v row) at planar depth z."""
    u, v, z = (np.asarray(a, np.float64) for a in (u, v, z))
    x = (u + 0.5 - k.cx) * z / k.fx
    y = (v + 0.5 - k.cy) * z / k.fy
    return np.stack([x, y, z], axis=-1)


def camera_axes(yaw: float, pitch: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The camera's x (right), y (down) and z (forward) axes in the world frame, for yaw and pitch in degrees as
    harness.spec.PrivilegedFacts defines them (yaw 0 faces +x, positive turns right; positive pitch looks down)."""
    theta, p = -math.radians(yaw), math.radians(pitch)
    forward = np.array([math.cos(theta) * math.cos(p), math.sin(theta) * math.cos(p), -math.sin(p)])
    right = np.array([math.sin(theta), -math.cos(theta), 0.0])
    return right, np.cross(forward, right), forward


def world_to_camera(point: tuple[float, float, float], pose: tuple[float, float, float, float, float]) -> np.ndarray:
    """A world point in the camera frame of ``pose`` = (x, y, z, yaw°, pitch°) in harness.spec.PrivilegedFacts'
    convention: x, y on the ground, z up; yaw 0 faces +x and positive turns right; pitch positive looks down."""
    x, y, z, yaw, pitch = pose
    right, down, forward = camera_axes(yaw, pitch)
    d = np.subtract(point, (x, y, z), dtype=np.float64)
    return np.array([d @ right, d @ down, d @ forward])
