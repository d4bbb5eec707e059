"""The Adapter protocol every backend implements, its capabilities, and the registry of adapters.

An adapter maps one backend's observations, controls and goals onto crossview's shared types (harness.spec).
Built-in adapters are listed below; third-party ones register through the ``crossview.adapters`` entry point
(``name = "package.module:Class"``). The gymnasium wrapper lives in ``adapters.gym_env``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from harness.errors import CrossviewError
from harness.plugins import construct
from harness.registry import PluginEntry, from_entry_points, import_path_entry, probe
from harness.spec import (
    ACTION_FIELDS,
    Action,
    CrossViewGoal,
    Goal,
    Interaction,
    Modality,
    Observation,
    StepInfo,
    TaskSpec,
)

ENTRY_POINT_GROUP = "crossview.adapters"


@dataclass(frozen=True)
class AdapterInfo:
    """What an adapter can do. The runner's pre-flight check (harness.compat), the harness's masking and the
    conformance checks (harness.conformance) read every field:

    - ``obs_size`` (height, width) of ``Observation.rgb`` and ``depth``; policies with a fixed input size must match.
    - ``has_depth``: ``Observation.depth`` is float32 metres, finite and > 0, else always None.
    - ``seedable``: the same TaskSpec (seed included) gives the same goal and frames for the same actions; the
      conformance check replays episodes to verify it (and the masking check needs it).
    - ``privileged_success``: ``step`` judges success itself (a bool every step); otherwise it may answer None
      (an operator or nobody judges).
    - ``control_hz``: steps per second; ``Observation.t`` advances by ``1 / control_hz`` per step on a seedable
      (simulated) adapter.
    - ``masked``: action fields (buttons, ``"pitch"``, ``"yaw"``) the backend cannot honour. The harness sets them
      to neutral before every ``step`` (``Action.without``), so adapters need not, and an adapter must not give
      them any effect (conformance checks it).
    - ``interactions``: those the adapter's tasks use; policies are checked against them.
    - ``domains``: every ``TaskSpec.domain`` the adapter's suites use (conformance checks it); empty = not declared.
    - ``privileged_facts``: ``StepInfo.privileged`` is a ``PrivilegedFacts`` after every reset and step (pose,
      target, waypoint, ...); privileged policies (the oracle) run only on adapters declaring it.
    - ``goals``: the goal modalities ``reset`` can give (harness.spec.Modality); a task whose ``TaskSpec.goal``
      is not cross-view gets a ``Goal`` carrying that modality. Sweeps asking for another are refused up front.
    """

    name: str
    obs_size: tuple[int, int]  # (height, width)
    has_depth: bool
    seedable: bool
    privileged_success: bool
    control_hz: float
    masked: frozenset[str] = frozenset()
    interactions: tuple[Interaction, ...] = (Interaction.APPROACH,)
    domains: tuple[str, ...] = ()
    privileged_facts: bool = False
    goals: tuple[Modality, ...] = (Modality.CROSS_VIEW,)

    def __post_init__(self) -> None:
        bad = set(self.masked) - set(ACTION_FIELDS)
        if bad:
            raise CrossviewError(f"adapter {self.name!r} masks unknown action field(s) {sorted(bad)}: "
                                 f"allowed are {', '.join(ACTION_FIELDS)}")
        if not self.control_hz > 0:
            raise CrossviewError(f"adapter {self.name!r}: control_hz must be > 0, got {self.control_hz}")
        object.__setattr__(self, "masked", frozenset(self.masked))
        object.__setattr__(self, "goals", tuple(Modality.parse(m) for m in self.goals))


@runtime_checkable
class Adapter(Protocol):
    """One backend behind crossview's interface (modelled on dm_env: reset / step / close).

    The full contract (units, frame, what each field means) is in docs/writing-plugins.md; ``crossview check
    adapter NAME`` verifies it.
    """

    info: AdapterInfo

    def tasks(self, suite: str) -> list[TaskSpec]:
        """Task templates of split ``suite`` ("train" or "heldout"); the runner replaces each seed per episode."""
        ...

    def reset(self, task: TaskSpec) -> tuple[Observation, CrossViewGoal | Goal, StepInfo]:
        """Start the episode described by ``task``; return the first view, the goal and the step facts.

        The goal is a ``CrossViewGoal`` for cross-view tasks (``task.goal``), else a ``Goal`` carrying the
        task's modality (and any others the adapter gives alongside)."""
        ...

    def step(self, action: Action) -> tuple[Observation, bool, bool | None, StepInfo]:
        """Apply one action; return (observation, done, success or None if nobody can judge, step facts)."""
        ...

    def close(self) -> None:
        """Release the simulator, renderer, sockets or devices (idempotent)."""
        ...


def step_info(value: Any, who: str) -> StepInfo:
    """``value`` if it is a StepInfo, else a one-line error naming the adapter that broke the contract."""
    if not isinstance(value, StepInfo):
        raise CrossviewError(f"adapter {who!r} returned {type(value).__name__} as its info: the contract is "
                             "harness.spec.StepInfo (see docs/writing-plugins.md)")
    return value


def masked_step(adapter: Adapter, action: Action) -> tuple[Observation, bool, bool | None, StepInfo]:
    """Step ``adapter`` with its masked fields neutralised: how the harness steps every adapter."""
    obs, done, success, info = adapter.step(action.without(adapter.info.masked))
    return obs, bool(done), success, step_info(info, adapter.info.name)


AdapterEntry = PluginEntry  # a registered adapter (harness.registry)

BUILTIN_ADAPTERS: dict[str, AdapterEntry] = {
    "rooms": AdapterEntry("rooms", "adapters.rooms.adapter:RoomsAdapter", "pip install mujoco", requires=("mujoco",)),
    "dmlab": AdapterEntry("dmlab", "adapters.dmlab:DMLabAdapter", "build DeepMind Lab from source (README)",
                          requires=("deepmind_lab",)),
    "airsim": AdapterEntry("airsim", "adapters.unreal.airsim:AirSimAdapter",
                           "pip install 'crossview-harness[cosysairsim]' or '[airsim]' (README)",
                           requires=("cosysairsim|airsim",)),
    "unrealcv": AdapterEntry("unrealcv", "adapters.unreal.unrealcv:UnrealCVAdapter",
                             "pip install 'crossview-harness[unreal]'", requires=("unrealcv",)),
    "realsense": AdapterEntry("realsense", "adapters.realsense.adapter:RigAdapter",
                              "pip install 'crossview-harness[realsense]' and apt-get install libusb-1.0-0",
                              requires=("pyrealsense2",)),
    # no ``requires``: MinecraftAdapter.check_available names every missing piece (MineStudio, its engine, Java 8,
    # xvfb-run) in one line, where an import probe would stop at the first
    "minecraft": AdapterEntry("minecraft", "adapters.minecraft.adapter:MinecraftAdapter",
                              "pip install 'crossview-harness[minecraft]' (README: engine, Java 8, xvfb)"),
}


def registry() -> dict[str, AdapterEntry]:
    """All adapters: the built-in ones plus every ``crossview.adapters`` entry point installed."""
    return {**from_entry_points(ENTRY_POINT_GROUP), **BUILTIN_ADAPTERS}


def get_entry(name: str) -> AdapterEntry:
    """The registry entry for ``name`` (or a ``module:Class`` path), else a one-line error listing the adapters."""
    entries = registry()
    if name not in entries and ":" in name:  # an unpackaged plugin, named by its import path
        return import_path_entry(name)
    if name not in entries:
        raise CrossviewError(f"unknown adapter {name!r}: known adapters are {', '.join(sorted(entries))} "
                             "(third-party adapters register through the 'crossview.adapters' entry point)")
    return entries[name]


def make_adapter(name: str, **options: Any) -> Adapter:
    """Construct adapter ``name`` with its options; fails with one line when the backend is missing."""
    return construct(f"adapter {name!r}", get_entry(name).load, options, Adapter)


def availability(name: str) -> tuple[bool, str]:
    """Whether adapter ``name`` can run here, and if not, what is wrong and what to install (one line)."""
    result = probe(get_entry(name))
    return result.ok, result.detail
