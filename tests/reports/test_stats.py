"""Statistics checked against values worked out by hand, scipy where it has the same definition, and the
definitions of rliable (google-research/rliable:rliable/metrics.py) and SimplerEnv
(simpler-env/SimplerEnv:simpler_env/utils/metrics.py:148-163), re-derived here from their documented formulas."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest, kendalltau, mannwhitneyu, trim_mean

from reports import paired, stats


def test_wilson_by_hand_and_against_scipy() -> None:
    p, lo, hi = stats.wilson(8, 10)
    # centre = (0.8 + z²/20) / (1 + z²/10); half = z·sqrt(0.016 + z²/400) / (1 + z²/10), z = 1.95996
    assert p == pytest.approx(0.8)
    assert lo == pytest.approx(0.4902, abs=1e-4) and hi == pytest.approx(0.9433, abs=1e-4)
    for k, n in [(0, 5), (5, 5), (3, 7), (50, 100)]:
        ci = binomtest(k, n).proportion_ci(method="wilson")
        _, lo, hi = stats.wilson(k, n)
        assert (lo, hi) == pytest.approx((ci.low, ci.high), abs=1e-9)
    assert stats.wilson(0, 8)[1] == 0.0 and stats.wilson(8, 8)[2] == 1.0  # exact at the edges
    p, lo, hi = stats.wilson(0, 0)
    assert np.isnan(p) and np.isnan(lo) and np.isnan(hi)


def test_normalized_score_and_minimum_span() -> None:
    assert stats.normalized(0.5, 0.1, 0.9) == pytest.approx(0.5)
    assert stats.normalized(0.1, 0.1, 0.9) == 0 and stats.normalized(0.9, 0.1, 0.9) == 1
    assert np.isnan(stats.normalized(0.5, 0.6, 0.6)) and np.isnan(stats.normalized(0.5, np.nan, 0.9))
    assert np.isnan(stats.normalized(0.125, 0.0, 0.125, min_span=0.25))  # 0/8 vs 1/8 would scale by 8


def test_iqm_is_the_middle_half_mean_as_rliable() -> None:
    assert stats.iqm(np.arange(1, 9)) == pytest.approx(4.5)  # mean of 3, 4, 5, 6
    assert stats.iqm(np.array([0, 0, 0, 0, 1, 1, 1, 100.0])) == pytest.approx(0.5)
    rates = np.array([0.1, 0.4, 0.2, 0.9, 0.5, 0.7, 0.3, 0.8])
    # rliable's aggregate_iqm (metrics.py:61-70) on a 1 × tasks matrix of per-task rates
    assert stats.iqm(rates) == pytest.approx(trim_mean(rates[None, :], 0.25, axis=None))


def test_mean_interval_is_pooled_wilson_with_equal_n() -> None:
    iv = stats.aggregate(np.array([3, 5, 0, 8]), np.full(4, 8), "mean")
    _, lo, hi = stats.wilson(16, 32)
    assert iv.value == pytest.approx(0.5) and (iv.low, iv.high) == pytest.approx((float(lo), float(hi)))
    assert stats.kish_size(np.array([4, 4, 8, 8])) == pytest.approx(16 / (0.25 + 0.25 + 0.125 + 0.125))


def test_aggregate_contains_point_and_never_collapses() -> None:
    iv = stats.aggregate(np.array([3, 5, 7, 9]), np.array([10, 10, 10, 10]), "iqm")
    assert iv.value == pytest.approx(0.6) and iv.low < 0.6 < iv.high
    certain = stats.aggregate(np.array([10, 0]), np.array([10, 10]), "mean")
    assert certain.value == 0.5 and certain.low < 0.5 < certain.high
    for how in ("mean", "iqm"):  # 0/n everywhere: the interval still reaches above zero
        zero = stats.aggregate(np.zeros(8), np.full(8, 8), how)
        assert zero.value == 0 and zero.low == 0 and zero.high > 0.01
    empty = stats.aggregate(np.array([1]), np.array([0]))
    assert np.isnan(empty.value)


def test_normalized_aggregate_uses_baselines_with_their_uncertainty() -> None:
    k, n = np.array([4, 4]), np.array([8, 8])
    floor, ceiling = (np.array([0, 0]), np.array([8, 8])), (np.array([8, 8]), np.array([8, 8]))
    iv = stats.aggregate(k, n, "mean", floor, ceiling)
    assert iv.value == pytest.approx(0.5) and iv.low < 0.5 < iv.high
    narrow = stats.aggregate(k, n, "mean", (np.array([0, 0]), n), (np.array([1, 1]), n))
    assert np.isnan(narrow.value)  # span 1/8 is below the minimum


def test_performance_profile_as_rliable_average_score_distribution() -> None:
    rates = np.array([0.2, 0.5, 0.9])
    assert stats.performance_profile(rates, np.array([0.0, 0.5])).tolist() == pytest.approx([1.0, 1 / 3])
    # rliable's mean_score_deviation (library.py:292-294) with one run per task
    assert stats.performance_profile(rates, np.array([0.3]))[0] == np.mean(np.mean(rates[None, :], axis=0) > 0.3)


def test_probability_of_improvement_by_hand_and_as_rliable() -> None:
    a, b, task = np.array([1, 1, 0, 0]), np.array([0, 1, 0, 1]), np.zeros(4)
    counts = paired.pair_counts(a, b, task)
    # pairs: win, tie, tie, loss -> (1 + .5 + .5 + 0) / 4
    assert counts.tolist() == [[1, 1, 1, 1]] and paired.improvement(counts) == pytest.approx(0.5)
    rng = np.random.default_rng(0)
    a, b = rng.random((2, 3, 16)) < np.array([[0.2], [0.5], [0.7]])
    task = np.repeat(np.arange(3)[:, None], 16, 1)
    # rliable (metrics.py:73-95): per task Mann-Whitney U / (n_x n_y), averaged over tasks
    by_rliable = np.mean([0.5 if np.array_equal(a[t], b[t]) else
                          mannwhitneyu(a[t], b[t], alternative="greater").statistic / 256 for t in range(3)])
    ours = paired.improvement(paired.pair_counts(a.ravel(), b.ravel(), task.ravel()))
    assert ours == pytest.approx(by_rliable)


def test_paired_comparison_difference_and_mcnemar() -> None:
    counts = np.array([[10, 2, 9, 11]])  # 00, 01 (only B), 10 (only A), 11
    r = paired.compare(counts, reps=500)
    assert r.pairs == 32 and r.rate_a == pytest.approx(20 / 32) and r.rate_b == pytest.approx(13 / 32)
    assert r.difference.value == pytest.approx(7 / 32) and r.difference.low < 7 / 32 < r.difference.high
    assert r.p_value == pytest.approx(binomtest(9, 11, 0.5).pvalue)  # exact McNemar = binomial on discordant
    assert r.discordant == (9, 2)
    assert paired.mcnemar_exact(0, 0) == 1.0 and paired.mcnemar_exact(5, 0) == pytest.approx(2 / 32)
    always = paired.compare(np.array([[0, 0, 10, 0], [0, 0, 10, 0]]), reps=200)
    assert always.difference.value == 1 and always.difference.low < 1 and always.improvement.value == 1


def test_newcombe_paired_by_hand() -> None:
    # 38 pairs: 16 both failed, 8 only B, 2 only A, 12 both (order 00, 01, 10, 11). Newcombe 1998 method 10:
    # p1 = 14/38, p2 = 20/38 with Wilson bounds; phi = (12·16 − 2·8) / sqrt(14·24·20·18) = 176 / 347.76
    p1, l1, u1 = (float(v) for v in stats.wilson(14, 38))
    p2, l2, u2 = (float(v) for v in stats.wilson(20, 38))
    phi = 176 / np.sqrt(14 * 24 * 20 * 18)
    low = p1 - p2 - np.sqrt((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2)
    high = p1 - p2 + np.sqrt((u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2)
    iv = paired.difference(np.array([16, 8, 2, 12]))
    assert iv.value == pytest.approx(-6 / 38) and iv.low == pytest.approx(low) and iv.high == pytest.approx(high)
    assert iv.low == pytest.approx(-0.2993, abs=1e-4) and iv.high < 0  # 8 of the 10 discordant pairs favour B


def test_gap_is_newcombe_on_the_means() -> None:
    iv = stats.gap(np.array([9]), np.array([10]), np.array([3]), np.array([10]))
    # Newcombe (1998, independent, method 10) for 9/10 − 3/10 by hand from the two Wilson intervals
    _, l1, u1 = stats.wilson(9, 10)
    _, l2, u2 = stats.wilson(3, 10)
    assert iv.value == pytest.approx(0.6)
    assert iv.low == pytest.approx(0.6 - np.sqrt((0.9 - l1) ** 2 + (u2 - 0.3) ** 2))
    assert np.isnan(stats.gap(np.array([1]), np.array([1]), np.array([]), np.array([])).value)


def test_holm_by_hand() -> None:
    adj = paired.holm(np.array([0.01, 0.04, 0.03, 0.5]))
    # sorted 0.01·4 = 0.04, 0.03·3 = 0.09, 0.04·2 = 0.08 → 0.09 (monotone), 0.5·1 = 0.5
    assert adj.tolist() == pytest.approx([0.04, 0.09, 0.09, 0.5])


def test_rank_agreement_kendall_and_simplerenv_mmrv() -> None:
    proxy, real = np.array([0.1, 0.3, 0.2, 0.6]), np.array([0.05, 0.2, 0.25, 0.5])
    assert paired.kendall_tau(proxy, real) == pytest.approx(kendalltau(proxy, real).statistic)
    # checkpoints 2 and 3 are swapped by the proxy: each has max violation |0.2 − 0.25| = 0.05, others 0
    assert paired.mmrv(proxy, real) == pytest.approx(0.1 / 4)
    assert paired.mmrv(real, real) == 0 and np.isnan(paired.kendall_tau(np.ones(3), real[:3]))


def test_minimum_detectable_effect() -> None:
    # (1.95996 + 0.84162) · sqrt(2 · 0.5 · 0.5 / 100) = 2.80158 · 0.070711 = 0.19810
    assert paired.mde(0.5, 100) == pytest.approx(0.19810, abs=1e-5)
    assert paired.episodes_needed(0.5, 0.19810) == pytest.approx(100, abs=1)
    assert paired.mde(0.0, 100) == paired.mde(0.05, 100)  # 0/n does not claim infinite precision
