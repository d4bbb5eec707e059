"""Visual and structural styles of the Rooms world; a task's ``domain`` picks one.

The domains differ in every way a visuomotor policy can overfit to: floor and wall textures, lighting, object
palette, room size and partitions, and the camera's field of view. ``apartment`` is the default source domain.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass, replace

import numpy as np

from harness.errors import CrossviewError

RGB = tuple[float, float, float]


@dataclass(frozen=True)
class DomainStyle:
    """Everything that makes one Rooms domain look and lay out differently from another."""

    name: str
    room_size: float  # side of the square arena, metres
    partitions: int  # interior walls, each with one doorway
    fovy: float  # vertical field of view of the agent camera, degrees
    floor_rgb: tuple[RGB, RGB]  # two colours of the floor texture
    floor_builtin: str  # MuJoCo builtin texture: checker | gradient | flat
    floor_repeat: float
    wall_rgb: RGB
    sky_rgb: RGB
    light_rgb: RGB
    ambient: float
    palette: tuple[tuple[str, RGB], ...]  # named object colours, one per object at most
    wall_height: float = 2.0


APARTMENT = DomainStyle(
    name="apartment", room_size=7.0, partitions=1, fovy=70.0,
    floor_rgb=((0.80, 0.72, 0.60), (0.70, 0.62, 0.50)), floor_builtin="checker", floor_repeat=7.0,
    wall_rgb=(0.90, 0.88, 0.82), sky_rgb=(0.75, 0.85, 0.95), light_rgb=(0.85, 0.80, 0.70), ambient=0.35,
    palette=(("red", (0.85, 0.10, 0.10)), ("green", (0.10, 0.70, 0.15)), ("blue", (0.10, 0.25, 0.90)),
             ("yellow", (0.95, 0.85, 0.10)), ("purple", (0.55, 0.15, 0.75)), ("orange", (0.95, 0.50, 0.05)),
             ("cyan", (0.05, 0.80, 0.85)), ("black", (0.08, 0.08, 0.08))),
)

WAREHOUSE = DomainStyle(
    name="warehouse", room_size=9.0, partitions=2, fovy=90.0,
    floor_rgb=((0.30, 0.32, 0.35), (0.22, 0.23, 0.25)), floor_builtin="gradient", floor_repeat=3.0,
    wall_rgb=(0.45, 0.50, 0.55), sky_rgb=(0.10, 0.10, 0.15), light_rgb=(0.55, 0.65, 0.85), ambient=0.15,
    palette=(("crimson", (0.60, 0.05, 0.20)), ("lime", (0.55, 0.95, 0.20)), ("navy", (0.05, 0.05, 0.45)),
             ("gold", (0.85, 0.65, 0.15)), ("pink", (0.95, 0.45, 0.70)), ("brown", (0.45, 0.25, 0.10)),
             ("teal", (0.05, 0.50, 0.45)), ("white", (0.95, 0.95, 0.95))),
)

DOMAINS: dict[str, DomainStyle] = {d.name: d for d in (APARTMENT, WAREHOUSE)}
SHAPES = ("box", "sphere", "cylinder", "capsule", "ellipsoid")


def get_domain(name: str) -> DomainStyle:
    """The style of domain ``name``, or a one-line error listing the domains."""
    try:
        return DOMAINS[name]
    except KeyError:
        raise CrossviewError(f"unknown rooms domain {name!r}: use one of {', '.join(DOMAINS)}") from None


APPEARANCES = ("domain", "randomized")
FLOOR_TEXTURES = ("checker", "gradient", "flat")


def _jitter(rgb: RGB, rng: np.random.Generator, hue: float, sat: tuple[float, float],
            val: tuple[float, float]) -> RGB:
    """``rgb`` with its hue shifted by up to ±``hue`` and saturation and value scaled within the given ranges."""
    h, s, v = colorsys.rgb_to_hsv(*rgb)
    h = (h + rng.uniform(-hue, hue)) % 1.0
    s = float(np.clip(s * rng.uniform(*sat), 0.0, 1.0))
    v = float(np.clip(v * rng.uniform(*val), 0.02, 1.0))
    return tuple(float(c) for c in colorsys.hsv_to_rgb(h, s, v))  # type: ignore[return-value]


def _any_colour(rng: np.random.Generator, lo: float = 0.05, hi: float = 0.95) -> RGB:
    return tuple(float(c) for c in rng.uniform(lo, hi, 3))  # type: ignore[return-value]


def randomized(style: DomainStyle, rng: np.random.Generator) -> DomainStyle:
    """``style`` with its appearance drawn anew (domain randomization, Tobin et al. 2017), its layout kept.

    Drawn: floor texture kind, colours and repeat; wall, sky and light colours; ambient light; the camera's field
    of view (60–95°). Each object colour keeps its name, its hue within ±0.04 and its saturation and brightness
    within 0.55–1.1×, so an instruction's colour word still names what is drawn. Room size, partitions and shapes
    are the domain's. Only for training data: a domain's own look is what a sweep measures."""
    a = _any_colour(rng)
    floor = (a, _jitter(a, rng, 0.05, (0.5, 1.2), (0.6, 0.95)))
    light = _jitter((0.8, 0.8, 0.8), rng, 0.5, (0.0, 1.0), (0.6, 1.2))
    light = tuple(float(c) for c in np.clip(np.add(light, rng.uniform(-0.2, 0.2, 3)), 0.3, 1.0))
    palette = tuple((name, _jitter(rgb, rng, 0.04, (0.55, 1.1), (0.55, 1.1))) for name, rgb in style.palette)
    return replace(
        style, name=f"{style.name}~random", fovy=float(rng.uniform(60.0, 95.0)), floor_rgb=floor,
        floor_builtin=FLOOR_TEXTURES[int(rng.integers(len(FLOOR_TEXTURES)))],
        floor_repeat=float(rng.uniform(2.0, 8.0)), wall_rgb=_any_colour(rng, 0.2, 0.95),
        sky_rgb=_any_colour(rng, 0.0, 1.0), light_rgb=light,  # type: ignore[arg-type]
        ambient=float(rng.uniform(0.1, 0.5)), palette=palette)
