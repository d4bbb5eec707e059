"""Statistics checked against values worked out by hand (and scipy where it has the same definition)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest

from reports import stats


def test_wilson_by_hand_and_against_scipy() -> None:
    p, lo, hi = stats.wilson(8, 10)
    # centre = (0.8 + z²/20) / (1 + z²/10); half = z·sqrt(0.016 + z²/400) / (1 + z²/10), z = 1.95996
    assert p == pytest.approx(0.8)
    assert lo == pytest.approx(0.4902, abs=1e-4) and hi == pytest.approx(0.9433, abs=1e-4)
    for k, n in [(0, 5), (5, 5), (3, 7), (50, 100)]:
        ci = binomtest(k, n).proportion_ci(method="wilson")
        _, lo, hi = stats.wilson(k, n)
        assert (lo, hi) == pytest.approx((ci.low, ci.high), abs=1e-9)
    p, lo, hi = stats.wilson(0, 0)
    assert np.isnan(p) and np.isnan(lo) and np.isnan(hi)


def test_normalized_score() -> None:
    assert stats.normalized(0.5, 0.1, 0.9) == pytest.approx(0.5)
    assert stats.normalized(0.1, 0.1, 0.9) == 0 and stats.normalized(0.9, 0.1, 0.9) == 1
    assert np.isnan(stats.normalized(0.5, 0.6, 0.6)) and np.isnan(stats.normalized(0.5, np.nan, 0.9))


def test_iqm_is_the_middle_half_mean() -> None:
    assert stats.iqm(np.arange(1, 9)) == pytest.approx(4.5)  # mean of 3, 4, 5, 6
    assert stats.iqm(np.array([0, 0, 0, 0, 1, 1, 1, 100.0])) == pytest.approx(0.5)


def test_aggregate_degenerate_and_interval_contains_point() -> None:
    iv = stats.aggregate(np.array([10, 0]), np.array([10, 10]), "mean")
    assert (iv.value, iv.low, iv.high) == (0.5, 0.5, 0.5)  # certain outcomes: nothing to resample
    iv = stats.aggregate(np.array([3, 5, 7, 9]), np.array([10, 10, 10, 10]), "iqm")
    assert iv.value == pytest.approx(0.6) and iv.low < 0.6 < iv.high
    norm = stats.aggregate(np.array([5]), np.array([10]), "mean", floor=np.array([0.0]), ceiling=np.array([1.0]))
    assert norm.value == pytest.approx(0.5)
    empty = stats.aggregate(np.array([1]), np.array([0]))
    assert np.isnan(empty.value)


def test_performance_profile() -> None:
    assert stats.performance_profile(np.array([0.2, 0.5, 0.9]), np.array([0.0, 0.5])).tolist() == \
        pytest.approx([1.0, 1 / 3])


def test_probability_of_improvement_and_paired_comparison() -> None:
    a, b, task = np.array([1, 1, 0, 0]), np.array([0, 1, 0, 1]), np.zeros(4)
    # pairs: win, tie, tie, loss -> (1 + .5 + .5 + 0) / 4
    assert stats.probability_of_improvement(a, b, task) == pytest.approx(0.5)
    result = stats.paired_comparison(a, b, task, reps=500)
    assert result.difference.value == pytest.approx(0.0) and result.improvement.value == pytest.approx(0.5)
    assert result.pairs == 4 and result.tasks == 1
    always = stats.paired_comparison(np.ones(20, int), np.zeros(20, int), np.repeat([0, 1], 10), reps=200)
    assert always.difference.value == 1 and always.difference.low == 1 and always.improvement.value == 1


def test_gap() -> None:
    iv = stats.gap(np.array([9]), np.array([10]), np.array([3]), np.array([10]))
    assert iv.value == pytest.approx(0.6) and iv.low < 0.6 < iv.high
    assert np.isnan(stats.gap(np.array([1]), np.array([1]), np.array([]), np.array([])).value)
