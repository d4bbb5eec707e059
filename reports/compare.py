"""Paired comparison of two policies on the episodes they share (same task, seed and index)."""

from __future__ import annotations

from pathlib import Path

from harness.errors import CrossviewError
from reports import stats, tables

PAIR_KEY = [*tables.TASK, "seed", "index"]


def paired_frame(runs: list[str | Path], a: str, b: str):
    """Judged episodes of A and B joined on the pair key."""
    df, _, _ = tables.load_runs(runs)
    names = sorted(df["policy"].unique())
    for p in (a, b):
        if p not in names:
            raise CrossviewError(f"policy {p!r} is not in these runs: known policies are {', '.join(names)}")
    judged = df[df["judged"]]
    left = judged[judged["policy"] == a][[*PAIR_KEY, "win"]]
    right = judged[judged["policy"] == b][[*PAIR_KEY, "win"]]
    pairs = left.merge(right, on=PAIR_KEY, suffixes=("_a", "_b"))
    if pairs.empty:
        raise CrossviewError(f"{a!r} and {b!r} share no judged episode (same task and seed) in these runs")
    return pairs


def compare_policies(runs: list[str | Path], a: str, b: str, reps: int = 2000) -> str:
    """A few lines for the terminal: rates, difference and probability of improvement with intervals."""
    pairs = paired_frame(runs, a, b)
    task = pairs[tables.TASK].astype(str).agg("/".join, axis=1).to_numpy()
    result = stats.paired_comparison(pairs["win_a"].astype(int).to_numpy(), pairs["win_b"].astype(int).to_numpy(),
                                     task, reps=reps)
    return "\n".join([
        f"paired comparison on {result.pairs} shared episodes over {result.tasks} tasks",
        f"  success A ({a}): {result.rate_a:.1%}    success B ({b}): {result.rate_b:.1%}",
        f"  difference A - B: {result.difference.value:+.1%} "
        f"[{result.difference.low:+.1%}, {result.difference.high:+.1%}] (95% stratified paired bootstrap)",
        f"  P(A beats B):     {result.improvement.value:.2f} "
        f"[{result.improvement.low:.2f}, {result.improvement.high:.2f}]",
    ])
