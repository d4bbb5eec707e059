"""A local AirSim server for tests: msgpack-rpc over TCP, as the AirSim plugin speaks it, with a Rooms scene behind.

Requests are ``[0, msgid, method, params]`` and answers ``[1, msgid, error, result]`` (the msgpack-rpc spec, as
rpclib serves it to microsoft/AirSim's PythonClient); structs travel as maps of field names (PythonClient/airsim/
types.py:6-18 MsgpackMixin); images are uncompressed H×W×3 BGR in msgpack ``bin``. Orientations are quaternions in
NED with AirSim's Euler convention (PythonClient/airsim/utils.py:55-97: yaw about z down, pitch about y east, nose
up positive). The client libraries call ``simGetImages`` with (requests, vehicle) in Cosys-AirSim and (requests,
vehicle, external) in AirSim (client.py:295); both are served. Frames are rendered for the vehicle pose and
camera pitch, so they change as the client moves. Run as ``python -m tests.servers.airsim_server --port 0``: it
prints ``PORT <n>`` once listening on 127.0.0.1.
"""

from __future__ import annotations

import math
from typing import Any

import msgpack
import numpy as np

from tests.servers.loop import Budget, arguments, listen, serve_forever
from tests.servers.scene import RoomsLevel

SCENE, DEPTH_PLANAR, DEPTH_PERSPECTIVE, SEGMENTATION = 0, 1, 2, 5


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

    def __init__(self, level: RoomsLevel, server_version: int, min_client: int) -> None:
        self.level, self.server_version, self.min_client = level, server_version, min_client
        self.pos = [0.0, 0.0, -0.7]
        self.yaw, self.cam_pitch = 0.0, 0.0  # degrees; pitch > 0 is nose up
        self.ids = {name: 0 for name in level.names}

    def _look(self) -> None:  # NED -> Rooms: y and z flip, heading and pitch change sign
        self.level.look(self.pos[0], -self.pos[1], -self.pos[2], -math.radians(self.yaw), -math.radians(self.cam_pitch))

    def image(self, request: dict) -> dict:
        self._look()
        kind = int(request["image_type"])
        h, w = self.level.size
        response = {"image_data_uint8": b"", "image_data_float": [], "camera_position": self.vector(self.pos),
                    "camera_orientation": self.quat(self.yaw, self.cam_pitch), "time_stamp": 0, "message": "",
                    "pixels_as_float": False, "compress": False, "width": w, "height": h, "image_type": kind}
        if kind == SCENE:
            response["image_data_uint8"] = self.level.rgb()[..., ::-1].tobytes()
        elif kind in (DEPTH_PLANAR, DEPTH_PERSPECTIVE):
            response["image_data_float"] = self.level.depth().ravel().tolist()
            response["pixels_as_float"] = True
        elif kind == SEGMENTATION:
            idx = self.level.object_ids()
            colours = np.array([palette(self.ids[n]) for n in self.level.names] + [(0, 0, 0)], np.uint8)
            response["image_data_uint8"] = colours[idx][..., ::-1].tobytes()
        else:
            raise ValueError(f"image type {kind} is not served by this test server")
        return response

    @staticmethod
    def vector(v: list[float]) -> dict:
        return {"x_val": float(v[0]), "y_val": float(v[1]), "z_val": float(v[2])}

    @staticmethod
    def quat(yaw: float, pitch: float) -> dict:
        w, x, y, z = quaternion(yaw, pitch)
        return {"w_val": w, "x_val": x, "y_val": y, "z_val": z}

    def call(self, method: str, params: list[Any]) -> Any:
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
        if method == "simSetCameraPose":
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
        if method == "setCarControls":  # a simple car: throttle 1 = 1 m/s and steering 1 = 30°, for 0.25 s
            controls = params[0]
            self.yaw += 30.0 * float(controls.get("steering", 0.0))
            r = math.radians(self.yaw)
            self.pos[0] += 0.25 * float(controls.get("throttle", 0.0)) * math.cos(r)
            self.pos[1] += 0.25 * float(controls.get("throttle", 0.0)) * math.sin(r)
            return None
        if method == "moveByVelocityBodyFrame":
            vx, vy, _, duration = (float(v) for v in params[:4])
            yaw_mode = params[5]
            if yaw_mode.get("is_rate", True):
                self.yaw += float(yaw_mode["yaw_or_rate"]) * duration
            r = math.radians(self.yaw)
            self.pos[0] += (vx * math.cos(r) - vy * math.sin(r)) * duration
            self.pos[1] += (vx * math.sin(r) + vy * math.cos(r)) * duration
            return None
        raise KeyError(f"rpc method {method} is not served by this test server")


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
            except Exception as exc:
                reply = [1, msgid, f"{type(exc).__name__}: {exc}", None]
            out += msgpack.packb(reply, use_bin_type=True)
        return out
    return on_data


def main() -> None:
    args = arguments(("--server-version", {"type": int, "default": 4}), ("--min-client", {"type": int, "default": 1}))
    scene = AirSimScene(RoomsLevel(args.seed), args.server_version, args.min_client)
    sock = listen(args.port)
    serve_forever(sock, handler(scene, Budget(args.fault, args.after)), silent=args.fault == "silent")


if __name__ == "__main__":
    main()
