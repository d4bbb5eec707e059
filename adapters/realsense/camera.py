"""Intel RealSense through pyrealsense2: a live camera by serial number, or loss-free playback of a recording.

Colour and depth are aligned to the colour stream, depth is in metres (the sensor's depth units applied), both
are resized to the configured size (area for colour, nearest for depth). Only framesets whose depth and colour
timestamps lie within half a frame period of each other are used, librealsense's own pairing rule
(IntelRealSense/librealsense src/sync.cpp:735-740): a real camera's two sensors stamp a pair a few ms apart, while
``.db3`` playback can pair depth N with colour N−1, a whole frame period apart.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import CrossviewError, require

RESUME_JOIN_S = 12.0  # longer than librealsense's own wait for a playback to resume
POLL_MS = 20  # how often a recording's playback status is looked at while no frame comes
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


def scaled_intrinsics(native: dict[str, Any], size: tuple[int, int]) -> dict[str, Any]:
    """The colour stream's intrinsics for the image as delivered, resized to ``size`` (height, width).

    Focal lengths and the principal point (an offset from the image's left/top edge, librealsense
    include/librealsense2/h/rs_types.h:64-67) scale with the image, as librealsense scales them when it resizes
    (src/proc/decimation-filter.cpp:349-352); the distortion coefficients act on normalised coordinates and stay.
    """
    h, w = size
    sx, sy = w / native["width"], h / native["height"]
    return {**native, "width": w, "height": h, "fx": native["fx"] * sx, "fy": native["fy"] * sy,
            "ppx": native["ppx"] * sx, "ppy": native["ppy"] * sy}


def paired(depth: Any, colour: Any) -> bool:
    """Depth and colour frames of one moment: timestamps less than half a frame period apart (at the lower fps).

    librealsense's syncer uses this rule, IntelRealSense/librealsense src/sync.cpp:560-570 and 735-740; frame
    timestamps (ms) and stream fps are read with ``get_timestamp`` (wrappers/python/pyrs_frame.cpp:137) and
    ``stream_profile.fps`` (pyrs_frame.cpp:70).
    """
    fps = min(depth.get_profile().fps(), colour.get_profile().fps()) or 1
    return abs(depth.get_timestamp() - colour.get_timestamp()) < 500.0 / fps


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
        self.playback: Any = None
        self.intrinsics: dict[str, Any] = {}

    def start(self) -> None:
        """Open the camera or (re)start the recording from its beginning."""
        rs = self.rs
        self.stop()
        pipe, cfg = rs.pipeline(), rs.config()
        if self.file is not None:
            # IntelRealSense/librealsense wrappers/python/pyrs_pipeline.cpp:66-68 (file_name, repeat_playback), :75
            # (resolve); pipe.start(cfg) reuses this resolved profile and so this very playback device
            # (src/pipeline/pipeline.cpp:79-84; each new resolve would open a new one, src/media/playback/
            # playback_device.cpp:26-31), which is why set_real_time/pause below reach the device that plays
            cfg.enable_device_from_file(self.file, repeat_playback=False)
            try:
                profile = cfg.resolve(rs.pipeline_wrapper(pipe))
            except RuntimeError as exc:
                raise CrossviewError(f"RealSense recording {self.file} is unreadable ({exc})") from None
            playback = profile.get_device().as_playback()
            # wrappers/python/pyrs_device.cpp:34 (as_playback), pyrs_record_playback.cpp:13,15,21 (pause, resume,
            # set_real_time). Not real time = loss-free: its frames are blocking (playback_device.cpp:645), a
            # frameset made of them too (src/proc/synthetic-stream.cpp:524-525), and the pipeline's one-slot queue
            # then waits for the reader instead of dropping (third-party/rsutils/include/rsutils/concurrency/
            # concurrency.h:209-215, src/pipeline/aggregator.cpp:16)
            playback.set_real_time(False)  # before start: after start it races and drops the first frames
            playback.pause()
            pipe.start(cfg)
            # resume() waits for the playback's reading thread (src/media/playback/playback_device.cpp:373-401),
            # which in non-real-time mode can wait for this process to take frames: resume beside the reader, or it
            # stalls until librealsense's 10 s dispatcher timeout
            self._resuming = threading.Thread(target=playback.resume, name="realsense-resume", daemon=True)
            self._resuming.start()
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
        # wrappers/python/pyrs_processing.cpp:137-140 (align to colour), pyrs_device.cpp:19 (first_depth_sensor),
        # pyrs_sensor.cpp:107 (get_depth_scale: metres per z16 unit), pyrs_pipeline.cpp:14 (get_stream),
        # pyrs_frame.cpp:109 (get_intrinsics; fields include/librealsense2/h/rs_types.h:60-70)
        self.align = rs.align(rs.stream.color)
        self.depth_scale = float(profile.get_device().first_depth_sensor().get_depth_scale())
        colour = profile.get_stream(rs.stream.color).as_video_stream_profile().get_intrinsics()
        native = {"width": colour.width, "height": colour.height, "fx": colour.fx, "fy": colour.fy,
                  "ppx": colour.ppx, "ppy": colour.ppy, "model": str(colour.model), "coeffs": list(colour.coeffs)}
        self.intrinsics = {**scaled_intrinsics(native, self.size), "native": native,
                           "depth_scale": self.depth_scale, "source": self.file or self.serial or "first camera"}

    def _ended(self) -> bool:
        """The recording has been read to its end: its playback status is ``stopped``.

        IntelRealSense/librealsense include/librealsense2/h/rs_record_playback.h:24 (STOPPED: "playback has ended
        (all data was read)"), read with ``playback.current_status()`` (wrappers/python/pyrs_record_playback.cpp:30)
        against ``rs.playback_status`` (wrappers/python/c_files.cpp:64), as upstream's own tests wait for it
        (unit-tests/live/rec-play/test-pause-playback-frames.py:93).
        """
        return (self.playback is not None and not self._resuming.is_alive()
                and self.playback.current_status() == self.rs.playback_status.stopped)

    def _next(self) -> Any:
        """The next frameset; None once a recording has ended (its status, not a timeout, says so)."""
        end = time.monotonic() + self.timeout_ms / 1000.0
        while True:
            wait_ms = POLL_MS if self.playback is not None else self.timeout_ms
            ok, frames = self.pipe.try_wait_for_frames(wait_ms)  # wrappers/python/pyrs_pipeline.cpp:167
            if ok:
                return frames
            if self._ended():
                ok, frames = self.pipe.try_wait_for_frames(0)  # a last frameset already queued
                return frames if ok else None
            if time.monotonic() >= end:
                what = f"recording {self.file}" if self.file else "RealSense camera"
                raise CrossviewError(f"the {what} sent no frame within {self.timeout_ms} ms")

    def read(self) -> tuple[np.ndarray, np.ndarray, float] | None:
        """(rgb uint8 H×W×3, depth float32 H×W metres, timestamp ms), or None at the end of a recording."""
        if self.pipe is None:
            self.start()
        end = time.monotonic() + self.timeout_ms / 1000.0
        while True:
            frames = self._next()
            if frames is None:
                return None
            depth, colour = frames.get_depth_frame(), frames.get_color_frame()
            if depth and colour and paired(depth, colour):
                break
            if self.playback is None and time.monotonic() >= end:  # a recording ends by its status instead
                raise CrossviewError(f"the RealSense camera sent no depth and colour pair within {self.timeout_ms} ms "
                                     "of each other's timestamps: check that both streams run at the same fps")
        aligned = self.align.process(frames)
        depth = aligned.get_depth_frame()
        rgb = self._rgb(colour)
        metres = np.asanyarray(depth.get_data()).astype(np.float32) * self.depth_scale
        return resize(rgb, self.size, False), resize(metres, self.size, True), colour.get_timestamp()

    def _rgb(self, colour: Any) -> np.ndarray:
        """The colour frame as RGB: a recording plays back in the format it was recorded in (rgb8 or bgr8 here)."""
        fmt = colour.get_profile().format()  # wrappers/python/pyrs_frame.cpp:68
        pixels = np.asanyarray(colour.get_data())
        if fmt == self.rs.format.rgb8:
            return pixels.copy()
        if fmt == self.rs.format.bgr8:
            return pixels[..., ::-1].copy()
        raise CrossviewError(f"the colour stream of {self.file or 'the RealSense camera'} is {fmt}: record colour "
                             "as rgb8 or bgr8")

    def stop(self) -> None:
        """Stop streaming (a recording stops where it is)."""
        if self.pipe is not None:
            self.pipe.stop()
            self.pipe = None
        if self.playback is not None:
            self._resuming.join(RESUME_JOIN_S)
