"""Statistics for generalization reports: pure functions over count arrays (no episodes, no I/O).

Exact definitions (the report's "Definitions" section repeats them):

- **Per cell**: successes k of n judged episodes, rate k/n, 95% Wilson score interval.
- **Normalized score** (GenRL's min-max): (rate − random) / (oracle − random) on the same task, the baselines
  measured in the same runs. A task whose span oracle − random is below ``MIN_SPAN`` gets no normalized score (a
  span of 1/8 would multiply a score by 8); the report says how many were left out.
- **Mean across tasks**: the mean of per-task rates (rliable's ``aggregate_mean`` on a 1 × tasks matrix of
  per-task rates, google-research/rliable:rliable/metrics.py:20-30).
- **IQM across tasks**: the 25%-trimmed mean of per-task rates (scipy's ``trim_mean``, the function rliable's
  ``aggregate_iqm`` calls, rliable/metrics.py:61-70). rliable applies it to the runs × tasks matrix of scores; here
  each task contributes one number, its success rate, because an episode's 0/1 outcome is not a score to trim.
- **Interval of the mean** of success: the Wilson interval at the mean, with Kish's effective number of episodes
  n_eff = T² / Σ 1/n_t (= the pooled Wilson interval when every task has n episodes).
- **Intervals of the IQM and of normalized scores**: a *posterior-predictive stratified bootstrap*: per replicate
  and task, draw p* ~ Beta(k + ½, n − k + ½) (Jeffreys) and then k* ~ Binomial(n, p*); the statistic is recomputed
  on k*/n (the random and oracle baselines are redrawn the same way, so their uncertainty reaches normalized
  scores). Unlike the percentile bootstrap of k/n (rliable's default, rliable/library.py:211-265) it does not
  collapse to [0, 0] at 0/n or to [1, 1] at n/n. The interval is the hull of the 2.5/97.5 percentiles and the
  point estimate. Coverage measured by simulation is at least 93% for nominal 95% at n = 8
  (tests/reports/test_coverage.py).
- **Difference of two aggregates** (the source − zero-shot gap): Newcombe's hybrid score interval (MOVER) on the
  two aggregate intervals.
- **Performance profile**: fraction of tasks whose rate exceeds τ (rliable's ``mean_score_deviation`` with one
  run per task, rliable/library.py:292-294; not ``run_score_deviation``, which counts runs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

Z95 = float(sps.norm.ppf(0.975))
MIN_SPAN = 0.25  # smallest oracle − random success gap for which a normalized score is shown


@dataclass(frozen=True)
class Interval:
    """A point estimate with a confidence interval that contains it."""

    value: float
    low: float
    high: float

    def fmt(self, pct: bool = True) -> str:
        """``"23% [10%, 41%]"`` (or fractions with two decimals); ``"-"`` when there is no estimate."""
        if not np.isfinite(self.value):
            return "-"
        if pct:
            return f"{self.value:.0%} [{self.low:.0%}, {self.high:.0%}]"
        return f"{self.value:.2f} [{self.low:.2f}, {self.high:.2f}]"


NAN = Interval(float("nan"), float("nan"), float("nan"))


def wilson(successes: np.ndarray | int, n: np.ndarray | int | float, z: float = Z95
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rate, lower and upper Wilson score bounds; NaN where n == 0. ``n`` may be an effective (real) size."""
    k = np.asarray(successes, np.float64)
    n = np.asarray(n, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        return (p, *wilson_at(p, n, z))


def wilson_at(p: np.ndarray, n: np.ndarray, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson bounds at rate ``p`` and (possibly effective) size ``n``; exact 0 and 1 at the edges."""
    p, n = np.asarray(p, np.float64), np.asarray(n, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
        lo, hi = centre - half, centre + half
    return np.where(p <= 0, 0.0, np.clip(lo, 0, 1)), np.where(p >= 1, 1.0, np.clip(hi, 0, 1))


def newcombe_bounds(p1: np.ndarray, l1: np.ndarray, u1: np.ndarray, p2: np.ndarray, l2: np.ndarray,
                    u2: np.ndarray, phi: np.ndarray | float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of p1 − p2 by Newcombe's hybrid score method from each side's interval; ``phi`` is the correlation
    of the two sides (0 when independent; Newcombe 1998, method 10, for paired data). Works on arrays."""
    p1, l1, u1, p2, l2, u2, phi = (np.asarray(v, np.float64) for v in (p1, l1, u1, p2, l2, u2, phi))
    d = p1 - p2
    lo = d - np.sqrt(np.maximum((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2, 0.0))
    hi = d + np.sqrt(np.maximum((u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2, 0.0))
    return np.maximum(lo, -1.0), np.minimum(hi, 1.0)


def newcombe(p1: float, l1: float, u1: float, p2: float, l2: float, u2: float, phi: float = 0.0) -> Interval:
    """p1 − p2 with Newcombe's hybrid score interval (see ``newcombe_bounds``)."""
    lo, hi = newcombe_bounds(p1, l1, u1, p2, l2, u2, phi)
    return Interval(float(p1 - p2), float(lo), float(hi))


def normalized(score: np.ndarray | float, floor: np.ndarray | float, ceiling: np.ndarray | float,
               min_span: float = 0.0) -> np.ndarray:
    """(score − floor) / (ceiling − floor); NaN where the span is below ``min_span`` (or not positive) or missing."""
    s, lo, hi = (np.asarray(v, np.float64) for v in (score, floor, ceiling))
    span = hi - lo
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((span > 0) & (span >= min_span), (s - lo) / span, np.nan)


def iqm(scores: np.ndarray, axis: int = -1) -> np.ndarray:
    """Interquartile mean: the 25%-trimmed mean (scipy's trim_mean, as rliable's aggregate_iqm)."""
    return sps.trim_mean(np.asarray(scores, np.float64), 0.25, axis=axis)


AGGREGATES = {"mean": lambda x: np.mean(x, axis=-1), "iqm": iqm}


def predictive_rates(successes: np.ndarray, n: np.ndarray, reps: int, rng: np.random.Generator) -> np.ndarray:
    """reps × tasks rates from the posterior-predictive bootstrap: p* ~ Beta(k+½, n−k+½), k* ~ Binomial(n, p*)."""
    k = np.asarray(successes, np.float64)
    n = np.asarray(n, np.int64)
    p = rng.beta(k + 0.5, n - k + 0.5, size=(reps, len(k)))
    return rng.binomial(n, p) / np.maximum(n, 1)


def kish_size(n: np.ndarray) -> float:
    """Kish's effective number of episodes behind a mean of per-task rates: T² / Σ 1/n_t."""
    n = np.asarray(n, np.float64)
    return float(len(n) ** 2 / np.sum(1.0 / n))


def _hull(point: float, boots: np.ndarray, level: float) -> Interval:
    lo, hi = np.nanpercentile(boots, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return Interval(float(point), float(min(lo, point)), float(max(hi, point)))


def aggregate(successes: np.ndarray, n: np.ndarray, how: str = "iqm", floor: tuple[np.ndarray, np.ndarray] | None
              = None, ceiling: tuple[np.ndarray, np.ndarray] | None = None, reps: int = 2000, seed: int = 0,
              level: float = 0.95, min_span: float = MIN_SPAN) -> Interval:
    """Mean or IQM across tasks of per-task success rate, or of normalized score when the baselines are given as
    (successes, n) per task; interval as in the module docstring. Tasks with n == 0 (or, normalized, a span below
    ``min_span``) are left out."""
    return aggregates(successes, n, (how,), floor, ceiling, reps, seed, level, min_span)[how]


def aggregates(successes: np.ndarray, n: np.ndarray, hows: tuple[str, ...] = ("mean", "iqm"),
               floor: tuple[np.ndarray, np.ndarray] | None = None, ceiling: tuple[np.ndarray, np.ndarray] | None = None,
               reps: int = 2000, seed: int = 0, level: float = 0.95, min_span: float = MIN_SPAN) -> dict[str, Interval]:
    """``aggregate`` for several statistics at once, sharing one set of bootstrap replicates."""
    k, n = np.asarray(successes, np.float64), np.asarray(n, np.float64)
    keep = n > 0
    if floor is not None and ceiling is not None:
        fk, fn = (np.asarray(v, np.float64) for v in floor)
        ck, cn = (np.asarray(v, np.float64) for v in ceiling)
        with np.errstate(invalid="ignore", divide="ignore"):
            keep &= np.isfinite(normalized(0.0, fk / fn, ck / cn, min_span))
    if not keep.any():
        return {how: NAN for how in hows}
    rng = np.random.default_rng(seed)
    k, n = k[keep], n[keep]
    out = {}
    if floor is None or ceiling is None:
        rates = k / n
        if "mean" in hows:  # closed form: Wilson at Kish's effective size
            point = float(np.mean(rates))
            lo, hi = wilson_at(point, kish_size(n), float(sps.norm.ppf((1 + level) / 2)))
            out["mean"] = Interval(point, float(min(lo, point)), float(max(hi, point)))
        rest = [h for h in hows if h != "mean"]
        if rest:
            boots = predictive_rates(k, n, reps, rng)
            out |= {h: _hull(float(AGGREGATES[h](rates)), AGGREGATES[h](boots), level) for h in rest}
        return {h: out[h] for h in hows}
    boots = predictive_rates(k, n, reps, rng)
    fk, fn, ck, cn = fk[keep], fn[keep], ck[keep], cn[keep]
    scores_now = normalized(k / n, fk / fn, ck / cn)
    bf, bc = predictive_rates(fk, fn, reps, rng), predictive_rates(ck, cn, reps, rng)
    with np.errstate(invalid="ignore", divide="ignore"):
        span = np.maximum(bc - bf, max(min_span, 1.0 / float(np.max(cn))))  # a redrawn span keeps the minimum
        scores = (boots - bf) / span
    return {h: _hull(float(AGGREGATES[h](scores_now)), AGGREGATES[h](scores), level) for h in hows}


def gap(k_in: np.ndarray, n_in: np.ndarray, k_out: np.ndarray, n_out: np.ndarray, reps: int = 2000, seed: int = 0,
        level: float = 0.95) -> Interval:
    """Mean per-task success in one group of tasks minus another's (source − zero-shot), Newcombe interval."""
    a = aggregate(k_in, n_in, "mean", reps=reps, seed=seed, level=level)
    b = aggregate(k_out, n_out, "mean", reps=reps, seed=seed + 1, level=level)
    if not (np.isfinite(a.value) and np.isfinite(b.value)):
        return NAN
    return newcombe(a.value, a.low, a.high, b.value, b.low, b.high)


def performance_profile(rates: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """Fraction of tasks whose score exceeds each τ (rliable's mean_score_deviation, one run per task)."""
    r = np.asarray(rates, np.float64)[..., None]
    return (r > np.asarray(taus)).mean(axis=-2)


def profile_with_bands(successes: np.ndarray, n: np.ndarray, taus: np.ndarray, reps: int = 1000, seed: int = 0,
                       level: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Performance profile over tasks with posterior-predictive bootstrap bands (always containing the point)."""
    k, n = np.asarray(successes), np.asarray(n)
    keep = n > 0
    k, n = k[keep], n[keep]
    point = performance_profile(k / n, taus)
    boots = performance_profile(predictive_rates(k, n, reps, np.random.default_rng(seed)), taus)
    lo, hi = np.percentile(boots, [100 * (1 - level) / 2, 100 * (1 + level) / 2], axis=0)
    return point, np.minimum(lo, point), np.maximum(hi, point)


def paired_comparison(a: np.ndarray, b: np.ndarray, task: np.ndarray, reps: int = 2000, seed: int = 0):
    """Binary outcomes of A and B on the same items, stratified by ``task``: ``reports.paired.Paired`` (difference
    with Newcombe's paired interval, exact McNemar p, probability of improvement). Kept here for callers of the
    earlier API (reports/probe.py)."""
    from reports import paired  # paired builds on this module

    return paired.compare(paired.pair_counts(a, b, task), reps=reps, seed=seed)
