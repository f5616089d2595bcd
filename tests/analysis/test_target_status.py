"""Targets read as meets / below / inconclusive from each group's own 95% interval."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import analysis
from analysis.satisfaction import BELOW, INCONCLUSIVE, MEETS


def one_group(satisfied: int, total: int, target: float) -> pd.Series:
    table = pd.DataFrame(
        {"group": ["A", "B"], "satisfied": [satisfied, 500], "total": [total, 1000]}
    )
    return analysis.compare_satisfaction(table, target=target).groups.iloc[0]


@pytest.mark.parametrize(("target", "status"), [(0.25, MEETS), (0.30, INCONCLUSIVE), (0.37, BELOW)])
def test_status_against_a_published_wilson_interval(target, status):
    """Newcombe (1998), Statistics in Medicine 17:857-872, Table I: 81/263 has the Wilson
    interval 0.2553 to 0.3662, which lies above 25 %, contains 30 % and lies under 37 %."""
    row = one_group(81, 263, target)
    assert (round(row["ci_low"], 4), round(row["ci_high"], 4)) == (0.2553, 0.3662)
    assert row["target_status"] == status


def test_a_small_province_far_below_target_reads_below_whatever_the_adjustment():
    """34/40 = 85 % against 95 %: p = 0.014 on its own, above 0.05 after Holm over 63
    provinces, so ``below_target`` stays False; its interval (71 % to 93 %) is under 95 %."""
    table = pd.DataFrame(
        {
            "group": [f"P{i:02d}" for i in range(63)],
            "satisfied": [34] + [39] * 62,
            "total": [40] * 63,
        }
    )
    row = analysis.compare_satisfaction(table, target=0.95).groups.iloc[0]
    assert row["target_p_value"] == pytest.approx(
        stats.binomtest(34, 40, 0.95, alternative="less").pvalue
    )
    assert row["target_p_value"] < 0.05 < row["target_p_adjusted"]
    assert not row["below_target"]
    assert row["target_status"] == BELOW
    assert "target status" in " ".join(analysis.compare_satisfaction(table).method)


def test_a_group_without_responses_has_no_status():
    table = pd.DataFrame({"group": ["A", "B"], "satisfied": [0, 90], "total": [0, 100]})
    groups = analysis.compare_satisfaction(table).groups
    assert pd.isna(groups.iloc[0]["target_status"])
    assert groups.iloc[1]["target_status"] == BELOW
    assert analysis.compare_satisfaction(table).to_dict()["groups"][0]["target_status"] is None


def test_when_the_truth_is_the_target_the_status_is_rarely_decided():
    """Simulation with known truth: a true CSAT exactly at the target reads ``meets`` or
    ``below`` only when its 95 % interval misses the truth, about 2.5 % each way."""
    rng = np.random.default_rng(2026)
    target, n, runs = 0.95, 400, 1000
    satisfied = rng.binomial(n, target, size=runs)
    table = pd.DataFrame(
        {"group": [f"g{i}" for i in range(runs)], "satisfied": satisfied, "total": n}
    )
    statuses = analysis.compare_satisfaction(table, target=target).groups["target_status"]
    shares = statuses.value_counts(normalize=True)
    assert shares.get(BELOW, 0) < 0.045
    assert shares.get(MEETS, 0) < 0.045
    assert shares[INCONCLUSIVE] > 0.92


def exact_share(n: int, truth: float, target: float, status: str) -> float:
    """The probability that a group of ``n`` with true CSAT ``truth`` gets ``status``,
    summed over every possible count (no simulation)."""
    counts = np.arange(n + 1)
    low, high = analysis.wilson(counts, np.full(n + 1, n))
    decided = {MEETS: low >= target, BELOW: high < target}[status]
    return float(stats.binom.pmf(counts, n, truth)[decided].sum())


@pytest.mark.parametrize(("truth", "status"), [(0.85, BELOW), (0.99, MEETS)])
def test_far_from_the_target_the_status_is_decided_as_often_as_it_should(truth, status):
    """Simulation with known truth: provinces of 200 responses at 85 % (or 99 %) against
    95 % read below (or meets) as often as the exact binomial sum says, and mostly so."""
    rng = np.random.default_rng(7)
    runs, n = 1000, 200
    satisfied = rng.binomial(n, truth, size=runs)
    table = pd.DataFrame(
        {"group": [f"g{i}" for i in range(runs)], "satisfied": satisfied, "total": n}
    )
    statuses = analysis.compare_satisfaction(table, target=0.95).groups["target_status"]
    expected = exact_share(n, truth, 0.95, status)
    assert expected > 0.8
    error = np.sqrt(expected * (1 - expected) / runs)
    assert abs((statuses == status).mean() - expected) < 4 * error
