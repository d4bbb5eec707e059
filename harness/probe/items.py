"""The probe item: images with marks, a multiple-choice question, its answer, the facts it follows from.

Prompts list the choices as letters; replies are parsed strictly (``parse_reply``): a reply that is not one of
the offered letters (alone, bracketed, or after "Answer:") or exactly one choice's text is unparseable, and
is counted as such, never guessed.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

TASKS = ("depth_order", "relative_position", "patch_reorder", "patch_flip", "patch_inpaint")
GENERATOR_VERSION = 1
LETTERS = "ABCDEFGHIJ"


@dataclass(frozen=True)
class ProbeItem:
    """One verifiable question about one frame."""

    item_id: str
    task: str
    adapter: str
    domain: str
    role: str
    frame_index: int
    seed: int
    question: str
    choices: tuple[str, ...]
    answer: int  # index into choices
    images: tuple[np.ndarray, ...]  # uint8 H x W x 3, marks drawn; the first is the scene
    truth: Mapping[str, Any] = field(default_factory=dict)  # the facts the answer follows from (oracle reads)
    provenance: Mapping[str, Any] = field(default_factory=dict)

    @property
    def world(self) -> str:
        return f"{self.adapter}/{self.domain}"

    def prompt(self) -> str:
        """The question as a model receives it: question, lettered choices, the reply format."""
        lines = [self.question, *(f"({LETTERS[i]}) {c}" for i, c in enumerate(self.choices))]
        lines.append(f"Reply with the letter of one choice only ({', '.join(LETTERS[:len(self.choices)])}).")
        return "\n".join(lines)

    def content_sha256(self) -> str:
        """Hash of everything a model sees and the answer: two items with the same hash are the same question."""
        h = hashlib.sha256()
        h.update(json.dumps([self.task, self.question, list(self.choices), self.answer]).encode())
        for img in self.images:
            h.update(str(img.shape).encode())
            h.update(np.ascontiguousarray(img).tobytes())
        return h.hexdigest()


def item_id(frame_key: str, task: str, slot: int) -> str:
    """Content-hash id of an item from what determines it (the frame's key, the task, the slot)."""
    what = json.dumps([frame_key, task, slot, GENERATOR_VERSION])
    return hashlib.sha256(what.encode()).hexdigest()[:20]


_LETTER = re.compile(r"^\s*(?:answer\s*[:=]?\s*)?[\(\[]?\s*([A-J])\s*[\)\]]?\s*[.!]?\s*$", re.IGNORECASE)


def parse_reply(reply: Any, n_choices: int, choices: tuple[str, ...] = ()) -> int | None:
    """The chosen index, or None when the reply is not exactly one offered choice.

    Accepted: ``B``, ``(B)``, ``B.``, ``Answer: B`` (a letter among the offered ones; lower case only when the
    reply is that single letter), an int index, or a reply equal to one choice's text (case and surrounding
    space ignored).
    """
    if isinstance(reply, bool):
        return None
    if isinstance(reply, (int, np.integer)):
        return int(reply) if 0 <= int(reply) < n_choices else None
    if not isinstance(reply, str):
        return None
    m = _LETTER.match(reply)
    if m:
        letter = m.group(1)
        if letter.islower() and reply.strip() != letter:
            return None
        index = LETTERS.index(letter.upper())
        return index if index < n_choices else None
    texts = [c.strip().lower() for c in choices]
    text = reply.strip().lower().rstrip(".")
    return texts.index(text) if texts.count(text) == 1 else None
