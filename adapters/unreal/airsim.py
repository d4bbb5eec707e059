"""Unreal Engine through AirSim (``airsim``, archived) or its maintained fork Cosys-AirSim (``cosysairsim``).

Both clients speak msgpack-rpc to the AirSim plugin (default port 41451) and cannot share an environment (both
ship a module named ``msgpackrpc``), so each is its own extra; this one code path drives either. Vehicle modes:
``computervision`` (the pose is set directly each step), ``multirotor`` (body-frame velocity and yaw rate for
``dt`` seconds) and ``car`` (throttle and steering). Camera pitch goes through the camera pose. The goal is the
frame from the task's goal-camera pose, with the target's mask found by rendering segmentation twice with the
target under two object ids (the pixels that change are the target's, whatever the palette). Success is judged
from the privileged distance to the target.
"""

from __future__ import annotations

import contextlib
import importlib
from typing import Any

import numpy as np

from adapters.action_map import merge_table
from adapters.base import AdapterInfo
from adapters.unreal.common import (
    INTERACTIONS,
    Pose,
    PoseDriven,
    advance,
    default_table,
    goal_pose,
    load_suite,
    quaternion,
    yaw_pitch,
)
from harness.errors import BackendUnavailable, CrossviewError
from harness.spec import Action, Observation, TaskSpec

CLIENTS = ("cosysairsim", "airsim")
_CLIENTS: dict[tuple, Any] = {}
MODES = ("computervision", "multirotor", "car")
START_BINARY = ("start the Unreal binary with the AirSim plugin (settings.json: \"ApiServerPort\": PORT, "
                "\"SimMode\": \"ComputerVision\" | \"Multirotor\" | \"Car\")")


def import_client(name: str = "auto") -> Any:
    """The AirSim client module: ``cosysairsim`` or ``airsim`` (``auto``: whichever is installed)."""
    names = CLIENTS if name == "auto" else (name,)
    if name not in ("auto", *CLIENTS):
        raise CrossviewError(f"airsim option client {name!r} is not one of auto, {', '.join(CLIENTS)}")
    for n in names:
        try:
            return importlib.import_module(n)
        except ImportError:
            continue
    raise BackendUnavailable("no AirSim client: pip install 'crossview-harness[cosysairsim]' (or [airsim]; "
                             "the two cannot share an environment)")


def decode_bgr(response: Any) -> np.ndarray:
    """An uncompressed scene image (H×W×3 BGR bytes) as RGB; np.frombuffer, as np.fromstring is gone in NumPy 2."""
    h, w = int(response.height), int(response.width)
    data = np.frombuffer(bytes(response.image_data_uint8), np.uint8)
    if h <= 0 or w <= 0 or data.size != h * w * 3:
        raise CrossviewError(f"AirSim sent a {w}x{h} image with {data.size} bytes: is the camera name right?")
    return np.ascontiguousarray(data.reshape(h, w, 3)[..., ::-1])


class AirSimAdapter(PoseDriven):
    """An AirSim/Cosys-AirSim simulation behind the Adapter protocol; ``tasks`` is a suite YAML (common.py)."""

    def __init__(self, tasks: str, host: str = "127.0.0.1", port: int = 41451, client: str = "auto",
                 vehicle: str = "computervision", vehicle_name: str = "", camera: str = "0",
                 level: str = "unreal", depth: bool = True, timeout: float = 10.0,
                 action_map: dict[str, Any] | None = None) -> None:
        if vehicle not in MODES:
            raise CrossviewError(f"airsim option vehicle {vehicle!r} is not one of {', '.join(MODES)}")
        self.suite = load_suite(tasks, "airsim", level)
        self.mod = import_client(client)
        self.table = merge_table(default_table(1.0), action_map, "airsim")
        self.vehicle, self.name, self.camera, self.depth = vehicle, vehicle_name, str(camera), bool(depth)
        cls = {"computervision": "VehicleClient", "multirotor": "MultirotorClient", "car": "CarClient"}[vehicle]
        key = (self.mod.__name__, cls, host, int(port))
        if key not in _CLIENTS:  # msgpackrpc leaks a socket per client object: keep one per server and reuse it
            _CLIENTS[key] = getattr(self.mod, cls)(ip=host, port=int(port), timeout_value=timeout)
        self.client = _CLIENTS[key]
        self._connect(host, int(port))
        h, w = self._scene()[0].shape[:2]
        self.info = AdapterInfo(name="airsim", obs_size=(h, w), has_depth=self.depth, seedable=True,
                                privileged_success=True, control_hz=1.0 / self.table["dt"],
                                masked=frozenset(self.table["masked"]), interactions=INTERACTIONS, domains=(level,))

    def _connect(self, host: str, port: int) -> None:
        try:
            self.client.ping()
            server, need_client = self.client.getServerVersion(), self.client.getMinRequiredClientVersion()
        except Exception as exc:  # msgpackrpc raises transport errors of its own kinds
            for key in [k for k, c in _CLIENTS.items() if c is self.client]:
                del _CLIENTS[key]
            raise CrossviewError(f"cannot reach AirSim at {host}:{port} ({type(exc).__name__}): "
                                 f"{START_BINARY.replace('PORT', str(port))}") from None
        mine = self.mod.VehicleClient.getClientVersion()
        need_server = self.mod.VehicleClient.getMinRequiredServerVersion()
        if server < need_server:
            raise CrossviewError(f"AirSim server at {host}:{port} is version {server} but {self.mod.__name__} needs "
                                 f">= {need_server}: use a newer Unreal binary or an older client")
        if mine < need_client:
            raise CrossviewError(f"AirSim server at {host}:{port} needs client version >= {need_client} but "
                                 f"{self.mod.__name__} is {mine}: pip install -U {self.mod.__name__}")
        if self.vehicle != "computervision":
            self.client.enableApiControl(True, self.name)
            self.client.armDisarm(True, self.name)

    # -------------------------------------------------------------- transport
    def _request(self, kind: Any, floats: bool = False) -> Any:
        return self.mod.ImageRequest(self.camera, kind, floats, False)

    def _scene(self) -> tuple[np.ndarray, np.ndarray | None]:
        kinds = [self._request(self.mod.ImageType.Scene)]
        if getattr(self, "depth", False):
            kinds.append(self._request(self.mod.ImageType.DepthPerspective, floats=True))
        responses = self.client.simGetImages(kinds, self.name)
        rgb = decode_bgr(responses[0])
        depth = None
        if len(responses) > 1:
            r = responses[1]
            depth = np.asarray(r.image_data_float, np.float32).reshape(int(r.height), int(r.width))
        return rgb, depth

    def _segmentation(self) -> np.ndarray:
        return decode_bgr(self.client.simGetImages([self._request(self.mod.ImageType.Segmentation)], self.name)[0])

    def _quat(self, yaw: float, pitch: float) -> Any:
        q = self.mod.Quaternionr()
        q.w_val, q.x_val, q.y_val, q.z_val = quaternion(yaw, pitch)
        return q

    def _place(self, pose: Pose) -> None:
        position = self.mod.Vector3r(pose.x, pose.y, pose.z)
        self.client.simSetVehiclePose(self.mod.Pose(position, self._quat(pose.yaw, 0.0)), True, self.name)
        self._set_pitch(pose.pitch)

    def _set_pitch(self, pitch: float) -> None:
        self.client.simSetCameraPose(self.camera, self.mod.Pose(self.mod.Vector3r(0, 0, 0), self._quat(0.0, pitch)),
                                     self.name)

    def _read_pose(self, pitch: float) -> Pose:
        p = self.client.simGetVehiclePose(self.name)
        o = p.orientation
        yaw, _ = yaw_pitch(o.w_val, o.x_val, o.y_val, o.z_val)
        return Pose(p.position.x_val, p.position.y_val, p.position.z_val, yaw, pitch)

    # -------------------------------------------------------------- episode
    def _target_mask(self, target: str) -> np.ndarray:
        for value in (11, 22):
            if not self.client.simSetSegmentationObjectID(target, value, False):
                raise CrossviewError(f"AirSim has no object named {target!r} in this level: check the task's target")
            if value == 11:
                first = self._segmentation()
        return (first != self._segmentation()).any(axis=2)

    def _goal_view(self, task: TaskSpec) -> tuple[np.ndarray, np.ndarray]:
        self._place(goal_pose(task))
        image = self._scene()[0]
        return image, self._target_mask(task.target)

    def _observe(self) -> Observation:
        rgb, depth = self._scene()
        return Observation(rgb, depth, self._steps * self.table["dt"])

    def _move(self, action: Action) -> Pose:
        """Computer vision: set the pose. Multirotor and car: command the vehicle, then read its pose back."""
        if self.vehicle == "computervision":
            return super()._move(action)
        target = advance(self._pose, action, self.table)
        a, dt = action.without(self.info.masked), self.table["dt"]
        if self.vehicle == "multirotor":
            vx = (float(a.forward) - float(a.back)) * self.table["forward_speed"]
            vy = (float(a.right) - float(a.left)) * self.table["lateral_speed"]
            yaw_mode = self.mod.YawMode(True, self.table["yaw_scale"] * a.yaw / dt)
            self.client.moveByVelocityBodyFrameAsync(vx, vy, 0.0, dt, yaw_mode=yaw_mode, vehicle_name=self.name).join()
        else:
            controls = self.mod.CarControls()
            controls.throttle = float(a.forward) - float(a.back)
            controls.steering = max(-1.0, min(1.0, a.yaw / 30.0))
            self.client.setCarControls(controls, self.name)
        self._set_pitch(target.pitch)
        return self._read_pose(target.pitch)

    def close(self) -> None:
        """Give control of the vehicle back; safe to call twice. The connection stays pooled for reuse."""
        if self._progress is not None and self.vehicle != "computervision":
            with contextlib.suppress(Exception):  # the simulator may already be gone
                self.client.armDisarm(False, self.name)
                self.client.enableApiControl(False, self.name)
        self._progress = None
