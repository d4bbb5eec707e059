"""Rooms goals in words and as clips: deterministic per seed, the same episode whatever the modality, held-out
phrasings disjoint from the training ones and never in the data the BC script trains on."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from adapters.rooms.adapter import RoomsAdapter
from adapters.rooms.goals import HELDOUT_PHRASINGS, TRAIN_PHRASINGS, VERBS
from harness.spec import CrossViewGoal, Goal, Interaction, Modality


@pytest.fixture(scope="module")
def rooms():
    adapter = RoomsAdapter(image_size=(48, 48), depth=False)
    yield adapter
    adapter.close()


SLOTS = {"{verb}": "(?:" + "|".join(v for vs in VERBS.values() for v in vs) + ")", "{thing}": r"[a-z]+ [a-z]+",
         "{a_thing}": r"an? [a-z]+ [a-z]+", "{where}": "in (?:this room|the other room|another room)"}


def _pattern(form: str) -> re.Pattern:
    """A phrasing template as a regex over any target (colour shape), verb and place."""
    parts = re.split(r"(\{\w+\})", form)
    return re.compile("^" + "".join(SLOTS[p] if p.startswith("{") else re.escape(p) for p in parts) + "$")


def _form_of(text: str) -> str:
    train = [f for f in TRAIN_PHRASINGS if _pattern(f).match(text)]
    heldout = [f for f in HELDOUT_PHRASINGS if _pattern(f).match(text)]
    assert len(train) + len(heldout) >= 1, f"{text!r} matches no phrasing"
    return "train" if train and not heldout else "heldout" if heldout and not train else "both"


def test_phrasing_sets_are_disjoint() -> None:
    assert not set(TRAIN_PHRASINGS) & set(HELDOUT_PHRASINGS)
    for form in HELDOUT_PHRASINGS:
        sample = form.format(verb="mine", thing="red box", a_thing="a red box", where="in this room")
        assert not any(_pattern(f).match(sample) for f in TRAIN_PHRASINGS), form


def test_instructions_are_deterministic_and_split_by_phrasing(rooms) -> None:
    seen = {"train": set(), "heldout": set()}
    for split in ("train", "heldout"):
        for template in rooms.tasks(split)[:6]:
            for seed in (1, 2, 3):
                task = dataclasses.replace(template, seed=seed, goal="language")
                obs, goal, _ = rooms.reset(task)
                again_obs, again, _ = rooms.reset(task)
                assert isinstance(goal, Goal) and goal.language == again.language
                words = goal.language
                assert words.interaction == task.interaction and words.phrasing.startswith(f"{split}/")
                assert words.target.name in words.instruction and words.target.room in ("same", "other")
                assert any(v in words.instruction for v in VERBS[task.interaction])
                assert _form_of(words.instruction) == split, words.instruction
                seen[split].add(words.phrasing)
                cross, _ = rooms.reset(dataclasses.replace(task, goal="cross_view"))[1:]
                assert isinstance(cross, CrossViewGoal), "a cross-view task keeps the plain CrossViewGoal"
                assert np.array_equal(cross.image, goal.cross_view.image), "the modality must not change the episode"
    assert len(seen["train"]) >= 2 and len(seen["heldout"]) >= 2


def test_video_goal_is_deterministic_and_reaches_the_target(rooms) -> None:
    template = next(t for t in rooms.tasks("train") if t.interaction == Interaction.MINE and t.difficulty == "hard")
    for seed in (4, 5):
        task = dataclasses.replace(template, seed=seed, goal=Modality.VIDEO.value)
        obs, goal, _ = rooms.reset(task)
        obs2, goal2, _ = rooms.reset(task)
        video = goal.video
        assert video is not None and video.frames.shape == (8, 48, 48, 3) and video.frames.dtype == np.uint8
        assert np.array_equal(video.frames, goal2.video.frames) and np.array_equal(video.masks, goal2.video.masks)
        area = video.masks.mean(axis=(1, 2))
        assert area[-1] > area[0] > 0, "the clip walks up to the target, which stays in view"
        plain_obs, plain, _ = rooms.reset(dataclasses.replace(task, goal="cross_view"))
        assert np.array_equal(plain_obs.rgb, obs.rgb) and np.array_equal(plain.image, goal.cross_view.image)


def test_training_data_holds_only_train_phrasings() -> None:
    from policies.torch.train_xview import collect

    data = collect("apartment", episodes=1, noise=0.3, seed=0, image=32)
    assert data.texts and all(_form_of(t) == "train" for t in data.texts)


def test_shipped_language_series_never_read_a_held_out_phrasing() -> None:
    import json
    from pathlib import Path

    from policies.torch.xview_lang import words

    train_words = {w for f in TRAIN_PHRASINGS for w in words(re.sub(r"\{\w+\}", " ", f))}
    heldout_only = {w for f in HELDOUT_PHRASINGS for w in words(re.sub(r"\{\w+\}", " ", f))} - train_words
    assert heldout_only, "the held-out phrasings must use sentence forms of their own"
    series = sorted((Path(__file__).resolve().parents[2] / "checkpoints" / "xview-lang").glob("*.json"))
    assert series, "the language series ships beside the cross-view one"
    for manifest in series:
        meta = json.loads(manifest.read_text())
        assert meta["trained_on"]["phrasings"] == "train"
        assert not heldout_only & set(meta["hyperparameters"]["vocab"]), manifest.name
