"""Overdispersion: Laney's p' chart limits and the quasi-binomial trend test.

No published worked example of the p' chart whose data *and* resulting sigma_z or
limits could be read was found (searched: Minitab's Laney P' chart pages, whose
example data sit in DefectiveRecords.MTW and whose text gives only "sigma Z
approximately 1.7"; Anhoej's *SPC for Health Care* chapter on prime charts, which
tabulates the Mohammed et al. 2013 NHS data but shows the limits only as a figure,
computed with screened moving ranges; Laney's Quality Digest column of February 2007,
which has no numbers). So the p' chart is checked here against a plain, independent
re-implementation of Laney's formulas and against simulations with a known truth;
the classic p-chart kept beside it is checked against Montgomery's published example.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

import analysis

MONTHS = [f"{2024 + m // 12}-{m % 12 + 1:02d}" for m in range(24)]


def laney_by_hand(satisfied, total):
    """Laney (2002) written out term by term, one period at a time (no numpy)."""
    center = sum(satisfied) / sum(total)
    z = []
    for x, n in zip(satisfied, total, strict=True):
        if n > 0:
            z.append((x / n - center) / math.sqrt(center * (1 - center) / n))
    moving_ranges = [abs(z[i] - z[i - 1]) for i in range(1, len(z))]
    sigma_z = sum(moving_ranges) / len(moving_ranges) / 1.128
    limits = []
    for n in total:
        if n == 0:
            limits.append((math.nan, math.nan))
            continue
        half = 3 * math.sqrt(center * (1 - center) / n) * sigma_z
        limits.append((max(0.0, center - half), min(1.0, center + half)))
    return center, sigma_z, limits


def test_p_prime_limits_match_an_independent_implementation():
    """Unequal subgroup sizes, an empty month (left out of the moving ranges) and a
    month far below the rest (flagged by both charts)."""
    satisfied = [4210, 3980, 0, 4500, 3720, 4390, 4105, 3890, 4620, 4010, 3300, 4180]
    total = [5000, 4700, 0, 5300, 4500, 5100, 4800, 4650, 5400, 4750, 4900, 4950]
    result = analysis.trend(
        pd.DataFrame({"period": MONTHS[:12], "satisfied": satisfied, "total": total})
    )
    center, sigma_z, limits = laney_by_hand(satisfied, total)
    periods = result.periods
    assert result.sigma_z == pytest.approx(sigma_z, rel=1e-12)
    assert periods["sigma_z"].iloc[0] == pytest.approx(sigma_z, rel=1e-12)
    assert periods["center"].iloc[0] == pytest.approx(center, rel=1e-12)
    np.testing.assert_allclose(periods["lcl"], [low for low, _ in limits], rtol=1e-12)
    np.testing.assert_allclose(periods["ucl"], [high for _, high in limits], rtol=1e-12)
    csat = np.array(satisfied) / np.maximum(total, 1)
    expected_flags = [
        n > 0 and not low <= p <= high
        for p, n, (low, high) in zip(csat, total, limits, strict=True)
    ]
    assert list(periods["out_of_control"]) == expected_flags
    assert list(periods.loc[periods["out_of_control"], "period"]) == [MONTHS[10]]
    assert periods["out_of_control_p"].sum() > 1
    assert "Laney p' chart" in result.method[2]
    assert f"{sigma_z:.3g}" in result.method[2]


def test_classic_limits_kept_beside_p_prime_montgomery_orange_juice_cans():
    """Montgomery DC, Introduction to Statistical Quality Control (6th ed.), Example 7.1:
    30 samples of 50 cans; centre 0.2313, UCL 0.4102, LCL 0.0524, samples 15 and 23
    above the upper limit: reproduced by the classic p-chart columns. The p' chart of
    the same data (sigma_z = 1.661 by the independent implementation) flags nothing:
    the two assignable-cause samples widen the moving ranges that set its limits."""
    defective = [12, 15, 8, 10, 4, 7, 16, 9, 14, 10, 5, 6, 17, 12, 22,
                 8, 10, 5, 13, 11, 20, 18, 24, 15, 9, 12, 7, 13, 9, 6]  # fmt: skip
    periods_labels = [f"{i:02d}" for i in range(1, 31)]
    table = pd.DataFrame({"period": periods_labels, "satisfied": defective, "total": [50] * 30})
    result = analysis.trend(table)
    periods = result.periods
    assert periods["center"].iloc[0] == pytest.approx(0.2313, abs=5e-5)
    assert periods["ucl_p"].iloc[0] == pytest.approx(0.4102, abs=5e-5)
    assert periods["lcl_p"].iloc[0] == pytest.approx(0.0524, abs=5e-5)
    assert list(periods.loc[periods["out_of_control_p"], "period"]) == ["15", "23"]
    _, sigma_z, limits = laney_by_hand(defective, [50] * 30)
    assert result.sigma_z == pytest.approx(sigma_z, rel=1e-12)
    assert sigma_z == pytest.approx(1.661, abs=5e-4)
    assert periods["ucl"].iloc[0] == pytest.approx(limits[0][1], rel=1e-12)
    assert periods["lcl"].iloc[0] == 0.0  # 0.2313 - 0.2971 clipped
    assert not periods["out_of_control"].any()


def test_fewer_than_three_periods_fall_back_to_the_classic_p_chart():
    two = analysis.trend(
        pd.DataFrame({"period": MONTHS[:2], "satisfied": [4200, 4300], "total": [5000, 5000]})
    )
    assert two.sigma_z is None
    assert two.periods["sigma_z"].isna().all()
    np.testing.assert_array_equal(two.periods["lcl"], two.periods["lcl_p"])
    np.testing.assert_array_equal(two.periods["ucl"], two.periods["ucl_p"])
    assert list(two.periods["out_of_control"]) == list(two.periods["out_of_control_p"])
    assert "classic p-chart" in two.method[2]
    assert "at least 3 periods" in two.method[2]
    assert two.trend_test.dispersion is None
    assert two.trend_test.quasi_p_value is None
    assert two.to_dict()["sigma_z"] is None
    # An empty month does not count: two months with responses are still too few.
    gap = analysis.trend(
        pd.DataFrame({"period": MONTHS[:3], "satisfied": [4200, 0, 4300], "total": [5000, 0, 5000]})
    )
    assert gap.sigma_z is None
    three = analysis.trend(
        pd.DataFrame({"period": MONTHS[:3], "satisfied": [4200, 4350, 4300], "total": [5000] * 3})
    )
    assert three.sigma_z is not None
    assert three.trend_test.dispersion_df == 1


def test_underdispersion_narrows_the_limits_as_estimated():
    """sigma_z below 1 is used as it stands (not floored at 1), and the method says so."""
    satisfied = [4251, 4249, 4250, 4252, 4248, 4250, 4251, 4249]
    result = analysis.trend(
        pd.DataFrame({"period": MONTHS[:8], "satisfied": satisfied, "total": [5000] * 8})
    )
    assert result.sigma_z < 0.2
    half_p = result.periods["ucl_p"] - result.periods["center"]
    half = result.periods["ucl"] - result.periods["center"]
    np.testing.assert_allclose(half, half_p * result.sigma_z, rtol=1e-12)
    assert "not floored at 1" in result.method[2]


def test_quasi_binomial_test_matches_statsmodels_with_pearson_scale():
    """Our quasi-binomial figures against statsmodels' GLM on proportions with the trial
    counts as var_weights, scale="X2" (Pearson X2/df) and t inference."""
    rng = np.random.default_rng(41)
    total = rng.integers(3000, 6000, 18)
    rate = np.clip(0.8 + 0.002 * np.arange(18) + 0.012 * rng.standard_normal(18), 0, 1)
    satisfied = rng.binomial(total, rate)
    result = analysis.trend(
        pd.DataFrame({"period": MONTHS[:18], "satisfied": satisfied, "total": total})
    )
    test = result.trend_test
    exog = sm.add_constant(np.arange(18, dtype=float))
    fit = sm.GLM(satisfied / total, exog, family=sm.families.Binomial(), var_weights=total).fit(
        scale="X2", use_t=True
    )
    assert test.dispersion == pytest.approx(fit.scale, rel=1e-8)
    assert test.dispersion_df == 16
    assert test.quasi_p_value == pytest.approx(float(fit.pvalues[1]), rel=1e-6)
    low, high = np.exp(fit.conf_int()[1])
    assert test.quasi_ci_low == pytest.approx(low, rel=1e-8)
    assert test.quasi_ci_high == pytest.approx(high, rel=1e-8)
    # The unadjusted figures are untouched: same slope, Wald p from the binomial scale.
    plain = sm.GLM(np.column_stack([satisfied, total - satisfied]), exog,
                   family=sm.families.Binomial()).fit()  # fmt: skip
    assert test.odds_ratio == pytest.approx(math.exp(plain.params[1]), rel=1e-8)
    assert test.p_value == pytest.approx(float(plain.pvalues[1]), rel=1e-6)
    assert test.dispersion > 1
    assert test.quasi_p_value > test.p_value
    assert "quasi-binomial" in test.method
    serialised = result.to_dict()["trend_test"]
    for key in ("dispersion", "dispersion_df", "quasi_p_value", "quasi_ci_low", "quasi_ci_high"):
        assert serialised[key] is not None


def simulate(rng, replications, between_sd):
    """Flat series: 24 months of 5000 responses around 85%, month effects of sd between_sd."""
    flags = flags_classic = rejected = rejected_quasi = 0
    sigma_z, dispersion = [], []
    for _ in range(replications):
        rate = np.clip(0.85 + between_sd * rng.standard_normal(24), 0, 1)
        table = pd.DataFrame(
            {"period": MONTHS, "satisfied": rng.binomial(5000, rate), "total": [5000] * 24}
        )
        result = analysis.trend(table)
        flags += int(result.periods["out_of_control"].sum())
        flags_classic += int(result.periods["out_of_control_p"].sum())
        rejected += result.trend_test.p_value < 0.05
        rejected_quasi += result.trend_test.quasi_p_value < 0.05
        sigma_z.append(result.sigma_z)
        dispersion.append(result.trend_test.dispersion)
    periods = replications * 24
    return {
        "flag_rate": flags / periods,
        "flag_rate_classic": flags_classic / periods,
        "rejection": rejected / replications,
        "rejection_quasi": rejected_quasi / replications,
        "sigma_z": np.array(sigma_z),
        "dispersion": np.array(dispersion),
    }


def test_month_to_month_variation_does_not_flag_noise():
    """5000 responses a month, true CSAT 85% with one point (sd 0.01) of month-to-month
    variation and no trend; 300 replications of 24 months (fixed seed).

    Nominal 3-sigma two-sided false-alarm rate is 0.27% per month. The classic
    p-chart flags about 16% of months and the unadjusted logistic test rejects the
    flat series about 38% of the time; the p' chart and the quasi-binomial test
    stay near their nominal rates. sigma_z estimates sqrt(1 + 5000 * 0.01**2 /
    (0.85 * 0.15)) = 2.2; the Pearson dispersion its square, about 4.9."""
    result = simulate(np.random.default_rng(2026), 300, 0.01)
    assert result["flag_rate"] < 0.015
    assert result["flag_rate_classic"] > 0.10
    assert result["rejection_quasi"] < 0.10
    assert result["rejection"] > 0.25
    truth = math.sqrt(1 + 5000 * 0.01**2 / (0.85 * 0.15))
    assert np.mean(result["sigma_z"]) == pytest.approx(truth, rel=0.1)
    assert np.mean(result["dispersion"]) == pytest.approx(truth**2, rel=0.15)


def test_plain_binomial_data_keep_the_classic_limits():
    """No extra variation: sigma_z is near 1, the p' limits near the classic ones, and
    both charts and both tests keep near their nominal rates (200 replications)."""
    result = simulate(np.random.default_rng(7), 200, 0.0)
    assert np.mean(result["sigma_z"]) == pytest.approx(1.0, abs=0.05)
    assert np.median(np.abs(result["sigma_z"] - 1)) < 0.2
    assert np.mean(result["dispersion"]) == pytest.approx(1.0, abs=0.1)
    assert result["flag_rate"] < 0.01
    assert result["flag_rate_classic"] < 0.01
    assert result["rejection"] < 0.10
    assert result["rejection_quasi"] < 0.10
    # sigma_z's own sampling sd over 23 moving ranges: limits within about 20% of classic.
    assert stats.iqr(result["sigma_z"]) < 0.35
