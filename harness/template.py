"""``crossview new adapter|policy NAME``: a plugin package skeleton that installs, registers and passes ``check``.

The adapter skeleton is a small but real world (a seeded 360° panorama the agent turns in, a coloured block to
face) so that every check has something to verify; replace its internals with your simulator's calls.
"""

from __future__ import annotations

import re
from pathlib import Path

from harness.errors import CrossviewError

PYPROJECT = '''[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "crossview-{name}"
version = "0.1.0"
description = "crossview {what} plugin: {name}"
requires-python = ">=3.10"
dependencies = ["crossview-harness", "numpy"]  # add your simulator's client here

[project.entry-points."crossview.{group}"]
{name} = "crossview_{name}.{module}:{cls}"

[tool.setuptools]
packages = ["crossview_{name}"]
'''

ADAPTER = '''"""{cls}: a crossview adapter (made by 'crossview new adapter'); see docs/writing-plugins.md.

This skeleton world is a seeded 360-degree panorama of coloured stripes with one red block; the agent only turns
(camera yaw) and succeeds when the block is centred. Replace the world with your simulator, keeping the contract.
"""

from __future__ import annotations

import numpy as np

from adapters.base import AdapterInfo
from harness.errors import CrossviewError
from harness.spec import ACTION_FIELDS, Action, CrossViewGoal, Interaction, Observation, StepInfo, TaskSpec

PX_PER_DEG = 2
HFOV = 60.0
CONTROL_HZ = 10.0


class {cls}:
    """Construct with the options users give as ``-o key=value`` or in the sweep config."""

    requires = ("numpy",)  # client modules 'crossview envs' imports (and reports the versions of)

    def __init__(self, image_size: tuple[int, int] | list[int] = (64, 120)) -> None:
        h, w = (int(v) for v in image_size)
        if w != int(HFOV * PX_PER_DEG) or not 16 <= h <= 512:
            raise CrossviewError(f"{name} option image_size must be [16..512, {{int(HFOV * PX_PER_DEG)}}]")
        self.size = (h, w)
        self.info = AdapterInfo(
            name="{name}", obs_size=(h, w), has_depth=False, seedable=True, privileged_success=True,
            control_hz=CONTROL_HZ, masked=frozenset(set(ACTION_FIELDS) - {{"yaw"}}),  # only turning is honoured
            interactions=(Interaction.APPROACH,), domains=("panorama",))
        self._task: TaskSpec | None = None

    @classmethod
    def check_available(cls) -> None:
        """Raise harness.errors.BackendUnavailable (one line: what to install) when the backend is missing."""

    def tasks(self, suite: str = "train") -> list[TaskSpec]:
        """One template per split; the runner gives each episode its own seed."""
        if suite not in ("train", "heldout"):
            raise CrossviewError(f"{name} has no suite {{suite!r}}: use train or heldout")
        return [TaskSpec("{name}", "panorama", 0, Interaction.APPROACH, "red block", "easy", suite, 40, 0.0)]

    def _render(self, yaw: float) -> tuple[np.ndarray, np.ndarray]:
        h, w = self.size
        cols = (np.arange(w) + int(round(yaw * PX_PER_DEG)) - w // 2) % self._pano.shape[1]
        return self._pano[:, cols].copy(), self._mask[:, cols].copy()

    def reset(self, task: TaskSpec) -> tuple[Observation, CrossViewGoal, StepInfo]:
        rng = np.random.default_rng([task.seed & 0xFFFFFFFF, task.split == "heldout"])
        h, width = self.size[0], 360 * PX_PER_DEG
        stripes = rng.integers(40, 200, size=(24, 3)).astype(np.uint8)
        self._pano = np.repeat(stripes, width // 24, axis=0)[None].repeat(h, axis=0)
        self._target = float(rng.uniform(0, 360))
        c, half = int(self._target * PX_PER_DEG), max(3, h // 6)
        self._mask = np.zeros((h, width), bool)
        self._mask[h // 2 - half:h // 2 + half, np.arange(c - half, c + half) % width] = True
        self._pano[self._mask] = (220, 30, 30)
        goal_image, goal_mask = self._render(self._target + rng.uniform(-20, 20))  # seen from another heading
        self._yaw = float(rng.uniform(0, 360))
        self._task, self._steps = task, 0
        return self._observe(), CrossViewGoal(goal_image, goal_mask, task.interaction), self._info()

    def _observe(self) -> Observation:
        return Observation(self._render(self._yaw)[0], None, self._steps / CONTROL_HZ)

    def _off(self) -> float:
        return abs((self._target - self._yaw + 180.0) % 360.0 - 180.0)

    def _info(self) -> StepInfo:
        return StepInfo(target="red block", extra={{"degrees_off": self._off()}})

    def step(self, action: Action) -> tuple[Observation, bool, bool | None, StepInfo]:
        if self._task is None:
            raise CrossviewError("{name}: step() called before reset()")
        self._yaw = (self._yaw + action.yaw) % 360.0  # the harness has already neutralised masked fields
        self._steps += 1
        success = self._off() <= 5.0
        return self._observe(), success, success, self._info()

    def close(self) -> None:
        self._task = None
'''

POLICY = '''"""{cls}: a crossview policy (made by 'crossview new policy'); see docs/writing-plugins.md."""

from __future__ import annotations

from collections.abc import Sequence

from harness.spec import Action, CrossViewGoal, Observation, PrivilegedFacts
from policies.base import PolicyInfo, SlotRandom


class {cls}:
    """Turns by a random amount per step (seeded per slot); replace ``act`` with your model."""

    def __init__(self, max_turn: float = 15.0) -> None:
        self.info = PolicyInfo(name="{name}")
        self.max_turn = float(max_turn)
        self._rand = SlotRandom(0x5EED)

    def reset(self, n: int, slots: Sequence[int] | None = None, seeds: Sequence[int] | None = None) -> None:
        self._rand.reset(n, slots, seeds)

    def act(self, observations: Sequence[Observation], goals: Sequence[CrossViewGoal],
            privileged: Sequence[PrivilegedFacts | None], slots: Sequence[int] | None = None) -> list[Action]:
        slots = range(len(observations)) if slots is None else slots
        return [Action(forward=True, camera=(0.0, float(self._rand.rngs[s].uniform(-1, 1)) * self.max_turn))
                for s in slots]
'''


def write_template(what: str, name: str, where: str | Path = ".") -> Path:
    """Write ``crossview-NAME/`` under ``where``; refuses to overwrite an existing folder."""
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", name):
        raise CrossviewError(f"plugin name {name!r}: use lower-case letters, digits and underscores, e.g. mysim")
    folder = Path(where) / f"crossview-{name}"
    if folder.exists():
        raise CrossviewError(f"{folder} exists already: choose another name or --dir")
    cls = "".join(p.capitalize() for p in name.split("_")) + ("Adapter" if what == "adapter" else "Policy")
    module, group = ("adapter", "adapters") if what == "adapter" else ("policy", "policies")
    fields = {"name": name, "cls": cls, "what": what, "module": module, "group": group}
    package = folder / f"crossview_{name}"
    package.mkdir(parents=True)
    (folder / "pyproject.toml").write_text(PYPROJECT.format(**fields))
    (package / "__init__.py").write_text(f'"""crossview {what} plugin {name}."""\n')
    (package / f"{module}.py").write_text((ADAPTER if what == "adapter" else POLICY).format(**fields))
    return folder
