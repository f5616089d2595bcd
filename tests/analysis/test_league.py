"""League tables for many small groups: empirical-Bayes CSAT, funnel limits, rank intervals."""

from __future__ import annotations

import ast
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, special, stats

import analysis
from analysis.league import fit_beta_prior

# Rat tumour data: Gelman et al., Bayesian Data Analysis (3rd ed.), Table 5.1 (from
# Tarone 1982), the 70 historical control experiments (the current experiment, 4 of
# 14, left out); tumours y of n rats. Copied from BDA3/data/rat_tumor_data.txt in
# github.com/pymc-devs/pymc-resources (the book's rats.asc).
RAT_Y = [0] * 14 + [1] * 8 + [3] + [2] * 9 + [1, 5, 2, 5, 2, 7, 7, 3, 3, 2, 9, 10]
RAT_Y += [4] * 7 + [10, 4, 4, 4, 5, 11, 12, 5, 5, 6, 5, 6, 6, 6, 6, 16, 15, 15, 9]
RAT_N = [20] * 7 + [19] * 4 + [18, 18, 17] + [20] * 4 + [19, 19, 18, 18, 27, 25, 24, 23]
RAT_N += [20] * 6 + [10, 49, 19, 46, 17, 49, 47, 20, 20, 13, 48, 50] + [20] * 7
RAT_N += [48, 19, 19, 19, 22, 46, 49, 20, 20, 23, 19, 22, 20, 20, 20, 52, 46, 47, 24]

# Number of boys among the first 12 children of 6,115 families in 19th-century Saxony
# (Geissler's data, as printed in Sokal & Rohlf's Biometry); index = number of boys.
SAXONY = [3, 24, 104, 286, 670, 1033, 1343, 1112, 829, 478, 181, 45, 7]


def counts(satisfied, total) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "group": [f"G{i:02d}" for i in range(len(total))],
            "satisfied": satisfied,
            "total": total,
        }
    )


RATS = counts(RAT_Y, RAT_N)
SMALL = pd.DataFrame(
    {
        "group": ["A", "B", "C", "D", "E"],
        "satisfied": [18, 150, 700, 30, 0],
        "total": [20, 200, 1000, 50, 0],
    }
)


def direct_mle(x, n, weights=None) -> tuple[float, float]:
    """Independent check: Nelder-Mead on (log alpha, log beta) of the beta-binomial
    log-likelihood written with gammaln (``weights``: how many groups have each x, n)."""
    x, n = np.asarray(x, float), np.asarray(n, float)
    weights = np.ones(x.shape) if weights is None else np.asarray(weights, float)

    def negative(p):
        a, b = np.exp(p)
        return -np.sum(
            weights
            * (
                special.gammaln(x + a)
                + special.gammaln(n - x + b)
                - special.gammaln(n + a + b)
                - special.gammaln(a)
                - special.gammaln(b)
                + special.gammaln(a + b)
            )
        )

    found = optimize.minimize(
        negative,
        [0.0, 1.0],
        method="Nelder-Mead",
        options={"xatol": 1e-9, "fatol": 1e-10, "maxiter": 5000, "maxfev": 10000},
    )
    return tuple(np.exp(found.x))


# --- published examples ------------------------------------------------------------


def test_beta_binomial_mle_rat_tumour_bayesgof():
    """Mukhopadhyay S & Fletcher D, "Bayes via Goodness of Fit", vignette of the R
    package BayesGOF (CRAN), section I, steps 1 and 3a: the maximum-likelihood
    beta-binomial fit (gMLE.bb) to the k = 70 rat tumour experiments of BDA3 Table 5.1
    prints g.par alpha = 2.304768, beta = 14.079707, i.e. Beta(2.3, 14.1)."""
    prior = analysis.shrink_satisfaction(RATS).prior
    assert prior.alpha == pytest.approx(2.304768, rel=5e-4)
    assert prior.beta == pytest.approx(14.079707, rel=5e-4)
    assert f"{prior.alpha:.3g}" == "2.3"
    assert f"{prior.beta:.3g}" == "14.1"
    assert prior.mean == pytest.approx(2.304768 / (2.304768 + 14.079707), rel=5e-4)
    assert not prior.capped
    assert prior.converged


def test_method_of_moments_start_saxony_sex_ratio():
    """Wikipedia, "Beta-binomial distribution", example (sex ratio heterogeneity):
    method-of-moments estimates alpha = 34.1350, beta = 31.6085 for the Saxony
    families of 12 (figures as quoted in the 2012 Mathematics Stack Exchange question
    on that example; data as in the GenStat CAST e-book, "Sex of babies")."""
    boys = np.repeat(np.arange(13), SAXONY)
    prior = fit_beta_prior(boys, np.full(boys.shape, 12))
    assert prior.moments_alpha == pytest.approx(34.1350, abs=5e-5)
    assert prior.moments_beta == pytest.approx(31.6085, abs=5e-5)
    # the maximum-likelihood estimate, against an independent maximisation
    alpha, beta = direct_mle(np.arange(13), np.full(13, 12), weights=SAXONY)
    assert prior.alpha == pytest.approx(alpha, rel=1e-4)
    assert prior.beta == pytest.approx(beta, rel=1e-4)


# --- empirical Bayes ---------------------------------------------------------------


def test_mle_matches_a_direct_maximisation():
    rng = np.random.default_rng(11)
    total = rng.integers(20, 2001, 63)
    satisfied = rng.binomial(total, rng.beta(20, 6, 63))
    for x, n in ((RAT_Y, RAT_N), (satisfied, total)):
        prior = fit_beta_prior(x, n)
        alpha, beta = direct_mle(x, n)
        assert prior.alpha == pytest.approx(alpha, rel=1e-4)
        assert prior.beta == pytest.approx(beta, rel=1e-4)
        assert prior.log_likelihood == pytest.approx(
            np.sum(stats.betabinom.logpmf(x, n, alpha, beta)), abs=1e-6
        )


def test_posterior_per_group():
    result = analysis.shrink_satisfaction(RATS)
    prior, groups = result.prior, result.groups
    a, b = prior.alpha, prior.beta
    x, n = groups["satisfied"], groups["total"]
    assert np.allclose(groups["shrunken"], (a + x) / (a + b + n))
    assert np.allclose(groups["ci_low"], stats.beta.ppf(0.025, a + x, b + n - x))
    assert np.allclose(groups["ci_high"], stats.beta.ppf(0.975, a + x, b + n - x))
    weight = groups["shrinkage_weight"]
    assert np.allclose(weight, n / (a + b + n))
    assert np.allclose(groups["shrunken"], weight * groups["csat"] + (1 - weight) * prior.mean)
    assert prior.concentration == pytest.approx(a + b)
    assert prior.sd == pytest.approx(math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1))))
    assert prior.icc == pytest.approx(1 / (a + b + 1))
    assert (groups["ci_low"] < groups["shrunken"]).all()
    assert (groups["shrunken"] < groups["ci_high"]).all()
    narrower = analysis.shrink_satisfaction(RATS, level=0.5).groups
    assert (narrower["ci_high"] - narrower["ci_low"] < groups["ci_high"] - groups["ci_low"]).all()


def test_no_between_group_variation_caps_the_prior():
    table = counts([80] * 10, [100] * 10)
    result = analysis.shrink_satisfaction(table)
    prior = result.prior
    assert prior.capped
    assert prior.moments_alpha is None
    assert prior.concentration == pytest.approx(1000)
    # the beta-binomial MLE of the mean is not exactly the pooled rate (0.7997 here)
    assert prior.mean == pytest.approx(0.8, abs=1e-3)
    assert np.allclose(result.groups["shrunken"], 0.8, atol=1e-3)
    assert np.allclose(result.groups["shrinkage_weight"], 100 / 1100)
    assert any("capped" in line for line in result.method)
    assert "capped" in result.summary()


def test_groups_without_responses():
    result = analysis.shrink_satisfaction(SMALL)
    empty = result.groups.set_index("group").loc["E"]
    assert math.isnan(empty["csat"])
    assert empty["shrunken"] == pytest.approx(result.prior.mean)
    assert empty["shrinkage_weight"] == 0
    assert json.loads(json.dumps(result.to_dict(), allow_nan=False))["groups"][4]["csat"] is None


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (counts([5], [10]), "two groups"),
        (counts([10, 20], [10, 20]), "every response is satisfied"),
        (counts([0, 0], [10, 20]), "every response is unsatisfied"),
        (counts([1, 0, 1], [1, 1, 1]), "two or more responses"),
        (counts([0, 0], [0, 0]), "no responses"),
        (pd.DataFrame({"group": ["A"], "total": [3]}), "missing column"),
        (counts([5, 12], [10, 11]), "satisfied exceeds total"),
    ],
)
def test_shrink_rejects(table, message):
    with pytest.raises(ValueError, match=message):
        analysis.shrink_satisfaction(table)


def test_bad_arguments():
    with pytest.raises(ValueError, match="level"):
        analysis.shrink_satisfaction(SMALL, level=1.2)
    with pytest.raises(ValueError, match="limits"):
        analysis.funnel_plot(SMALL, limits="poisson")
    with pytest.raises(ValueError, match="target"):
        analysis.funnel_plot(SMALL, target=1.0)
    with pytest.raises(ValueError, match="grid"):
        analysis.funnel_plot(SMALL, grid=[0, 10])
    with pytest.raises(ValueError, match="draws"):
        analysis.rank_intervals(SMALL, draws=0)
    with pytest.raises(ValueError, match="satisfied"):
        fit_beta_prior([3, 4], [2, 5])


# --- funnel plot -------------------------------------------------------------------


def brute_force_limit(probability: float, n: int, target: float) -> float:
    """Spiegelhalter (2005) appendix A.1.1 written out with exact binomial sums."""
    cdf, r = 0.0, -1
    while cdf < probability:
        r += 1
        mass = math.comb(n, r) * target**r * (1 - target) ** (n - r)
        cdf += mass
    a = (cdf - probability) / mass
    return min(1.0, max(0.0, (r - a) / n))


@pytest.mark.parametrize("target", [0.83, 0.2])
def test_exact_funnel_limits_match_a_brute_force(target):
    grid = [*range(1, 61), 150, 400]
    funnel = analysis.funnel_plot(SMALL, target=target, grid=grid)
    limits = funnel.limits.set_index("total")
    for n in grid:
        for level, name in ((0.95, "95"), (0.998, "998")):
            tail = (1 - level) / 2
            assert limits.loc[n, f"lower_{name}"] == pytest.approx(
                brute_force_limit(tail, n, target), abs=1e-9
            )
            assert limits.loc[n, f"upper_{name}"] == pytest.approx(
                brute_force_limit(1 - tail, n, target), abs=1e-9
            )


def test_normal_funnel_limits_and_agreement_for_large_n():
    grid = [100, 1000, 100_000]
    normal = analysis.funnel_plot(SMALL, target=0.8, limits="normal", grid=grid).limits
    for z, name in ((1.959964, "95"), (3.090232, "998")):
        half = z * np.sqrt(0.8 * 0.2 / np.array(grid))
        assert np.allclose(normal[f"upper_{name}"], 0.8 + half, atol=1e-6)
        assert np.allclose(normal[f"lower_{name}"], 0.8 - half, atol=1e-6)
    exact = analysis.funnel_plot(SMALL, target=0.8, grid=grid).limits
    big = exact["total"] == 100_000
    for column in ("lower_95", "upper_95", "lower_998", "upper_998"):
        assert exact.loc[big, column].iloc[0] == pytest.approx(
            normal.loc[big, column].iloc[0], abs=2e-4
        )


def test_funnel_flags_and_target():
    table = pd.DataFrame(
        {
            "group": ["low", "high", "mid", "small", "none"],
            "satisfied": [700, 980, 8500, 14, 0],
            "total": [1000, 1000, 10_000, 20, 0],
        }
    )
    funnel = analysis.funnel_plot(table)
    assert funnel.target == pytest.approx(10_194 / 12_020)
    assert funnel.target_pooled
    groups = funnel.groups.set_index("group")
    assert list(groups["outside_95"]) == [True, True, False, False, False]
    assert list(groups["outside_998"]) == [True, True, False, False, False]
    assert groups.loc["low", "direction"] == "below"
    assert groups.loc["high", "direction"] == "above"
    assert pd.isna(groups.loc["small", "direction"])
    assert math.isnan(groups.loc["none", "upper_95"])
    assert groups.loc["small", "lower_998"] < groups.loc["small", "lower_95"]
    assert groups.loc["small", "upper_95"] < groups.loc["small", "upper_998"]
    assert funnel.df == 3
    assert funnel.chi_square == pytest.approx(np.nansum(groups["z"] ** 2))
    assert funnel.dispersion > 1
    given = analysis.funnel_plot(table, target=0.7)
    assert not given.target_pooled
    assert given.df == 4
    drawn = funnel.limits
    assert drawn["total"].min() == 10
    assert drawn["total"].max() == 11_000
    assert drawn["total"].is_monotonic_increasing
    assert (drawn["lower_998"] <= drawn["lower_95"]).all()
    assert (drawn["upper_95"] <= drawn["upper_998"]).all()


# --- rank intervals ----------------------------------------------------------------


def test_rank_intervals_are_reproducible_and_ordered():
    result = analysis.rank_intervals(RATS, draws=1000, seed=7)
    again = analysis.rank_intervals(RATS, draws=1000, seed=7)
    pd.testing.assert_frame_equal(result.groups, again.groups)
    groups = result.groups
    assert groups["rank_low"].min() >= 1
    assert groups["rank_high"].max() <= len(RATS)
    assert (groups["rank_low"] <= groups["rank_median"]).all()
    assert (groups["rank_median"] <= groups["rank_high"]).all()
    assert result.prior == analysis.shrink_satisfaction(RATS).prior
    # rank 1 = highest CSAT
    clear = pd.DataFrame(
        {
            "group": ["best", "worst", "a", "b", "c"],
            "satisfied": [990, 100, 600, 620, 580],
            "total": [1000, 1000, 1000, 1000, 1000],
        }
    )
    ranks = analysis.rank_intervals(clear).groups.set_index("group")
    assert ranks.loc["best", ["rank_low", "rank_median", "rank_high"]].tolist() == [1, 1, 1]
    assert ranks.loc["worst", ["rank_low", "rank_median", "rank_high"]].tolist() == [5, 5, 5]
    assert ranks.loc["best", "rank_raw"] == 1


# --- results -----------------------------------------------------------------------

RESULTS = {
    "shrink": lambda: analysis.shrink_satisfaction(SMALL),
    "funnel": lambda: analysis.funnel_plot(SMALL),
    "ranks": lambda: analysis.rank_intervals(SMALL, draws=500),
}


@pytest.mark.parametrize("name", RESULTS)
def test_results_in_the_house_style(name):
    result = RESULTS[name]()
    data = result.to_dict()
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert "table" not in data
    assert data["method"] == result.method
    assert all(isinstance(line, str) for line in result.method)
    frame = result.to_frame()
    pd.testing.assert_frame_equal(frame, result.groups)
    frame["group"] = "changed"
    assert list(result.groups["group"]) == ["A", "B", "C", "D", "E"]
    text = result.summary()
    assert isinstance(text, str)
    assert "E" in text
    with pytest.raises(AttributeError):
        result.method = []


def test_league_imports_only_statistics():
    source = Path(analysis.__file__).with_name("league.py").read_text(encoding="utf-8")
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported <= {"__future__", "collections", "dataclasses", "numpy", "pandas"} | {
        "scipy",
        "analysis",
    }


# --- simulations with known truth --------------------------------------------------

PROVINCES = 63


def provinces(rng, truth) -> tuple[pd.DataFrame, np.ndarray]:
    total = rng.integers(20, 2001, PROVINCES)
    return counts(rng.binomial(total, truth), total), total


def test_simulation_shrinkage_beats_raw_csat_and_intervals_cover():
    """63 provinces, true CSAT ~ Beta(40, 10) (mean 0.8, SD 0.056), 20-2,000 responses
    each; 100 replications. Shrunken estimates have lower mean squared error than the
    raw CSAT, and the 95% posterior intervals cover the truth about 95% of the time."""
    rng = np.random.default_rng(2005)
    raw_error = shrunken_error = covered = seen = capped = 0
    for _ in range(100):
        truth = rng.beta(40, 10, PROVINCES)
        table, _ = provinces(rng, truth)
        result = analysis.shrink_satisfaction(table)
        groups = result.groups
        raw_error += np.mean((groups["csat"] - truth) ** 2)
        shrunken_error += np.mean((groups["shrunken"] - truth) ** 2)
        covered += int(((groups["ci_low"] <= truth) & (truth <= groups["ci_high"])).sum())
        seen += PROVINCES
        capped += result.prior.capped
    assert shrunken_error < 0.85 * raw_error
    assert 0.93 <= covered / seen <= 0.97
    assert capped == 0


@pytest.mark.parametrize("limits", ["exact", "normal"])
def test_simulation_funnel_flags_with_no_true_variation(limits):
    """Every province has true CSAT 0.8: about 5% fall outside the 95% limits and
    about 0.2% outside the 99.8% limits (100 replications of 63 provinces)."""
    rng = np.random.default_rng(1185)
    outside_95 = outside_998 = seen = 0
    for _ in range(100):
        table, _ = provinces(rng, 0.8)
        groups = analysis.funnel_plot(table, limits=limits).groups
        outside_95 += int(groups["outside_95"].sum())
        outside_998 += int(groups["outside_998"].sum())
        seen += PROVINCES
    assert 0.03 <= outside_95 / seen <= 0.07
    assert outside_998 / seen <= 0.01


def test_simulation_no_true_variation_is_caught_by_the_prior():
    """With no true variation the estimated between-province SD is tiny: it is capped or
    far below the sampling error of a 20-response province."""
    rng = np.random.default_rng(1202)
    for _ in range(20):
        table, _ = provinces(rng, 0.8)
        prior = analysis.shrink_satisfaction(table).prior
        assert prior.capped or prior.sd < 0.02
        assert prior.mean == pytest.approx(0.8, abs=0.01)


def test_simulation_rank_intervals_of_small_provinces_are_wide():
    """Ten provinces of 20-40 responses and 53 of 200-2,000: the small ones' 95% rank
    intervals are far wider, and the raw league table puts small provinces at its
    extremes more often than their share."""
    rng = np.random.default_rng(63)
    widths_small, widths_large, extremes_small = [], [], 0
    for _ in range(10):
        truth = rng.beta(40, 10, PROVINCES)
        total = np.concatenate([rng.integers(20, 41, 10), rng.integers(200, 2001, 53)])
        table = counts(rng.binomial(total, truth), total)
        groups = analysis.rank_intervals(table, draws=2000).groups
        width = groups["rank_high"] - groups["rank_low"]
        widths_small.append(width[:10].mean())
        widths_large.append(width[10:].mean())
        raw = groups["rank_raw"]
        extremes_small += int(((raw[:10] <= 3) | (raw[:10] >= PROVINCES - 2)).sum())
    assert np.mean(widths_small) > 2 * np.mean(widths_large)
    assert np.mean(widths_small) > 30
    # 10 of 63 provinces hold 6 extreme places per table: 0.95 expected by chance alone
    assert extremes_small / 10 > 2


def test_funnel_when_every_response_is_satisfied():
    funnel = analysis.funnel_plot(counts([5, 7], [5, 7]))
    assert funnel.target == 1
    assert not funnel.groups["outside_95"].any()
    assert funnel.groups["z"].isna().all()
    assert funnel.dispersion is None
    assert json.dumps(funnel.to_dict(), allow_nan=False)
