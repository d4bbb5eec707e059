"""Procedural Rooms layouts from a seed, and the 2-D geometry the world needs: collisions and navigation.

Pure Python and numpy; MuJoCo only renders what this module lays out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from adapters.rooms.domains import SHAPES, DomainStyle

WALL_T = 0.1  # wall thickness, metres
DOOR = 1.3  # doorway width, metres
AGENT_RADIUS = 0.2
GRID = 0.1  # navigation grid resolution, metres


@dataclass(frozen=True)
class Wall:
    """An axis-aligned wall block, by its footprint corners."""

    x0: float
    y0: float
    x1: float
    y1: float


@dataclass(frozen=True)
class Thing:
    """One object standing on the floor."""

    shape: str
    colour: str
    rgb: tuple[float, float, float]
    x: float
    y: float
    radius: float  # footprint radius used for collisions and distance

    @property
    def name(self) -> str:
        return f"{self.colour} {self.shape}"

    def geom(self) -> tuple[tuple[float, float, float], float]:
        """MuJoCo geom size triple and the height of its centre above the floor."""
        r = self.radius
        sizes = {"box": ((r * 0.8, r * 0.8, r * 0.8), r * 0.8), "sphere": ((r, r, r), r),
                 "cylinder": ((r, r * 1.2, 0.0), r * 1.2), "capsule": ((r * 0.8, r * 0.7, 0.0), r * 1.5),
                 "ellipsoid": ((r, r * 0.75, r * 1.3), r * 1.3)}
        return sizes[self.shape]

    @property
    def centre_z(self) -> float:
        return self.geom()[1]


@dataclass(frozen=True)
class Layout:
    """A whole scene: arena half-size, walls (outer ones first), objects and which one is the target."""

    half: float
    walls: tuple[Wall, ...]
    things: tuple[Thing, ...]
    target: int

    @property
    def target_thing(self) -> Thing:
        return self.things[self.target]


def _circle_hits_wall(x: float, y: float, r: float, w: Wall) -> bool:
    cx, cy = min(max(x, w.x0), w.x1), min(max(y, w.y0), w.y1)
    return (x - cx) ** 2 + (y - cy) ** 2 < r * r


def blocked(layout: Layout, x: float, y: float, radius: float, skip: int | None = None) -> bool:
    """Whether a disc at (x, y) overlaps a wall or an object (object ``skip`` excepted), or leaves the arena."""
    if abs(x) > layout.half - radius or abs(y) > layout.half - radius:
        return True
    if any(_circle_hits_wall(x, y, radius, w) for w in layout.walls):
        return True
    return any(i != skip and (x - t.x) ** 2 + (y - t.y) ** 2 < (radius + t.radius) ** 2
               for i, t in enumerate(layout.things))


def _partitions(style: DomainStyle, rng: np.random.Generator) -> tuple[list[Wall], list[Wall]]:
    """Interior walls (each with one doorway, all parallel so every region stays connected) and doorway zones."""
    h, walls, doors = style.room_size / 2, [], []
    vertical = bool(rng.integers(2))
    n = style.partitions
    for k in range(n):
        base = -h + style.room_size * (k + 1) / (n + 1)
        c = base + rng.uniform(-0.4, 0.4)
        g = rng.uniform(-h + DOOR / 2 + 0.3, h - DOOR / 2 - 0.3)
        spans = [(-h, g - DOOR / 2), (g + DOOR / 2, h)]
        for a, b in spans:
            walls.append(Wall(c - WALL_T / 2, a, c + WALL_T / 2, b) if vertical
                         else Wall(a, c - WALL_T / 2, b, c + WALL_T / 2))
        doors.append(Wall(c - 0.8, g - DOOR / 2, c + 0.8, g + DOOR / 2) if vertical
                     else Wall(g - DOOR / 2, c - 0.8, g + DOOR / 2, c + 0.8))
    return walls, doors


def generate_layout(style: DomainStyle, rng: np.random.Generator) -> Layout:
    """A random scene in ``style``: outer walls, partitions with doorways, 4–8 objects of distinct colours."""
    h = style.room_size / 2
    outer = [Wall(-h - WALL_T, -h - WALL_T, h + WALL_T, -h), Wall(-h - WALL_T, h, h + WALL_T, h + WALL_T),
             Wall(-h - WALL_T, -h, -h, h), Wall(h, -h, h + WALL_T, h)]
    inner, doors = _partitions(style, rng)
    walls = tuple(outer + inner)
    n = int(rng.integers(4, 9))
    colours = rng.permutation(len(style.palette))[:n]
    things: list[Thing] = []
    probe = Layout(h, walls, (), 0)
    for ci in colours:
        colour, rgb = style.palette[int(ci)]
        shape = SHAPES[int(rng.integers(len(SHAPES)))]
        r = float(rng.uniform(0.16, 0.28))
        for _ in range(500):
            x, y = (float(v) for v in rng.uniform(-h + r + 0.4, h - r - 0.4, size=2))
            if blocked(probe, x, y, r + 0.45) or any(_circle_hits_wall(x, y, r + 0.3, d) for d in doors):
                continue
            if all((x - t.x) ** 2 + (y - t.y) ** 2 > (r + t.radius + 0.7) ** 2 for t in things):
                things.append(Thing(shape, colour, rgb, x, y, r))
                break
    return Layout(h, walls, tuple(things), int(rng.integers(len(things))))


def segment_clear(layout: Layout, p: tuple[float, float], q: tuple[float, float]) -> bool:
    """Whether the straight segment p→q crosses no wall (objects are lower than the walls and ignored)."""
    n = max(2, int(math.dist(p, q) / 0.05))
    xs, ys = np.linspace(p[0], q[0], n), np.linspace(p[1], q[1], n)
    return not any(np.any((xs >= w.x0) & (xs <= w.x1) & (ys >= w.y0) & (ys <= w.y1)) for w in layout.walls)


class NavField:
    """Shortest walking distance to the target over a grid; privileged guidance for the oracle."""

    def __init__(self, layout: Layout, clearance: float = AGENT_RADIUS + 0.15) -> None:
        self.layout = layout
        self.n = int(math.ceil(2 * layout.half / GRID))
        self.centres = -layout.half + GRID * (np.arange(self.n) + 0.5)
        x, y = np.meshgrid(self.centres, self.centres, indexing="ij")
        free = (np.abs(x) < layout.half - clearance) & (np.abs(y) < layout.half - clearance)
        for w in layout.walls:
            cx, cy = np.clip(x, w.x0, w.x1), np.clip(y, w.y0, w.y1)
            free &= (x - cx) ** 2 + (y - cy) ** 2 >= clearance ** 2
        for i, t in enumerate(layout.things):
            if i != layout.target:
                free &= (x - t.x) ** 2 + (y - t.y) ** 2 >= (clearance + t.radius) ** 2
        target = layout.target_thing
        reached = free & (np.hypot(x - target.x, y - target.y) <= target.radius + clearance + 0.25)
        dist = np.where(reached, 0.0, np.inf)
        frontier, k = reached, 0
        unseen = free & ~reached
        while frontier.any():  # breadth-first wavefront over 8 neighbours: a 3x3 dilation per ring, done as a
            k += 1  # 3x1 then a 1x3 one (the same cells, half the array operations)
            rows = frontier.copy()
            rows[1:] |= frontier[:-1]
            rows[:-1] |= frontier[1:]
            grown = rows.copy()
            grown[:, 1:] |= rows[:, :-1]
            grown[:, :-1] |= rows[:, 1:]
            frontier = grown & unseen
            unseen &= ~frontier
            dist[frontier] = k
        self.dist, self.free = dist, free
        # The steepest-descent neighbour of every cell (the first minimum of its 3x3 window, row by row), computed
        # for the whole grid at once, so following a path is list lookups rather than a numpy call per cell.
        padded = np.pad(dist, 1, constant_values=np.inf)
        window = np.stack([padded[1 + di: 1 + di + self.n, 1 + dj: 1 + dj + self.n]
                           for di in (-1, 0, 1) for dj in (-1, 0, 1)])
        best = window.argmin(0)
        ii, jj = np.meshgrid(np.arange(self.n), np.arange(self.n), indexing="ij")
        self._next = ((ii + best // 3 - 1).tolist(), (jj + best % 3 - 1).tolist())
        self._dist, self._free = dist.tolist(), free.tolist()
        self._waypoints: dict[tuple[int, int, int], tuple[float, float]] = {}  # a pure function of the cell: memoised

    def _cell(self, x: float, y: float) -> tuple[int, int]:
        clip = lambda v: min(self.n - 1, max(0, int((v + self.layout.half) / GRID)))  # noqa: E731
        return clip(x), clip(y)

    def _clear(self, a: tuple[int, int], b: tuple[int, int]) -> bool:
        """Whether the straight line between two cells stays on free cells."""
        n = 2 * max(abs(b[0] - a[0]), abs(b[1] - a[1])) + 1
        if n == 1:
            return self._free[a[0]][a[1]]
        # the cells np.rint(np.linspace(a, b, n)) visits (same float steps, round half to even), without numpy's
        # per-call cost on a few dozen points
        si, sj, free = (b[0] - a[0]) / (n - 1), (b[1] - a[1]) / (n - 1), self._free
        return all(free[round(k * si + a[0])][round(k * sj + a[1])] for k in range(n - 1)) and free[b[0]][b[1]]

    def waypoint(self, x: float, y: float, lookahead: int = 40) -> tuple[float, float]:
        """The farthest point of the shortest path (up to ``lookahead`` cells) in straight view of (x, y)'s cell
        (computed once per cell: the agent stays in one for several steps)."""
        key = (*self._cell(x, y), lookahead)
        found = self._waypoints.get(key)
        if found is None:
            found = self._waypoints[key] = self._waypoint(*key)
        return found

    def _waypoint(self, i: int, j: int, lookahead: int) -> tuple[float, float]:
        t = self.layout.target_thing
        if not np.isfinite(self.dist[i, j]):  # pressed into an inflated wall: start from the best nearby cell
            win = self.dist[max(0, i - 3): i + 4, max(0, j - 3): j + 4]
            if not np.isfinite(win).any():
                return t.x, t.y
            a, b = np.unravel_index(np.argmin(win), win.shape)
            i, j = max(0, i - 3) + int(a), max(0, j - 3) + int(b)
        path, (down_i, down_j), dist = [(i, j)], self._next, self._dist
        while len(path) <= lookahead and dist[i][j] > 0:
            i, j = down_i[i][j], down_j[i][j]
            path.append((i, j))
        if self.dist[path[-1]] == 0 and self._clear(path[0], path[-1]):
            return t.x, t.y
        lo, hi = 0, len(path) - 1  # binary search for the farthest cell in view
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if self._clear(path[0], path[mid]) else (lo, mid - 1)
        ci, cj = path[max(lo, min(2, len(path) - 1))]
        return float(self.centres[ci]), float(self.centres[cj])
