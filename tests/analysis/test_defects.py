"""Defects found by the statistical audit, each pinned by a test that failed before its fix."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

import analysis

# --- 1. Adjusted residuals of a reason table with a zero cell ------------------------------


def haberman_adjusted_residuals(counts: np.ndarray) -> np.ndarray:
    """Haberman SJ (1973). The analysis of residuals in cross-classified tables.
    Biometrics 29:205-220; Agresti A (2002), Categorical Data Analysis, 2nd ed.,
    chapter 3 (standardized Pearson residuals):
    (O - E) / sqrt(E (1 - row/N) (1 - col/N)), with E = row col / N, on the raw counts."""
    counts = np.asarray(counts, dtype=float)
    n = counts.sum()
    row = counts.sum(axis=1, keepdims=True)
    col = counts.sum(axis=0, keepdims=True)
    expected = row * col / n
    return (counts - expected) / np.sqrt(expected * (1 - row / n) * (1 - col / n))


# A zero cell, and every expected count at least 5 (asymptotic test). Adding 0.5 to every
# cell shrinks the residuals enough to move the slow_processing cells across 0.05 (Holm).
ZERO_CELL = np.array([[0, 18, 24], [16, 18, 15]])
GROUPS = ["MIC", "MOF"]
REASONS = ["payment_error", "portal_error", "slow_processing"]


def zero_cell_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "group": np.repeat(GROUPS, len(REASONS)),
            "reason": np.tile(REASONS, len(GROUPS)),
            "count": ZERO_CELL.reshape(-1),
        }
    )


def test_adjusted_residuals_with_a_zero_cell_follow_haberman_on_the_raw_table():
    result = analysis.reason_breakdown(zero_cell_table())
    cells = result.cells.set_index(["group", "reason"]).loc[
        [(g, r) for g in GROUPS for r in REASONS]
    ]
    expected = haberman_adjusted_residuals(ZERO_CELL).reshape(-1)
    np.testing.assert_allclose(cells["adjusted_residual"], expected, rtol=1e-10)
    assert cells.loc[("MIC", "payment_error"), "adjusted_residual"] == pytest.approx(
        -4.079, abs=5e-4
    )

    # The residuals belong to the chi-square of the raw table: X2 is the sum of the squared
    # Pearson residuals, each the adjusted one times sqrt((1 - row/N)(1 - col/N)).
    raw = stats.chi2_contingency(ZERO_CELL, correction=False)
    n = ZERO_CELL.sum()
    shrink = np.outer(1 - ZERO_CELL.sum(axis=1) / n, 1 - ZERO_CELL.sum(axis=0) / n).reshape(-1)
    assert float(np.sum(cells["adjusted_residual"] ** 2 * shrink)) == pytest.approx(
        raw.statistic, rel=1e-10
    )
    assert result.test.statistic == pytest.approx(raw.statistic, rel=1e-10)

    # p-values, their Holm adjustment and the flags follow the corrected residuals.
    p = 2 * stats.norm.sf(np.abs(expected))
    np.testing.assert_allclose(cells["p_value"], p, rtol=1e-10)
    np.testing.assert_allclose(cells["p_adjusted"], multipletests(p, method="holm")[1], rtol=1e-10)
    assert cells.loc[("MIC", "slow_processing"), "p_adjusted"] < 0.05
    assert list(cells["significant"]) == [True, False, True, True, False, True]


def test_multi_select_z_with_a_zero_count_is_haberman_on_the_group_versus_rest_table():
    """Multi-select builds no Table: each cell's z is the pooled two-proportion z of the
    2×2 group-versus-rest table, which equals its Haberman adjusted residual (Agresti 2002,
    chapter 3: in a 2×2 table the standardized residuals are ±z, z² = X²). A zero count
    does not shift anything."""
    table = pd.DataFrame(
        {
            "group": ["MIC", "MIC", "MOF", "MOF"],
            "reason": ["payment_error", "portal_error"] * 2,
            "count": [0, 40, 30, 45],
        }
    )
    people = {"MIC": 100, "MOF": 100}
    result = analysis.reason_breakdown(table, respondents=people)
    cell = result.cells.set_index(["group", "reason"]).loc[("MIC", "payment_error")]
    two_by_two = np.array([[0, 100], [30, 70]])
    assert cell["adjusted_residual"] == pytest.approx(
        haberman_adjusted_residuals(two_by_two)[0, 0], rel=1e-10
    )
    assert cell["p_value"] == pytest.approx(
        stats.chi2_contingency(two_by_two, correction=False).pvalue, rel=1e-10
    )


# --- 2. Periods are ordered as dates, not as text -------------------------------------------

MONTHS = [f"2026-{m}" for m in range(1, 13)]
RISING = np.round(800 * np.linspace(0.80, 0.90, 12)).astype(int)
SCRAMBLED = [7, 0, 11, 3, 9, 1, 5, 10, 2, 8, 4, 6]


def rising_months() -> pd.DataFrame:
    table = pd.DataFrame({"period": MONTHS, "satisfied": RISING, "total": 800})
    return table.iloc[SCRAMBLED].reset_index(drop=True)


def test_unpadded_months_in_scrambled_order_are_a_steady_rise():
    result = analysis.trend(rising_months())
    assert list(result.periods["period"]) == MONTHS
    assert list(result.periods["satisfied"]) == list(RISING)
    assert result.trend_test.odds_ratio > 1
    assert result.trend_test.p_value < 0.001
    assert result.trend_test.cochran_armitage_p < 0.001
    assert (result.last_change.previous, result.last_change.period) == ("2026-11", "2026-12")


@pytest.mark.parametrize(
    "ordered",
    [
        ["2025-W52", "2026-W01", "2026-W2", "2026-W10", "2026-W53", "2027-W01"],
        ["2025-Q4", "2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4", "2027-Q1"],
        ["2025-12-31", "2026-01-01", "2026-01-02", "2026-1-10", "2026-02-01", "2026-10-01"],
        ["2025-11", "2025-12", "2026-1", "2026-02", "2026-3", "2026-10"],
        ["8", "9", "10", "11", "100", "101"],
        ["2021", "2022", "2023", "2024", "2025", "2026"],
    ],
)
def test_period_spellings_sort_in_calendar_order(ordered):
    table = pd.DataFrame({"period": ordered, "satisfied": [50, 55, 60, 65, 70, 75], "total": 100})
    result = analysis.trend(table.iloc[::-1])
    assert list(result.periods["period"]) == ordered
    assert list(result.periods["satisfied"]) == [50, 55, 60, 65, 70, 75]


def test_integer_periods_sort_as_numbers():
    table = pd.DataFrame({"period": [10, 9, 11, 8], "satisfied": [60, 55, 65, 50], "total": 100})
    assert list(analysis.trend(table).periods["period"]) == ["8", "9", "10", "11"]


@pytest.mark.parametrize(
    ("periods", "message"),
    [
        (["2026-01", "2026-Q1"], "mix"),
        (["2026-1", "2026-01"], "same period"),
        (["2026-W01", "2026-W1"], "same period"),
        (["spring", "autumn"], "cannot be put in time order"),
        (["2026-13", "2026-12"], "cannot be put in time order"),
        (["2026-W54", "2026-W01"], "cannot be put in time order"),
    ],
)
def test_periods_that_cannot_be_ordered_are_refused(periods, message):
    table = pd.DataFrame({"period": periods, "satisfied": [5, 6], "total": 10})
    with pytest.raises(ValueError, match=message):
        analysis.trend(table)
    with pytest.raises(ValueError, match=message):
        analysis.compare_trends(table.assign(group="MIC"))


def test_labels_without_a_calendar_order_follow_their_scores():
    table = pd.DataFrame(
        {
            "period": ["none", "high", "low"],
            "satisfied": [10, 30, 20],
            "total": 100,
            "score": [0, 2, 1],
        }
    )
    assert list(analysis.trend(table).periods["period"]) == ["none", "low", "high"]


def test_compare_trends_orders_unpadded_months_as_dates():
    rising = rising_months().assign(group="MIC")
    flat = pd.DataFrame({"group": "MOF", "period": MONTHS, "satisfied": 680, "total": 800})
    result = analysis.compare_trends(pd.concat([rising, flat.iloc[SCRAMBLED]]))
    slopes = result.slopes.set_index("group")
    assert slopes.loc["MIC", "odds_ratio"] > 1
    assert slopes.loc["MIC", "p_value"] < 0.001
    assert slopes.loc["MOF", "odds_ratio"] == pytest.approx(1.0)
    assert result.p_value < 0.001
    order = result.table.drop_duplicates("period").sort_values("t")["period"]
    assert list(order) == MONTHS


# --- 3. compare_trends: degrees of freedom that can be estimated, and no warnings ----------


def two_trends_and(single: str) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    rows = [
        {
            "group": group,
            "period": f"2026-{month:02d}",
            "satisfied": int(rng.binomial(500, rate + slope * month)),
            "total": 500,
        }
        for month in range(1, 7)
        for group, rate, slope in (("MIC", 0.78, 0.015), ("MOF", 0.85, 0.0))
    ]
    rows.append({"group": single, "period": "2026-03", "satisfied": 40, "total": 50})
    # A period with no responses does not make a second period for the group.
    rows.append({"group": single, "period": "2026-05", "satisfied": 0, "total": 0})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("single", ["HN", "ZZ"])  # sorts before (reference) and after
def test_a_group_seen_in_one_period_adds_no_degree_of_freedom(single):
    table = two_trends_and(single)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = analysis.compare_trends(table)
        without = analysis.compare_trends(table[table["group"] != single])
    assert result.df == 1
    assert result.statistic == pytest.approx(without.statistic, rel=1e-8)
    assert result.p_value == pytest.approx(stats.chi2.sf(without.statistic, 1), rel=1e-8)
    assert any(single in line and "one period" in line for line in result.method)
    assert set(result.slopes["group"]) == {"MIC", "MOF", single}
    alone = next(row for row in result.to_dict()["slopes"] if row["group"] == single)
    assert alone["odds_ratio"] is None


def test_compare_trends_with_one_estimable_group_is_not_applicable():
    table = two_trends_and("HN")
    table = table[table["group"] != "MOF"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = analysis.compare_trends(table)
    assert result.df == 0
    assert result.statistic is None
    assert result.p_value is None
    assert any("HN" in line for line in result.method)
