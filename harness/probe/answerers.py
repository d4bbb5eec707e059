"""Who answers probes: ``random``, ``depth-oracle`` (the ground truth; the ceiling reports normalize to), any
Python callable, and a vision-language model behind an OpenAI-compatible endpoint (``harness.probe.chat``).

An answerer returns the raw reply for one item (``reads_images = False`` on one that never looks at the pixels
spares reading them); the runner parses it strictly (``items.parse_reply``), so an
answer nobody can read is counted as unparseable, never guessed. ``concurrency`` says how many items it may
answer at once (threads); ``fingerprint`` names everything that decides its replies (answer ids hash it).
"""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np

from harness.errors import CrossviewError
from harness.plugins import construct, import_target
from harness.probe.frames import derive_seed
from harness.probe.items import LETTERS, ProbeItem
from harness.probe.patch_tasks import DIRECTIONS


@runtime_checkable
class Answerer(Protocol):
    """Answers one probe item at a time with a reply (a letter, a choice's text, or an index)."""

    name: str
    concurrency: int

    def fingerprint(self) -> str:
        """Everything that decides the replies (kind, model, options), as a string."""
        ...

    def answer(self, item: ProbeItem) -> Any:
        """The reply to ``item`` (raise on a transport failure: the runner retries)."""
        ...


def oracle_choice(item: ProbeItem) -> int:
    """The answer recomputed from the item's ground-truth facts (depths, 3D points, the generator's draws)."""
    t = item.truth
    if item.task == "depth_order":
        return int(np.argmin(t["depth_m"]))
    if item.task == "relative_position":
        n = "xyz".index(t["axis"])
        a, b = t["points_m"]
        return int(a[n] > b[n])
    if item.task == "patch_reorder":
        sequence = " ".join(str(int(k) + 1) for k in np.argsort(t["perm"]))
        return item.choices.index(sequence)
    if item.task == "patch_flip":
        return item.choices.index(f"piece {t['piece'] + 1} flipped {DIRECTIONS[t['direction']]}")
    if item.task == "patch_inpaint":
        return int(t["correct"])
    raise CrossviewError(f"the depth oracle does not know task {item.task!r}")


class RandomAnswerer:
    """A uniformly random letter per item, seeded by (seed, item id): the floor reports normalize to."""

    concurrency = 1
    reads_images = False

    def __init__(self, name: str = "random", seed: int = 0) -> None:
        self.name, self.seed = name, int(seed)

    def fingerprint(self) -> str:
        return f"random:{self.seed}"

    def answer(self, item: ProbeItem) -> str:
        rng = np.random.default_rng(derive_seed(self.seed, item.item_id))
        return LETTERS[int(rng.integers(len(item.choices)))]


class OracleAnswerer:
    """Reads the ground truth: the ceiling (and a check that every stored answer follows from its facts)."""

    concurrency = 1
    reads_images = False

    def __init__(self, name: str = "oracle") -> None:
        self.name = name

    def fingerprint(self) -> str:
        return "depth-oracle"

    def answer(self, item: ProbeItem) -> str:
        return LETTERS[oracle_choice(item)]


@runtime_checkable
class ItemAnswerer(Protocol):
    """What a configurable answerer named by import path (with options) must implement."""

    def answer(self, item: ProbeItem) -> Any:
        """The reply to ``item``."""
        ...


class CallableAnswerer:
    """User code named by ``module:attr``: a function ``f(item: ProbeItem) -> reply`` (its parameter annotated
    ``ProbeItem``), or, with ``options``, a class implementing ``ItemAnswerer`` built with them.

    Like adapters and policies (harness/plugins.py), the target is checked *before* anything is called, so a
    probe config cannot call arbitrary code (``os:system``).
    """

    def __init__(self, name: str, target: str, options: Mapping[str, Any] | None = None,
                 concurrency: int = 1) -> None:
        if ":" not in target:
            raise CrossviewError(f"answerer {name!r}: target {target!r} must be module:attr")
        what = f"answerer {name!r} ({target})"
        if options:
            made = construct(what, lambda: _load(name, target), dict(options), protocol=ItemAnswerer)
            fn: Callable[[ProbeItem], Any] = made.answer
        else:
            fn = _load(name, target)
            _check_function(what, fn)
        self.name, self.target, self._fn = name, target, fn
        self.options, self.concurrency = dict(options or {}), int(concurrency)

    def fingerprint(self) -> str:
        return f"callable:{self.target}:{json.dumps(self.options, sort_keys=True, default=str)}"

    def answer(self, item: ProbeItem) -> Any:
        return self._fn(item)


def _check_function(what: str, fn: Any) -> None:
    """A plain Python function of one parameter annotated ``ProbeItem``, else one line (nothing is called)."""
    if not inspect.isfunction(fn):
        raise CrossviewError(f"{what} names a {type(fn).__name__}, which crossview will not call: name a function "
                             "f(item: ProbeItem), or a class with answer(item) when giving options")
    params = [p for p in inspect.signature(fn).parameters.values() if p.default is inspect.Parameter.empty
              and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(params) != 1:
        raise CrossviewError(f"{what} must take one argument (the probe item), not {len(params)}")
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # unresolvable annotations: treated as none
        hints = {}
    if hints.get(params[0].name) is not ProbeItem:
        raise CrossviewError(f"{what}: annotate its parameter as harness.probe.items.ProbeItem "
                             f"(def {fn.__name__}({params[0].name}: ProbeItem)) so crossview knows it is an answerer")


def _load(name: str, target: str) -> Any:
    try:
        return import_target(target)
    except (ImportError, AttributeError) as exc:
        raise CrossviewError(f"answerer {name!r} cannot be imported from {target}: {exc}") from None


KINDS = ("random", "depth-oracle", "callable", "openai")


def make_answerer(name: str, kind: str, options: Mapping[str, Any]) -> Answerer:
    """Construct the answerer of one config entry; one-line errors for unknown kinds and bad options."""
    opts = dict(options)
    if kind == "random":
        return construct(f"answerer {name!r}", lambda: RandomAnswerer, {"name": name, **opts})
    if kind == "depth-oracle":
        return construct(f"answerer {name!r}", lambda: OracleAnswerer, {"name": name, **opts})
    if kind == "callable":
        if "target" not in opts:
            raise CrossviewError(f"answerer {name!r}: kind callable needs options.target (module:attr)")
        return CallableAnswerer(name, opts.pop("target"), opts.pop("options", None), int(opts.pop("concurrency", 1)))
    if kind == "openai":
        from harness.probe.chat import ChatAnswerer

        return construct(f"answerer {name!r}", lambda: ChatAnswerer, {"name": name, **opts})
    raise CrossviewError(f"answerer {name!r}: unknown kind {kind!r}: use one of {', '.join(KINDS)}")
