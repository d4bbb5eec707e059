"""Success rates of the random and oracle baselines on Rooms, through the Gymnasium API.

    python benchmarks/rooms_baselines.py [--episodes 50] [--domain apartment] [--interaction approach]

Targets (issue 2): over 50 seeded easy APPROACH episodes the oracle succeeds >= 90% and random <= 20%; hard
episodes are measurably harder for the oracle than easy ones (lower success or more steps).
"""

from __future__ import annotations

import argparse
import warnings

import gymnasium
import numpy as np
from rich.console import Console
from rich.table import Table

import adapters  # noqa: F401  (registers crossview/<Name>-v0)
from policies.base import Policy
from policies.baselines import OraclePolicy, RandomPolicy


def run(policy: Policy, env: gymnasium.Env, episodes: int, first_seed: int) -> tuple[float, float]:
    """Success rate and mean episode length of ``policy`` over seeded episodes."""
    from harness.spec import CrossViewGoal, Interaction, Observation

    wins, lengths = 0, []
    for k in range(episodes):
        obs, info = env.reset(seed=first_seed + k)
        policy.reset(1, seeds=[first_seed + k])
        goal = CrossViewGoal(obs["goal_image"], obs["goal_mask"].astype(bool), Interaction(obs["interaction"]))
        done, steps, reward = False, 0, 0.0
        while not done:
            private = info["privileged"] if policy.info.privileged else None
            action = policy.act([Observation(obs["image"])], [goal], [private])[0]
            obs, reward, terminated, truncated, info = env.step(action)
            done, steps = terminated or truncated, steps + 1
        wins += reward > 0
        lengths.append(steps)
    return wins / episodes, float(np.mean(lengths))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--domain", default="apartment")
    parser.add_argument("--interaction", default="approach")
    parser.add_argument("--seed", type=int, default=1000)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    table = Table(title=f"Rooms baselines: {args.episodes} episodes each, {args.domain}, {args.interaction}")
    for col in ("policy", "difficulty", "success", "mean steps"):
        table.add_column(col)
    for difficulty in ("easy", "hard"):
        env = gymnasium.make("crossview/Rooms-v0", domain=args.domain, interaction=args.interaction,
                             difficulty=difficulty)
        for policy in (OraclePolicy(), RandomPolicy()):
            rate, steps = run(policy, env.unwrapped, args.episodes, args.seed)
            table.add_row(policy.info.name, difficulty, f"{rate:.0%}", f"{steps:.1f}")
        env.close()
    Console().print(table)


if __name__ == "__main__":
    main()
