"""Shared types of crossview: what adapters, policies, the runner and the store exchange.

All are frozen dataclasses over numpy arrays, so a value can be handed between components without defensive copies.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.errors import CrossviewError


class Interaction(enum.IntEnum):
    """What the agent must do with the target; values are ROCKET's interaction ids."""

    NONE = -1
    HUNT = 0
    MINE = 2
    INTERACT = 3
    CRAFT = 4
    SWITCH = 5
    APPROACH = 6

    @classmethod
    def parse(cls, value: str | int | Interaction) -> Interaction:
        """Accept a name (any case) or a ROCKET id; raise a one-line error naming the allowed values."""
        if isinstance(value, Interaction):
            return value
        if isinstance(value, str):
            try:
                return cls[value.strip().upper()]
            except KeyError:
                pass
        elif isinstance(value, (int, np.integer)):
            try:
                return cls(int(value))
            except ValueError:
                pass
        allowed = ", ".join(m.name.lower() for m in cls if m is not cls.NONE)
        raise CrossviewError(f"unknown interaction {value!r}: use one of {allowed}")


class Status(str, enum.Enum):
    """How an episode ended."""

    SUCCESS = "success"
    FAILURE = "failure"
    TIMEOUT = "timeout"
    ENV_ERROR = "env_error"
    POLICY_ERROR = "policy_error"
    ABORTED = "aborted"  # cut short (an emergency stop, an interrupted sweep): re-run when the sweep resumes
    UNJUDGED = "unjudged"  # ran to its end, but nobody could judge it (success None): counted, never scored


SPLITS = ("train", "heldout")
DIFFICULTIES = ("easy", "hard")


@dataclass(frozen=True)
class Observation:
    """What a policy sees at one step: first-person colour, optional metric depth, time since reset."""

    rgb: np.ndarray  # uint8 H x W x 3
    depth: np.ndarray | None = None  # float32 H x W, metres
    t: float = 0.0


@dataclass(frozen=True)
class CrossViewGoal:
    """The task as ROCKET receives it: a view of the scene from elsewhere, the target's mask in it, the interaction."""

    image: np.ndarray  # uint8 H x W x 3
    mask: np.ndarray  # bool H x W
    interaction: Interaction

    @classmethod
    def null(cls, height: int, width: int) -> CrossViewGoal:
        """The null goal used for classifier-free guidance: zero image, empty mask, interaction NONE."""
        return cls(np.zeros((height, width, 3), np.uint8), np.zeros((height, width), bool), Interaction.NONE)


class Modality(str, enum.Enum):
    """How a task is given to the agent: a cross-view goal (image + mask), words, or a demonstration clip."""

    CROSS_VIEW = "cross_view"
    LANGUAGE = "language"
    VIDEO = "video"

    @classmethod
    def parse(cls, value: str | Modality) -> Modality:
        """Accept a modality or its name; raise a one-line error naming the allowed values."""
        try:
            return cls(value if isinstance(value, Modality) else str(value).strip().lower())
        except ValueError:
            raise CrossviewError(f"unknown goal modality {value!r}: use one of "
                                 f"{', '.join(m.value for m in cls)}") from None


ALL_MODALITIES = tuple(Modality)


@dataclass(frozen=True)
class TargetAttributes:
    """The structured facts an instruction was written from (what a grounded text encoder may read instead).

    ``room`` says where the target stands relative to the agent's start: ``"same"`` (its room), ``"other"``
    (another room) or ``""`` where the world has no rooms. Backends fill what they know; the rest stays empty.
    """

    name: str  # e.g. "red box", "diamond_ore", "chair"
    interaction: Interaction
    colour: str = ""
    shape: str = ""
    room: str = ""


@dataclass(frozen=True)
class LanguageGoal:
    """The task in words. ``phrasing`` names the template that wrote it (``"train/2"``, ``"heldout/0"``,
    ``"task-file"``): instructions of the ``heldout`` phrasing set never appear in training data."""

    instruction: str
    interaction: Interaction
    target: TargetAttributes | None = None
    phrasing: str = ""

    @classmethod
    def null(cls) -> LanguageGoal:
        """The null goal for classifier-free guidance: the empty instruction, interaction NONE."""
        return cls("", Interaction.NONE)


@dataclass(frozen=True)
class VideoGoal:
    """A short clip (uint8 T x H x W x 3) of the target being reached, seen from another viewpoint than the
    agent's start; ``masks`` (bool T x H x W) mark the target in each frame where the backend knows it."""

    frames: np.ndarray
    interaction: Interaction
    masks: np.ndarray | None = None
    fps: float = 10.0

    def __post_init__(self) -> None:
        f = self.frames
        if f.dtype != np.uint8 or f.ndim != 4 or f.shape[3] != 3 or f.shape[0] < 1:
            raise CrossviewError(f"video goal frames must be uint8 T x H x W x 3 with T >= 1, got {f.dtype} {f.shape}")
        if self.masks is not None and (self.masks.dtype != bool or self.masks.shape != f.shape[:3]):
            raise CrossviewError(f"video goal masks must be bool T x H x W matching the frames, got "
                                 f"{self.masks.dtype} {self.masks.shape}")

    @classmethod
    def null(cls, height: int, width: int, length: int = 1) -> VideoGoal:
        """The null goal for classifier-free guidance: black frames, empty masks, interaction NONE."""
        return cls(np.zeros((length, height, width, 3), np.uint8), Interaction.NONE,
                   np.zeros((length, height, width), bool))


@dataclass(frozen=True)
class Goal:
    """One task in every modality an adapter could give it. Policies that accept only cross-view goals keep
    receiving a plain ``CrossViewGoal``; the others receive a ``Goal`` holding just the episode's modality."""

    cross_view: CrossViewGoal | None = None
    language: LanguageGoal | None = None
    video: VideoGoal | None = None

    @property
    def modalities(self) -> tuple[Modality, ...]:
        """The modalities this goal carries, in ``Modality`` order."""
        return tuple(m for m in Modality if getattr(self, m.value) is not None)

    @property
    def interaction(self) -> Interaction:
        """The interaction, from whichever modality is present (NONE for an empty goal)."""
        for m in Modality:
            part = getattr(self, m.value)
            if part is not None:
                return part.interaction
        return Interaction.NONE

    def only(self, modality: Modality | str) -> Goal:
        """This goal with only ``modality`` kept; a one-line error when it does not carry it."""
        m = Modality.parse(modality)
        part = getattr(self, m.value)
        if part is None:
            have = ", ".join(x.value for x in self.modalities) or "nothing"
            raise CrossviewError(f"the goal has no {m.value} modality (it carries {have})")
        return Goal(**{m.value: part})

    @classmethod
    def of(cls, value: CrossViewGoal | Goal) -> Goal:
        """A ``Goal`` from what an adapter's ``reset`` returned (a bare ``CrossViewGoal`` or a ``Goal``)."""
        if isinstance(value, Goal):
            return value
        if isinstance(value, CrossViewGoal):
            return cls(cross_view=value)
        raise CrossviewError(f"a goal must be CrossViewGoal or Goal, got {type(value).__name__}")

    @classmethod
    def for_task(cls, task_goal: str, cross_view: CrossViewGoal, language: LanguageGoal | None = None,
                 video: VideoGoal | None = None) -> CrossViewGoal | Goal:
        """What an adapter's ``reset`` returns for a task whose ``TaskSpec.goal`` is ``task_goal``: the plain
        ``CrossViewGoal`` for a cross-view task (the unchanged path), else a ``Goal`` with every part given."""
        if Modality.parse(task_goal) is Modality.CROSS_VIEW:
            return cross_view
        return cls(cross_view, language, video)

    @classmethod
    def null(cls, modality: Modality | str, height: int, width: int) -> Goal:
        """The null goal of one modality (classifier-free guidance)."""
        m = Modality.parse(modality)
        part = {Modality.CROSS_VIEW: lambda: CrossViewGoal.null(height, width), Modality.LANGUAGE: LanguageGoal.null,
                Modality.VIDEO: lambda: VideoGoal.null(height, width)}[m]()
        return cls(**{m.value: part})


@dataclass(frozen=True)
class PrivilegedFacts:
    """Simulator facts a scripted expert (the oracle) needs; never shown to a learning policy.

    Units and frame, whatever the backend's own: metres, one right-handed world frame with x and y on the ground
    and z up. ``yaw`` is in degrees, 0 facing +x, positive turning right (clockwise seen from above, so a point at
    bearing ``-degrees(atan2(dy, dx))`` is straight ahead); ``pitch`` is in degrees, positive looking down — the
    same senses as ``Action.camera``. An adapter that publishes these declares ``AdapterInfo.privileged_facts``.
    """

    pose: tuple[float, float, float, float, float]  # agent eye x, y, z (m), yaw, pitch (deg)
    target_pos: tuple[float, float, float]  # the point to reach or act on (m)
    waypoint: tuple[float, float]  # next ground point (x, y) of a walkable path to the target (m)
    distance: float  # from the agent to the target's surface (m); success is judged against it
    success_radius: float  # metres
    target_centred: bool  # the target is in the middle of the view and unoccluded (acting on it would hit it)
    target_visible: bool = True

    def __post_init__(self) -> None:
        for name, size in (("pose", 5), ("target_pos", 3), ("waypoint", 2)):
            value = getattr(self, name)
            if len(value) != size or not all(np.isfinite(float(v)) for v in value):
                raise CrossviewError(f"privileged facts: {name} must be {size} finite numbers, got {value!r}")
            object.__setattr__(self, name, tuple(float(v) for v in value))
        for name in ("distance", "success_radius"):
            value = float(getattr(self, name))
            if not np.isfinite(value) or value < 0:
                raise CrossviewError(f"privileged facts: {name} must be a finite number >= 0 metres, got {value!r}")
            object.__setattr__(self, name, value)
        object.__setattr__(self, "target_centred", bool(self.target_centred))
        object.__setattr__(self, "target_visible", bool(self.target_visible))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/msgpack-able values (tuples as lists)."""
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
                for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PrivilegedFacts:
        """The inverse of ``to_dict``; one-line CrossviewError for missing, unknown or malformed fields."""
        if not isinstance(data, Mapping):
            raise CrossviewError("privileged facts must be a map")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise CrossviewError(f"privileged facts: unknown field(s) {sorted(unknown)}")
        try:
            return cls(**data)
        except (TypeError, ValueError) as exc:
            raise CrossviewError(f"privileged facts: {exc}") from None


@dataclass(frozen=True)
class StepInfo:
    """What an adapter reports beside each observation, as named fields the harness reads.

    ``distance`` (metres to the target, stored as the episode's final distance), ``target`` (the target's name),
    ``episode_return`` (the backend's own reward sum, where it has one), ``score`` (partial credit in [0, 1] where a
    task defines it, e.g. UnrealZoo's rescue: 0.5 for picking up plus 0.5 for delivering) and ``provenance``
    (JSON-serialisable facts about the episode, such as camera intrinsics or level versions, stored with it) go to
    the store. ``privileged`` goes only to privileged policies. ``extra`` is free-form and read by nobody in the
    harness (debugging, plugin-specific facts).
    """

    target: str = ""
    distance: float | None = None
    episode_return: float | None = None
    score: float | None = None
    privileged: PrivilegedFacts | None = None
    provenance: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.privileged is not None and not isinstance(self.privileged, PrivilegedFacts):
            raise CrossviewError(f"StepInfo.privileged must be PrivilegedFacts or None, got "
                                 f"{type(self.privileged).__name__}")
        for name in ("distance", "episode_return", "score"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, float(value))
        if self.score is not None and not 0.0 <= self.score <= 1.0:
            raise CrossviewError(f"StepInfo.score must lie in [0, 1], got {self.score}")


BUTTONS = ("forward", "back", "left", "right", "jump", "sneak", "sprint", "attack", "use")
CAMERA_FIELDS = ("pitch", "yaw")
ACTION_FIELDS = BUTTONS + CAMERA_FIELDS


@dataclass(frozen=True)
class Action:
    """The common action space, Minecraft's: nine buttons and a camera turn in degrees.

    ``camera = (pitch, yaw)``; positive pitch looks down and positive yaw turns right, as in Minecraft.
    """

    forward: bool = False
    back: bool = False
    left: bool = False
    right: bool = False
    jump: bool = False
    sneak: bool = False
    sprint: bool = False
    attack: bool = False
    use: bool = False
    camera: tuple[float, float] = (0.0, 0.0)

    @property
    def pitch(self) -> float:
        return float(self.camera[0])

    @property
    def yaw(self) -> float:
        return float(self.camera[1])

    def without(self, fields: tuple[str, ...] | frozenset[str]) -> Action:
        """This action with the named fields (buttons, ``pitch`` or ``yaw``) set to their neutral value."""
        if not fields or not any(getattr(self, f, False) for f in fields):  # nothing to neutralise (common case)
            return self
        changes: dict[str, Any] = {f: False for f in fields if f in BUTTONS}
        if "pitch" in fields or "yaw" in fields:
            changes["camera"] = (0.0 if "pitch" in fields else self.pitch, 0.0 if "yaw" in fields else self.yaw)
        return dataclasses.replace(self, **changes)

    def buttons_array(self) -> np.ndarray:
        """The buttons as uint8[9] in ``BUTTONS`` order."""
        return np.array([getattr(self, b) for b in BUTTONS], np.uint8)

    @classmethod
    def from_arrays(cls, buttons: Any, camera: Any) -> Action:
        """Build from a 9-vector of buttons (``BUTTONS`` order) and a (pitch, yaw) pair."""
        b = np.asarray(buttons).reshape(-1)
        c = np.asarray(camera, np.float64).reshape(-1)
        if b.shape != (len(BUTTONS),) or c.shape != (2,):
            raise CrossviewError(
                f"action arrays must be buttons[{len(BUTTONS)}] and camera[2], got {b.shape}, {c.shape}")
        return cls(*(bool(x) for x in b), camera=(float(c[0]), float(c[1])))

    def to_dict(self) -> dict[str, Any]:
        return {**{b: bool(getattr(self, b)) for b in BUTTONS}, "camera": [self.pitch, self.yaw]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Action:
        unknown = set(data) - set(BUTTONS) - {"camera"}
        if unknown:
            raise CrossviewError(f"unknown action field(s) {sorted(unknown)}: allowed are {', '.join(ACTION_FIELDS)}")
        cam = data.get("camera", (0.0, 0.0))
        return cls(**{b: bool(data.get(b, False)) for b in BUTTONS}, camera=(float(cam[0]), float(cam[1])))


NOOP = Action()


@dataclass(frozen=True)
class TaskSpec:
    """Everything needed to replay one episode exactly (with the adapter's options)."""

    adapter: str
    domain: str
    seed: int
    interaction: Interaction
    target: str = ""
    difficulty: str = "easy"
    split: str = "train"
    max_steps: int = 200
    success_radius: float = 1.0
    params: Mapping[str, Any] = field(default_factory=dict)  # adapter-specific, JSON-serializable
    goal: str = Modality.CROSS_VIEW.value  # the modality the agent is given; adapters must include it

    def __post_init__(self) -> None:
        object.__setattr__(self, "goal", Modality.parse(self.goal).value)
        if self.split not in SPLITS:
            raise CrossviewError(f"task split {self.split!r} is not one of {', '.join(SPLITS)}")
        if self.max_steps < 1:
            raise CrossviewError(f"task max_steps must be >= 1, got {self.max_steps}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["interaction"] = self.interaction.name.lower()
        d["params"] = dict(self.params)
        if self.goal == Modality.CROSS_VIEW.value:  # the default is left out, so ids of older runs stay the same
            del d["goal"]
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskSpec:
        d = dict(data)
        d["interaction"] = Interaction.parse(d["interaction"])
        return cls(**d)


@dataclass(frozen=True)
class EpisodeRecord:
    """One finished episode, as the store keeps it."""

    episode_id: str
    policy: str
    checkpoint_sha256: str
    checkpoint_step: int | None
    adapter: str
    domain: str
    interaction: str
    target: str
    difficulty: str
    split: str
    role: str  # "source" or "zeroshot": whether the policy was trained in this world
    seed: int
    index: int
    status: Status
    success: bool | None
    steps: int
    episode_return: float
    final_distance: float | None
    wall_s: float
    video: str | None = None
    error: str | None = None
    attempts: int = 1
    provenance: str | None = None  # JSON the adapter gives per episode (camera intrinsics, level version, ...)
    score: float | None = None  # partial credit in [0, 1] where the task defines it (StepInfo.score)
    goal: str = Modality.CROSS_VIEW.value  # the goal modality the policy was given (pairs by task and seed)
    instruction: str | None = None  # the words a language goal gave

    def to_row(self) -> dict[str, Any]:
        row = dataclasses.asdict(self)
        row["status"] = self.status.value
        return row

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> EpisodeRecord:
        d = {f.name: row[f.name] for f in dataclasses.fields(cls) if f.name in row}  # older runs lack new columns
        d["status"] = Status(d["status"])
        if d["success"] is not None:
            d["success"] = bool(d["success"])
        return cls(**d)
