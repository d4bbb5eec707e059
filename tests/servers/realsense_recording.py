"""Recordings made by the real RealSense SDK without a camera: a ``software_device`` with a depth sensor (z16,
depth units 0.001) and a colour sensor (rgb8), intrinsics and depth→colour extrinsics, recorded by
``rs.recorder`` (the file is finalised when the recorder is deleted). SDK 2.59 writes ROS2 ``.db3``."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def _stream(rs, kind, fmt, bpp: int, w: int, h: int, uid: int, focal: float):
    intr = rs.intrinsics()
    intr.width, intr.height, intr.ppx, intr.ppy, intr.fx, intr.fy = w, h, w / 2, h / 2, focal, focal
    intr.model, intr.coeffs = rs.distortion.none, [0.0] * 5
    s = rs.video_stream()
    s.type, s.index, s.uid, s.width, s.height, s.fps, s.bpp, s.fmt, s.intrinsics = kind, 0, uid, w, h, 30, bpp, fmt, \
        intr
    return s


def record(path: Path, frames: int, colour_of: Callable[[int], np.ndarray], depth_mm_of: Callable[[int], np.ndarray],
           skip_colour: tuple[int, ...] = (), colour_offset_ms: float = 0.0,
           colour_format: str = "rgb8") -> Path:
    """Write ``frames`` framesets; colour frame i is omitted for i in ``skip_colour`` (an unpaired depth frame).

    ``colour_offset_ms`` stamps colour frames that much later than their depth frames, as a real camera's two
    sensors do (their frames are paired by librealsense's syncer within half a frame period,
    IntelRealSense/librealsense src/sync.cpp:735-740). ``colour_format`` is ``rgb8`` or ``bgr8`` (the pixels stored
    in that channel order).
    """
    import pyrealsense2 as rs

    c0, d0 = colour_of(0), depth_mm_of(0)
    (ch, cw), (dh, dw) = c0.shape[:2], d0.shape
    dev = rs.software_device()
    depth_s, colour_s = dev.add_sensor("Depth"), dev.add_sensor("Color")
    dp = depth_s.add_video_stream(_stream(rs, rs.stream.depth, rs.format.z16, 2, dw, dh, 0, 50.0 * dw / cw))
    cp = colour_s.add_video_stream(_stream(rs, rs.stream.color, getattr(rs.format, colour_format), 3, cw, ch, 1, 50.0))
    depth_s.add_read_only_option(rs.option.depth_units, 0.001)
    ext = rs.extrinsics()
    ext.rotation, ext.translation = [1, 0, 0, 0, 1, 0, 0, 0, 1], [0, 0, 0]
    dp.register_extrinsics_to(cp, ext)
    recorder = rs.recorder(str(path), dev)  # before the sensors start
    qd, qc = rs.frame_queue(16), rs.frame_queue(16)
    depth_s.open(dp)
    colour_s.open(cp)
    depth_s.start(qd)
    colour_s.start(qc)
    for i in range(frames):
        for sensor, profile, pixels, bpp in ((depth_s, dp, depth_mm_of(i).astype(np.uint16), 2),
                                             (colour_s, cp, _channels(colour_of(i), colour_format), 3)):
            if sensor is colour_s and i in skip_colour:
                continue
            f = rs.software_video_frame()
            f.pixels, f.bpp, f.stride = pixels, bpp, bpp * pixels.shape[1]
            offset = colour_offset_ms if sensor is colour_s else 0.0
            f.timestamp, f.domain, f.frame_number = i * 33.0 + offset, rs.timestamp_domain.hardware_clock, i
            f.profile = profile.as_video_stream_profile()
            sensor.on_video_frame(f)
        time.sleep(0.03)
    depth_s.stop()
    colour_s.stop()
    depth_s.close()
    colour_s.close()
    del recorder
    return path


def _channels(rgb: np.ndarray, colour_format: str) -> np.ndarray:
    rgb = rgb.astype(np.uint8)
    return np.ascontiguousarray(rgb[..., ::-1]) if colour_format == "bgr8" else rgb


def scene(frames: int = 6, size: tuple[int, int] = (48, 64)) -> tuple[Callable, Callable]:
    """A grey wall 1.5 m away with a red box at 0.8 m in the middle; colour brightens with the frame index."""
    h, w = size

    def colour(i: int) -> np.ndarray:
        img = np.full((h, w, 3), 90 + 10 * i, np.uint8)
        img[h // 3: 2 * h // 3, w // 3: 2 * w // 3] = (200, 30, 30)
        return img

    def depth(i: int) -> np.ndarray:
        d = np.full((h // 2, w // 2), 1500 + i, np.uint16)  # depth at half resolution: alignment must upsample
        d[h // 6: h // 3, w // 6: w // 3] = 800
        return d

    return colour, depth


if __name__ == "__main__":  # python -m tests.servers.realsense_recording OUT.db3 [--frames N] [--size H,W]
    import argparse

    parser = argparse.ArgumentParser(description="write the tests' RealSense recording (software_device)")
    parser.add_argument("out", type=Path)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", default="96,128", help="colour height,width (default 96,128)")
    args = parser.parse_args()
    h, w = (int(v) for v in args.size.split(","))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    print(record(args.out, args.frames, *scene(args.frames, (h, w))))
