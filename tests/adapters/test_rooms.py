"""Rooms: procedural layouts, domains, goals, difficulty, collisions, interactions and clear errors."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy.ndimage import binary_dilation

from adapters.base import make_adapter
from adapters.rooms.domains import DOMAINS
from adapters.rooms.layout import AGENT_RADIUS, NavField, blocked, generate_layout
from harness.errors import CrossviewError
from harness.spec import Action, Interaction, PrivilegedFacts, StepInfo, TaskSpec
from policies.baselines import OraclePolicy


@pytest.fixture(scope="module")
def rooms():
    adapter = make_adapter("rooms", image_size=(96, 96))
    yield adapter
    adapter.close()


def task(rooms, domain="apartment", interaction=Interaction.APPROACH, difficulty="easy", seed=0) -> TaskSpec:
    t = next(t for t in rooms.tasks("train") if t.domain == domain and t.interaction == interaction
             and t.difficulty == difficulty)
    return dataclasses.replace(t, seed=seed)


@pytest.mark.parametrize("domain", sorted(DOMAINS))
def test_layouts_have_distinct_objects_clear_of_walls(domain: str) -> None:
    style = DOMAINS[domain]
    for seed in range(30):
        layout = generate_layout(style, np.random.default_rng(seed))
        assert 4 <= len(layout.things) <= 8
        assert len({t.colour for t in layout.things}) == len(layout.things)
        assert len(layout.walls) == 4 + 2 * style.partitions
        for i, t in enumerate(layout.things):
            assert not blocked(layout, t.x, t.y, t.radius, skip=i)
        nav = NavField(layout)
        reachable = np.isfinite(nav.dist)
        assert reachable.sum() >= 0.9 * nav.free.sum()  # doorways keep every room connected to the target


def test_domains_look_different(rooms) -> None:
    a = rooms.reset(task(rooms, "apartment", seed=4))[0].rgb.reshape(-1, 3).mean(0)
    b = rooms.reset(task(rooms, "warehouse", seed=4))[0].rgb.reshape(-1, 3).mean(0)
    assert np.abs(a - b).max() > 30
    assert DOMAINS["apartment"].fovy != DOMAINS["warehouse"].fovy


def test_goal_is_another_view_with_exact_mask(rooms) -> None:
    for seed in range(6):
        obs, goal, info = rooms.reset(task(rooms, seed=seed))
        assert goal.mask.any() and goal.mask.mean() < 0.5
        assert not np.array_equal(goal.image, obs.rgb)
        # exact: repaint only the target and re-render the goal camera; the pixels that change are the mask
        world, renderer = rooms._world_pair
        gid = world.thing_ids[rooms._layout.target]
        before = renderer.rgbd(world.data, world.goal_cam, depth=False)[0]
        np.testing.assert_array_equal(before, goal.image)
        saved = world.model.geom_rgba[gid].copy()
        world.model.geom_rgba[gid] = (1.0 - saved[0], 1.0 - saved[1], 1.0 - saved[2], 1.0)
        after = renderer.rgbd(world.data, world.goal_cam, depth=False)[0]
        world.model.geom_rgba[gid] = saved
        changed = (before != after).any(axis=2)
        edge = binary_dilation(goal.mask)  # anti-aliased edge pixels blend the target's colour
        assert (changed & ~edge).sum() == 0 and (goal.mask & ~changed).sum() <= 0.02 * goal.mask.sum()


def test_easy_sees_the_target_and_hard_does_not(rooms) -> None:
    for seed in range(6):
        _, _, easy = rooms.reset(task(rooms, difficulty="easy", seed=seed))
        _, _, hard = rooms.reset(task(rooms, difficulty="hard", seed=seed))
        assert easy.privileged.target_visible and easy.distance >= 1.9
        assert not hard.privileged.target_visible


def test_privileged_info_is_in_info_only(rooms) -> None:
    obs, goal, info = rooms.reset(task(rooms, seed=1))
    assert isinstance(info, StepInfo) and isinstance(info.privileged, PrivilegedFacts)
    assert info.distance == info.privileged.distance and info.target
    assert set(vars(obs)) == {"rgb", "depth", "t"}


def test_walls_stop_the_agent(rooms) -> None:
    rooms.reset(task(rooms, seed=2))
    for _ in range(80):  # walk straight ahead far longer than the room is wide
        _, _, _, info = rooms.step(Action(forward=True))
    x, y = info.privileged.pose[:2]
    assert not blocked(rooms._layout, x, y, AGENT_RADIUS - 1e-6)
    half = DOMAINS["apartment"].room_size / 2
    assert abs(x) < half and abs(y) < half


def test_depth_is_metric(rooms) -> None:
    obs, _, info = rooms.reset(task(rooms, seed=3))
    assert obs.depth is not None
    h, w = obs.depth.shape
    centre = obs.depth[h // 2 - 2: h // 2 + 2, w // 2 - 2: w // 2 + 2].mean()
    # the target is in view at start of an easy task; depth at the image centre is within the room's diagonal
    assert 0.1 < centre < math.hypot(7, 7) + 1


def test_oracle_approaches_and_mines(rooms) -> None:
    for interaction in (Interaction.APPROACH, Interaction.MINE, Interaction.INTERACT):
        oracle = OraclePolicy()
        t = task(rooms, interaction=interaction, seed=5)
        obs, goal, info = rooms.reset(t)
        oracle.reset(1, seeds=[0])
        for _ in range(t.max_steps):
            obs, done, success, info = rooms.step(oracle.act([obs], [goal], [info.privileged])[0])
            if done:
                break
        assert success, interaction


def test_mining_the_wrong_object_fails(rooms) -> None:
    t = task(rooms, interaction=Interaction.MINE, seed=6)
    rooms.reset(t)
    layout = rooms._layout
    other = next(i for i in range(len(layout.things)) if i != layout.target)
    o = layout.things[other]
    # stand next to the distractor, facing it
    rooms._x, rooms._y = o.x - (o.radius + 0.5), o.y
    rooms._yaw, rooms._pitch = 0.0, 20.0
    if blocked(layout, rooms._x, rooms._y, AGENT_RADIUS):
        pytest.skip("no room beside the distractor in this layout")
    _, done, success, _ = rooms.step(Action(attack=True))
    assert done and success is False


@pytest.mark.parametrize("options, fragment", [
    ({"image_size": (4, 4000)}, "image_size"),
    ({"masked": ["fly"]}, "masked"),
    ({"colour": "red"}, "bad options"),
])
def test_bad_options_give_one_line(options, fragment) -> None:
    with pytest.raises(CrossviewError, match=fragment) as err:
        make_adapter("rooms", **options)
    assert "\n" not in str(err.value)


def test_unsupported_interaction_and_domain(rooms) -> None:
    with pytest.raises(CrossviewError, match="hunt"):
        rooms.reset(dataclasses.replace(task(rooms), interaction=Interaction.HUNT))
    with pytest.raises(CrossviewError, match="domain"):
        rooms.reset(dataclasses.replace(task(rooms), domain="moon"))
    with pytest.raises(CrossviewError, match="suite"):
        rooms.tasks("test")


def test_renderers_in_one_process_do_not_mix_their_contexts() -> None:
    """Several adapters and domains in one worker: each frame must be the one a lone adapter renders."""
    t = TaskSpec("rooms", "apartment", 9, Interaction.APPROACH, max_steps=10, success_radius=0.6)
    lone = make_adapter("rooms", image_size=(64, 64))
    expected = lone.reset(t)[1].image
    lone.close()
    a, b = make_adapter("rooms", image_size=(64, 64)), make_adapter("rooms", image_size=(64, 64))
    try:
        b.reset(dataclasses.replace(t, domain="warehouse"))
        a.reset(dataclasses.replace(t, domain="warehouse"))
        b.reset(t)
        np.testing.assert_array_equal(a.reset(t)[1].image, expected)
        np.testing.assert_array_equal(b.reset(t)[1].image, expected)
    finally:
        a.close()
        b.close()


def test_gymnasium_async_vector_env_forks_after_the_parent_rendered() -> None:
    """Forked children of a process that rendered Rooms must not hang (they simulate in a fresh interpreter)."""
    import gymnasium

    from adapters.gym_env import register_envs

    register_envs()
    parent = gymnasium.make("crossview/Rooms-v0", image_size=[48, 48])
    parent.reset(seed=0)  # the parent opens its GL context and renders
    fns = [lambda: gymnasium.make("crossview/Rooms-v0", image_size=[48, 48]) for _ in range(2)]
    vec = gymnasium.vector.AsyncVectorEnv(fns, context="fork")
    try:
        obs, _ = vec.reset(seed=1)
        assert obs["image"].shape == (2, 48, 48, 3) and obs["goal_mask"].any()
        for _ in range(3):
            obs, reward, terminated, truncated, _ = vec.step(vec.action_space.sample())
        assert obs["image"].shape == (2, 48, 48, 3)
        parent.reset(seed=2)  # and the parent still renders
    finally:
        vec.close()
        parent.close()


def test_slots_share_one_gl_context_and_keep_their_own_scenes() -> None:
    """Adapters of one look and size in a process draw through one renderer, yet each frame, stepped interleaved,
    is the one a lone adapter renders for its own episode; the last adapter to close frees the context."""
    from adapters.rooms import render

    tasks = [TaskSpec("rooms", "apartment", seed, Interaction.APPROACH, max_steps=10, success_radius=0.6)
             for seed in (3, 4)]
    moves = [Action(forward=True, camera=(0.0, 15.0)), Action(camera=(5.0, -20.0)), Action(forward=True)]

    def lone(t: TaskSpec) -> list[np.ndarray]:
        adapter = make_adapter("rooms", image_size=(48, 48))
        try:
            frames = [adapter.reset(t)[0].rgb]
            return frames + [adapter.step(m)[0].rgb for m in moves]
        finally:
            adapter.close()

    expected = [lone(t) for t in tasks]
    before = len(render._shared)
    a, b = make_adapter("rooms", image_size=(48, 48)), make_adapter("rooms", image_size=(48, 48))
    try:
        frames = [[a.reset(tasks[0])[0].rgb], [b.reset(tasks[1])[0].rgb]]
        assert len(render._shared) == before + 1  # one GL context for both
        for m in moves:
            frames[0].append(a.step(m)[0].rgb)
            frames[1].append(b.step(m)[0].rgb)
        for got, want in zip(frames, expected):
            for g, w in zip(got, want):
                np.testing.assert_array_equal(g, w)
    finally:
        a.close()
        assert len(render._shared) == before + 1  # b still draws with it
        b.close()
    assert len(render._shared) == before


def test_randomized_appearance_keeps_the_layout_and_draws_a_look_per_seed() -> None:
    plain = make_adapter("rooms", image_size=(48, 48), depth=False)
    randomized = make_adapter("rooms", image_size=(48, 48), depth=False, appearance="randomized")
    again = make_adapter("rooms", image_size=(48, 48), depth=False, appearance="randomized")
    try:
        looks = []
        for seed in (1, 2):
            t = task(plain, seed=seed)
            _, _, info = plain.reset(t)
            obs, _, rinfo = randomized.reset(t)
            assert rinfo.target == info.target  # same objects, names and places
            assert rinfo.privileged.target_pos == info.privileged.target_pos
            assert randomized._layout.walls == plain._layout.walls
            np.testing.assert_array_equal(again.reset(t)[0].rgb, obs.rgb)  # a pure function of the seed
            looks.append(randomized._style)
        assert looks[0] != looks[1] and all(s != DOMAINS["apartment"] for s in looks)
        assert [n for n, _ in looks[0].palette] == [n for n, _ in DOMAINS["apartment"].palette]
    finally:
        for adapter in (plain, randomized, again):
            adapter.close()
    with pytest.raises(CrossviewError, match="appearance") as err:
        make_adapter("rooms", appearance="psychedelic")
    assert "\n" not in str(err.value)
