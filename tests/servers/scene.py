"""A Rooms scene standing in for an Unreal level behind the local protocol servers: real rendered frames that
change with the camera pose, depth, per-object segmentation, and task suites written for it."""

from __future__ import annotations

import math

import numpy as np

from adapters.rooms.domains import DOMAINS
from adapters.rooms.layout import generate_layout
from adapters.rooms.render import SceneRenderer
from adapters.rooms.scene import World


class RoomsLevel:
    """A seeded Rooms layout; poses are in Rooms' frame (metres, z up, theta counter-clockwise, pitch down)."""

    def __init__(self, seed: int = 3, domain: str = "apartment", size: tuple[int, int] = (72, 96)) -> None:
        style = DOMAINS[domain]
        rng = np.random.default_rng(seed)
        self.layout = generate_layout(style, rng)
        self.world = World(style, *size)
        self.world.apply(self.layout, rng.uniform(0, 2 * math.pi, len(self.layout.things)))
        self.renderer = SceneRenderer(self.world.model, *size)
        self.size, self.fovy = size, style.fovy
        self.names = {f"thing{i}": gid for i, gid in enumerate(self.world.thing_ids[: len(self.layout.things)])}
        self.names.update({f"wall{i}": gid for i, gid in enumerate(self.world.wall_ids[: len(self.layout.walls)])})

    @property
    def target_name(self) -> str:
        return f"thing{self.layout.target}"

    def target_centre(self, index: int | None = None) -> tuple[float, float, float]:
        t = self.layout.things[self.layout.target if index is None else index]
        return t.x, t.y, t.centre_z

    def look(self, x: float, y: float, z: float, theta: float, pitch_down: float) -> None:
        self.world.set_camera("eye", (x, y, z), theta, pitch_down)

    def rgb(self) -> np.ndarray:
        return self.renderer.rgbd(self.world.data, self.world.eye_cam, depth=False)[0]

    def depth(self) -> np.ndarray:
        return self.renderer.rgbd(self.world.data, self.world.eye_cam, depth=True)[1]

    def range_depth(self) -> np.ndarray:
        """Distance from the camera centre to each pixel's point (metres): the planar depth stretched along each
        pixel's ray (a pinhole camera with vertical field of view ``fovy``)."""
        h, w = self.size
        f = (h / 2) / math.tan(math.radians(self.fovy) / 2)
        v, u = np.mgrid[0:h, 0:w].astype(np.float32)
        stretch = np.sqrt(1 + ((u + 0.5 - w / 2) / f) ** 2 + ((v + 0.5 - h / 2) / f) ** 2)
        return (self.depth() * stretch).astype(np.float32)

    def object_ids(self) -> np.ndarray:
        """Per-pixel object name index into ``list(self.names)`` (-1: floor, sky)."""
        geoms = self.renderer.segment(self.world.data, self.world.eye_cam)
        out = np.full(geoms.shape, -1, np.int32)
        for k, gid in enumerate(self.names.values()):
            out[geoms == gid] = k
        return out

    def goal_view(self, distance: float = 2.2, height: float = 1.4,
                  index: int | None = None) -> tuple[tuple[float, float, float], float, float]:
        """A pose (Rooms frame) that sees object ``index`` (default: the layout's target) from higher up:
        position, theta, pitch down (radians)."""
        index = self.layout.target if index is None else index
        tx, ty, tz = self.target_centre(index)
        for k in range(16):
            a = 2 * math.pi * k / 16
            x, y = tx + distance * math.cos(a), ty + distance * math.sin(a)
            theta = math.atan2(ty - y, tx - x)
            pitch = math.atan2(height - tz, distance)
            self.look(x, y, height, theta, pitch)
            if (self.object_ids() == list(self.names).index(f"thing{index}")).sum() > 20:
                return (x, y, height), theta, pitch
        raise RuntimeError(f"no goal view of thing{index} in this layout")

    def free_start(self, min_distance: float = 2.0, index: int | None = None,
                   seed: int = 0) -> tuple[float, float]:
        """A spot on the floor away from object ``index`` (default: the target) and from everything else."""
        from adapters.rooms.layout import blocked

        tx, ty, _ = self.target_centre(index)
        rng = np.random.default_rng(seed)
        for _ in range(1000):
            x, y = (float(v) for v in rng.uniform(-self.layout.half + 0.5, self.layout.half - 0.5, 2))
            if not blocked(self.layout, x, y, 0.4) and math.hypot(x - tx, y - ty) >= min_distance:
                return x, y
        raise RuntimeError("no free start")

    def path(self, start: tuple[float, float], index: int) -> list[tuple[float, float]]:
        """Ground points of a walkable path from ``start`` to object ``index`` (Rooms' navigation field), the
        object itself excluded."""
        import dataclasses

        from adapters.rooms.layout import NavField

        nav = NavField(dataclasses.replace(self.layout, target=index))
        t = self.layout.things[index]
        points, here = [], start
        for _ in range(20):
            nxt = nav.waypoint(*here)
            if math.hypot(nxt[0] - t.x, nxt[1] - t.y) < 1e-6:
                break
            points.append(nxt)
            here = nxt
        return points

    def close(self) -> None:
        self.renderer.close()
