"""Statistics for generalization reports: pure functions over arrays, with rliable's definitions.

- Wilson score intervals for successes/n.
- Min-max normalized score: random policy at 0, oracle at 1, measured in the same run (GenRL's normalization).
- Mean and IQM across tasks with stratified bootstrap intervals (rliable: resample episodes within each task).
  Episodes are binary, so resampling n of them with replacement is exactly a Binomial(n, p̂) draw per task: the
  bootstrap is one vectorised call, fast enough for 100,000-episode runs.
- Performance profiles: fraction of tasks whose score exceeds τ, with bootstrap bands.
- Paired comparison of two policies on identical seeds: probability of improvement and the success difference,
  with stratified paired bootstrap intervals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

Z95 = float(sps.norm.ppf(0.975))


@dataclass(frozen=True)
class Interval:
    """A point estimate with a confidence interval."""

    value: float
    low: float
    high: float

    def fmt(self, pct: bool = True) -> str:
        if not np.isfinite(self.value):
            return "-"
        if pct:
            return f"{self.value:.0%} [{self.low:.0%}, {self.high:.0%}]"
        return f"{self.value:.2f} [{self.low:.2f}, {self.high:.2f}]"


def wilson(successes: np.ndarray | int, n: np.ndarray | int, z: float = Z95) -> tuple[np.ndarray, np.ndarray,
                                                                                      np.ndarray]:
    """Rate, lower and upper Wilson score bounds; NaN where n == 0."""
    k = np.asarray(successes, np.float64)
    n = np.asarray(n, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    return p, centre - half, centre + half


def normalized(score: np.ndarray | float, floor: np.ndarray | float, ceiling: np.ndarray | float) -> np.ndarray:
    """(score − floor) / (ceiling − floor); NaN where the ceiling does not beat the floor or either is missing."""
    s, lo, hi = (np.asarray(v, np.float64) for v in (score, floor, ceiling))
    span = hi - lo
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(span > 0, (s - lo) / span, np.nan)


def iqm(scores: np.ndarray, axis: int = -1) -> np.ndarray:
    """Interquartile mean: the mean of the middle 50% (rliable's IQM, scipy's 25% trimmed mean)."""
    return sps.trim_mean(np.asarray(scores, np.float64), 0.25, axis=axis)


AGGREGATES = {"mean": lambda x: np.mean(x, axis=-1), "iqm": iqm}


def bootstrap_rates(successes: np.ndarray, n: np.ndarray, reps: int, rng: np.random.Generator) -> np.ndarray:
    """reps × tasks success rates from a stratified bootstrap of each task's binary episodes."""
    k = np.asarray(successes)
    n = np.asarray(n)
    p = np.divide(k, n, out=np.zeros(len(k)), where=n > 0)
    return rng.binomial(n, p, size=(reps, len(k))) / np.maximum(n, 1)


def aggregate(successes: np.ndarray, n: np.ndarray, how: str = "iqm", floor: np.ndarray | None = None,
              ceiling: np.ndarray | None = None, reps: int = 2000, seed: int = 0, level: float = 0.95) -> Interval:
    """Mean or IQM across tasks of per-task success rate (normalized if floor/ceiling given), bootstrap CI."""
    k, n = np.asarray(successes), np.asarray(n)
    keep = n > 0
    if floor is not None and ceiling is not None:
        keep &= np.isfinite(normalized(0.5, floor, ceiling))
    if not keep.any():
        return Interval(float("nan"), float("nan"), float("nan"))
    k, n = k[keep], n[keep]
    f = AGGREGATES[how]

    def score(rates: np.ndarray) -> np.ndarray:
        return rates if floor is None else normalized(rates, np.asarray(floor)[keep], np.asarray(ceiling)[keep])

    point = float(f(score(k / n)))
    boots = f(score(bootstrap_rates(k, n, reps, np.random.default_rng(seed))))
    lo, hi = np.percentile(boots, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return Interval(point, float(lo), float(hi))


def performance_profile(rates: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """Fraction of tasks whose score exceeds each τ (rliable's score distribution)."""
    r = np.asarray(rates, np.float64)[..., None]
    return (r > np.asarray(taus)).mean(axis=-2)


def profile_with_bands(successes: np.ndarray, n: np.ndarray, taus: np.ndarray, reps: int = 1000, seed: int = 0,
                       level: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Performance profile over tasks with stratified-bootstrap bands."""
    k, n = np.asarray(successes), np.asarray(n)
    keep = n > 0
    k, n = k[keep], n[keep]
    point = performance_profile(k / n, taus)
    boots = performance_profile(bootstrap_rates(k, n, reps, np.random.default_rng(seed)), taus)
    lo, hi = np.percentile(boots, [100 * (1 - level) / 2, 100 * (1 + level) / 2], axis=0)
    return point, lo, hi


def _pair_counts(a: np.ndarray, b: np.ndarray, task: np.ndarray) -> np.ndarray:
    """Per task, how many binary pairs (A, B) fall in each cell 00, 01, 10, 11 (tasks × 4)."""
    _, inverse = np.unique(task, return_inverse=True)
    counts = np.zeros((inverse.max(initial=-1) + 1, 4), np.int64)
    np.add.at(counts, (inverse, 2 * np.asarray(a, np.int64) + np.asarray(b, np.int64)), 1)
    return counts


def _pair_stats(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Success difference A − B over all pairs, and P(A beats B) averaged over tasks, from cell counts."""
    nn = c.sum(-1)
    win, lose, tie = c[..., 2], c[..., 1], c[..., 3] + c[..., 0]
    return (win - lose).sum(-1) / nn.sum(-1), ((win + 0.5 * tie) / nn).mean(-1)


def probability_of_improvement(a: np.ndarray, b: np.ndarray, task: np.ndarray) -> float:
    """P(A beats B) on paired binary episodes, averaged over tasks: per task, mean of [a>b] + ½[a=b]."""
    counts = _pair_counts(a, b, task)
    return float(_pair_stats(counts)[1]) if len(counts) else float("nan")


@dataclass(frozen=True)
class Paired:
    """A paired comparison of policies A and B on identical episodes."""

    pairs: int
    tasks: int
    rate_a: float
    rate_b: float
    difference: Interval  # success rate of A minus B
    improvement: Interval  # probability that A beats B


def paired_comparison(a: np.ndarray, b: np.ndarray, task: np.ndarray, reps: int = 2000, seed: int = 0,
                      level: float = 0.95) -> Paired:
    """Compare binary outcomes of A and B on the same (task, seed) episodes, stratified by task."""
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    counts = _pair_counts(a, b, task)  # resampling a task's pairs is a multinomial draw over its four cells
    n = counts.sum(1)
    rng = np.random.default_rng(seed)
    draws = np.stack([rng.multinomial(n[t], counts[t] / n[t], size=reps) for t in range(len(counts))], axis=1)
    d0, p0 = _pair_stats(counts)
    db, pb = _pair_stats(draws)
    q = [100 * (1 - level) / 2, 100 * (1 + level) / 2]
    dl, dh = np.percentile(db, q)
    pl, ph = np.percentile(pb, q)
    return Paired(int(n.sum()), len(counts), float(a.mean()), float(b.mean()), Interval(float(d0), dl, dh),
                  Interval(float(p0), pl, ph))


def gap(k_in: np.ndarray, n_in: np.ndarray, k_out: np.ndarray, n_out: np.ndarray, reps: int = 2000, seed: int = 0,
        level: float = 0.95) -> Interval:
    """Mean per-task success in one group of tasks minus another's (e.g. source − zero-shot), bootstrap CI."""
    kin, nin, kout, nout = (np.asarray(v) for v in (k_in, n_in, k_out, n_out))
    mi, mo = nin > 0, nout > 0
    if not mi.any() or not mo.any():
        return Interval(float("nan"), float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    point = np.mean(kin[mi] / nin[mi]) - np.mean(kout[mo] / nout[mo])
    boots = (bootstrap_rates(kin[mi], nin[mi], reps, rng).mean(1)
             - bootstrap_rates(kout[mo], nout[mo], reps, rng).mean(1))
    lo, hi = np.percentile(boots, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return Interval(float(point), float(lo), float(hi))
