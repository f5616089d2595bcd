"""Results checked against published worked examples, to at least 3 significant digits."""

from __future__ import annotations

import pandas as pd
import pytest

import analysis
from analysis.significance import two_proportions


@pytest.mark.parametrize(
    ("count", "total", "low", "high"),
    [
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_interval_newcombe_1998a(count, total, low, high):
    """Newcombe RG (1998). Two-sided confidence intervals for the single proportion:
    comparison of seven methods. Statistics in Medicine 17:857-872, Table II, method 3
    (Wilson score interval without continuity correction)."""
    got_low, got_high = analysis.wilson(count, total)
    assert float(got_low) == pytest.approx(low, abs=5e-5)
    assert float(got_high) == pytest.approx(high, abs=5e-5)


@pytest.mark.parametrize(
    ("x1", "n1", "x2", "n2", "low", "high"),
    [
        (56, 70, 48, 80, 0.0524, 0.3339),
        (9, 10, 3, 10, 0.1705, 0.8090),
        (5, 56, 0, 29, -0.0381, 0.1926),
        (0, 10, 0, 20, -0.1611, 0.2775),
        (10, 10, 0, 20, 0.6791, 1.0000),
    ],
)
def test_newcombe_difference_interval_newcombe_1998b(x1, n1, x2, n2, low, high):
    """Newcombe RG (1998). Interval estimation for the difference between independent
    proportions: comparison of eleven methods. Statistics in Medicine 17:873-890,
    Table II, method 10 (hybrid score interval from Wilson intervals)."""
    got_low, got_high = analysis.newcombe(x1, n1, x2, n2)
    assert got_low == pytest.approx(low, abs=5e-5)
    assert got_high == pytest.approx(high, abs=5e-5)


def test_chi_square_and_adjusted_residuals_agresti_party_identification():
    """Agresti A (2007). An Introduction to Categorical Data Analysis, 2nd ed., Tables 2.5
    and 2.6: party identification by gender (General Social Survey). X2 = 30.1 on df 2;
    standardized (adjusted) residuals 4.50, 0.70, -5.32 for females."""
    table = pd.DataFrame(
        {
            "group": ["female"] * 3 + ["male"] * 3,
            "reason": ["democrat", "independent", "republican"] * 2,
            "count": [762, 327, 468, 484, 239, 477],
        }
    )
    result = analysis.reason_breakdown(table)
    assert result.test.statistic == pytest.approx(30.07, abs=0.01)
    assert result.test.df == 2
    assert "asymptotic" in result.test.method
    female = result.cells[result.cells["group"] == "female"].set_index("reason")
    assert female.loc["democrat", "adjusted_residual"] == pytest.approx(4.50, abs=0.005)
    assert female.loc["independent", "adjusted_residual"] == pytest.approx(0.70, abs=0.005)
    assert female.loc["republican", "adjusted_residual"] == pytest.approx(-5.32, abs=0.005)
    assert list(female["significant"]) == [True, False, True]


def test_fisher_exact_tea_tasting():
    """Fisher's tea-tasting experiment as in Agresti (2007), Section 2.6.2, Table 2.8:
    3 of 4 cups guessed right; two-sided P = 0.486."""
    result = two_proportions(3, 4, 1, 4)
    assert result.method.startswith("Fisher")
    assert result.p_value == pytest.approx(0.486, abs=5e-4)


def test_two_proportion_test_agresti_aspirin():
    """Agresti (2007), Table 2.3 (Physicians' Health Study): myocardial infarction in
    189 of 11034 on placebo and 104 of 11037 on aspirin; Pearson X2 = 25.01 (z^2)."""
    result = two_proportions(189, 11034, 104, 11037)
    assert result.method.startswith("two-proportion z")
    assert result.statistic**2 == pytest.approx(25.01, abs=0.005)
    assert result.p_value < 1e-6


def test_cochran_armitage_agresti_infant_malformation():
    """Agresti (2007), Table 2.7 and Section 2.5.3: infant malformation by mother's
    alcohol consumption, scores (0, 0.5, 1.5, 4.0, 7.0): M2 = 6.57, P = 0.0104;
    with equally spaced scores (1..5) the trend test gives 1.83, P = 0.18."""
    table = pd.DataFrame(
        {
            "period": ["0", "<1", "1-2", "3-5", ">=6"],
            "satisfied": [48, 38, 5, 1, 1],
            "total": [17066 + 48, 14464 + 38, 788 + 5, 126 + 1, 37 + 1],
            "score": [0, 0.5, 1.5, 4.0, 7.0],
        }
    )
    result = analysis.trend(table)
    assert result.trend_test.cochran_armitage == pytest.approx(6.57, abs=0.005)
    assert result.trend_test.cochran_armitage_p == pytest.approx(0.0104, abs=5e-5)
    assert result.trend_test.odds_ratio > 1
    equal = analysis.trend(table.assign(score=[1, 2, 3, 4, 5]))
    assert equal.trend_test.cochran_armitage == pytest.approx(1.83, abs=0.01)
    assert equal.trend_test.cochran_armitage_p == pytest.approx(0.18, abs=0.005)


def test_p_chart_montgomery_orange_juice_cans():
    """Montgomery DC, Introduction to Statistical Quality Control (6th ed.), Example 7.1:
    30 samples of 50 cans, 347 nonconforming; centre 0.2313, UCL 0.4102, LCL 0.0524,
    samples 15 and 23 above the upper limit. These are the classic p-chart's limits
    (``*_p`` columns); the flags the service shows use Laney's p' limits, which these
    overdispersed data widen (tests/analysis/test_overdispersion.py)."""
    defective = [12, 15, 8, 10, 4, 7, 16, 9, 14, 10, 5, 6, 17, 12, 22,
                 8, 10, 5, 13, 11, 20, 18, 24, 15, 9, 12, 7, 13, 9, 6]  # fmt: skip
    table = pd.DataFrame(
        {"period": [f"{i:02d}" for i in range(1, 31)], "satisfied": defective, "total": [50] * 30}
    )
    periods = analysis.trend(table).periods
    assert periods["center"].iloc[0] == pytest.approx(0.2313, abs=5e-5)
    assert periods["ucl_p"].iloc[0] == pytest.approx(0.4102, abs=5e-5)
    assert periods["lcl_p"].iloc[0] == pytest.approx(0.0524, abs=5e-5)
    assert list(periods.loc[periods["out_of_control_p"], "period"]) == ["15", "23"]
