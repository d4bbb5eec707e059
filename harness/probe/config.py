"""The probe configuration (``probe.yaml``), validated with pydantic like sweep configs.

    name: probe
    seed: 0
    sources:
      - {adapter: rooms, role: source, domains: [apartment], frames: 12}
      - {adapter: rooms, role: zeroshot, domains: [warehouse], frames: 12}
      - {adapter: realsense, frames: 4, options: {file: scene.db3, goals: goals/, operator: none}}
    tasks: [depth_order, relative_position, patch_reorder, patch_flip, patch_inpaint]
    per_task: 2                     # items per task per frame (fewer where no unambiguous item exists)
    answerers:
      - {name: random, kind: random}
      - {name: oracle, kind: depth-oracle}
      - {name: vlm, kind: openai, options: {base_url: "http://127.0.0.1:8000/v1", model: qwen2.5-vl,
                                            concurrency: 8, timeout_s: 60}}
      - {name: mine, kind: callable, options: {target: mypkg.probes:answer}}
    retries: 2                      # per frame and per answer, before it is stored as an error
    timeouts: {startup: 120, frame: 60}

Relative paths in source options ``file``, ``goals`` and ``tasks`` are taken from the config file's folder.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from harness.config import _describe, read_yaml
from harness.errors import CrossviewError
from harness.probe.items import TASKS
from harness.probe.options import GenOptions

PATH_OPTIONS = ("file", "goals", "tasks")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LookConfig(_Strict):
    """Camera moves after each reset (see harness.probe.frames.Look)."""

    steps: int = Field(default=1, ge=0, le=100)
    yaw: float = Field(default=30.0, ge=0, le=180)
    pitch: float = Field(default=15.0, ge=0, le=90)


class SourceConfig(_Strict):
    """One adapter (with its options) whose frames become probes."""

    adapter: str = Field(min_length=1)
    role: Literal["source", "zeroshot"] = "zeroshot"
    suite: Literal["train", "heldout"] = "train"
    domains: list[str] | None = None  # None = all the adapter has
    frames: int = Field(default=8, ge=1, le=100_000)
    optional: bool = False  # skip (with a note) when the backend is not installed here, instead of failing
    look: LookConfig = Field(default_factory=LookConfig)
    options: dict[str, Any] = Field(default_factory=dict)


class AnswererConfig(_Strict):
    """One answerer: ``random``, ``depth-oracle``, ``callable`` (options.target) or ``openai``."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    kind: Literal["random", "depth-oracle", "callable", "openai"]
    options: dict[str, Any] = Field(default_factory=dict)


class GenConfig(_Strict):
    """Generation thresholds (harness.probe.options.GenOptions documents each)."""

    depth_margin_m: float = Field(default=0.3, gt=0)
    position_margin_m: float = Field(default=0.2, gt=0)
    flatness: float = Field(default=0.08, gt=0, le=1)
    region_frac: float = Field(default=0.08, gt=0, le=0.5)
    max_depth_m: float = Field(default=20.0, gt=0)
    min_object_px: int = Field(default=40, ge=1)
    min_patch_diff: float = Field(default=4.0, ge=0)
    grid: int = Field(default=2, ge=2, le=4)
    tries: int = Field(default=60, ge=1, le=10_000)


class ProbeTimeouts(_Strict):
    """Deadlines in seconds: starting a source's adapter process (imports, simulator start), sampling one frame."""

    startup: float = Field(default=120.0, gt=0)
    frame: float = Field(default=60.0, gt=0)


class ProbeConfig(_Strict):
    """A whole probe run: sources × frames × tasks, and who answers."""

    name: str = Field(default="probe", pattern=r"^[A-Za-z0-9_.\-]+$")
    seed: int = 0
    sources: list[SourceConfig] = Field(min_length=1)
    tasks: list[str] = Field(default_factory=lambda: list(TASKS), min_length=1)
    per_task: int = Field(default=2, ge=1, le=100)
    generation: GenConfig = Field(default_factory=GenConfig)
    answerers: list[AnswererConfig] = Field(
        default_factory=lambda: [AnswererConfig(name="random", kind="random"),
                                 AnswererConfig(name="oracle", kind="depth-oracle")], min_length=1)
    retries: int = Field(default=2, ge=0, le=20)
    timeouts: ProbeTimeouts = Field(default_factory=ProbeTimeouts)
    gallery: int = Field(default=3, ge=0, le=100)  # items per world × task in the report's gallery

    @field_validator("tasks")
    @classmethod
    def _known_tasks(cls, value: list[str]) -> list[str]:
        bad = sorted(set(value) - set(TASKS))
        if bad:
            raise ValueError(f"unknown task(s) {', '.join(bad)}: use {', '.join(TASKS)}")
        return value

    @model_validator(mode="after")
    def _unique_names(self) -> ProbeConfig:
        names = [a.name for a in self.answerers]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"answerer names must be unique, repeated: {', '.join(dupes)}")
        return self

    def gen_options(self) -> GenOptions:
        return GenOptions(**self.generation.model_dump())

    def fingerprint(self) -> str:
        """Hash of everything that decides which items exist (not who answers them)."""
        what = self.model_dump(include={"seed", "sources", "tasks", "per_task", "generation"})
        return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]


def source_fingerprint(source: SourceConfig) -> str:
    """Hash of one source's adapter, options and suite: part of every frame key."""
    what = source.model_dump(include={"adapter", "options", "suite", "look"})
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _resolve_paths(data: dict[str, Any], base: Path) -> dict[str, Any]:
    for source in data.get("sources") or []:
        options = source.get("options") if isinstance(source, dict) else None
        if isinstance(options, dict):
            for key in PATH_OPTIONS:
                if isinstance(options.get(key), str) and not Path(options[key]).is_absolute():
                    options[key] = str((base / options[key]).resolve())
    return data


def parse_probe_config(data: Any, source: str = "probe config", base: Path | None = None) -> ProbeConfig:
    """Validate a loaded mapping; one-line CrossviewError naming the key path and what is allowed."""
    if not isinstance(data, dict):
        raise CrossviewError(f"{source}: the top level must be a mapping with keys sources, tasks, answerers, ...")
    if base is not None:
        data = _resolve_paths(data, base)
    try:
        return ProbeConfig.model_validate(data)
    except ValidationError as exc:
        raise CrossviewError(_describe(exc.errors()[0], source).replace("sweep.yaml", "probe.yaml")) from None


def load_probe_config(path: str | Path) -> ProbeConfig:
    """Read and validate ``probe.yaml``; the run name defaults to the file's stem."""
    return parse_probe_config(read_yaml(path, "probe config file"), str(path), Path(path).resolve().parent)
