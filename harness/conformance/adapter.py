"""The adapter contract, checked on a live adapter (``crossview check adapter NAME``; the project's tests call it).

Beyond types and shapes it checks behaviour: the goal mask sits on something that stands out from its
surroundings, the same seed replays the same episode and different seeds differ, masked action fields have no
effect, the oracle reaches the target where the adapter declares privileged facts, and ``close()`` gives back
file descriptors, threads and child processes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import threading
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from adapters.base import Adapter, AdapterInfo, make_adapter, masked_step, step_info
from harness.conformance.results import Report, Skip, run_checks
from harness.spec import (
    BUTTONS,
    SPLITS,
    Action,
    CrossViewGoal,
    Goal,
    Modality,
    Observation,
    PrivilegedFacts,
    StepInfo,
    TaskSpec,
)

SCRIPT = (Action(forward=True, camera=(2.0, 5.0)), Action(left=True), Action(camera=(-3.0, -20.0)),
          Action(forward=True, sprint=True))
ORACLE_EPISODES = 3
MIN_CONTRAST = 4.0  # mean colour difference (0..255) between the masked target and the ring around it


def _ring(mask: np.ndarray, width: int = 3) -> np.ndarray:
    grown = mask.copy()
    for _ in range(width):
        g = grown.copy()
        g[1:] |= grown[:-1]
        g[:-1] |= grown[1:]
        g[:, 1:] |= grown[:, :-1]
        g[:, :-1] |= grown[:, 1:]
        grown = g
    return grown & ~mask


def _children() -> set[tuple[int, str]]:
    """Live child processes of this one (pid, command), zombies excluded."""
    out = set()
    me = str(os.getpid())
    for pid in os.listdir("/proc") if os.path.isdir("/proc") else ():
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[-1].split()
            if fields[1] == me and fields[0] != "Z":
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    out.add((int(pid), f.read().replace(b"\0", b" ").decode(errors="replace").strip()[:80]))
        except (OSError, IndexError):
            continue
    return out


def _resources() -> tuple[int, int, set[tuple[int, str]]]:
    fds = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 0
    return fds, threading.active_count(), _children()


class AdapterChecks:
    """The checks of one adapter, sharing one instance (and building fresh ones where a check needs them)."""

    def __init__(self, name: str, options: dict[str, Any], make: Callable[[], Adapter] | None = None) -> None:
        self.name, self.options = name, dict(options)
        self.make = make or (lambda: make_adapter(name, **self.options))
        self.adapter: Adapter | None = None

    # ------------------------------------------------------------------ helpers
    @property
    def a(self) -> Adapter:
        assert self.adapter is not None
        return self.adapter

    @property
    def info(self) -> AdapterInfo:
        return self.a.info

    def templates(self) -> list[TaskSpec]:
        return self.a.tasks("train")

    def task(self, seed: int, template: TaskSpec | None = None) -> TaskSpec:
        return dataclasses.replace(template or self.templates()[0], seed=seed)

    def reset(self, task: TaskSpec) -> tuple[Observation, CrossViewGoal, StepInfo]:
        obs, goal, info = self.a.reset(task)
        return obs, goal, step_info(info, self.name)

    def rollout(self, task: TaskSpec, script: tuple[Action, ...] = SCRIPT, masked: bool = True) -> list[np.ndarray]:
        obs, goal, _ = self.reset(task)
        frames = [obs.rgb, goal.image, goal.mask]
        for action in script:
            out = masked_step(self.a, action) if masked else self.a.step(action)
            frames.append(out[0].rgb)
            if out[1]:
                break
        return frames

    def need_seedable(self, why: str) -> None:
        if not self.info.seedable:
            raise Skip(f"the adapter declares seedable=False; {why}")

    # ------------------------------------------------------------------ checks
    def construct(self) -> str:
        self.adapter = self.make()
        if not isinstance(self.adapter, Adapter):
            raise AssertionError(f"{type(self.adapter).__name__} lacks info/tasks/reset/step/close")
        if not isinstance(self.adapter.info, AdapterInfo):
            raise AssertionError("adapter.info must be an adapters.base.AdapterInfo")
        i = self.adapter.info
        flags = [f for f in ("has_depth", "seedable", "privileged_success", "privileged_facts") if getattr(i, f)]
        return f"{type(self.adapter).__name__} {i.obs_size[0]}x{i.obs_size[1]} @ {i.control_hz:g} Hz; " \
               f"{', '.join(flags) or 'no flags'}; masks {', '.join(sorted(i.masked)) or 'nothing'}"

    def tasks(self) -> str:
        counts = []
        for split in SPLITS:
            tasks = self.a.tasks(split)
            assert isinstance(tasks, list), f"tasks({split!r}) must return a list"
            if split == "train":
                assert tasks, "tasks('train') is empty: the train split needs at least one task"
            for t in tasks:
                assert isinstance(t, TaskSpec), f"tasks({split!r}) holds a {type(t).__name__}, not a TaskSpec"
                assert t.adapter == self.info.name, f"task adapter {t.adapter!r} is not info.name {self.info.name!r}"
                assert t.split == split, f"tasks({split!r}) returned a task of split {t.split!r}"
                assert TaskSpec.from_dict(t.to_dict()) == t, f"task {t.domain}/{t.target} does not round-trip"
                assert t.interaction in self.info.interactions, \
                    f"task interaction {t.interaction.name.lower()} is not in info.interactions"
                if self.info.domains:
                    assert t.domain in self.info.domains, f"task domain {t.domain!r} is not in info.domains"
            counts.append(f"{len(tasks)} {split}")
        return ", ".join(counts)

    def reset_and_step(self) -> str:
        h, w = self.info.obs_size
        obs, goal, info = self.reset(self.task(3))
        assert isinstance(goal, CrossViewGoal), "reset must return a CrossViewGoal"
        self._frame(obs, "reset", h, w)
        assert goal.image.dtype == np.uint8 and goal.image.ndim == 3 and goal.image.shape[2] == 3, \
            f"goal image must be uint8 HxWx3, got {goal.image.dtype} {goal.image.shape}"
        assert goal.mask.dtype == bool and goal.mask.shape == goal.image.shape[:2], \
            f"goal mask must be bool HxW matching the goal image, got {goal.mask.dtype} {goal.mask.shape}"
        assert goal.interaction in self.info.interactions, "goal interaction is not in info.interactions"
        self._info(info, "reset")
        out = masked_step(self.a, Action(forward=True))
        assert isinstance(out, tuple) and len(out) == 4, "step must return (observation, done, success, info)"
        obs2, done, success, info2 = out
        self._frame(obs2, "step", h, w)
        assert isinstance(done, bool), f"done must be a bool, got {type(done).__name__}"
        assert success is None or isinstance(success, (bool, np.bool_)), "success must be a bool or None"
        if self.info.privileged_success:
            assert success is not None, "privileged_success is declared but step answered success=None"
        self._info(info2, "step")
        if self.info.seedable:
            dt = obs2.t - obs.t
            assert math.isclose(dt, 1.0 / self.info.control_hz, rel_tol=0.05, abs_tol=1e-6), \
                f"Observation.t advanced {dt:.4g} s in one step; control_hz={self.info.control_hz} says " \
                f"{1 / self.info.control_hz:.4g} s"
        else:
            assert obs2.t >= obs.t, "Observation.t went backwards"
        return "types, shapes, depth and the time step hold"

    def _frame(self, obs: Observation, where: str, h: int, w: int) -> None:
        assert isinstance(obs, Observation), f"{where} must return an Observation"
        assert obs.rgb.dtype == np.uint8 and obs.rgb.shape == (h, w, 3), \
            f"{where}: rgb must be uint8 {h}x{w}x3 (info.obs_size), got {obs.rgb.dtype} {obs.rgb.shape}"
        if self.info.has_depth:
            d = obs.depth
            assert d is not None, f"{where}: has_depth is declared but depth is None"
            assert d.dtype == np.float32 and d.shape == (h, w), \
                f"{where}: depth must be float32 {h}x{w} metres, got {d.dtype} {d.shape}"
            assert np.isfinite(d).all() and (d > 0).all(), f"{where}: depth must be finite and > 0 metres"
        else:
            assert obs.depth is None, f"{where}: has_depth is False but depth is not None"

    def _info(self, info: StepInfo, where: str) -> None:
        if self.info.privileged_facts:
            assert isinstance(info.privileged, PrivilegedFacts), \
                f"{where}: privileged_facts is declared but StepInfo.privileged is {type(info.privileged).__name__}"
        else:
            assert info.privileged is None, f"{where}: StepInfo.privileged is set but privileged_facts is not declared"
        if info.distance is not None:
            assert math.isfinite(info.distance) and info.distance >= 0, f"{where}: distance must be finite metres"

    def goal_mask(self) -> str:
        fractions, contrasts = [], []
        for seed in (3, 4):
            obs, goal, _ = self.reset(self.task(seed))
            frac = float(goal.mask.mean())
            assert goal.mask.any(), f"seed {seed}: the goal mask is empty (it must mark the target)"
            assert frac < 0.9, f"seed {seed}: the goal mask covers {frac:.0%} of the image, not a target"
            inside = goal.image[goal.mask].reshape(-1, 3).astype(np.float64).mean(0)
            ring = _ring(goal.mask)
            if ring.any():
                around = goal.image[ring].reshape(-1, 3).astype(np.float64).mean(0)
                contrast = float(np.abs(inside - around).mean())
                assert contrast >= MIN_CONTRAST, \
                    f"seed {seed}: the masked pixels look like their surroundings (colour difference " \
                    f"{contrast:.1f}/255): the mask does not sit on the target"
                contrasts.append(contrast)
            fractions.append(frac)
            if self.info.seedable and obs.rgb.shape == goal.image.shape:
                assert not np.array_equal(obs.rgb, goal.image), \
                    f"seed {seed}: the goal image is the start view; it must be seen from another pose"
        return f"mask covers {min(fractions):.1%}..{max(fractions):.1%}; target/surroundings colour " \
               f"difference >= {min(contrasts, default=float('nan')):.0f}/255"

    def determinism(self) -> str:
        self.need_seedable("replays cannot be compared")
        task = self.task(11)
        first, second = self.rollout(task), self.rollout(task)
        parts = ["start view", "goal image", "goal mask"] + [f"step {k}" for k in range(1, len(first))]
        for part, a, b in zip(parts, first, second):
            assert a.shape == b.shape and np.array_equal(a, b), f"seed 11 replayed differently ({part})"
        other = self.rollout(self.task(12))
        if all(np.array_equal(a, b) for a, b in zip(first[:3], other[:3])):  # fully specified tasks are fine
            return "the same seed replays frame for frame (the seed does not change this adapter's episodes)"
        return "the same seed replays frame for frame; another seed gives another episode"

    def masking(self) -> str:
        masked = self.info.masked
        if not masked:
            return "nothing is masked"
        self.need_seedable("masked fields are compared across two replays")
        loud = Action(**{b: b in masked for b in BUTTONS},
                      camera=(7.0 if "pitch" in masked else 0.0, 9.0 if "yaw" in masked else 0.0))
        task = self.task(5)
        with_fields = self.rollout(task, (loud,) * 3, masked=False)
        without = self.rollout(task, (Action(),) * 3, masked=False)
        for k, (a, b) in enumerate(zip(with_fields, without)):
            assert np.array_equal(a, b), \
                f"masked field(s) {sorted(masked)} changed the view at step {k - 2}: honour them or unmask them"
        return f"{', '.join(sorted(masked))} have no effect, even sent to the adapter directly"

    def oracle(self) -> str:
        if not self.info.privileged_facts:
            raise Skip("the adapter does not declare privileged_facts")
        from policies.base import make_policy

        oracle = make_policy("oracle")
        templates = self.templates()
        picks: list[TaskSpec] = []
        for kind in dict.fromkeys(t.interaction for t in templates):  # one easy task per interaction
            same = [t for t in templates if t.interaction == kind]
            picks.append(next((t for t in same if t.difficulty == "easy"), same[0]))
        picks = (picks * ORACLE_EPISODES)[:max(ORACLE_EPISODES, len(picks))]
        results = []
        for k, template in enumerate(picks):
            task = self.task(100 + k, template)
            obs, goal, info = self.reset(task)
            oracle.reset(1, seeds=[task.seed])
            reached, steps = False, 0
            for steps in range(1, task.max_steps + 1):  # noqa: B007
                action = oracle.act([obs], [goal], [info.privileged])[0]
                obs, done, success, info = masked_step(self.a, action)
                facts = info.privileged
                reached = bool(success) or (facts is not None and facts.distance <= task.success_radius)
                if done or reached:
                    break
            assert reached, f"the oracle did not reach the {task.interaction.name.lower()} target of " \
                            f"{task.domain} seed {task.seed} within max_steps={task.max_steps} (check the " \
                            "PrivilegedFacts frame: x, y ground, z up, yaw positive turning right)"
            results.append(steps)
        return f"reached the target in {len(results)}/{len(picks)} episodes ({', '.join(map(str, results))} steps)"

    def _release_shared(self) -> None:
        """Close the instance the other checks share (some backends serve one client at a time)."""
        if self.adapter is not None:
            adapter, self.adapter = self.adapter, None
            adapter.close()

    def close_releases(self) -> str:
        task = self.task(3)
        self._release_shared()

        def cycle() -> None:
            a = self.make()
            a.reset(task)
            masked_step(a, Action(forward=True))
            a.close()
            a.close()  # idempotent

        cycle()
        before = _resources()
        for _ in range(2):
            cycle()
        after = _resources()
        grew = [f"{n} {b}->{a}" for n, b, a in zip(("file descriptors", "threads"), before, after) if a > b]
        grew += [f"child process {pid} ({cmd})" for pid, cmd in sorted(after[2] - before[2])]
        assert not grew, f"close() leaked: {', '.join(grew)}"
        return "two reset/step/close cycles; close() twice; no fd, thread or process left behind"

    def gymnasium(self) -> str:
        from gymnasium.utils.env_checker import check_env

        from adapters.gym_env import CrossViewEnv

        self._release_shared()
        env = CrossViewEnv(self.name, **self.options)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                check_env(env, skip_render_check=True)
            obs, _ = env.reset(seed=5)
            assert env.observation_space.contains(obs), "the reset observation is outside observation_space"
        finally:
            env.close()
        return "gymnasium.utils.env_checker.check_env passes on crossview's wrapper"

    def goal_modalities(self) -> str:
        """Each declared goal modality comes back from reset, the same for a seed, on the same episode."""
        import dataclasses

        task = self.task(3)
        base_obs, _, _ = self.reset(task)
        for m in self.info.goals:
            if m is Modality.CROSS_VIEW:
                continue
            asked = dataclasses.replace(task, goal=m.value)
            obs, goal, _ = self.reset(asked)
            assert isinstance(goal, Goal) and m in goal.modalities, \
                f"a task with goal={m.value} must get a Goal carrying {m.value} (info.goals declares it)"
            part = getattr(goal, m.value)
            assert part.interaction == task.interaction, f"the {m.value} goal's interaction is not the task's"
            if self.info.seedable:
                again = getattr(self.reset(asked)[1], m.value)
                same = (part == again if m is Modality.LANGUAGE
                        else np.array_equal(part.frames, again.frames))
                assert same, f"the {m.value} goal differs between two resets of one task"
                assert np.array_equal(obs.rgb, base_obs.rgb), f"asking for {m.value} changed the episode's start"
        return "declares " + ", ".join(m.value for m in self.info.goals)

    def all(self) -> list[tuple[str, Callable[[], str | None]]]:
        return [("tasks", self.tasks), ("reset / step contract", self.reset_and_step),
                ("goal modalities", self.goal_modalities),
                ("goal mask on the target", self.goal_mask), ("determinism per seed", self.determinism),
                ("masked fields without effect", self.masking), ("oracle reaches the target", self.oracle),
                ("close() releases resources", self.close_releases), ("gymnasium wrapper", self.gymnasium)]


def check_adapter(name: str, options: dict[str, Any] | None = None, only: tuple[str, ...] = (),
                  make: Callable[[], Adapter] | None = None) -> Report:
    """Run every adapter check (or those whose names contain one of ``only``) on adapter ``name``."""
    checks = AdapterChecks(name, options or {}, make)
    chosen = [(n, f) for n, f in checks.all() if not only or any(o in n for o in only)]
    subject = f"adapter {name}" + (f" {options}" if options else "")
    try:
        return run_checks(subject, chosen, setup=checks.construct)
    finally:
        with contextlib.suppress(Exception):  # a failing close is reported by its own check
            checks._release_shared()
