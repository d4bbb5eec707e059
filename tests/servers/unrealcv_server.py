"""A local UnrealCV server for tests: UnrealCV's framed TCP protocol with a Rooms scene behind.

Written from unrealcv/unrealcv's server source (Source/UnrealCV/Private/...): each message is ``[uint32 magic
0x9E2B83C1][uint32 length][payload]`` little-endian (Server/TcpServer.cpp:10-105); one client at a time — the
listener serves a connection to its end before it accepts the next, which waits unanswered (TcpServer.cpp:170-215);
the greeting is ``connected to <project>`` (TcpServer.cpp:183); requests are ``<id>:<command>`` and replies
``<id>:<body>`` (Server/UnrealcvServer.cpp:198, 270-278); success without a body is ``ok`` and errors are ``error
<message>`` (Server/ExecStatus.cpp:104-105), an unknown command ``error No handler found for URI '<uri>'``
(Server/CommandDispatcher.cpp:199). Served: ``vget /unrealcv/version|status|help`` (Commands/PluginHandler.cpp:98-110;
the version is the plugin descriptor's VersionName, no ``v``: ``1.0.1`` on branches 5.2 and 4.27-stable,
``0.3.10`` on 4.27, UnrealCV.uplugin), ``vget /objects`` (names each followed by a space,
ObjectHandler.cpp:233-240), ``vget /object/NAME/color`` (``(R=..,G=..,B=..,A=..)``, ObjectHandler.cpp:305-312),
``vset /camera/0/location x y z``, ``/rotation pitch yaw roll``, ``/size w h``, ``vget /camera/0/lit png``,
``/object_mask png`` (RGBA PNG) and ``/depth npy`` (float32 H×W, centimetres) (Commands/CameraHandler.cpp:92-160,
289-360, 505-515, 730-850). Unreal's frame: centimetres, x forward, y right, z up, yaw clockwise from above, pitch
up. Run as ``python -m tests.servers.unrealcv_server --port 0``: it prints ``PORT <n>`` once listening on 127.0.0.1.
"""

from __future__ import annotations

import io
import math
import re
import struct

import imageio.v3 as iio
import numpy as np

from tests.servers.loop import Budget, arguments, listen, serve_forever
from tests.servers.scene import RoomsLevel

MAGIC = 0x9E2B83C1
# no plugin branch binds ``vget /unrealcv/commands`` (the 1.3 client's capability probe): it gets the dispatcher's error
COMMANDS = ["vget /unrealcv/version", "vget /unrealcv/status", "vget /objects",
            "vget /object/[str]/color", "vset /camera/[uint]/location [float] [float] [float]",
            "vset /camera/[uint]/rotation [float] [float] [float]", "vget /camera/[uint]/lit [str]",
            "vget /camera/[uint]/object_mask [str]", "vget /camera/[uint]/depth [str]",
            "vset /camera/[uint]/size [uint] [uint]", "vget /unrealcv/help"]


def colour(k: int) -> tuple[int, int, int]:
    return (37 * (k + 1)) % 256, (91 * (k + 3)) % 256, (151 * (k + 5)) % 256


class UnrealCVScene:
    def __init__(self, seed: int, version: str) -> None:
        self.seed, self.level, self.version = seed, RoomsLevel(seed), version
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
        if command == "vget /unrealcv/version":
            return self.version
        if command == "vget /unrealcv/status":
            return "Is Listening\nClient Connected\n9000\nConfiguration\n"
        if command == "vget /unrealcv/help":
            return "".join(f"{c}\n-\n" for c in COMMANDS)
        if command == "vget /objects":
            return "".join(f"{n} " for n in names)
        m = re.fullmatch(r"vget /object/(\S+)/color", command)
        if m:
            if m.group(1) not in names:
                return "error Cannot find object"
            r, g, b = colour(names.index(m.group(1)))
            return f"(R={r},G={g},B={b},A=255)"
        m = re.fullmatch(r"vset /camera/0/(location|rotation) (\S+) (\S+) (\S+)", command)
        if m:
            values = [float(v) for v in m.groups()[1:]]
            setattr(self, m.group(1), values)
            return "ok"
        m = re.fullmatch(r"vset /camera/0/size (\d+) (\d+)", command)
        if m:
            w, h = int(m.group(1)), int(m.group(2))
            if (h, w) != self.level.size:
                self.level.close()
                self.level = RoomsLevel(self.seed, size=(h, w))
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
        return f"error No handler found for URI '{command}'"


def frame(payload: bytes) -> bytes:
    return struct.pack("<II", MAGIC, len(payload)) + payload


REQUEST = re.compile(rb"(\d+):(.*)")  # Server/UnrealcvServer.cpp:23 MessageFormat, searched as FRegexMatcher does


def handler(scene: UnrealCVScene, budget: Budget):
    """Cut a connection's bytes into framed messages and answer each ``id:command`` with ``id:reply``. As the
    plugin does: a bad magic or an empty payload ends the connection (Server/TcpServer.cpp:81-93, 197-205), a
    payload without ``id:`` is dropped unanswered (UnrealcvServer.cpp:268-283), the id is echoed as parsed
    (``%d:``, UnrealcvServer.cpp:198, 275)."""
    def on_data(state: dict, data: bytes) -> bytes:
        buf = state.get("buf", b"") + data
        out = b""
        while len(buf) >= 8:
            magic, size = struct.unpack("<II", buf[:8])
            if magic != MAGIC or size == 0:
                raise ConnectionAbortedError("bad header")
            if len(buf) < 8 + size:
                break
            body, buf = buf[8:8 + size], buf[8 + size:]
            m = REQUEST.search(body)
            if m is None or not budget.take():
                continue
            reply = scene.handle(m.group(2).decode())
            out += frame(b"%d:" % int(m.group(1)) + (reply.encode() if isinstance(reply, str) else reply))
        state["buf"] = buf
        return out
    return on_data


def main() -> None:
    args = arguments(("--version", {"default": "1.0.1"}))
    scene = UnrealCVScene(args.seed, args.version)
    sock = listen(args.port)
    serve_forever(sock, handler(scene, Budget(args.fault, args.after)), greeting=frame(b"connected to RoomsLevel"),
                  single_client=True, silent=args.fault == "silent")


if __name__ == "__main__":
    main()
