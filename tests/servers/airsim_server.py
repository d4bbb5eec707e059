"""A local AirSim server for tests: msgpack-rpc over TCP, as the AirSim plugin speaks it, with a Rooms scene behind.

Requests are ``[0, msgid, method, params]`` and answers ``[1, msgid, error, result]`` (the msgpack-rpc spec, as
rpclib serves it to microsoft/AirSim's PythonClient); structs travel as maps of field names (AirLib/include/api/
RpcLibAdaptorsBase.hpp MSGPACK_DEFINE_MAP); orientations are quaternions in NED with AirSim's Euler convention
(PythonClient/airsim/utils.py:55-97: yaw about z down, pitch about y east, nose up positive).

The server plays one of two plugins (``--flavour``; ``auto``: the one whose client is installed here), each as its
own source has it, never as crossview's adapter would like it:

- ``airsim`` (microsoft/AirSim, the plugin the archived ``airsim`` 1.8.1 client talks to): server version 1 and
  minimum client 1 (AirLib/src/api/RpcLibServerBase.cpp:95-101); ``simGetImages(requests, vehicle, external)`` and
  ``simSetCameraPose(camera, pose, vehicle, external)`` (RpcLibServerBase.cpp:147, 351); uncompressed images are
  H×W×3 **BGR** (Unreal/Plugins/AirSim/Source/RenderRequest.cpp:110-114).
- ``cosys`` (Cosys-Lab/Cosys-AirSim): server version 4 and minimum client 4 (RpcLibServerBase.cpp:95-101);
  ``simGetImages(requests, vehicle)`` and ``simSetCameraPose(camera, pose, vehicle)`` (RpcLibServerBase.cpp:163,
  426); uncompressed images are H×W×3 **RGB** (RenderRequest.cpp:116-121); responses carry ``annotation_name``
  (RpcLibAdaptorsBase.hpp:581).

rpclib checks every call's argument count and names unknown functions (rpclib/rpclib lib/rpc/dispatcher.cc:48-50,
80-83, 120-130); void functions answer nil. ``DepthPlanar`` is the distance along the view axis and
``DepthPerspective`` the distance to the camera centre (microsoft/AirSim docs/image_apis.md). Frames are rendered
for the vehicle pose and camera pitch, so they change as the client moves. Run as
``python -m tests.servers.airsim_server --port 0``: it prints ``PORT <n>`` once listening on 127.0.0.1.
"""

from __future__ import annotations

import importlib.util
import math
import time
from typing import Any

import msgpack
import numpy as np

from tests.servers.loop import Budget, arguments, listen, serve_forever
from tests.servers.scene import RoomsLevel

SCENE, DEPTH_PLANAR, DEPTH_PERSPECTIVE, SEGMENTATION = 0, 1, 2, 5
# what each plugin's own source says: (server version, min client version), uncompressed channel order, and the
# argument count rpclib enforces for every method this server binds (RpcLibServerBase.cpp, CarRpcLibServer.cpp:49,
# MultirotorRpcLibServer.cpp:54 in each repository)
_COMMON = {"ping": 0, "getServerVersion": 0, "getMinRequiredClientVersion": 0, "reset": 0, "enableApiControl": 2,
           "armDisarm": 2, "simSetVehiclePose": 3, "simGetVehiclePose": 1, "simSetSegmentationObjectID": 3,
           "simGetSegmentationObjectID": 1, "setCarControls": 2, "moveByVelocityBodyFrame": 7}
FLAVOURS = {
    "airsim": {"versions": (1, 1), "bgr": True, "response_extra": {},
               "arity": {**_COMMON, "simGetImages": 3, "simSetCameraPose": 4, "simGetCameraInfo": 3}},
    "cosys": {"versions": (4, 4), "bgr": False, "response_extra": {"annotation_name": ""},
              "arity": {**_COMMON, "simGetImages": 2, "simSetCameraPose": 3, "simGetCameraInfo": 2}},
}
VOID = {"reset", "enableApiControl", "simSetVehiclePose", "simSetCameraPose", "setCarControls"}


def installed_flavour() -> str:
    """The plugin that matches the AirSim client installed here (``cosysairsim`` first, as the adapter picks)."""
    return "cosys" if importlib.util.find_spec("cosysairsim") is not None else "airsim"


def quaternion(yaw: float, pitch: float) -> tuple[float, float, float, float]:
    """(w, x, y, z) of yaw then pitch (degrees, no roll), the product AirSim's utils.py:83 to_quaternion forms."""
    cy, sy = math.cos(math.radians(yaw) / 2), math.sin(math.radians(yaw) / 2)
    cp, sp = math.cos(math.radians(pitch) / 2), math.sin(math.radians(pitch) / 2)
    return cy * cp, -sy * sp, cy * sp, sy * cp


def yaw_pitch(w: float, x: float, y: float, z: float) -> tuple[float, float]:
    """Yaw and pitch (degrees) of a quaternion, as AirSim's utils.py:55 to_eularian_angles reads them."""
    yaw = math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
    pitch = math.asin(max(-1.0, min(1.0, 2 * (w * y - z * x))))
    return math.degrees(yaw), math.degrees(pitch)


def palette(object_id: int) -> tuple[int, int, int]:
    """A segmentation colour per object id (any injective palette will do for clients that diff two renders)."""
    return (object_id * 53) % 256, (object_id * 97 + 11) % 256, (object_id * 193 + 37) % 256


class AirSimScene:
    """Server state: vehicle pose in NED (x north, y east, z down), camera pitch, segmentation ids."""

    def __init__(self, level: RoomsLevel, flavour: str, server_version: int | None = None,
                 min_client: int | None = None, mount: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> None:
        self.level, self.flavour = level, FLAVOURS[flavour]
        # the camera's position relative to the vehicle (body frame, NED): where settings.json mounts it
        # (microsoft/AirSim Unreal/Plugins/AirSim/Source/PawnSimApi.cpp:131-139); simSetCameraPose replaces it
        # (PIPCamera.cpp:301-306, SetActorRelativeLocation)
        self.mount = [float(v) for v in mount]
        versions = self.flavour["versions"]
        self.server_version = versions[0] if server_version is None else server_version
        self.min_client = versions[1] if min_client is None else min_client
        self.pos = [0.0, 0.0, -0.7]
        self.yaw, self.cam_pitch = 0.0, 0.0  # degrees; pitch > 0 is nose up
        self.ids = {name: 0 for name in level.names}
        self.car = {"throttle": 0.0, "steering": 0.0, "since": time.monotonic()}

    def camera_position(self) -> list[float]:
        """The camera in local NED: the vehicle's position plus its mount turned by the vehicle's yaw."""
        r, (mx, my, mz) = math.radians(self.yaw), self.mount
        return [self.pos[0] + mx * math.cos(r) - my * math.sin(r), self.pos[1] + mx * math.sin(r) + my * math.cos(r),
                self.pos[2] + mz]

    def _look(self) -> None:  # NED -> Rooms: y and z flip, heading and pitch change sign
        x, y, z = self.camera_position()
        self.level.look(x, -y, -z, -math.radians(self.yaw), -math.radians(self.cam_pitch))

    def image(self, request: dict) -> dict:
        self._look()
        kind = int(request["image_type"])
        h, w = self.level.size
        response = {"image_data_uint8": b"", "image_data_float": [],
                    "camera_position": self.vector(self.camera_position()), "camera_name": str(request["camera_name"]),
                    "camera_orientation": self.quat(self.yaw, self.cam_pitch), "time_stamp": 0, "message": "",
                    "pixels_as_float": False, "compress": False, "width": w, "height": h, "image_type": kind,
                    **self.flavour["response_extra"]}
        if kind == SCENE:
            response["image_data_uint8"] = self._bytes(self.level.rgb())
        elif kind in (DEPTH_PLANAR, DEPTH_PERSPECTIVE):
            depth = self.level.depth() if kind == DEPTH_PLANAR else self.level.range_depth()
            response["image_data_float"] = depth.ravel().tolist()
            response["pixels_as_float"] = True
        elif kind == SEGMENTATION:
            idx = self.level.object_ids()
            colours = np.array([palette(self.ids[n]) for n in self.level.names] + [(0, 0, 0)], np.uint8)
            response["image_data_uint8"] = self._bytes(colours[idx])
        else:
            raise ValueError(f"image type {kind} is not served by this test server")
        return response

    def _bytes(self, rgb: np.ndarray) -> bytes:
        """H×W×3 bytes in the plugin's channel order."""
        return np.ascontiguousarray(rgb[..., ::-1] if self.flavour["bgr"] else rgb).tobytes()

    @staticmethod
    def vector(v: list[float]) -> dict:
        return {"x_val": float(v[0]), "y_val": float(v[1]), "z_val": float(v[2])}

    @staticmethod
    def quat(yaw: float, pitch: float) -> dict:
        w, x, y, z = quaternion(yaw, pitch)
        return {"w_val": w, "x_val": x, "y_val": y, "z_val": z}

    def call(self, method: str, params: list[Any]) -> Any:
        """Dispatch as rpclib does: unknown names and wrong argument counts are errors (dispatcher.cc:48-50, 80-83,
        120-130); void functions answer nil."""
        arity = self.flavour["arity"]
        if method not in arity:
            raise RpcError(f"rpclib: server could not find function '{method}' with argument count {len(params)}.")
        if len(params) != arity[method]:
            raise RpcError(f"rpclib: Function '{method}' was called with an invalid number of arguments. Expected: "
                           f"{arity[method]}, got: {len(params)}")
        self._drive()
        result = self._call(method, params)
        return None if method in VOID else result

    def _drive(self) -> None:
        """A car keeps its last controls until new ones come (setCarControls returns at once: CarRpcLibServer.cpp:49,
        CarPawnApi.cpp:13-27) and moves in real time (settings.md ClockSpeed 1). A toy kinematic car stands in for
        the vehicle physics: throttle 1 = 1 m/s, and it turns only while moving (steering 1 = 120°/s at 1 m/s)."""
        now = time.monotonic()
        elapsed, self.car["since"] = now - self.car["since"], now
        speed = self.car["throttle"]
        if speed:
            self.yaw += 120.0 * self.car["steering"] * speed * elapsed
            r = math.radians(self.yaw)
            self.pos[0] += speed * elapsed * math.cos(r)
            self.pos[1] += speed * elapsed * math.sin(r)

    def _call(self, method: str, params: list[Any]) -> Any:
        if method == "ping":
            return True
        if method == "getServerVersion":
            return self.server_version
        if method == "getMinRequiredClientVersion":
            return self.min_client
        if method in ("enableApiControl", "armDisarm", "reset"):
            return True
        if method == "simGetImages":
            return [self.image(r) for r in params[0]]
        if method == "simSetVehiclePose":
            p, o = params[0]["position"], params[0]["orientation"]
            self.pos = [p["x_val"], p["y_val"], p["z_val"]]
            self.yaw = yaw_pitch(o["w_val"], o["x_val"], o["y_val"], o["z_val"])[0]
            return None
        if method == "simGetVehiclePose":
            return {"position": self.vector(self.pos), "orientation": self.quat(self.yaw, 0.0)}
        if method == "simGetCameraInfo":  # CameraInfo {pose, fov, proj_mat} (RpcLibAdaptorsBase.hpp:374)
            pose = {"position": self.vector(self.camera_position()), "orientation": self.quat(self.yaw, self.cam_pitch)}
            return {"pose": pose, "fov": 90.0, "proj_mat": {"matrix": [[0.0] * 4 for _ in range(4)]}}
        if method == "simSetCameraPose":
            p = params[1]["position"]
            self.mount = [float(p["x_val"]), float(p["y_val"]), float(p["z_val"])]
            o = params[1]["orientation"]
            self.cam_pitch = yaw_pitch(o["w_val"], o["x_val"], o["y_val"], o["z_val"])[1]
            return None
        if method == "simSetSegmentationObjectID":
            name, value = params[0], int(params[1])
            if name not in self.ids:
                return False
            self.ids[name] = value
            return True
        if method == "simGetSegmentationObjectID":
            return self.ids.get(params[0], -1)
        if method == "setCarControls":  # the motion happens in _drive, as time passes
            self.car["throttle"] = float(params[0].get("throttle", 0.0))
            self.car["steering"] = float(params[0].get("steering", 0.0))
            if float(params[0].get("brake", 0.0)) > 0:
                self.car["throttle"] = 0.0  # the toy car stops at once
            return None
        if method == "moveByVelocityBodyFrame":
            # the body-frame velocity is turned into the world frame once, with the yaw at the start, while the
            # yaw rate acts over the duration; the call returns when the duration is over, True
            # (microsoft/AirSim AirLib/src/vehicles/multirotor/api/MultirotorApiBase.cpp:86-106)
            vx, vy, _, duration = (float(v) for v in params[:4])
            r = math.radians(self.yaw)
            self.pos[0] += (vx * math.cos(r) - vy * math.sin(r)) * duration
            self.pos[1] += (vx * math.sin(r) + vy * math.cos(r)) * duration
            yaw_mode = params[5]
            if yaw_mode.get("is_rate", True):
                self.yaw += float(yaw_mode["yaw_or_rate"]) * duration
            return True
        raise RpcError(f"rpc method {method} is not served by this test server")


class RpcError(Exception):
    """An error answered in the response's error slot, as rpclib answers it (a msgpack string)."""


def handler(scene: AirSimScene, budget: Budget):
    """Feed a connection's bytes to its msgpack unpacker; answer every complete request."""
    def on_data(state: dict, data: bytes) -> bytes:
        unpacker = state.setdefault("unpacker", msgpack.Unpacker(raw=False))
        unpacker.feed(data)
        out = b""
        for msg in unpacker:
            if msg[0] != 0:  # notifications need no answer
                continue
            _, msgid, method, params = msg
            if not budget.take():
                continue
            try:
                reply = [1, msgid, None, scene.call(method, list(params))]
            except RpcError as exc:
                reply = [1, msgid, str(exc), None]
            except Exception as exc:
                reply = [1, msgid, f"{type(exc).__name__}: {exc}", None]
            out += msgpack.packb(reply, use_bin_type=True)
        return out
    return on_data


def main() -> None:
    args = arguments(("--flavour", {"choices": ("auto", *FLAVOURS), "default": "auto"}),
                     ("--server-version", {"type": int, "default": None}),
                     ("--min-client", {"type": int, "default": None}),
                     ("--camera-mount", {"type": float, "nargs": 3, "default": [0.0, 0.0, 0.0],
                                         "help": "camera position on the vehicle, body NED metres"}))
    flavour = installed_flavour() if args.flavour == "auto" else args.flavour
    scene = AirSimScene(RoomsLevel(args.seed), flavour, args.server_version, args.min_client, args.camera_mount)
    sock = listen(args.port)
    serve_forever(sock, handler(scene, Budget(args.fault, args.after)), silent=args.fault == "silent")


if __name__ == "__main__":
    main()
