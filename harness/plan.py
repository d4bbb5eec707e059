"""The episode plan: policies (checkpoint series expanded) × environments × tasks × goal modalities × seeds ×
episodes.

Every episode has a content-hash id over what decides its outcome, and a seed derived from (adapter, task,
base seed, index) — never from a reset counter, nor from the goal modality — so re-running a sweep finds exactly
the same episodes, and one (task, seed) episode given as an image, in words or as a clip is the same scene.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import inspect
import json
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.base import AdapterInfo, get_entry, make_adapter
from harness.config import EnvironmentConfig, SweepConfig, resolve_options
from harness.errors import CrossviewError
from harness.spec import Interaction, TaskSpec
from policies.base import check_kind
from policies.series import expand_series


def _canon(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def _digest(obj: Any) -> str:
    return hashlib.sha256(_canon(obj).encode()).hexdigest()


@dataclass(frozen=True)
class PolicyRef:
    """A policy as the plan names it: one checkpoint of a series, or a checkpoint-free policy."""

    name: str
    kind: str
    options: dict[str, Any] = field(default_factory=dict)
    checkpoint: str | None = None
    sha256: str = ""
    step: int | None = None
    series: str = ""  # the config entry this checkpoint belongs to

    @functools.cached_property
    def key(self) -> str:
        """The policy's identity (read on every lockstep step: computed once)."""
        return _canon([self.kind, self.options, self.checkpoint, self.sha256])

    def build_options(self) -> dict[str, Any]:
        """Keyword arguments for the policy factory."""
        return {**self.options, **({"checkpoint": self.checkpoint} if self.checkpoint else {})}


@dataclass(frozen=True)
class EnvRef:
    """An adapter with its options and whether it is the policies' source world."""

    adapter: str
    options: dict[str, Any] = field(default_factory=dict)
    role: str = "zeroshot"
    label: str = ""  # the name results are stored under; set when one adapter runs with several option sets

    @property
    def key(self) -> str:
        return _canon([self.adapter, self.options])

    @property
    def name(self) -> str:
        """The adapter's name in results: ``rooms``, or ``rooms@1a2b3c`` (an options fingerprint) when a sweep
        uses one adapter with two option sets, so reports never merge them."""
        return self.label or self.adapter


@dataclass(frozen=True)
class Episode:
    """One planned episode."""

    episode_id: str
    policy: PolicyRef
    env: EnvRef
    task: TaskSpec
    index: int
    base_seed: int

    def to_wire(self) -> dict[str, Any]:
        return {"episode_id": self.episode_id, "policy": dataclasses.asdict(self.policy),
                "env": dataclasses.asdict(self.env), "task": self.task.to_dict(), "index": self.index,
                "base_seed": self.base_seed}

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> Episode:
        return cls(d["episode_id"], PolicyRef(**d["policy"]), EnvRef(**d["env"]), TaskSpec.from_dict(d["task"]),
                   d["index"], d["base_seed"])


def derive_seed(adapter: str, template: TaskSpec, base_seed: int, index: int) -> int:
    """A 31-bit episode seed from (adapter, task template, base seed, index); independent of the policy."""
    key = [adapter, template.domain, template.interaction.name, template.difficulty, template.split,
           template.target, base_seed, index]
    return int(_digest(key)[:8], 16) & 0x7FFFFFFF


def expand_policies(config: SweepConfig, base: str | Path = ".") -> list[PolicyRef]:
    """One PolicyRef per policy, and per checkpoint of each series (ordered by training step)."""
    refs = []
    for i, p in enumerate(config.policies):
        try:
            check_kind(p.kind)  # a kind named by import path must be a Policy class, checked before any call
        except CrossviewError as exc:
            raise CrossviewError(f"policies[{i}].kind: {exc}") from None
        if p.checkpoints is None:
            refs.append(PolicyRef(p.name, p.kind, dict(p.options), series=p.name))
            continue
        try:
            series = expand_series(p.checkpoints, base)
        except CrossviewError as exc:
            raise CrossviewError(f"policies[{i}].checkpoints: {exc}") from None
        for c in series:
            label = f"{p.name}@{c.step}" if c.step is not None else f"{p.name}@{Path(c.path).stem}"
            refs.append(PolicyRef(label, p.kind, dict(p.options), c.path, c.sha256, c.step, p.name))
    return refs


def _select(env: EnvironmentConfig, i: int, templates: list[TaskSpec]) -> list[TaskSpec]:
    """The suite's templates this environment entry asks for; errors name the key and the allowed values."""
    def pick(key: str, wanted: list[Any] | None, have: list[Any]) -> set[Any]:
        if wanted is None:
            return set(have)
        unknown = [w for w in wanted if w not in have]
        if unknown:
            allowed = ", ".join(str(h) for h in dict.fromkeys(have))
            raise CrossviewError(f"environments[{i}].{key}: {env.adapter} has no {unknown[0]!r}; allowed: {allowed}")
        return set(wanted)

    domains = pick("domains", env.domains, [t.domain for t in templates])
    kinds = pick("interactions", None if env.interactions is None else [Interaction.parse(x).name.lower()
                                                                          for x in env.interactions],
                 [t.interaction.name.lower() for t in templates])
    diffs = pick("difficulties", env.difficulties, [t.difficulty for t in templates])
    chosen = [t for t in templates if t.domain in domains and t.interaction.name.lower() in kinds
              and t.difficulty in diffs]
    if env.max_steps is not None:
        chosen = [dataclasses.replace(t, max_steps=env.max_steps) for t in chosen]
    return chosen


def bounded_options(adapter: str, options: dict[str, Any], reset: float, step: float) -> dict[str, Any]:
    """The options an adapter is built with. Where its constructor takes ``timeout`` (seconds per simulator
    request, as the Unreal routes do), the value given (or its default) is capped at half the sweep's shorter
    deadline, so a stalled simulator is reported by the adapter in words before the driver must kill its worker."""
    try:
        param = inspect.signature(get_entry(adapter).load()).parameters.get("timeout")
    except Exception:  # not importable here (the worker will say so) or no signature
        return options
    cap = 0.5 * min(reset, step)
    given = options.get("timeout", None if param is None else param.default)
    if isinstance(given, (int, float)) and not isinstance(given, bool) and given > cap:
        return {**options, "timeout": cap}
    return options


class Overdue(BaseException):
    """Raised in the main thread when a guarded call outlives its deadline (a BaseException, so that adapters'
    own ``except Exception`` handlers let it through)."""


@contextlib.contextmanager
def overdue_after(seconds: float) -> Iterator[None]:
    """Interrupt the block with ``Overdue`` after ``seconds`` (SIGALRM; in the main thread on POSIX, else a no-op,
    leaving the bound to the adapter's own timeouts)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise Overdue

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def environment_tasks(config: SweepConfig, base: str | Path = ".") -> list[tuple[EnvRef, list[TaskSpec], AdapterInfo]]:
    """Construct each adapter once to read its task suite and capabilities (validating its options); file options
    are resolved against the config's folder ``base``, as checkpoints are."""
    out = []
    seconds = config.timeouts.reset
    for i, env in enumerate(config.environments):
        options = resolve_options(dict(env.options), base)
        try:
            with overdue_after(seconds):
                adapter = make_adapter(env.adapter, **bounded_options(env.adapter, options, seconds,
                                                                      config.timeouts.step))
                try:
                    templates, info = adapter.tasks(env.suite), adapter.info
                finally:
                    adapter.close()
        except CrossviewError as exc:
            raise CrossviewError(f"environments[{i}]: {exc}") from None
        except Overdue:
            raise CrossviewError(f"environments[{i}]: adapter {env.adapter!r} did not start within {seconds:g} s "
                                 "(timeouts.reset): is its simulator running and answering?") from None
        out.append((EnvRef(env.adapter, options, env.role), _select(env, i, templates), info))
    return out


def _label_option_sets(envs: list[tuple[EnvRef, list[TaskSpec], AdapterInfo]]
                       ) -> list[tuple[EnvRef, list[TaskSpec], AdapterInfo]]:
    """Give each option set of an adapter used with several its own label (name@options-fingerprint)."""
    keys: dict[str, set[str]] = {}
    for env, _, _ in envs:
        keys.setdefault(env.adapter, set()).add(env.key)
    return [(dataclasses.replace(env, label=f"{env.adapter}@{_digest(env.options)[:6]}")
             if len(keys[env.adapter]) > 1 else env, templates, info) for env, templates, info in envs]


@dataclass(frozen=True)
class Plan:
    """The episodes of a sweep, and the capabilities of each adapter they use (by ``EnvRef.key``)."""

    episodes: list[Episode]
    adapters: dict[str, AdapterInfo]

    def __len__(self) -> int:
        return len(self.episodes)


MAX_PLAN = 1_000_000  # episodes in one sweep


def build_plan(config: SweepConfig, base: str | Path = ".") -> Plan:
    """Every episode of the sweep, ordered policy by policy so workers can batch one policy's slots."""
    policies = expand_policies(config, base)
    by_name = {p.name: p for p in config.policies}
    envs = _label_option_sets(environment_tasks(config, base))
    episodes_per_env = [e.episodes for e in config.environments]
    size = len(policies) * len(config.seeds) * sum(len(t) * n for (_, t, _), n in zip(envs, episodes_per_env))
    if size > MAX_PLAN:
        raise CrossviewError(f"the plan has {size:,} episodes ({len(policies)} policies/checkpoints x "
                             f"{len(config.seeds)} seeds x tasks x episodes), more than {MAX_PLAN:,}: lower "
                             "episodes, seeds or checkpoints, or split the sweep into several configs")
    plan: list[Episode] = []
    for policy in policies:
        for (env, templates, _), n, env_config in zip(envs, episodes_per_env, config.environments):
            for template in templates:
                for goal in config.goals_of(by_name[policy.series], env_config):
                    for base_seed in config.seeds:
                        for index in range(n):
                            seed = derive_seed(env.adapter, template, base_seed, index)
                            task = dataclasses.replace(template, seed=seed, goal=goal)
                            eid = _digest([policy.name, policy.key, env.key, task.to_dict(), index, base_seed])[:20]
                            plan.append(Episode(eid, policy, env, task, index, base_seed))
    ids = {e.episode_id for e in plan}
    if len(ids) != len(plan):
        raise CrossviewError("the plan repeats an episode: two environment entries select the same tasks")
    return Plan(plan, {env.key: info for env, _, info in envs})
