"""One frame → its probe items: every configured task, ``per_task`` slots each, each slot from its own seed."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from harness.probe.depth_tasks import depth_order, relative_position
from harness.probe.frames import Frame, derive_seed
from harness.probe.items import ProbeItem, item_id
from harness.probe.options import GenOptions
from harness.probe.patch_tasks import patch_flip, patch_inpaint, patch_reorder

Generator = Callable[[Frame, np.random.Generator, GenOptions], dict | None]
GENERATORS: dict[str, Generator] = {"depth_order": depth_order, "relative_position": relative_position,
                                    "patch_reorder": patch_reorder, "patch_flip": patch_flip,
                                    "patch_inpaint": patch_inpaint}


def frame_key(frame: Frame, source_fingerprint: str) -> str:
    """What identifies a frame: its source (adapter + options), domain, index and seed."""
    return f"{source_fingerprint}/{frame.adapter}/{frame.domain}/{frame.index}/{frame.seed}"


def generate(frame: Frame, key: str, tasks: Sequence[str], per_task: int, opts: GenOptions
             ) -> tuple[list[ProbeItem], dict[str, int]]:
    """The items of one frame, and per task how many slots were skipped (no unambiguous item found)."""
    items, skipped = [], {}
    for task in tasks:
        for slot in range(per_task):
            rng = np.random.default_rng(derive_seed(frame.seed, task, slot))
            made = GENERATORS[task](frame, rng, opts)
            if made is None:
                skipped[task] = skipped.get(task, 0) + 1
                continue
            items.append(ProbeItem(
                item_id(key, task, slot), task, frame.adapter, frame.domain, frame.role, frame.index, frame.seed,
                made["question"], tuple(made["choices"]), int(made["answer"]), tuple(made["images"]),
                made["truth"], {**frame.provenance, **made["provenance"], "slot": slot, "frame_key": key}))
    return items, skipped
