"""Generation options shared by every probe task (a frozen value the config fills in)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GenOptions:
    """Thresholds that make every answer unambiguous; see each task's module for what each one guards."""

    depth_margin_m: float = 0.3  # depth ordering: skip pairs closer in depth than this
    position_margin_m: float = 0.2  # relative position: skip pairs closer than this along the asked axis
    flatness: float = 0.08  # a region's depth spread (p90 − p10) must stay under this fraction of its depth
    region_frac: float = 0.08  # side of a marked region, as a fraction of the image's shorter side
    max_depth_m: float = 20.0  # depths beyond this (sky, far background) are never marked
    min_object_px: int = 40  # an object needs this many visible pixels with depth to be marked
    min_patch_diff: float = 4.0  # patch tasks: mean |difference| (0-255) that makes two patches distinct
    grid: int = 2  # patch tasks: grid × grid patches
    tries: int = 60  # draws per item before the frame is skipped for that task
