"""The sweep configuration (``sweep.yaml``), validated with pydantic; every error names its key path.

    name: demo
    policies:
      - {name: oracle, kind: oracle}
      - {name: xview, kind: torch, checkpoints: checkpoints/xview, options: {device: cpu}}
    environments:
      - {adapter: rooms, role: source, domains: [apartment], interactions: [approach], episodes: 10}
      - {adapter: rooms, role: zeroshot, domains: [warehouse], interactions: [approach], episodes: 10}
    seeds: [0]
    goals: [cross_view, language]        # goal modalities: every (task, seed) episode runs under each
    workers: 2
    envs_per_worker: 4

A policy may narrow the goal axis with its own ``goals:`` (a language-only series, say), and an environment with
its own (an adapter that gives only cross-view goals); a policy runs in an environment under the goals both list.
Every goal a policy runs under must be one it accepts and one the adapter gives, else the sweep is refused before
it starts.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from harness.errors import CrossviewError
from harness.spec import Interaction, Modality
from harness.yamlsafe import load_yaml_file

MAX_NAME = 100
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
MAX_ERRORS_SHOWN = 8


def check_name(value: str) -> str:
    """A name that becomes a file or folder name: 1-100 of ``A-Za-z0-9_.-``, not starting with '.'.

    So no path separators, no ``..`` and no hidden names: a name can never point outside its folder.
    """
    if not isinstance(value, str) or not _NAME.fullmatch(value) or len(value) > MAX_NAME:
        shown = value if len(str(value)) <= 40 else f"{str(value)[:40]}... ({len(value)} characters)"
        raise ValueError(f"{shown!r} is not a valid name: use 1-{MAX_NAME} letters, digits, '_', '-' or '.', "
                         "not starting with '.' (it becomes a file or folder name)")
    return value


Name = Annotated[str, AfterValidator(check_name)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PolicyConfig(_Strict):
    """One policy, or a checkpoint series when ``checkpoints`` is a folder or a glob."""

    name: Name
    kind: str = Field(min_length=1, max_length=300)
    checkpoints: str | None = Field(default=None, max_length=4096)
    options: dict[str, Any] = Field(default_factory=dict)
    goals: list[str] | None = Field(default=None, min_length=1)  # None = the sweep's goals

    @field_validator("goals")
    @classmethod
    def _known_goals(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _modalities(value)


def _modalities(value: list[str]) -> list[str]:
    """Canonical modality names, each once, in the order given; unknown names fail naming the allowed ones."""
    try:
        return list(dict.fromkeys(Modality.parse(v).value for v in value))
    except CrossviewError as exc:  # a ValueError, so the message names the key path
        raise ValueError(str(exc)) from None


class EnvironmentConfig(_Strict):
    """One adapter with its options and the slice of its task suite to run."""

    adapter: str = Field(min_length=1, max_length=300)
    role: Literal["source", "zeroshot"] = "zeroshot"
    suite: Literal["train", "heldout"] = "train"
    domains: list[Annotated[str, Field(max_length=200)]] | None = Field(default=None, max_length=1000)  # None: all
    interactions: list[str] | None = Field(default=None, max_length=100)
    difficulties: list[Literal["easy", "hard"]] | None = None
    episodes: int = Field(default=10, ge=1, le=100_000)
    max_steps: int | None = Field(default=None, ge=1, le=1_000_000)
    options: dict[str, Any] = Field(default_factory=dict)
    goals: list[str] | None = Field(default=None, min_length=1)  # None = every goal a policy runs under

    @field_validator("goals")
    @classmethod
    def _known_goals(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _modalities(value)

    @field_validator("interactions")
    @classmethod
    def _known_interactions(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            for v in value:
                Interaction.parse(v)
        return value


class TimeoutConfig(_Strict):
    """Deadlines in seconds: one adapter reset, one lockstep step (policy call included; also the heartbeat a
    worker must keep while idle), worker and policy startup, and writing one episode's video and thumbnail."""

    reset: float = Field(default=60.0, gt=0, le=86_400)
    step: float = Field(default=30.0, gt=0, le=86_400)
    startup: float = Field(default=120.0, gt=0, le=86_400)
    media: float = Field(default=120.0, gt=0, le=86_400)


class VideoConfig(_Strict):
    """Which episodes get an MP4 (agent view beside the goal with its mask)."""

    mode: Literal["off", "all", "every", "failures"] = "off"
    every: int = Field(default=10, ge=1)
    fps: int = Field(default=10, ge=1, le=120)
    thumbnails: bool = True  # a small PNG per episode (last frame | goal) for the report's goal gallery

    @field_validator("mode", mode="before")
    @classmethod
    def _yaml_booleans(cls, value: Any) -> Any:
        """YAML 1.1 reads an unquoted ``off`` as false: take it as 'off'; ``on``/``yes``/``true`` are ambiguous."""
        if value is False:
            return "off"
        if value is True:
            raise ValueError("YAML reads unquoted on/yes/true as a boolean: write one of 'all', 'every', "
                             "'failures' or 'off'")
        return value


class RayConfig(_Strict):
    """Resources each Ray actor (one worker: its simulators, and its policy copy unless ``inference: shared``)
    asks the cluster for."""

    cpus_per_worker: float = Field(default=1.0, ge=0)
    gpus_per_worker: float = Field(default=0.0, ge=0)


class BatchingConfig(_Strict):
    """Shared inference (``inference: shared``): how many policy copies (processes, or Ray actors with ``executor:
    ray``), how each batches across workers, and what a Ray policy actor asks the cluster for."""

    copies: int = Field(default=1, ge=1, le=64)  # policy copies (one per device); workers spread over them
    max_batch: int = Field(default=64, ge=1, le=4096)  # env slots in one batched call at most
    max_wait_ms: float = Field(default=5.0, ge=0, le=10_000)  # how long a queued request waits for company
    # executor: ray only: what each policy copy's actor asks for. GPUs default (None) to 1 per copy when the
    # cluster has any GPU, else 0; the simulator actors then ask for none (ray.gpus_per_worker must stay 0)
    gpus_per_copy: float | None = Field(default=None, ge=0)
    cpus_per_copy: float = Field(default=1.0, ge=0)


class SweepConfig(_Strict):
    """A whole sweep: policies × environments × tasks × seeds, and how to run it."""

    name: Name = "sweep"
    policies: list[PolicyConfig] = Field(min_length=1, max_length=1000)
    environments: list[EnvironmentConfig] = Field(min_length=1, max_length=1000)
    seeds: list[Annotated[int, Field(ge=-(2**63), lt=2**63)]] = Field(default_factory=lambda: [0], min_length=1,
                                                                 max_length=10_000)
    goals: list[str] = Field(default_factory=lambda: [Modality.CROSS_VIEW.value], min_length=1)
    workers: int = Field(default=2, ge=1, le=256)
    envs_per_worker: int = Field(default=4, ge=1, le=64)
    executor: Literal["local", "ray"] = "local"
    inference: Literal["per_worker", "shared"] = "per_worker"  # a policy copy per worker, or one per device
    batching: BatchingConfig = Field(default_factory=BatchingConfig)
    ray: RayConfig = Field(default_factory=RayConfig)
    retries: int = Field(default=2, ge=0, le=20)
    timeouts: TimeoutConfig = Field(default_factory=TimeoutConfig)
    video: VideoConfig = Field(default_factory=VideoConfig)

    @field_validator("goals")
    @classmethod
    def _known_goals(cls, value: list[str]) -> list[str]:
        return _modalities(value)

    def goals_of(self, policy: PolicyConfig, env: EnvironmentConfig | None = None) -> list[str]:
        """The goal modalities ``policy`` runs under (its own list, else the sweep's), in ``env`` those of them the
        environment lists (an environment without ``goals`` takes all)."""
        goals = policy.goals if policy.goals is not None else self.goals
        return goals if env is None or env.goals is None else [g for g in goals if g in env.goals]

    @field_validator("video", mode="before")
    @classmethod
    def _video_off(cls, value: Any) -> Any:
        """``video: off`` (read by YAML as false) means no videos."""
        return {"mode": "off"} if value is False else value

    @model_validator(mode="after")
    def _gpus_with_shared(self) -> SweepConfig:
        if self.executor == "ray" and self.inference == "shared" and self.ray.gpus_per_worker > 0:
            raise ValueError("ray.gpus_per_worker: with inference: shared the policy actors hold the GPUs "
                             "(batching.gpus_per_copy) and simulator actors ask for none: set ray.gpus_per_worker: 0")
        return self

    @model_validator(mode="after")
    def _unique_names(self) -> SweepConfig:
        names = [p.name for p in self.policies]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"policy names must be unique, repeated: {', '.join(dupes)}")
        return self

    def fingerprint(self) -> str:
        """Hash of everything that decides which episodes exist (not how they are run)."""
        what = self.model_dump(include={"policies", "environments", "seeds", "goals"})
        if what["goals"] == [Modality.CROSS_VIEW.value]:  # the default: runs made before the goal axis match
            del what["goals"]
        for part in (*what["policies"], *what["environments"]):
            if part["goals"] is None:
                del part["goals"]
        return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]


def _known_keys() -> list[str]:
    """Every key any part of sweep.yaml accepts (for 'did you mean' hints)."""
    models = (PolicyConfig, EnvironmentConfig, TimeoutConfig, VideoConfig, RayConfig, BatchingConfig, SweepConfig)
    return sorted({k for m in models for k in m.model_fields})


def _describe(err: dict[str, Any], source: str | None = None) -> str:
    """One validation error as ``key.path: what is wrong`` (prefixed with ``source:`` when given)."""
    if source is not None:
        return f"{source}: {_describe(err)}"
    path = ""
    for part in err["loc"]:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    kind, msg = err["type"], err["msg"]
    if kind == "extra_forbidden":
        key = str(err["loc"][-1]) if err["loc"] else ""
        close = difflib.get_close_matches(key, _known_keys(), n=1)
        hint = f"did you mean {close[0]!r}?" if close else "check its spelling against the documentation of sweep.yaml"
        msg = f"unknown key ({hint})"
    elif kind == "missing":
        msg = "required key is missing"
    elif kind == "literal_error":
        msg = msg.replace("Input should be", "must be")
    elif kind == "value_error":
        msg = msg.removeprefix("Value error, ")
    return f"{path or 'top level'}: {' '.join(str(msg).split())[:300]}"


def parse_config(data: Any, source: str = "sweep config") -> SweepConfig:
    """Validate a loaded mapping; one-line CrossviewError naming every bad key path and what is allowed."""
    if not isinstance(data, dict):
        raise CrossviewError(f"{source}: the top level must be a mapping with keys policies, environments, ...")
    try:
        return SweepConfig.model_validate(data)
    except ValidationError as exc:
        errors = [_describe(e) for e in exc.errors()]
        shown = "; ".join(errors[:MAX_ERRORS_SHOWN])
        more = f"; and {len(errors) - MAX_ERRORS_SHOWN} more" if len(errors) > MAX_ERRORS_SHOWN else ""
        count = f"{len(errors)} errors: " if len(errors) > 1 else ""
        raise CrossviewError(f"{source}: {count}{shown}{more}") from None
    except CrossviewError as exc:
        raise CrossviewError(f"{source}: {exc}") from None


FILE_OPTIONS = ("tasks", "goals", "file")  # adapter options that name a file or folder


def config_path(value: str | Path, base: str | Path) -> Path:
    """A path written in a config, relative to the config's folder ``base`` unless absolute (or ``~``)."""
    p = Path(value).expanduser()
    return p if p.is_absolute() else Path(base) / p


def resolve_options(options: dict[str, Any], base: str | Path) -> dict[str, Any]:
    """Adapter options with the file options (``FILE_OPTIONS``) made relative to the config's folder."""
    return {k: str(config_path(v, base)) if k in FILE_OPTIONS and isinstance(v, str) and v else v
            for k, v in options.items()}


def read_yaml(path: str | Path, what: str = "config file") -> Any:
    """A YAML config file's content (size, aliases and duplicate keys bounded), its ``name`` defaulting to the
    file's stem; one-line errors."""
    p = Path(path)
    data = load_yaml_file(p, what)
    if isinstance(data, dict) and "name" not in data:
        data = {"name": p.stem, **data}
    return data


def load_config(path: str | Path) -> SweepConfig:
    """Read and validate ``sweep.yaml``; the run name defaults to the file's stem."""
    return parse_config(read_yaml(path), str(path))
