"""Baseline policies that bracket every report: ``random`` (the floor) and ``oracle`` (the ceiling).

The oracle reads the ``PrivilegedFacts`` (harness.spec) that adapters declaring ``privileged_facts`` publish —
pose, target position, the next waypoint of a walkable path, distance, success radius, whether the target is
centred — and scripts its way to the target. Reports normalise scores between the two.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from harness.spec import ALL_MODALITIES, BUTTONS, Action, CrossViewGoal, Goal, Interaction, Observation, PrivilegedFacts
from policies.base import PolicyInfo, SlotRandom


class RandomPolicy:
    """Uniformly random buttons and camera turns of at most ``max_turn`` degrees."""

    def __init__(self, max_turn: float = 10.0) -> None:
        self.info = PolicyInfo(name="random", goals=ALL_MODALITIES)  # goals are not read
        self.max_turn = float(max_turn)
        self._rand = SlotRandom(0xC0FFEE)

    def reset(self, n: int, slots: Sequence[int] | None = None, seeds: Sequence[int] | None = None) -> None:
        self._rand.reset(n, slots, seeds)

    def act(self, observations: Sequence[Observation], goals: Sequence[CrossViewGoal | Goal],
            privileged: Sequence[PrivilegedFacts | None], slots: Sequence[int] | None = None) -> list[Action]:
        actions = []
        for slot in range(len(observations)) if slots is None else slots:
            rng = self._rand.rngs[slot]
            buttons = rng.random(len(BUTTONS)) < 0.5
            camera = rng.uniform(-self.max_turn, self.max_turn, 2)
            actions.append(Action.from_arrays(buttons, camera))
        return actions


def _wrap(a: float) -> float:
    return (a + 180.0) % 360.0 - 180.0


# The oracle turns in discrete steps, like a player on a keyboard; learned policies can copy it exactly.
YAW_STEPS = (-30.0, -20.0, -10.0, -5.0, 0.0, 5.0, 10.0, 20.0, 30.0)
PITCH_STEPS = (-10.0, -5.0, 0.0, 5.0, 10.0)


def _nearest(value: float, steps: tuple[float, ...]) -> float:
    return min(steps, key=lambda s: abs(s - value))


class OraclePolicy:
    """Scripted expert over privileged info: follow the waypoints, face the target, then act on it."""

    def __init__(self) -> None:
        self.info = PolicyInfo(name="oracle", privileged=True, goals=ALL_MODALITIES)  # reads only the interaction
        self._rand = SlotRandom(0xC0FFEE)
        self._last: list[tuple[float, float] | None] = []
        self._unstick: list[int] = []
        self._side: list[bool] = []
        self._pushed: list[bool] = []

    def reset(self, n: int, slots: Sequence[int] | None = None, seeds: Sequence[int] | None = None) -> None:
        if len(self._last) != n:
            self._last, self._unstick, self._side, self._pushed = [None] * n, [0] * n, [False] * n, [False] * n
        for slot in self._rand.reset(n, slots, seeds):
            self._last[slot], self._unstick[slot], self._pushed[slot] = None, 0, False

    def act(self, observations: Sequence[Observation], goals: Sequence[CrossViewGoal | Goal],
            privileged: Sequence[PrivilegedFacts | None], slots: Sequence[int] | None = None) -> list[Action]:
        slots = range(len(goals)) if slots is None else slots
        return [self._act_one(s, goal, facts) for s, goal, facts in zip(slots, goals, privileged)]

    def _act_one(self, slot: int, goal: CrossViewGoal | Goal, facts: PrivilegedFacts | None) -> Action:
        if facts is None:
            raise ValueError("the oracle needs PrivilegedFacts from its adapter (AdapterInfo.privileged_facts)")
        x, y, z, yaw, pitch = facts.pose
        tx, ty, tz = facts.target_pos
        close = facts.distance <= 0.7 * facts.success_radius
        wx, wy = (tx, ty) if close else facts.waypoint
        heading = -math.degrees(math.atan2(wy - y, wx - x))
        turn = _wrap(heading - yaw)
        want_pitch = math.degrees(math.atan2(z - tz, max(math.hypot(tx - x, ty - y), 1e-3)))
        camera = (_nearest(want_pitch - pitch, PITCH_STEPS), _nearest(turn, YAW_STEPS))
        last = self._last[slot]
        stuck = self._pushed[slot] and last is not None and math.hypot(x - last[0], y - last[1]) < 0.05
        self._last[slot] = (x, y)
        if stuck and not close and self._unstick[slot] == 0:
            self._unstick[slot] = 4
            self._side[slot] = bool(self._rand.rngs[slot].integers(2))
        if self._unstick[slot] > 0:  # blocked by a corner: side-step a few times
            self._unstick[slot] -= 1
            self._pushed[slot] = False
            return Action(back=self._unstick[slot] >= 3, left=self._side[slot], right=not self._side[slot],
                          camera=camera)
        forward = not close and abs(turn) < 35
        self._pushed[slot] = forward
        act = goal.interaction in (Interaction.MINE, Interaction.INTERACT, Interaction.HUNT) \
            and facts.distance <= facts.success_radius and facts.target_centred
        return Action(forward=forward, attack=act and goal.interaction != Interaction.INTERACT,
                      use=act and goal.interaction == Interaction.INTERACT, camera=camera)
