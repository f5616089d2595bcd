"""Key drivers: a published example of clustered standard errors, least squares on the
individual responses, a simulation with known truth, ranking, shares, the data that
break naive fits, and disclosure control."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels
import statsmodels.api as sm
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

import analysis
from analysis.drivers import _rank
from analysis.moments import CONSTANT, cross_products, ols_from_moments
from analysis.results import json_safe
from tests.questionnaires.test_dossier_evaluation import CRITERIA as DOSSIER_CRITERIA

CRITERIA = list(DOSSIER_CRITERIA)  # the criteria of dossier-evaluation
CELL = "cell"


def expand(patterns: pd.DataFrame) -> pd.DataFrame:
    """Answer patterns with a ``count`` -> one row per response."""
    return (
        patterns.loc[patterns.index.repeat(patterns["count"])]
        .drop(columns="count")
        .reset_index(drop=True)
    )


def moments_of(
    rows: pd.DataFrame, outcome: str, criteria: list[str], satisfied_from: int = 4
) -> pd.DataFrame:
    """What the service stores: per cell, the sums of ``moment_terms`` over its complete
    cases (one response at a time, as the storage adds them)."""
    complete = rows.dropna(subset=[outcome, *criteria])
    records = [
        {
            CELL: answer[CELL],
            **analysis.moment_terms(
                outcome,
                int(answer[outcome]),
                {c: int(answer[c]) for c in criteria},
                satisfied_from=satisfied_from,
            ),
        }
        for answer in complete.to_dict(orient="records")
    ]
    if not records:
        return pd.DataFrame()
    return pd.DataFrame(records).groupby(CELL, sort=True).sum().reset_index()


def fast_moments(rows: pd.DataFrame, outcome: str, criteria: list[str]) -> pd.DataFrame:
    """The same sums, column-wise (for simulations of many replications)."""
    complete = rows.dropna(subset=[outcome, *criteria])
    values = {CONSTANT: np.ones(len(complete)), outcome: (complete[outcome] >= 4).to_numpy()}
    values |= {c: complete[c].to_numpy() for c in criteria}
    names = list(values)
    products = pd.DataFrame(
        {analysis.term(a, b): values[a] * values[b] for i, a in enumerate(names) for b in names[i:]}
    )
    return products.groupby(complete[CELL].to_numpy()).sum().reset_index(names=CELL)


def shares_of(rows: pd.DataFrame, questions: list[str], satisfied_from: int = 4) -> pd.DataFrame:
    """Per question, every response that answered it and those rating it satisfied."""
    return pd.DataFrame(
        {
            "question": questions,
            "n": [int(rows[q].notna().sum()) for q in questions],
            "satisfied": [int((rows[q] >= satisfied_from).sum()) for q in questions],
        }
    )


def drivers(rows: pd.DataFrame, outcome: str, criteria, **options) -> analysis.DriversResult:
    criteria = list(criteria)
    return analysis.key_drivers(
        moments_of(rows, outcome, criteria, options.get("satisfied_from", 4)),
        outcome,
        criteria,
        shares=shares_of(rows, [outcome, *criteria], options.get("satisfied_from", 4)),
        **options,
    )


def simulate(
    rng: np.random.Generator,
    effects: dict[str, float],
    n: int,
    intercept: float,
    cells: int = 40,
    missing: float = 0.15,
    shift: float = 0.05,
) -> pd.DataFrame:
    """Individual responses from a linear probability model with known effects per point.

    Each cell has its own typical rating of each criterion, and shifts the chance of
    being satisfied by up to ``shift`` either way (independently of the ratings, so
    the truth stays linear in them): responses of a cell are correlated beyond what
    the criteria explain, which is what the cluster-robust variance is for. Every
    criterion but the first is skipped at random with probability ``missing``. The
    overall rating is 4-5 when satisfied, 1-3 otherwise."""
    names = list(effects)
    cell = rng.integers(0, cells, n)
    typical = rng.integers(1, 6, (cells, len(names)))[cell]
    ratings = np.clip(typical + rng.integers(-1, 2, (n, len(names))), 1, 5).astype(float)
    chance = intercept + rng.uniform(-shift, shift, cells)[cell] + ratings @ list(effects.values())
    assert ((chance >= 0) & (chance <= 1)).all(), "the truth must be a probability"
    satisfied = rng.random(n) < chance
    overall = np.where(satisfied, rng.integers(4, 6, n), rng.integers(1, 4, n)).astype(float)
    rows = pd.DataFrame(ratings, columns=names)
    rows.insert(0, "overall", overall)
    rows.insert(0, CELL, cell)
    for name in names[1:]:
        rows.loc[rng.random(n) < missing, name] = np.nan
    return rows


def published(result) -> str:
    return json.dumps(json_safe(analysis.suppress(result).to_dict()), sort_keys=True)


def row(result, criterion: str) -> pd.Series:
    frame = result.criteria
    return frame[frame["criterion"] == criterion].iloc[0]


# --- published example -------------------------------------------------------------


def test_petersen_test_data_firm_clustered_standard_errors():
    """Petersen MA (2009). Estimating standard errors in finance panel data sets:
    comparing approaches. Review of Financial Studies 22(1), 435-480; the test data
    and results on his page "Programming Advice - Finance Panel Data Sets"
    (https://www.kellogg.northwestern.edu/faculty/petersen/htm/papers/se/test_data.htm):
    500 firms x 10 years, OLS of y on x: intercept 0.0297, slope 1.0348; standard
    errors clustered by firm 0.0670 and 0.0506 (Stata's ``cluster(firm)``). The data
    ship with statsmodels, whose own test checks the same figures."""
    data = pd.read_csv(
        Path(statsmodels.__file__).parent / "stats/tests/test_data.txt",
        sep=r"\s+",
        header=None,
        names=["firm", "year", "x", "y"],
    )
    per_firm = (
        data.assign(
            **{"1*1": 1.0, "1*x": data["x"], "x*x": data["x"] ** 2, "1*y": data["y"]},
            **{"x*y": data["x"] * data["y"]},
        )
        .groupby("firm")[["1*1", "1*x", "x*x", "1*y", "x*y"]]
        .sum()
    )
    xx, xy = cross_products(per_firm, [CONSTANT, "x"], "y")
    fit = ols_from_moments(xx, xy, per_firm["1*1"])
    assert (fit.clusters, fit.nobs) == (500, 5000)
    np.testing.assert_allclose(fit.params, [0.0297, 1.0348], atol=5e-5)
    np.testing.assert_allclose(fit.bse, [0.0670, 0.0506], atol=5e-5)
    # Not the plain OLS (0.0284, 0.0286): the clustering is what moves them.
    assert fit.bse[0] > 2 * 0.0284


def test_the_numeric_core_equals_statsmodels_on_a_continuous_outcome():
    rng = np.random.default_rng(11)
    n, clusters = 700, 25
    group = rng.integers(0, clusters, n)
    x = np.column_stack([np.ones(n), rng.normal(size=n), rng.normal(size=(n, 1)) ** 2])
    y = x @ [1.0, 0.5, -0.2] + rng.normal(size=clusters)[group] + rng.normal(size=n)
    xx = np.zeros((clusters + 1, 3, 3))  # the last cluster has no observation
    xy = np.zeros((clusters + 1, 3))
    for g in range(clusters):
        xx[g] = x[group == g].T @ x[group == g]
        xy[g] = x[group == g].T @ y[group == g]
    counts = np.append(np.bincount(group, minlength=clusters), 0)
    fit = ols_from_moments(xx, xy, counts)
    expected = sm.OLS(y, x).fit(cov_type="cluster", cov_kwds={"groups": group})
    assert fit.clusters == clusters
    assert fit.nobs == n
    np.testing.assert_allclose(fit.params, expected.params, rtol=1e-10)
    np.testing.assert_allclose(fit.cov, expected.cov_params(), rtol=1e-9)
    with pytest.raises(np.linalg.LinAlgError):
        ols_from_moments(xx[:, :2, :2] * [[1, 0], [0, 0]], xy[:, :2], counts)
    with pytest.raises(ValueError, match="shape"):
        ols_from_moments(xx, xy[:, :2], counts)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_equals_cluster_robust_least_squares_on_the_individual_responses(k):
    rng = np.random.default_rng(20261130 + k)
    effects = dict(zip(CRITERIA[:k], [0.06, 0.04, -0.01, 0.03, 0.02][:k], strict=True))
    rows = simulate(rng, effects, 3000, 0.55 - sum(effects.values()) * 3, cells=30)
    moments = moments_of(rows, "overall", CRITERIA[:k])
    # Cells with responses but no complete case, as the storage may keep them.
    moments = pd.concat(
        [moments, pd.DataFrame({CELL: [98, 99], "1*1": [0, np.nan]})], ignore_index=True
    )
    shares = shares_of(rows, ["overall", *CRITERIA[:k]])
    result = analysis.key_drivers(moments, "overall", CRITERIA[:k], shares=shares)
    people = rows.dropna()
    exog = sm.add_constant(people[CRITERIA[:k]].to_numpy())
    endog = (people["overall"] >= 4).to_numpy(dtype=float)
    ols = sm.OLS(endog, exog).fit(
        cov_type="cluster", cov_kwds={"groups": people[CELL].to_numpy()}, use_t=True
    )
    frame = result.criteria
    assert result.estimated, result.notes
    assert result.notes == []
    assert result.n_complete == len(people)
    assert result.complete_satisfied == int(endog.sum())
    assert result.clusters == people[CELL].nunique() == 30
    assert ols.df_resid_inference == result.clusters - 1  # t with G - 1 degrees of freedom
    np.testing.assert_allclose(result.intercept, ols.params[0], rtol=1e-9)
    np.testing.assert_allclose(frame["effect"], ols.params[1:], rtol=1e-9)
    interval = ols.conf_int(alpha=0.05)[1:]
    np.testing.assert_allclose(frame["ci_low"], interval[:, 0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(frame["ci_high"], interval[:, 1], rtol=1e-9, atol=1e-12)
    half_width = (frame["ci_high"] - frame["ci_low"]) / 2
    t = stats.t.ppf(0.975, result.clusters - 1)
    np.testing.assert_allclose(half_width, t * ols.bse[1:], rtol=1e-9)
    np.testing.assert_allclose(frame["p_value"], ols.pvalues[1:], rtol=1e-9, atol=1e-15)


def test_the_stored_sums_are_moment_terms_summed_per_cell():
    rng = np.random.default_rng(5)
    rows = simulate(rng, dict.fromkeys(CRITERIA[:3], 0.05), 400, 0.1, cells=7)
    by_response = moments_of(rows, "overall", CRITERIA[:3])
    pd.testing.assert_frame_equal(
        by_response, fast_moments(rows, "overall", CRITERIA[:3]), check_dtype=False
    )
    assert len(by_response.columns) == 1 + 15  # the cell, then 5 variables' 15 terms


# --- simulation with known truth -------------------------------------------------------

TRUTH = {
    "timeliness": 0.05,
    "staff_attitude": 0.03,
    "online_quality": 0.0,
    "feedback_handling": 0.07,
}


def test_a_large_sample_recovers_the_effects_and_ranks_them():
    rng = np.random.default_rng(3)
    rows = simulate(rng, TRUTH, 60_000, 0.03, cells=80)
    result = analysis.key_drivers(
        fast_moments(rows, "overall", list(TRUTH)),
        "overall",
        TRUTH,
        shares=shares_of(rows, ["overall", *TRUTH]),
    )
    frame = result.criteria.set_index("criterion")
    se = (frame["ci_high"] - frame["ci_low"]) / (2 * stats.t.ppf(0.975, 79))
    error = (frame["effect"] - pd.Series(TRUTH)) / se
    assert (error.abs() < 4).all(), error
    assert frame["rank"].to_dict() == {
        "feedback_handling": 1,
        "timeliness": 2,
        "staff_attitude": 3,
        "online_quality": 4,
    }
    assert frame["significant"].to_dict() == {
        "timeliness": True,
        "staff_attitude": True,
        "online_quality": False,
        "feedback_handling": True,
    }
    assert result.clusters == 80
    # 15% skipped each of three criteria at random: about 0.85^3 of responses complete.
    assert result.n_complete / result.n_outcome == pytest.approx(0.85**3, abs=0.01)


@pytest.mark.slow
def test_intervals_cover_the_true_effects_about_95_percent_of_the_time():
    """300 seeded replications of 4,000 responses in 80 cells (about 2,450 complete
    cases each), from a true linear probability model whose cells are correlated
    enough that intervals ignoring them would cover too seldom."""
    rng = np.random.default_rng(2026)
    replications = 300
    truth = np.array(list(TRUTH.values()))
    covered = np.zeros(len(TRUTH))
    plain = np.zeros(len(TRUTH))
    estimates = []
    for _ in range(replications):
        rows = simulate(rng, TRUTH, 4000, 0.03, cells=80, shift=0.12)
        result = analysis.key_drivers(
            fast_moments(rows, "overall", list(TRUTH)),
            "overall",
            TRUTH,
            shares=shares_of(rows, ["overall", *TRUTH]),
        )
        assert result.estimated, result.notes
        frame = result.criteria
        covered += (frame["ci_low"] < truth) & (truth < frame["ci_high"])
        estimates.append(frame["effect"].to_numpy())
        people = rows.dropna()
        naive = sm.OLS(
            (people["overall"] >= 4).to_numpy(dtype=float),
            sm.add_constant(people[list(TRUTH)].to_numpy()),
        ).fit()
        interval = naive.conf_int()[1:]
        plain += (interval[:, 0] < truth) & (truth < interval[:, 1])
    coverage = covered / replications
    # Each criterion: a binomial(300, 0.95) count, within its central 99.9%; all four
    # together (as if 1,200 independent intervals) likewise.
    low, high = stats.binom.ppf([0.0005, 0.9995], replications, 0.95) / replications
    assert ((coverage >= low) & (coverage <= high)).all(), (coverage, low, high)
    low, high = stats.binom.ppf([0.0005, 0.9995], 4 * replications, 0.95) / (4 * replications)
    assert low <= coverage.mean() <= high, (coverage, low, high)
    # The cells matter here: the textbook OLS intervals fall short.
    assert plain.mean() / replications < low, plain / replications
    # Least squares is unbiased when the truth is linear: within 4 standard errors.
    spread = np.std(estimates, axis=0) / np.sqrt(replications)
    bias = np.mean(estimates, axis=0) - truth
    assert (np.abs(bias) < 4 * spread).all(), (bias, spread)


# --- ranking and shares ----------------------------------------------------------------


def test_rank_puts_intervals_above_zero_first_then_effect_descending():
    frame = pd.DataFrame(
        {
            "effect": [0.30, 0.05, 0.08, 0.08, -0.02, np.nan],
            "ci_low": [-0.01, 0.02, 0.03, 0.04, -0.05, np.nan],
            "ci_high": [0.61, 0.08, 0.13, 0.12, 0.01, np.nan],
        }
    )
    # 0.08, 0.08 (tied, above 0), 0.05 (above 0), then 0.30 (interval contains 0), -0.02.
    assert _rank(frame) == [4, 3, 1, 1, 5, None]
    # Without intervals (too few cells): by effect alone.
    frame[["ci_low", "ci_high"]] = np.nan
    assert _rank(frame) == [1, 4, 2, 2, 5, None]


def test_shares_count_every_response_that_answered_the_criterion():
    rows = expand(
        pd.DataFrame(
            {
                CELL: 1,
                "overall": [5, 4, 2, 1, np.nan, 3, 5],
                "timeliness": [5, 3, np.nan, 4, 5, 1, 2],
                "visits": [np.nan, np.nan, 2, 5, 4, 4, 3],
                "count": [30, 12, 7, 5, 4, 0, 3],
            }
        )
    )
    result = drivers(rows, "overall", ["timeliness", "visits"])
    assert (result.n_outcome, result.outcome_satisfied) == (57, 45)
    assert result.outcome_share == pytest.approx(45 / 57)
    low, high = analysis.wilson(45, 57)
    assert result.outcome_ci_low == pytest.approx(float(low))
    assert result.outcome_ci_high == pytest.approx(float(high))
    timeliness, visits = row(result, "timeliness"), row(result, "visits")
    assert (timeliness["n"], timeliness["satisfied"]) == (54, 39)
    assert (visits["n"], visits["satisfied"]) == (19, 9)
    assert visits["share_satisfied"] == pytest.approx(9 / 19)
    low, high = analysis.wilson(9, 19)
    assert visits["share_ci_low"] == pytest.approx(float(low))
    assert visits["share_ci_high"] == pytest.approx(float(high))
    # Eight complete cases cannot carry a model: the shares stay, the estimates do not.
    assert (result.n_complete, result.complete_satisfied, result.clusters) == (8, 3, 1)
    assert not result.estimated
    assert result.notes == [
        "no model estimates: 3 satisfied and 5 not satisfied among 8 complete cases; at "
        "least 20 of each (10 per criterion in the model) are needed"
    ]
    assert result.criteria["effect"].isna().all()
    assert result.criteria["rank"].isna().all()
    assert result.criteria["in_model"].all()


def test_level_widens_every_interval():
    rows = simulate(np.random.default_rng(8), TRUTH, 3000, 0.03)
    narrow = drivers(rows, "overall", TRUTH, level=0.90).criteria
    wide = drivers(rows, "overall", TRUTH, level=0.99).criteria
    assert (wide["ci_low"] < narrow["ci_low"]).all()
    assert (wide["ci_high"] > narrow["ci_high"]).all()
    assert (wide["share_ci_low"] < narrow["share_ci_low"]).all()
    np.testing.assert_allclose(wide["effect"], narrow["effect"])
    np.testing.assert_allclose(wide["p_value"], narrow["p_value"])


def test_moment_terms_of_one_response():
    terms = analysis.moment_terms("overall", 4, {"timeliness": 3, "visits": 2})
    assert terms == {
        "1*1": 1,
        "1*overall": 1,
        "1*timeliness": 3,
        "1*visits": 2,
        "overall*overall": 1,
        "overall*timeliness": 3,
        "overall*visits": 2,
        "timeliness*timeliness": 9,
        "timeliness*visits": 6,
        "visits*visits": 4,
    }
    six = analysis.moment_terms("overall", 2, dict.fromkeys(CRITERIA, 5))
    assert len(six) == 36
    assert six["1*overall"] == six["overall*timeliness"] == 0
    assert analysis.term("timeliness", "overall") == "overall*timeliness"
    assert analysis.term("1", "1") == "1*1"


def test_satisfied_from_moves_the_threshold():
    def satisfied(rating: int, satisfied_from: int) -> int:
        return analysis.moment_terms("overall", rating, {"visits": 3}, satisfied_from)["1*overall"]

    assert [satisfied(r, 4) for r in range(1, 6)] == [0, 0, 0, 1, 1]
    assert [satisfied(r, 5) for r in range(1, 6)] == [0, 0, 0, 0, 1]
    assert [satisfied(r, 3) for r in range(1, 6)] == [0, 0, 1, 1, 1]
    rows = expand(
        pd.DataFrame(
            {CELL: 1, "overall": [5, 4, 3, 2], "visits": [5, 4, 3, 2], "count": [10, 20, 30, 40]}
        )
    )
    strict = drivers(rows, "overall", ["visits"], satisfied_from=5)
    assert strict.outcome_satisfied == strict.complete_satisfied == 10
    assert row(strict, "visits")["satisfied"] == 10
    lenient = drivers(rows, "overall", ["visits"], satisfied_from=3)
    assert lenient.outcome_satisfied == lenient.complete_satisfied == 60
    assert row(lenient, "visits")["satisfied"] == 60
    assert "rating 3 or more" in lenient.method[0]


# --- data that break naive fits --------------------------------------------------------


def six_criteria(n: int, seed: int = 4, cells: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    effects = dict(zip(CRITERIA, [0.02, 0.05, 0.04, 0.0, 0.03, 0.04], strict=True))
    return simulate(rng, effects, n, -0.12, cells=cells, missing=0.05)


def test_too_few_complete_cases_per_criterion_keeps_shares_and_says_why():
    result = drivers(six_criteria(150), "overall", CRITERIA)
    assert not result.estimated
    assert result.criteria["effect"].isna().all()
    assert result.intercept is None
    assert result.criteria["share_satisfied"].notna().all()
    assert any("at least 60 of each" in note for note in result.notes), result.notes
    # The same questionnaire with enough answers is estimated.
    assert drivers(six_criteria(4000), "overall", CRITERIA).estimated


def test_a_criterion_without_variation_leaves_the_model_with_a_note():
    rows = six_criteria(4000)
    rows["visits"] = rows["visits"].where(rows["visits"].isna(), 5.0)
    result = drivers(rows, "overall", CRITERIA)
    visits = row(result, "visits")
    assert result.estimated
    assert result.notes == []
    assert not visits["in_model"]
    assert pd.isna(visits["effect"])
    assert pd.isna(visits["rank"])
    assert visits["note"] == "not in the model: no variation among the complete cases (every one 5)"
    assert visits["share_satisfied"] == 1.0
    others = result.criteria[result.criteria["criterion"] != "visits"]
    assert others["effect"].notna().all()
    assert others["in_model"].all()
    assert sorted(others["rank"]) == [1, 2, 3, 4, 5]
    # The refit without it is least squares on the other five criteria.
    rest = [c for c in CRITERIA if c != "visits"]
    people = rows.dropna()
    ols = sm.OLS(
        (people["overall"] >= 4).to_numpy(dtype=float), sm.add_constant(people[rest].to_numpy())
    ).fit()
    np.testing.assert_allclose(others["effect"], ols.params[1:], rtol=1e-9)


def test_criteria_that_always_agree_make_a_singular_design():
    rows = six_criteria(4000).dropna()
    rows["online_quality"] = rows["timeliness"]
    result = drivers(rows, "overall", CRITERIA)
    assert not result.estimated
    assert result.criteria["effect"].isna().all()
    (note,) = result.notes
    assert "linearly dependent" in note
    assert "timeliness" in note
    assert "online_quality" in note
    assert "visits" not in note


def test_fewer_than_ten_cells_give_effects_without_intervals():
    rows = six_criteria(4000, cells=6)
    result = drivers(rows, "overall", CRITERIA)
    frame = result.criteria
    assert result.clusters == 6
    assert result.estimated
    assert frame["effect"].notna().all()
    assert frame[["ci_low", "ci_high", "p_value", "significant"]].isna().all().all()
    (note,) = result.notes
    assert "6 cell(s)" in note
    assert "a wider period or fewer filters gives intervals" in note
    # Ranked by effect alone.
    assert frame.sort_values("effect", ascending=False)["rank"].tolist() == [1, 2, 3, 4, 5, 6]
    # The same responses in ten cells have intervals.
    ten = drivers(six_criteria(4000, cells=10), "overall", CRITERIA)
    assert ten.clusters == 10
    assert ten.criteria["ci_low"].notna().all()


@pytest.mark.parametrize(("overall", "which"), [([5, 4], "satisfied"), ([1, 3], "not satisfied")])
def test_every_complete_case_satisfied_or_none(overall, which):
    rows = expand(
        pd.DataFrame({CELL: [1, 2], "overall": overall, "visits": [5, 3], "count": [40, 30]})
    )
    result = drivers(rows, "overall", ["visits"])
    assert not result.estimated
    assert result.notes == [f"no model estimates: all 70 complete cases are {which}"]
    assert result.outcome_share == (1.0 if which == "satisfied" else 0.0)
    assert row(result, "visits")["in_model"]


@pytest.mark.parametrize(
    ("moments", "shares"),
    [
        (pd.DataFrame(), pd.DataFrame()),
        (pd.DataFrame({"1*1": []}), pd.DataFrame({"question": [], "n": [], "satisfied": []})),
        (
            pd.DataFrame({"1*1": [0, np.nan]}).reindex(
                columns=list(analysis.moment_terms("overall", 5, {"visits": 1, "x": 1}))
            ),
            pd.DataFrame({"question": ["overall", "visits"], "n": [0, 0], "satisfied": [0, 0]}),
        ),
    ],
)
def test_empty_input(moments, shares):
    result = analysis.key_drivers(moments, "overall", ["visits", "x"], shares=shares)
    assert result.n_complete == result.n_outcome == result.clusters == 0
    assert result.outcome_share is None
    assert not result.estimated
    assert result.notes == ["no responses: nothing to estimate"]
    assert result.criteria["criterion"].tolist() == ["visits", "x"]
    assert result.criteria["n"].tolist() == [0, 0]
    assert result.criteria["note"].tolist() == ["not in the model: nobody answered it"] * 2
    json.dumps(result.to_dict())
    assert "visits" in result.summary()


def test_nobody_answered_the_outcome():
    shares = pd.DataFrame({"question": ["visits"], "n": [50], "satisfied": [50]})
    result = analysis.key_drivers(pd.DataFrame(), "overall", ["visits"], shares=shares)
    assert result.outcome_share is None
    assert row(result, "visits")["share_satisfied"] == 1.0
    assert result.notes == ["nobody answered overall: no overall share and no model"]


GOOD_MOMENTS = pd.DataFrame([analysis.moment_terms("overall", 5, {"visits": 3})])
GOOD_SHARES = pd.DataFrame({"question": ["overall"], "n": [1], "satisfied": [1]})


@pytest.mark.parametrize(
    ("moments", "shares", "criteria", "level", "message"),
    [
        (GOOD_MOMENTS.drop(columns="visits*visits"), GOOD_SHARES, ["visits"], 0.95, "visits"),
        (GOOD_MOMENTS.assign(**{"1*visits": "x"}), GOOD_SHARES, ["visits"], 0.95, "1\\*visits"),
        (GOOD_MOMENTS.assign(**{"1*1": -1}), GOOD_SHARES, ["visits"], 0.95, "negative"),
        (GOOD_MOMENTS.to_dict(), GOOD_SHARES, ["visits"], 0.95, "DataFrame"),
        (pd.concat([GOOD_MOMENTS] * 2, axis=1), GOOD_SHARES, ["visits"], 0.95, "twice"),
        (GOOD_MOMENTS, GOOD_SHARES.drop(columns="n"), ["visits"], 0.95, "missing column"),
        (GOOD_MOMENTS, GOOD_SHARES.assign(satisfied=2), ["visits"], 0.95, "satisfied <= n"),
        (GOOD_MOMENTS, GOOD_SHARES.assign(n=1.5), ["visits"], 0.95, "whole"),
        (GOOD_MOMENTS, pd.concat([GOOD_SHARES] * 2), ["visits"], 0.95, "twice"),
        (GOOD_MOMENTS, GOOD_SHARES, ["visits"], 1.0, "level"),
        (GOOD_MOMENTS, GOOD_SHARES, [], 0.95, "at least one"),
        (GOOD_MOMENTS, GOOD_SHARES, "visits", 0.95, "list"),
        (GOOD_MOMENTS, GOOD_SHARES, ["visits", "overall"], 0.95, "cannot be criteria"),
        (GOOD_MOMENTS, GOOD_SHARES, ["visits", "visits"], 0.95, "twice"),
    ],
)
def test_wrong_arguments_raise(moments, shares, criteria, level, message):
    with pytest.raises(ValueError, match=message):
        analysis.key_drivers(moments, "overall", criteria, shares=shares, level=level)


def test_wrong_moment_terms_raise():
    with pytest.raises(ValueError, match="cannot be criteria"):
        analysis.moment_terms("overall", 5, {"overall": 5, "visits": 3})
    with pytest.raises(ValueError, match="every question"):
        analysis.moment_terms("overall", 5, {"visits": None})
    with pytest.raises(ValueError, match="'\\*'"):
        analysis.moment_terms("overall", 5, {"visits*2": 3})


rating = st.one_of(st.none(), st.integers(1, 5))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.integers(0, 14), rating, rating, rating, rating, st.integers(0, 60)),
        min_size=0,
        max_size=40,
    )
)
def test_never_raises_on_data(cells):
    """Whatever the answers, a result (and no warning: the suite turns warnings into errors)."""
    criteria = ["timeliness", "visits", "publicity"]
    patterns = pd.DataFrame(cells, columns=[CELL, "overall", *criteria, "count"])
    result = drivers(expand(patterns), "overall", criteria)
    json.dumps(result.to_dict())
    json.dumps(json_safe(analysis.suppress(result).to_dict()))
    frame = result.criteria
    assert frame["effect"].notna().any() == result.estimated
    assert (frame["effect"].isna() | ~(frame["ci_low"] > frame["effect"])).all()
    assert result.n_complete == int(patterns.dropna()["count"].sum())


# --- to_dict and disclosure control ----------------------------------------------------


def test_to_dict_is_plain_json():
    result = drivers(six_criteria(4000), "overall", CRITERIA)
    data = result.to_dict()
    assert set(data) == {
        "criteria",
        "outcome",
        "satisfied_from",
        "level",
        "n_outcome",
        "outcome_satisfied",
        "outcome_share",
        "outcome_ci_low",
        "outcome_ci_high",
        "n_complete",
        "complete_satisfied",
        "clusters",
        "estimated",
        "intercept",
        "method",
        "notes",
    }
    assert json.loads(json.dumps(data)) == data
    assert set(data["criteria"][0]) == set(result.criteria.columns)
    assert "not causal" in " ".join(data["method"])
    assert "Angrist & Pischke 2009" in " ".join(data["method"])
    assert result.to_frame() is not result.criteria
    assert "40 cells" in result.summary()


def with_a_rare_criterion(rare_answers: list[float]) -> pd.DataFrame:
    """Two criteria everybody answers, and 'visits' answered by a handful only."""
    rows = six_criteria(3000)[[CELL, "overall", "timeliness", "staff_attitude"]].dropna()
    rows = rows.reset_index(drop=True)
    rows["visits"] = np.nan
    rows.loc[: len(rare_answers) - 1, "visits"] = rare_answers
    return rows


def test_suppress_withholds_a_rarely_answered_criterion_and_refits_without_it():
    criteria = ["timeliness", "staff_attitude", "visits"]
    result = drivers(with_a_rare_criterion([5, 4, 2, 1, 3]), "overall", criteria)
    assert result.n_complete == 5
    assert not result.estimated
    shown = analysis.suppress(result)
    visits = row(shown, "visits")
    assert bool(visits["suppressed"])
    assert visits.drop(["criterion", "suppressed"]).isna().all()
    assert shown.criteria["criterion"].tolist() == criteria  # labels kept, in their order
    assert row(shown, "timeliness")["n"] > 2000  # the others' shares are published
    # Five complete cases: no model, and nothing read from them.
    assert not shown.estimated
    assert shown.n_complete is None
    assert shown.clusters is None
    assert "withheld: 1 row(s)" in shown.method
    assert not any("visits" in column for column in shown.table.columns)
    assert "visits" not in shown.shares["question"].tolist()


@pytest.mark.parametrize("answers", [[5, 5, 5, 5, 5], [1, 2, 3, 4, 5], [2, 2, 2, 2]])
def test_published_output_does_not_depend_on_withheld_answers(answers):
    """Whether the rare criterion varies (which decides whether it can enter a model),
    what it says and how many gave it: nothing published changes."""
    criteria = ["timeliness", "staff_attitude", "visits"]
    baseline = published(drivers(with_a_rare_criterion([3, 1, 4, 1, 5]), "overall", criteria))
    other = drivers(with_a_rare_criterion(answers), "overall", criteria)
    assert published(other) == baseline


def test_suppress_withholds_the_model_when_complete_cases_are_few():
    rows = expand(
        pd.DataFrame(
            {
                CELL: [1, 2, 3, 1, 2],
                "overall": [5, 2, 4, np.nan, np.nan],
                "timeliness": [5, 1, 4, 3, 5],
                "visits": [4, 2, 5, np.nan, 4],
                "count": [3, 2, 1, 20, 15],
            }
        )
    )
    result = drivers(rows, "overall", ["timeliness", "visits"])
    assert result.n_complete == 6
    assert result.clusters == 3
    shown = analysis.suppress(result)
    assert not shown.estimated
    assert (shown.n_complete, shown.complete_satisfied, shown.clusters) == (None, None, None)
    assert shown.intercept is None
    assert shown.notes == [
        "no model estimate published: it would rest on fewer than 10 complete cases"
    ]
    assert not shown.criteria["suppressed"].any()
    model = ["effect", "ci_low", "ci_high", "p_value", "rank", "in_model", "note"]
    assert shown.criteria[model].isna().all().all()
    assert shown.table.empty
    # Shares rest on 41 and 21 answers: published. The overall share rests on 6: withheld.
    assert row(shown, "timeliness")["share_satisfied"] == pytest.approx(19 / 41)
    assert row(shown, "visits")["n"] == 21
    assert shown.outcome_share is None
    assert shown.n_outcome is None
    assert "overall" not in shown.shares["question"].tolist()
    # Publishing twice changes nothing more.
    assert published(shown) == published(result)


def test_suppress_keeps_a_result_with_enough_answers():
    result = drivers(six_criteria(4000), "overall", CRITERIA)
    shown = analysis.suppress(result)
    assert shown.estimated
    assert (shown.n_complete, shown.clusters) == (result.n_complete, result.clusters)
    assert not shown.criteria["suppressed"].any()
    pd.testing.assert_series_equal(
        shown.criteria["effect"].astype(float), result.criteria["effect"]
    )
    pd.testing.assert_series_equal(
        shown.criteria["ci_low"].astype(float), result.criteria["ci_low"]
    )
    assert shown.method[-1].startswith("disclosure control")
