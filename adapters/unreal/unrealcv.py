"""Unreal Engine through UnrealCV, as UnrealZoo's environments expose it (the route of the paper's Unreal tests).

The client sends ``vset``/``vget`` commands over UnrealCV's framed TCP protocol (default port 9000): the camera is
the agent — ``vset /camera/0/location`` and ``/rotation`` move it by the common action (centimetres, the paper's
velocity ±100), ``vget /camera/0/lit png`` is the view, ``/depth npy`` the depth (centimetres, returned in metres)
and ``/object_mask png`` with ``vget /object/NAME/color`` gives the target's exact mask. Pick/deliver tasks
(UnrealZoo's ATEC rescue) score 0.5 for picking the target up and 0.5 for delivering it.
"""

from __future__ import annotations

import io
import re
from typing import Any

import numpy as np

from adapters.action_map import merge_table
from adapters.base import AdapterInfo
from adapters.unreal.common import (
    GOALS,
    INTERACTIONS,
    UNREAL_FRAME,
    Pose,
    PoseDriven,
    default_table,
    goal_pose,
    load_suite,
)
from adapters.unreal.ucv_client import connect
from harness.errors import CrossviewError
from harness.spec import Observation, TaskSpec

# The oldest plugin that binds every command used here: branch 4.27 (UnrealZoo's UE4 binaries), whose
# UnrealCV.uplugin says VersionName 0.3.10 and whose Commands/CameraHandler.cpp:523-599 and ObjectHandler.cpp:47,107
# bind location, rotation, lit, depth, object_mask, size, /objects and /object/[str]/color (unrealcv/unrealcv).
# Branches 5.2 and 4.27-stable say 1.0.1; `vget /unrealcv/version` answers VersionName as is (PluginHandler.cpp:69).
MIN_VERSION = (0, 3, 10)
COLOR = re.compile(r"R=(\d+),\s*G=(\d+),\s*B=(\d+)")
RESOLUTION = (640, 480)  # the paper's UnrealZoo observations (width, height)


def parse_color(text: str) -> tuple[int, int, int]:
    """UnrealCV's ``(R=..,G=..,B=..,A=255)`` (FColor::ToString, ObjectHandler.cpp GetAnnotationColor) as RGB."""
    m = COLOR.search(text)
    if not m:
        raise CrossviewError(f"UnrealCV answered {text[:80]!r} for an object colour")
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def parse_version(text: str) -> tuple[int, ...]:
    nums = re.findall(r"\d+", text)
    return tuple(int(n) for n in nums[:3]) if nums else (0,)


def decode_png(data: Any) -> np.ndarray:
    """A PNG from UnrealCV (RGBA) as RGB uint8."""
    import imageio.v3 as iio

    if isinstance(data, str) or not data:
        raise CrossviewError(f"UnrealCV sent {str(data)[:80]!r} where a PNG image was expected")
    img = iio.imread(io.BytesIO(bytes(data)), extension=".png")
    return np.ascontiguousarray(img[..., :3] if img.ndim == 3 else np.repeat(img[..., None], 3, 2)).astype(np.uint8)


class UnrealCVAdapter(PoseDriven):
    """An UnrealCV (UnrealZoo) level behind the Adapter protocol; ``tasks`` is a suite YAML (suite.py).

    ``timeout`` (seconds) bounds the connection, the greeting and every request (ucv_client). ``resolution``
    (width, height; default the paper's 640×480) is set with ``vset /camera/N/size`` (unrealcv/unrealcv
    Source/UnrealCV/Private/Commands/CameraHandler.cpp:505, SetSize); ``null`` keeps the binary's own size.
    """

    frame = UNREAL_FRAME

    def __init__(self, tasks: str, host: str = "127.0.0.1", port: int = 9000, camera: int = 0,
                 level: str = "unrealzoo", depth: bool = True, timeout: float = 10.0,
                 resolution: tuple[int, int] | list[int] | None = RESOLUTION,
                 action_map: dict[str, Any] | None = None) -> None:
        if not float(timeout) > 0:
            raise CrossviewError(f"unrealcv option timeout must be > 0 seconds, got {timeout!r}")
        if resolution is not None and (len(resolution) != 2 or not all(16 <= int(v) <= 8192 for v in resolution)):
            raise CrossviewError(f"unrealcv option resolution must be [width, height] in 16..8192, got {resolution!r}")
        self.suite = load_suite(tasks, "unrealcv", level, self.frame.metres)
        self.table = merge_table(default_table(100.0), action_map, "unrealcv")  # Unreal units are centimetres
        self.cam, self.depth = f"/camera/{int(camera)}", bool(depth)
        self.client = connect(host, int(port), float(timeout))
        try:
            version = str(self._get("vget /unrealcv/version"))  # PluginHandler.cpp:110
            if parse_version(version) < MIN_VERSION:
                raise CrossviewError(f"UnrealCV server at {host}:{port} reports {version.strip()!r}; crossview needs "
                                     f">= {'.'.join(map(str, MIN_VERSION))}: rebuild the binary with a newer UnrealCV")
            if resolution is not None:
                w, h = (int(v) for v in resolution)
                self._get(f"vset {self.cam}/size {w} {h}")  # CameraHandler.cpp:842
            self.objects = set(str(self._get("vget /objects")).split())  # ObjectHandler.cpp:50, names + " "
            h, w = self._view().shape[:2]
        except BaseException:
            self.close()
            raise
        self.info = AdapterInfo(name="unrealcv", obs_size=(h, w), has_depth=self.depth, seedable=True,
                                privileged_success=True, privileged_facts=True, control_hz=1.0 / self.table["dt"],
                                masked=frozenset(self.table["masked"]), interactions=INTERACTIONS, domains=(level,),
                                goals=GOALS)

    def _get(self, command: str) -> Any:
        reply = self.client.ask(command)
        if isinstance(reply, str) and reply.lower().startswith("error"):  # ExecStatus.cpp:105 "error <message>"
            raise CrossviewError(f"UnrealCV refused {command!r}: {reply.strip()}")
        return reply

    def _place(self, pose: Pose) -> None:
        self._get(f"vset {self.cam}/location {pose.x:.2f} {pose.y:.2f} {pose.z:.2f}")
        self._get(f"vset {self.cam}/rotation {pose.pitch:.2f} {pose.yaw:.2f} 0")

    def _view(self) -> np.ndarray:
        return decode_png(self._get(f"vget {self.cam}/lit png"))

    def _depth(self) -> np.ndarray:
        data = self._get(f"vget {self.cam}/depth npy")
        return (np.load(io.BytesIO(bytes(data)), allow_pickle=False).astype(np.float32) / 100.0)

    def _goal_view(self, task: TaskSpec) -> tuple[np.ndarray, np.ndarray]:
        if task.target not in self.objects:
            raise CrossviewError(f"UnrealCV level has no object {task.target!r} (task {task.params['task']!r}); "
                                 f"some objects: {', '.join(sorted(self.objects)[:8])}")
        colour = np.array(parse_color(str(self._get(f"vget /object/{task.target}/color"))), np.uint8)
        self._place(goal_pose(task))
        image = self._view()
        return image, (decode_png(self._get(f"vget {self.cam}/object_mask png")) == colour).all(axis=2)

    def _observe(self) -> Observation:
        return Observation(self._view(), self._depth() if self.depth else None, self._steps * self.table["dt"])

    def close(self) -> None:
        """Disconnect; safe to call twice."""
        self._progress = None
        self.client.close()
