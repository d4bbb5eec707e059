"""A local UnrealCV server for tests: UnrealCV's framed TCP protocol with a Rooms scene behind.

Each message is ``[uint32 magic 0x9E2B83C1][uint32 length][payload]``; the server greets with ``connected to
<name>``, requests are ``<id>:<command>`` and replies ``<id>:<body>`` in order. Served: ``vget
/unrealcv/commands|version|status``, ``vget /objects``, ``vget /object/NAME/color``, ``vset /camera/0/location x y
z``, ``vset /camera/0/rotation p y r``, ``vget /camera/0/lit png``, ``/object_mask png``, ``/depth npy``. Unreal's
frame: centimetres, x forward, y right, z up, yaw clockwise from above, pitch up. Run as
``python -m tests.servers.unrealcv_server --port 0``: it prints ``PORT <n>`` once listening on 127.0.0.1.
"""

from __future__ import annotations

import io
import math
import re
import struct

import imageio.v3 as iio
import numpy as np

from tests.servers.loop import arguments, listen, serve_forever
from tests.servers.scene import RoomsLevel

MAGIC = 0x9E2B83C1
COMMANDS = ["vget /unrealcv/commands", "vget /unrealcv/version", "vget /unrealcv/status", "vget /objects",
            "vget /object/[str]/color", "vset /camera/[uint]/location [float] [float] [float]",
            "vset /camera/[uint]/rotation [float] [float] [float]", "vget /camera/[uint]/lit [str]",
            "vget /camera/[uint]/object_mask [str]", "vget /camera/[uint]/depth [str]"]


def colour(k: int) -> tuple[int, int, int]:
    return (37 * (k + 1)) % 256, (91 * (k + 3)) % 256, (151 * (k + 5)) % 256


class UnrealCVScene:
    def __init__(self, level: RoomsLevel, version: str) -> None:
        self.level, self.version = level, version
        self.location, self.rotation = [0.0, 0.0, 70.0], [0.0, 0.0, 0.0]

    def _look(self) -> None:
        x, y, z = (v / 100.0 for v in self.location)
        pitch, yaw, _ = self.rotation
        self.level.look(x, -y, z, -math.radians(yaw), -math.radians(pitch))

    @staticmethod
    def _png(rgb: np.ndarray) -> bytes:
        rgba = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=2)
        return iio.imwrite("<bytes>", rgba, extension=".png")

    def handle(self, command: str) -> bytes | str:
        names = list(self.level.names)
        if command == "vget /unrealcv/commands":
            return "\n".join(COMMANDS)
        if command == "vget /unrealcv/version":
            return self.version
        if command == "vget /unrealcv/status":
            return "Is Listening\nClient Connected\n9000"
        if command == "vget /objects":
            return " ".join(names)
        m = re.fullmatch(r"vget /object/(\S+)/color", command)
        if m:
            if m.group(1) not in names:
                return f"error Can not find object {m.group(1)}"
            r, g, b = colour(names.index(m.group(1)))
            return f"(R={r},G={g},B={b},A=255)"
        m = re.fullmatch(r"vset /camera/0/(location|rotation) (\S+) (\S+) (\S+)", command)
        if m:
            values = [float(v) for v in m.groups()[1:]]
            setattr(self, m.group(1), values)
            return "ok"
        m = re.fullmatch(r"vget /camera/0/(lit|object_mask|depth) (png|npy)", command)
        if m:
            self._look()
            if m.group(1) == "lit":
                return self._png(self.level.rgb())
            if m.group(1) == "object_mask":
                ids = self.level.object_ids()
                table = np.array([colour(k) for k in range(len(names))] + [(0, 0, 0)], np.uint8)
                return self._png(table[ids])
            buf = io.BytesIO()
            np.save(buf, (self.level.depth() * 100.0).astype(np.float32))  # centimetres, as UnrealCV sends
            return buf.getvalue()
        return "error Can not find a handler for this request"


def frame(payload: bytes) -> bytes:
    return struct.pack("I", MAGIC) + struct.pack("I", len(payload)) + payload


def handler(scene: UnrealCVScene):
    """Cut a connection's bytes into framed messages and answer each ``id:command`` with ``id:reply``."""
    def on_data(state: dict, data: bytes) -> bytes:
        buf = state.get("buf", b"") + data
        out = b""
        while len(buf) >= 8:
            magic, size = struct.unpack("II", buf[:8])
            if magic != MAGIC:
                raise ConnectionError("bad magic")
            if len(buf) < 8 + size:
                break
            body, buf = buf[8:8 + size], buf[8 + size:]
            msg_id, _, command = body.partition(b":")
            reply = scene.handle(command.decode())
            out += frame(msg_id + b":" + (reply.encode() if isinstance(reply, str) else reply))
        state["buf"] = buf
        return out
    return on_data


def main() -> None:
    args = arguments(("--version", {"default": "v1.1.2"}))
    scene = UnrealCVScene(RoomsLevel(args.seed), args.version)
    sock = listen(args.port)
    serve_forever(sock, handler(scene), greeting=frame(b"connected to RoomsLevel"))


if __name__ == "__main__":
    main()
