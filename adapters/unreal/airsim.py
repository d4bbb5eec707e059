"""Unreal Engine through AirSim (``airsim``, archived) or its maintained fork Cosys-AirSim (``cosysairsim``).

Both clients speak msgpack-rpc to the AirSim plugin (default port 41451) and cannot share an environment (both
ship a module named ``msgpackrpc``), so each is its own extra; this one code path drives either. Vehicle modes:
``computervision`` (the pose is set directly each step), ``multirotor`` (body-frame velocity and yaw rate for
``dt`` seconds) and ``car`` (throttle and steering for ``dt`` seconds; a car turns only while it moves, so a
policy that turns in place — the oracle does — cannot drive it). Camera pitch goes through the camera pose. The
goal is the frame from the task's goal-camera pose, with the target's mask found by rendering segmentation twice
with the target under two object ids (the pixels that change are the target's, whatever the palette). Success is
judged from the privileged distance to the target.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import math
import time
from typing import Any

import numpy as np

from adapters.action_map import merge_table
from adapters.base import AdapterInfo
from adapters.unreal.common import (
    AIRSIM_FRAME,
    GOALS,
    INTERACTIONS,
    Pose,
    PoseDriven,
    advance,
    default_table,
    goal_pose,
    load_suite,
)
from harness.errors import BackendUnavailable, CrossviewError
from harness.spec import Action, Observation, TaskSpec

CLIENTS = ("cosysairsim", "airsim")
# The channel order of an uncompressed image differs between the plugins each client talks to: AirSim writes B, G, R
# (microsoft/AirSim Unreal/Plugins/AirSim/Source/RenderRequest.cpp:110-114), Cosys-AirSim R, G, B
# (Cosys-Lab/Cosys-AirSim Unreal/Plugins/AirSim/Source/RenderRequest.cpp:116-121).
BGR = {"airsim": True, "cosysairsim": False}
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


def decode_image(response: Any, bgr: bool) -> np.ndarray:
    """An uncompressed image (H×W×3 bytes, BGR from AirSim, RGB from Cosys-AirSim: ``BGR``) as RGB; np.frombuffer,
    as np.fromstring is gone in NumPy 2."""
    h, w = int(response.height), int(response.width)
    data = np.frombuffer(bytes(response.image_data_uint8), np.uint8)
    if h <= 0 or w <= 0 or data.size != h * w * 3:
        raise CrossviewError(f"AirSim sent a {w}x{h} image with {data.size} bytes: is the camera name right?")
    image = data.reshape(h, w, 3)
    return np.ascontiguousarray(image[..., ::-1] if bgr else image)


def to_quaternion(mod: Any, yaw: float, pitch: float) -> Any:
    """The client's own Quaternionr for a yaw-then-pitch rotation (radians; NED: yaw clockwise from north, pitch
    nose up). AirSim names it ``to_quaternion(pitch, roll, yaw)`` (microsoft/AirSim PythonClient/airsim/utils.py:83),
    Cosys-AirSim ``euler_to_quaternion(roll, pitch, yaw)`` (Cosys-Lab/Cosys-AirSim PythonClient/cosysairsim/
    utils.py:205)."""
    if hasattr(mod, "euler_to_quaternion"):
        return mod.euler_to_quaternion(0.0, pitch, yaw)
    return mod.to_quaternion(pitch, 0.0, yaw)


def heading(mod: Any, q: Any) -> float:
    """Yaw (radians) of a client Quaternionr: AirSim ``to_eularian_angles`` -> (pitch, roll, yaw) (utils.py:55),
    Cosys-AirSim ``quaternion_to_euler_angles`` -> (roll, pitch, yaw) (utils.py:178)."""
    if hasattr(mod, "quaternion_to_euler_angles"):
        return mod.quaternion_to_euler_angles(q)[2]
    return mod.to_eularian_angles(q)[2]


def body_frame(q: Any, v: list[float]) -> np.ndarray:
    """A world (NED) vector in the body frame of a client Quaternionr ``q``: the transpose of its rotation."""
    w, x, y, z = q.w_val, q.x_val, q.y_val, q.z_val
    rotation = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                         [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                         [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])
    return rotation.T @ np.asarray(v, float)


class AirSimAdapter(PoseDriven):
    """An AirSim/Cosys-AirSim simulation behind the Adapter protocol; ``tasks`` is a suite YAML (suite.py).

    ``timeout`` (seconds) bounds every RPC: the client's msgpack-rpc session times each request out after it
    (microsoft/AirSim PythonClient/airsim/client.py:14-17, ``timeout_value``; rpc-msgpack session.py
    ``step_timeout``), and a dead or silent simulator ends as a one-line error, never a hang. msgpack-rpc counts
    the timeout in whole-second ticks (rpc-msgpack client.py:25, future.py:90-95), so a call may run up to about a
    second past it. Images are read uncompressed in each plugin's own channel order (``BGR``), depth as
    ``DepthPlanar`` in metres.
    """

    frame = AIRSIM_FRAME

    def __init__(self, tasks: str, host: str = "127.0.0.1", port: int = 41451, client: str = "auto",
                 vehicle: str = "computervision", vehicle_name: str = "", camera: str = "0",
                 level: str = "unreal", depth: bool = True, timeout: float = 10.0,
                 action_map: dict[str, Any] | None = None) -> None:
        if vehicle not in MODES:
            raise CrossviewError(f"airsim option vehicle {vehicle!r} is not one of {', '.join(MODES)}")
        if not float(timeout) > 0:
            raise CrossviewError(f"airsim option timeout must be > 0 seconds, got {timeout!r}")
        self.suite = load_suite(tasks, "airsim", level, self.frame.metres)
        self.mod = import_client(client)
        self.bgr = BGR[self.mod.__name__]
        self.table = merge_table(default_table(1.0), action_map, "airsim")
        self.vehicle, self.name, self.camera, self.depth = vehicle, vehicle_name, str(camera), bool(depth)
        self.where = f"{host}:{int(port)}"
        cls = {"computervision": "VehicleClient", "multirotor": "MultirotorClient", "car": "CarClient"}[vehicle]
        self._loop = _thread_loop()  # the msgpackrpc client lives on this thread's event loop
        self._timeout = float(timeout)
        self._key = (id(self._loop), self.mod.__name__, cls, host, int(port), self._timeout)
        if self._key not in _CLIENTS:  # msgpackrpc leaks a socket per client object: keep one per server and reuse it
            # microsoft/AirSim PythonClient/airsim/client.py:14 VehicleClient(ip, port, timeout_value)
            _CLIENTS[self._key] = getattr(self.mod, cls)(ip=host, port=int(port), timeout_value=float(timeout))
        self.client = _CLIENTS[self._key]
        self._connect(int(port))
        self._mount = self._camera_mount()
        h, w = self._scene()[0].shape[:2]
        self.info = AdapterInfo(name="airsim", obs_size=(h, w), has_depth=self.depth, seedable=True,
                                privileged_success=True, privileged_facts=True, control_hz=1.0 / self.table["dt"],
                                masked=frozenset(self.table["masked"]), interactions=INTERACTIONS, domains=(level,),
                                goals=GOALS)

    def _rpc(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """One client call; transport errors and timeouts become one line, and the broken session leaves the pool."""
        try:
            _thread_loop(self._loop)
            result = getattr(self.client, method)(*args, **kwargs)
            if method.endswith("Async"):  # a msgpackrpc Future: get() waits and raises the call's error
                result = result.get()
            return result
        except Exception as exc:  # msgpackrpc raises transport errors and timeouts of its own kinds
            if _CLIENTS.get(self._key) is self.client:
                del _CLIENTS[self._key]
                with contextlib.suppress(Exception):
                    self.client.client.close()
            raise CrossviewError(f"AirSim at {self.where}: {method} failed ({self._describe(exc)}); is the simulator "
                                 f"running? {START_BINARY.replace('PORT', self.where.rsplit(':', 1)[1])}") from None

    def _describe(self, exc: Exception) -> str:
        """msgpackrpc's errors in words (rpc-msgpack session.py: TimeoutError 'Request timed out'; transport.tcp:
        TransportError 'Retry connection over the limit' once reconnecting fails; 'Client is closed' after)."""
        text = str(exc).strip()
        if type(exc).__name__ == "TimeoutError" or "timed out" in text:
            return f"no answer within {self._timeout:g} s"
        if "Retry connection over the limit" in text or "Client is closed" in text:
            return "connection refused or lost"
        return text.splitlines()[0][:200] if text else type(exc).__name__

    def _connect(self, port: int) -> None:
        # microsoft/AirSim PythonClient/airsim/client.py:28-47 (ping, versions; getClientVersion and
        # getMinRequiredServerVersion are instance methods there and static methods in Cosys-AirSim
        # PythonClient/cosysairsim/client.py:36-60: calling them on the instance serves both)
        self._rpc("ping")
        server, need_client = self._rpc("getServerVersion"), self._rpc("getMinRequiredClientVersion")
        mine, need_server = self.client.getClientVersion(), self.client.getMinRequiredServerVersion()
        if server < need_server:
            raise CrossviewError(f"AirSim server at {self.where} is version {server} but {self.mod.__name__} needs "
                                 f">= {need_server}: use a newer Unreal binary or an older client")
        if mine < need_client:
            raise CrossviewError(f"AirSim server at {self.where} needs client version >= {need_client} but "
                                 f"{self.mod.__name__} is {mine}: pip install -U {self.mod.__name__}")
        if self.vehicle != "computervision":
            self._rpc("enableApiControl", True, self.name)  # client.py:50
            self._rpc("armDisarm", True, self.name)  # client.py:74

    # -------------------------------------------------------------- transport
    def _request(self, kind: Any, floats: bool = False) -> Any:
        # types.py:311 ImageRequest(camera_name, image_type, pixels_as_float, compress)
        return self.mod.ImageRequest(self.camera, kind, floats, False)

    def _scene(self) -> tuple[np.ndarray, np.ndarray | None]:
        kinds = [self._request(self.mod.ImageType.Scene)]
        if getattr(self, "depth", False):
            # planar depth (distance along the view axis, microsoft/AirSim docs/image_apis.md:225-226), as UnrealCV's
            # SceneDepth and the other routes give it; DepthPerspective would be the distance to the camera centre
            kinds.append(self._request(self.mod.ImageType.DepthPlanar, floats=True))
        responses = self._rpc("simGetImages", kinds, self.name)  # client.py:295 (Cosys: client.py:318)
        rgb = decode_image(responses[0], self.bgr)
        depth = None
        if len(responses) > 1:
            r = responses[1]
            depth = np.asarray(r.image_data_float, np.float32).reshape(int(r.height), int(r.width))
        return rgb, depth

    def _segmentation(self) -> np.ndarray:
        response = self._rpc("simGetImages", [self._request(self.mod.ImageType.Segmentation)], self.name)[0]
        return decode_image(response, self.bgr)

    def _quat(self, yaw: float, pitch: float) -> Any:
        return to_quaternion(self.mod, math.radians(yaw), math.radians(pitch))

    def _place(self, pose: Pose) -> None:
        position = self.mod.Vector3r(pose.x, pose.y, pose.z)
        self._rpc("simSetVehiclePose", self.mod.Pose(position, self._quat(pose.yaw, 0.0)), True, self.name)  # :449
        self._set_pitch(pose.pitch)

    def _camera_mount(self) -> Any:
        """Where the camera sits on the vehicle (body frame, NED metres), to keep it there when the pitch is set:
        simSetCameraPose replaces the camera's relative position too (microsoft/AirSim Unreal/Plugins/AirSim/Source/
        PIPCamera.cpp:301-306), and settings.json may mount it off the vehicle's origin (PawnSimApi.cpp:131-139).
        simGetCameraInfo gives the camera's pose in local NED (client.py:710, PIPCamera.cpp:333)."""
        camera = self._rpc("simGetCameraInfo", self.camera, self.name).pose.position
        vehicle = self._rpc("simGetVehiclePose", self.name)
        offset = [camera.x_val - vehicle.position.x_val, camera.y_val - vehicle.position.y_val,
                  camera.z_val - vehicle.position.z_val]
        x, y, z = (float(v) for v in body_frame(vehicle.orientation, offset))
        return self.mod.Vector3r(x, y, z)

    def _set_pitch(self, pitch: float) -> None:
        self._rpc("simSetCameraPose", self.camera,  # client.py:768
                  self.mod.Pose(self._mount, self._quat(0.0, pitch)), self.name)

    def _read_pose(self, pitch: float) -> Pose:
        p = self._rpc("simGetVehiclePose", self.name)  # client.py:462
        yaw = heading(self.mod, p.orientation)
        return Pose(p.position.x_val, p.position.y_val, p.position.z_val, math.degrees(yaw), pitch)

    # -------------------------------------------------------------- episode
    def _target_mask(self, target: str) -> np.ndarray:
        for value in (11, 22):
            if not self._rpc("simSetSegmentationObjectID", target, value, False):  # client.py:606
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
            yaw_mode = self.mod.YawMode(True, self.table["yaw_scale"] * a.yaw / dt)  # types.py:279
            self._rpc("moveByVelocityBodyFrameAsync", vx, vy, 0.0, dt, yaw_mode=yaw_mode,  # client.py:1161
                      vehicle_name=self.name)
        else:
            controls = self.mod.CarControls()  # types.py:338
            controls.throttle = float(a.forward) - float(a.back)
            controls.steering = max(-1.0, min(1.0, a.yaw / 30.0))
            self._rpc("setCarControls", controls, self.name)  # client.py:1589
            # setCarControls returns at once and the car drives on in real time (microsoft/AirSim AirLib/src/
            # vehicles/car/api/CarRpcLibServer.cpp:49, docs/settings.md ClockSpeed): let the step's dt pass, as
            # moveByVelocityBodyFrame does on the server for the drone. A car turns only while it moves.
            time.sleep(dt)
        self._set_pitch(target.pitch)
        return self._read_pose(target.pitch)

    def close(self) -> None:
        """Give control of the vehicle back; safe to call twice. The connection stays pooled for reuse."""
        if self._progress is not None and self.vehicle != "computervision":
            with contextlib.suppress(Exception):  # the simulator may already be gone
                if self.vehicle == "car":  # it would drive on with the last controls: brake (types.py:338)
                    self._rpc("setCarControls", self.mod.CarControls(brake=1.0), self.name)
                self._rpc("armDisarm", False, self.name)
                self._rpc("enableApiControl", False, self.name)
        self._progress = None


def _thread_loop(restore: asyncio.AbstractEventLoop | None = None) -> asyncio.AbstractEventLoop:
    """This thread's asyncio event loop, on which msgpackrpc's client queues each call (rpc-msgpack session.py:57
    ``asyncio.Task``; loop.py makes one when the thread has none). ``asyncio.run`` leaves the thread with none, so a
    pooled client's loop is made current again (``restore``), or a new one when there is nothing to restore."""
    try:
        return asyncio.get_event_loop()
    except RuntimeError:
        loop = restore if restore is not None and not restore.is_closed() else asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        return loop
