"""The Adapter protocol every backend implements, its capabilities, and the registry of adapters.

An adapter maps one backend's observations, controls and goals onto crossview's shared types (harness.spec).
Built-in adapters are listed below; third-party ones register through the ``crossview.adapters`` entry point
(``name = "package.module:Class"``). The gymnasium wrapper lives in ``adapters.gym_env``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Protocol, runtime_checkable

from harness.errors import BackendUnavailable, CrossviewError
from harness.plugins import construct, import_target
from harness.spec import Action, CrossViewGoal, Interaction, Observation, TaskSpec

ENTRY_POINT_GROUP = "crossview.adapters"


@dataclass(frozen=True)
class AdapterInfo:
    """What an adapter can do; the runner checks policies against it before any episode runs."""

    name: str
    obs_size: tuple[int, int]  # (height, width)
    has_depth: bool
    seedable: bool  # same TaskSpec gives the same frames
    privileged_success: bool  # success judged by the simulator (else by an operator, or None)
    control_hz: float
    masked: frozenset[str] = frozenset()  # action fields (buttons, "pitch", "yaw") this adapter ignores
    interactions: tuple[Interaction, ...] = (Interaction.APPROACH,)
    domains: tuple[str, ...] = ()


@runtime_checkable
class Adapter(Protocol):
    """One backend behind crossview's interface (modelled on dm_env: reset / step / close)."""

    info: AdapterInfo

    def tasks(self, suite: str) -> list[TaskSpec]:
        """Task templates of a suite (the seed of each is replaced per episode by the runner)."""
        ...

    def reset(self, task: TaskSpec) -> tuple[Observation, CrossViewGoal, dict[str, Any]]:
        """Start the episode described by ``task``; return the first view, the goal and privileged info."""
        ...

    def step(self, action: Action) -> tuple[Observation, bool, bool | None, dict[str, Any]]:
        """Apply one action; return (observation, done, success or None if nobody can judge, privileged info)."""
        ...

    def close(self) -> None:
        """Release the simulator, renderer, sockets or devices."""
        ...


@dataclass(frozen=True)
class AdapterEntry:
    """A registered adapter: where its class lives and how to make its backend available."""

    name: str
    target: str  # "module:Class"
    install: str = ""  # what to install when the backend is missing
    source: str = "builtin"
    _loader: Callable[[], type] | None = field(default=None, compare=False, repr=False)

    def load(self) -> type:
        """Import the adapter class."""
        return self._loader() if self._loader is not None else import_target(self.target)


BUILTIN_ADAPTERS: dict[str, AdapterEntry] = {
    "rooms": AdapterEntry("rooms", "adapters.rooms.adapter:RoomsAdapter", "pip install mujoco"),
    "dmlab": AdapterEntry("dmlab", "adapters.dmlab:DMLabAdapter", "build DeepMind Lab from source (README)"),
    "airsim": AdapterEntry("airsim", "adapters.unreal.airsim:AirSimAdapter",
                           "pip install 'crossview-harness[cosysairsim]' or '[airsim]' (README)"),
    "unrealcv": AdapterEntry("unrealcv", "adapters.unreal.unrealcv:UnrealCVAdapter",
                             "pip install 'crossview-harness[unreal]'"),
    "realsense": AdapterEntry("realsense", "adapters.realsense.adapter:RigAdapter",
                              "pip install 'crossview-harness[realsense]' and apt-get install libusb-1.0-0"),
    "minecraft": AdapterEntry("minecraft", "adapters.minecraft.adapter:MinecraftAdapter",
                              "pip install 'crossview-harness[minecraft]' (README: engine, Java 8, xvfb)"),
}


def registry() -> dict[str, AdapterEntry]:
    """All adapters: the built-in ones plus every ``crossview.adapters`` entry point installed."""
    entries = dict(BUILTIN_ADAPTERS)
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in entries:
            entries[ep.name] = AdapterEntry(ep.name, ep.value, source=ep.dist.name if ep.dist else "plugin",
                                            _loader=ep.load)
    return entries


def get_entry(name: str) -> AdapterEntry:
    """The registry entry for ``name`` (or a ``module:Class`` path), else a one-line error listing the adapters."""
    entries = registry()
    if name not in entries and ":" in name:  # an unpackaged plugin, named by its import path
        return AdapterEntry(name, name, source="import path")
    if name not in entries:
        raise CrossviewError(f"unknown adapter {name!r}: known adapters are {', '.join(sorted(entries))} "
                             "(third-party adapters register through the 'crossview.adapters' entry point)")
    return entries[name]


def make_adapter(name: str, **options: Any) -> Adapter:
    """Construct adapter ``name`` with its options; fails with one line when the backend is missing."""
    return construct(f"adapter {name!r}", get_entry(name).load, options, Adapter)


def availability(name: str) -> tuple[bool, str]:
    """Whether adapter ``name`` can run here, and if not, what to install (one line)."""
    entry = get_entry(name)
    try:
        cls = entry.load()
    except ImportError as exc:
        return False, f"{exc}; install: {entry.install or 'see the adapter documentation'}"
    check = getattr(cls, "check_available", None)
    if check is None:
        return True, "available"
    try:
        check()
    except BackendUnavailable as exc:
        return False, str(exc)
    return True, "available"
