"""Visual and structural styles of the Rooms world; a task's ``domain`` picks one.

The domains differ in every way a visuomotor policy can overfit to: floor and wall textures, lighting, object
palette, room size and partitions, and the camera's field of view. ``apartment`` is the default source domain.
"""

from __future__ import annotations

from dataclasses import dataclass

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
