"""A procedural ViZDoom map per seed: one room of random size, surfaces and light, a target object, distractors,
the agent's start and the goal camera's pose, written as a UDMF text map inside a PWAD.

UDMF maps need no node lumps: the engine builds nodes for text maps itself
(Farama-Foundation/ViZDoom:src/vizdoom/src/p_setup.cpp:3797, "regular nodes are not supported for text maps").
Things use Doom editor numbers from Farama-Foundation/ViZDoom:src/vizdoom/wadsrc/static/mapinfo/doomitems.txt
(lines 26-44, 109-110) and their radius/height from .../actors/doom/doomdecorations.txt (e.g. TallRedColumn:84-88).
A map unit is 1/32 m (the Doom player, 56 units tall: .../actors/doom/doomplayer.txt:10-11).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np

UNIT_M = 1.0 / 32.0  # metres per map unit
EYE_UNITS = 41.0  # the player's view height (ViZDoom reports it as VIEW_HEIGHT)
# editor number -> (actor class, radius, height) in map units
OBJECTS = {
    32: ("TallRedColumn", 16, 52), 30: ("TallGreenColumn", 16, 52), 33: ("ShortRedColumn", 16, 40),
    31: ("ShortGreenColumn", 16, 40), 46: ("RedTorch", 16, 68), 44: ("BlueTorch", 16, 68),
    45: ("GreenTorch", 16, 68), 48: ("TechPillar", 16, 128), 2028: ("Column", 16, 48),
}
TRAIN_TARGETS = (32, 30, 46, 48)
HELDOUT_TARGETS = (33, 31, 44, 2028)
WALLS = ("STARTAN2", "STARTAN3", "BROWN1", "BROWN96", "GRAY1", "GRAY4", "BRICK1", "BRICK7", "STONE2", "STONE3",
         "CEMENT1", "TEKGREN2", "METAL1", "WOOD1", "ICKWALL1", "PIPE2")
FLOORS = ("FLOOR4_8", "FLOOR0_1", "FLOOR5_1", "FLAT1", "FLAT5", "FLAT20", "RROCK09", "GRASS1", "FLOOR7_1", "MFLR8_1")
CEILINGS = ("CEIL3_5", "CEIL5_1", "CEIL1_1", "FLAT1", "FLAT20")
CLEARANCE = 40.0  # map units kept free around the walked and viewed lines to the target


@dataclass(frozen=True)
class Thing:
    kind: int
    x: float
    y: float

    @property
    def name(self) -> str:
        return OBJECTS[self.kind][0]

    @property
    def radius(self) -> float:
        return float(OBJECTS[self.kind][1])

    @property
    def height(self) -> float:
        return float(OBJECTS[self.kind][2])


@dataclass(frozen=True)
class Layout:
    """One episode's map, in map units (x east, y north; angles counter-clockwise from east, as Doom's)."""

    width: float
    depth: float
    ceiling: float
    light: int
    wall: str
    floor: str
    ceiling_flat: str
    target: Thing
    distractors: tuple[Thing, ...]
    start: tuple[float, float, float]  # x, y, Doom angle (degrees)
    goal: tuple[float, float, float]


def _segment_distance(p: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    ax, ay = a
    dx, dy = b[0] - ax, b[1] - ay
    t = max(0.0, min(1.0, ((p[0] - ax) * dx + (p[1] - ay) * dy) / max(dx * dx + dy * dy, 1e-9)))
    return math.hypot(p[0] - ax - t * dx, p[1] - ay - t * dy)


def _pose_near(rng: np.random.Generator, target: Thing, lo: float, hi: float, w: float, d: float,
               spread: float) -> tuple[float, float, float]:
    for _ in range(200):
        r, a = rng.uniform(lo, hi), rng.uniform(-math.pi, math.pi)
        x, y = target.x + r * math.cos(a), target.y + r * math.sin(a)
        if 48 <= x <= w - 48 and 48 <= y <= d - 48:
            facing = math.degrees(math.atan2(target.y - y, target.x - x)) + rng.uniform(-spread, spread)
            return x, y, facing % 360.0
    raise RuntimeError("no pose fits the room")


def generate(seed: int, split: str) -> Layout:
    """The map of ``seed``; held-out maps use other target objects."""
    rng = np.random.default_rng([seed & 0xFFFFFFFF, 0 if split == "train" else 1, 41])
    w, d = float(rng.integers(20, 36) * 32), float(rng.integers(16, 30) * 32)
    kinds = TRAIN_TARGETS if split == "train" else HELDOUT_TARGETS
    kind = int(rng.choice(kinds))
    target = Thing(kind, float(rng.uniform(96, w - 96)), float(rng.uniform(96, d - 96)))
    start = _pose_near(rng, target, 96, 200, w, d, 25.0)  # 3-6 m away, the target roughly ahead
    goal = _pose_near(rng, target, 80, 160, w, d, 12.0)
    while math.hypot(goal[0] - start[0], goal[1] - start[1]) < 48:
        goal = _pose_near(rng, target, 80, 160, w, d, 12.0)
    others = [k for k in OBJECTS if OBJECTS[k][0] != OBJECTS[kind][0]]
    distractors: list[Thing] = []
    for _ in range(60):
        if len(distractors) >= 4:
            break
        t = Thing(int(rng.choice(others)), float(rng.uniform(48, w - 48)), float(rng.uniform(48, d - 48)))
        keep_clear = [(start[:2], (target.x, target.y)), (goal[:2], (target.x, target.y))]
        if any(_segment_distance((t.x, t.y), a, b) < CLEARANCE + t.radius for a, b in keep_clear):
            continue
        if any(math.hypot(t.x - o.x, t.y - o.y) < 64 for o in [target, *distractors]):
            continue
        distractors.append(t)
    return Layout(w, d, float(rng.integers(4, 7) * 32), int(rng.integers(150, 230)), str(rng.choice(WALLS)),
                  str(rng.choice(FLOORS)), str(rng.choice(CEILINGS)), target, tuple(distractors), start, goal)


def textmap(layout: Layout, player: tuple[float, float, float]) -> str:
    """The UDMF TEXTMAP of ``layout`` with the player starting at ``player`` (x, y, angle)."""
    w, d = layout.width, layout.depth
    every = "skill1 = true; skill2 = true; skill3 = true; skill4 = true; skill5 = true; single = true;"
    out = ['namespace = "zdoom";']
    out += [f"vertex {{ x = {x:.1f}; y = {y:.1f}; }}" for x, y in ((0, 0), (w, 0), (w, d), (0, d))]
    out.append(f'sector {{ texturefloor = "{layout.floor}"; textureceiling = "{layout.ceiling_flat}"; '
               f"heightfloor = 0; heightceiling = {int(layout.ceiling)}; lightlevel = {layout.light}; }}")
    # walls counter-clockwise seen from inside: each linedef's front (right-hand) side faces the room
    for k, (a, b) in enumerate(((0, 3), (3, 2), (2, 1), (1, 0))):
        out.append(f'sidedef {{ sector = 0; texturemiddle = "{layout.wall}"; }}')
        out.append(f"linedef {{ v1 = {a}; v2 = {b}; sidefront = {k}; blocking = true; }}")
    x, y, angle = player
    out.append(f"thing {{ x = {x:.1f}; y = {y:.1f}; angle = {int(round(angle)) % 360}; type = 1; {every} }}")
    for t in (layout.target, *layout.distractors):
        out.append(f"thing {{ x = {t.x:.1f}; y = {t.y:.1f}; type = {t.kind}; {every} }}")
    return "\n".join(out) + "\n"


def wad(maps: list[tuple[str, str]]) -> bytes:
    """A PWAD holding UDMF maps: per map a marker lump, TEXTMAP and ENDMAP."""
    lumps: list[tuple[str, bytes]] = []
    for name, text in maps:
        lumps += [(name, b""), ("TEXTMAP", text.encode()), ("ENDMAP", b"")]
    body, directory, offset = b"", b"", 12
    for name, data in lumps:
        directory += struct.pack("<ii8s", offset, len(data), name.encode())
        body += data
        offset += len(data)
    return struct.pack("<4sii", b"PWAD", len(lumps), offset) + body + directory
