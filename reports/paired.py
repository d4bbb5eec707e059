"""Paired comparisons and rank agreement: pure functions over count arrays.

Two policies A and B met the same episodes (same task, seed and index). Per task the pairs fall in four cells,
counted as ``counts[..., 2·a + b]``: 00 (both failed), 01 (only B succeeded), 10 (only A), 11 (both).

- **Difference** A − B: pooled over every pair, (n10 − n01) / n, with Newcombe's interval for paired proportions
  (Newcombe 1998, method 10: Wilson intervals of each side combined with the phi correlation of the 2×2 table).
- **p-value**: exact McNemar test, two-sided: 2 · P(X ≤ min(n10, n01)) for X ~ Binomial(n10 + n01, ½), capped at 1.
- **Probability of improvement** P(A > B): per task (n10 + ½(n00 + n11)) / n, averaged over tasks. For 0/1
  outcomes this equals rliable's Mann-Whitney definition, google-research/rliable:rliable/metrics.py:73-95 (per
  task U / (n_x · n_y), averaged over tasks): both are ½ + ½(p_A − p_B) per task. Interval: per task, cell
  probabilities drawn from Dirichlet(counts + ½), percentile interval (hull with the point).
- **Holm**: step-down adjustment of many pairs' p-values (family-wise error 5%).
- **Rank agreement** between the source world's ranking of checkpoints and a zero-shot world's: Kendall τ-b (scipy)
  and SimplerEnv's mean maximum rank violation (simpler-env/SimplerEnv:simpler_env/utils/metrics.py:148-163: for
  each checkpoint i, the largest |real_i − real_j| over j ordered the other way round by the proxy; averaged).
- **Minimum detectable effect** of a two-sided 5% test with 80% power at rate p with n episodes per side:
  (z₀.₉₇₅ + z₀.₈) · sqrt(2 p (1 − p) / n) (normal approximation); and the episodes a difference d needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from reports.stats import Z95, Interval, newcombe_bounds, wilson

Z80 = float(sps.norm.ppf(0.8))


def pair_counts(a: np.ndarray, b: np.ndarray, task: np.ndarray) -> np.ndarray:
    """Per task, how many binary pairs (A, B) fall in each cell 00, 01, 10, 11 (tasks × 4)."""
    _, inverse = np.unique(task, return_inverse=True)
    counts = np.zeros((inverse.max(initial=-1) + 1, 4), np.int64)
    np.add.at(counts, (inverse, 2 * np.asarray(a, np.int64) + np.asarray(b, np.int64)), 1)
    return counts


def difference_bounds(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A − B and Newcombe's paired bounds (method 10) from ... × 4 pooled counts (vectorised)."""
    c = np.asarray(counts, np.float64)
    n00, n01, n10, n11 = c[..., 0], c[..., 1], c[..., 2], c[..., 3]
    n = c.sum(-1)
    p1, l1, u1 = wilson(n10 + n11, n)
    p2, l2, u2 = wilson(n01 + n11, n)
    denom = (n10 + n11) * (n00 + n01) * (n01 + n11) * (n00 + n10)
    with np.errstate(invalid="ignore", divide="ignore"):
        phi = np.where(denom > 0, (n11 * n00 - n10 * n01) / np.sqrt(np.where(denom > 0, denom, 1.0)), 0.0)
    lo, hi = newcombe_bounds(p1, l1, u1, p2, l2, u2, phi)
    return p1 - p2, lo, hi


def difference(counts: np.ndarray) -> Interval:
    """A − B over every pair (tasks × 4 counts, or one row), Newcombe's paired interval (method 10)."""
    total = np.asarray(counts).reshape(-1, 4).sum(0)
    if total.sum() == 0:
        return Interval(float("nan"), float("nan"), float("nan"))
    d, lo, hi = difference_bounds(total)
    return Interval(float(d), float(lo), float(hi))


def mcnemar_exact(n10: np.ndarray | int, n01: np.ndarray | int) -> np.ndarray:
    """Two-sided exact McNemar p-value from the discordant counts (1 where there is no discordant pair)."""
    b, c = np.asarray(n10, np.int64), np.asarray(n01, np.int64)
    m = b + c
    p = 2 * sps.binom.cdf(np.minimum(b, c), np.maximum(m, 1), 0.5)
    return np.where(m == 0, 1.0, np.minimum(p, 1.0))


def improvement(counts: np.ndarray) -> np.ndarray:
    """P(A beats B) averaged over tasks, from ... × tasks × 4 counts or probabilities."""
    c = np.asarray(counts, np.float64)
    n = c.sum(-1)
    return ((c[..., 2] + 0.5 * (c[..., 0] + c[..., 3])) / n).mean(-1)


def improvement_interval(counts: np.ndarray, reps: int = 2000, seed: int = 0, level: float = 0.95) -> Interval:
    """Probability of improvement with a Dirichlet(counts + ½) interval over each task's four cells."""
    c = np.asarray(counts, np.float64).reshape(-1, 4)
    c = c[c.sum(1) > 0]
    if not len(c):
        return Interval(float("nan"), float("nan"), float("nan"))
    point = float(improvement(c))
    g = np.random.default_rng(seed).gamma(c + 0.5, size=(reps, *c.shape))
    boots = improvement(g / g.sum(-1, keepdims=True))
    lo, hi = np.percentile(boots, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return Interval(point, float(min(lo, point)), float(max(hi, point)))


@dataclass(frozen=True)
class Paired:
    """A paired comparison of policies A and B on identical episodes."""

    pairs: int
    tasks: int
    rate_a: float
    rate_b: float
    difference: Interval  # success rate of A minus B, Newcombe's paired interval
    p_value: float  # exact McNemar, two-sided
    improvement: Interval  # probability that A beats B
    discordant: tuple[int, int]  # (only A succeeded, only B succeeded)


def compare(counts: np.ndarray, reps: int = 2000, seed: int = 0) -> Paired:
    """The paired comparison of tasks × 4 pair counts."""
    c = np.asarray(counts, np.int64).reshape(-1, 4)
    c = c[c.sum(1) > 0]
    tot = c.sum(0)
    n = int(tot.sum())
    rate_a = (tot[2] + tot[3]) / n if n else float("nan")
    rate_b = (tot[1] + tot[3]) / n if n else float("nan")
    return Paired(n, len(c), float(rate_a), float(rate_b), difference(c), float(mcnemar_exact(tot[2], tot[1])),
                  improvement_interval(c, reps, seed), (int(tot[2]), int(tot[1])))


def holm(pvalues: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (same order as given)."""
    p = np.asarray(pvalues, np.float64)
    m = len(p)
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adj
    return out


def kendall_tau(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's τ-b between two rankings' scores; NaN with fewer than two items or a constant side."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(sps.kendalltau(x, y).statistic)


def mmrv(proxy: np.ndarray, real: np.ndarray) -> float:
    """SimplerEnv's mean maximum rank violation of a proxy's scores (here the source world) against the real ones
    (a zero-shot world); 0 when the proxy orders every pair as the real scores do."""
    s, r = np.asarray(proxy, np.float64), np.asarray(real, np.float64)
    if len(s) == 0:
        return float("nan")
    violated = (s[:, None] > s[None, :]) != (r[:, None] > r[None, :])
    return float(np.where(violated, np.abs(r[:, None] - r[None, :]), 0.0).max(1).mean())


def mde(p: np.ndarray | float, n: np.ndarray | float) -> np.ndarray:
    """Smallest difference from rate p that n episodes per side detect (two-sided 5%, power 80%)."""
    p, n = np.clip(np.asarray(p, np.float64), 0.05, 0.95), np.asarray(n, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (Z95 + Z80) * np.sqrt(2 * p * (1 - p) / n)


def episodes_needed(p: float, d: float) -> float:
    """Episodes per side to detect a difference d from rate p (two-sided 5%, power 80%)."""
    p = min(max(p, 0.05), 0.95)
    return float(np.ceil((Z95 + Z80) ** 2 * 2 * p * (1 - p) / d**2)) if d > 0 else float("inf")
