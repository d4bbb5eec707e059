"""Intel RealSense through pyrealsense2: a live camera by serial number, or loss-free playback of a recording.

Colour and depth are aligned to the colour stream, depth is in metres (the sensor's depth units applied), both
are resized to the configured size (area for colour, nearest for depth). From recordings, only framesets whose
depth and colour timestamps are equal are used (``.db3`` playback can pair depth N with colour N−1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import CrossviewError, require

INSTALL = "pip install 'crossview-harness[realsense]' and the Debian package libusb-1.0-0"


def import_rs() -> Any:
    return require("pyrealsense2", "the RealSense adapter", INSTALL)


def resize(image: np.ndarray, size: tuple[int, int], nearest: bool) -> np.ndarray:
    """Resize to (height, width): area averaging for images, nearest for depth (no invented depths)."""
    import cv2

    h, w = size
    if image.shape[:2] == (h, w):
        return image
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_NEAREST if nearest else cv2.INTER_AREA)


class RealSenseCamera:
    """Frames from a camera (``serial``) or a recording (``file``, .db3 or legacy .bag)."""

    def __init__(self, serial: str | None = None, file: str | None = None, size: tuple[int, int] = (224, 224),
                 fps: int = 30, resolution: tuple[int, int] = (640, 480), timeout_ms: int = 2000) -> None:
        self.rs = import_rs()
        if file is not None and not Path(file).is_file():
            raise CrossviewError(f"RealSense recording {file} does not exist")
        if file is not None and Path(file).suffix not in (".db3", ".bag"):
            raise CrossviewError(f"RealSense recording {file} must be a .db3 (SDK 2.56+) or .bag (older SDKs) file")
        self.serial, self.file, self.size, self.fps = serial, file, tuple(size), fps
        self.resolution, self.timeout_ms = tuple(resolution), timeout_ms
        self.pipe: Any = None
        self.intrinsics: dict[str, Any] = {}

    def start(self) -> None:
        """Open the camera or (re)start the recording from its beginning."""
        rs = self.rs
        self.stop()
        pipe, cfg = rs.pipeline(), rs.config()
        if self.file is not None:
            cfg.enable_device_from_file(self.file, repeat_playback=False)
            try:
                profile = cfg.resolve(rs.pipeline_wrapper(pipe))
            except RuntimeError as exc:
                raise CrossviewError(f"RealSense recording {self.file} is unreadable ({exc})") from None
            playback = profile.get_device().as_playback()
            playback.set_real_time(False)  # before start: after start it races and drops the first frames
            playback.pause()
            pipe.start(cfg)
            playback.resume()
            self.playback = playback
        else:
            devices = [d.get_info(rs.camera_info.serial_number) for d in rs.context().query_devices()]
            if not devices:
                raise CrossviewError("no RealSense camera is connected: plug one in, or give a recording with "
                                     "options.file")
            if self.serial is not None and self.serial not in devices:
                raise CrossviewError(f"RealSense camera {self.serial} is not connected (connected: "
                                     f"{', '.join(devices)})")
            if self.serial is not None:
                cfg.enable_device(self.serial)
            w, h = self.resolution
            cfg.enable_stream(rs.stream.depth, w, h, rs.format.z16, self.fps)
            cfg.enable_stream(rs.stream.color, w, h, rs.format.rgb8, self.fps)
            profile = pipe.start(cfg)
            self.playback = None
        self.pipe = pipe
        self.align = rs.align(rs.stream.color)
        self.depth_scale = float(profile.get_device().first_depth_sensor().get_depth_scale())
        colour = profile.get_stream(rs.stream.color).as_video_stream_profile().get_intrinsics()
        self.intrinsics = {"width": colour.width, "height": colour.height, "fx": colour.fx, "fy": colour.fy,
                           "ppx": colour.ppx, "ppy": colour.ppy, "model": str(colour.model),
                           "coeffs": list(colour.coeffs), "depth_scale": self.depth_scale,
                           "source": self.file or self.serial or "first camera"}

    def read(self) -> tuple[np.ndarray, np.ndarray, float] | None:
        """(rgb uint8 H×W×3, depth float32 H×W metres, timestamp ms), or None at the end of a recording."""
        if self.pipe is None:
            self.start()
        while True:
            ok, frames = self.pipe.try_wait_for_frames(self.timeout_ms)
            if not ok:
                if self.file is not None:
                    return None
                raise CrossviewError(f"the RealSense camera sent no frame within {self.timeout_ms} ms")
            depth, colour = frames.get_depth_frame(), frames.get_color_frame()
            if not depth or not colour or depth.get_timestamp() != colour.get_timestamp():
                continue  # a mismatched pair from playback: wait for a matching one
            aligned = self.align.process(frames)
            depth = aligned.get_depth_frame()
            rgb = np.asanyarray(colour.get_data()).copy()
            metres = np.asanyarray(depth.get_data()).astype(np.float32) * self.depth_scale
            return resize(rgb, self.size, False), resize(metres, self.size, True), colour.get_timestamp()

    def stop(self) -> None:
        if self.pipe is not None:
            self.pipe.stop()
            self.pipe = None
