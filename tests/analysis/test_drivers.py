"""Key drivers: a published example, the individual-level logit, a simulation with
known truth, ranking, shares, the data that break naive fits, and disclosure control."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from statsmodels.tools.sm_exceptions import ConvergenceWarning

import analysis
from analysis.drivers import _rank
from analysis.results import json_safe
from tests.questionnaires.test_dossier_evaluation import CRITERIA as DOSSIER_CRITERIA

CRITERIA = list(DOSSIER_CRITERIA)  # the criteria of dossier-evaluation


def patterns_of(rows: pd.DataFrame) -> pd.DataFrame:
    """Individual responses -> the stored form: one row per distinct pattern, with count."""
    return rows.groupby(list(rows.columns), dropna=False).size().rename("count").reset_index()


def expand(patterns: pd.DataFrame) -> pd.DataFrame:
    """The stored form -> one row per response."""
    return patterns.loc[patterns.index.repeat(patterns["count"])].drop(columns="count")


def simulate(
    rng: np.random.Generator,
    odds_ratios: dict[str, float],
    n: int,
    intercept: float,
    missing: float = 0.15,
) -> pd.DataFrame:
    """Individual responses from a logistic model with known per-point odds ratios.

    Criterion ratings 1-5 are correlated through a common level; every criterion
    but the first is skipped at random with probability ``missing``. The overall
    rating is 4-5 when satisfied, 1-3 otherwise."""
    names = list(odds_ratios)
    level = rng.integers(1, 6, n)
    ratings = np.column_stack(
        [np.clip(level + rng.integers(-1, 2, n), 1, 5) for _ in names]
    ).astype(float)
    eta = intercept + ratings @ np.log(list(odds_ratios.values()))
    satisfied = rng.random(n) < 1 / (1 + np.exp(-eta))
    overall = np.where(satisfied, rng.integers(4, 6, n), rng.integers(1, 4, n)).astype(float)
    rows = pd.DataFrame(ratings, columns=names)
    rows.insert(0, "overall", overall)
    for name in names[1:]:
        rows.loc[rng.random(n) < missing, name] = np.nan
    return rows


def published(result) -> str:
    return json.dumps(json_safe(analysis.suppress(result).to_dict()), sort_keys=True)


def row(result, criterion: str) -> pd.Series:
    frame = result.criteria
    return frame[frame["criterion"] == criterion].iloc[0]


# --- published example -------------------------------------------------------------


def snoring() -> pd.DataFrame:
    """Agresti (2007) Table 3.1 as answer patterns: heart disease 'yes' = outcome 5."""
    table = [(0, 24, 1379), (2, 35, 638), (4, 21, 213), (5, 30, 254)]
    rows = []
    for score, yes, total in table:
        rows.append({"heart_disease": 5, "snoring": score, "count": yes})
        rows.append({"heart_disease": 1, "snoring": score, "count": total - yes})
    return pd.DataFrame(rows)


def test_snoring_and_heart_disease_agresti_2007():
    """Agresti A (2007). An Introduction to Categorical Data Analysis, 2nd ed., Wiley,
    section 3.2.2 and Table 3.1: snoring (scores 0, 2, 4, 5) and heart disease, grouped
    data. Published logistic fit logit(pi) = -3.87 + 0.40 x, beta = 0.3973 with
    SE 0.0500, so the odds ratio per score point is exp(0.3973) = 1.488 and its 95% Wald
    interval exp(0.3973 -/+ 1.96 * 0.0500) = (1.349, 1.641)."""
    result = analysis.key_drivers(snoring(), "heart_disease", ["snoring"])
    snore = row(result, "snoring")
    assert result.estimated
    assert result.n_complete == result.n_responses == 2484
    assert result.complete_satisfied == 24 + 35 + 21 + 30
    assert result.intercept == pytest.approx(-3.87, abs=0.005)
    assert np.log(snore["odds_ratio"]) == pytest.approx(0.3973, abs=5e-5)
    assert snore["odds_ratio"] == pytest.approx(np.exp(0.3973), abs=1e-4)
    se = (np.log(snore["ci_high"]) - np.log(snore["ci_low"])) / (2 * 1.959964)
    assert se == pytest.approx(0.0500, abs=5e-5)
    assert snore["ci_low"] == pytest.approx(1.349, abs=5e-4)
    assert snore["ci_high"] == pytest.approx(1.641, abs=5e-4)
    assert bool(snore["significant"])
    assert snore["rank"] == 1


def test_grouped_fit_equals_the_logit_on_individual_responses():
    rng = np.random.default_rng(20261130)
    rows = simulate(rng, dict(zip(CRITERIA[:4], [1.6, 1.3, 0.9, 1.5], strict=True)), 3000, -4.0)
    patterns = patterns_of(rows)
    result = analysis.key_drivers(patterns, "overall", CRITERIA[:4])
    people = expand(patterns).dropna()
    exog = sm.add_constant(people[CRITERIA[:4]].to_numpy())
    logit = sm.Logit((people["overall"] >= 4).to_numpy(dtype=float), exog).fit(disp=0)
    frame = result.criteria
    assert result.n_complete == len(people)
    assert result.complete_satisfied == int((people["overall"] >= 4).sum())
    assert len(patterns.dropna()) < len(people)  # really grouped
    np.testing.assert_allclose(np.log(frame["odds_ratio"]), logit.params[1:], rtol=1e-6)
    np.testing.assert_allclose(result.intercept, logit.params[0], rtol=1e-6)
    half_width = (np.log(frame["ci_high"]) - np.log(frame["ci_low"])) / 2
    np.testing.assert_allclose(half_width, 1.959963984540054 * logit.bse[1:], rtol=1e-6)
    np.testing.assert_allclose(frame["p_value"], logit.pvalues[1:], rtol=1e-6)


# --- simulation with known truth -------------------------------------------------------

TRUTH = {"timeliness": 1.8, "staff_attitude": 1.4, "online_quality": 1.0, "feedback_handling": 2.2}


def test_a_large_sample_recovers_the_odds_ratios_and_ranks_them():
    rng = np.random.default_rng(3)
    result = analysis.key_drivers(patterns_of(simulate(rng, TRUTH, 60_000, -5.0)), "overall", TRUTH)
    frame = result.criteria.set_index("criterion")
    log_se = (np.log(frame["ci_high"]) - np.log(frame["ci_low"])) / (2 * 1.959964)
    error = (np.log(frame["odds_ratio"]) - np.log(pd.Series(TRUTH))) / log_se
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
    # 15% skipped each of three criteria at random: about 0.85^3 of responses complete.
    assert result.n_complete / result.n_responses == pytest.approx(0.85**3, abs=0.01)


@pytest.mark.slow
def test_wald_intervals_cover_the_true_odds_ratios_about_95_percent_of_the_time():
    """300 seeded replications of 1,500 responses (about 920 complete cases each)."""
    rng = np.random.default_rng(2026)
    replications = 300
    truth = np.log(list(TRUTH.values()))
    covered = np.zeros(len(TRUTH))
    estimates = []
    for _ in range(replications):
        result = analysis.key_drivers(
            patterns_of(simulate(rng, TRUTH, 1500, -5.0)), "overall", TRUTH
        )
        assert result.estimated, result.notes
        frame = result.criteria
        low = np.log(frame["ci_low"].to_numpy(dtype=float))
        high = np.log(frame["ci_high"].to_numpy(dtype=float))
        covered += (low < truth) & (truth < high)
        estimates.append(np.log(frame["odds_ratio"].to_numpy(dtype=float)))
    coverage = covered / replications
    assert 0.93 <= coverage.mean() <= 0.97, coverage
    assert ((coverage >= 0.90) & (coverage <= 0.99)).all(), coverage
    # Unbiased up to the logit's small-sample bias (a few percent of the log odds ratio).
    bias = np.mean(estimates, axis=0) - truth
    assert np.abs(bias).max() < 0.05, bias


# --- ranking and shares ----------------------------------------------------------------


def test_rank_puts_intervals_above_one_first_then_odds_ratio_descending():
    frame = pd.DataFrame(
        {
            "odds_ratio": [3.0, 1.5, 1.8, 1.8, 0.6, np.nan],
            "ci_low": [0.9, 1.2, 1.3, 1.4, 0.4, np.nan],
            "ci_high": [10.0, 1.9, 2.5, 2.3, 0.9, np.nan],
        }
    )
    # 1.8, 1.8 (tied, above 1), 1.5 (above 1), then 3.0 (interval contains 1), 0.6.
    assert _rank(frame) == [4, 3, 1, 1, 5, None]


def test_shares_count_every_response_that_answered_the_criterion():
    patterns = pd.DataFrame(
        {
            "overall": [5, 4, 2, 1, np.nan, 3, 5],
            "timeliness": [5, 3, np.nan, 4, 5, 1, 2],
            "visits": [np.nan, np.nan, 2, 5, 4, 4, 3],
            "count": [30, 12, 7, 5, 4, 0, 3],
        }
    )
    result = analysis.key_drivers(patterns, "overall", ["timeliness", "visits"])
    assert result.n_responses == 61
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
    assert result.n_complete == 8
    assert not result.estimated
    assert result.notes == [
        "no model estimates: 3 satisfied and 5 not satisfied among 8 complete cases; at "
        "least 20 of each (10 per criterion in the model) are needed"
    ]
    assert result.criteria["odds_ratio"].isna().all()
    assert result.criteria["rank"].isna().all()


def test_level_widens_every_interval():
    rng = np.random.default_rng(8)
    patterns = patterns_of(simulate(rng, TRUTH, 3000, -5.0))
    narrow = analysis.key_drivers(patterns, "overall", TRUTH, level=0.90).criteria
    wide = analysis.key_drivers(patterns, "overall", TRUTH, level=0.99).criteria
    assert (wide["ci_low"] < narrow["ci_low"]).all()
    assert (wide["ci_high"] > narrow["ci_high"]).all()
    assert (wide["share_ci_low"] < narrow["share_ci_low"]).all()
    np.testing.assert_allclose(wide["odds_ratio"], narrow["odds_ratio"])


def test_satisfied_from_moves_the_threshold():
    patterns = pd.DataFrame(
        {"overall": [5, 4, 3, 2], "visits": [5, 4, 3, 2], "count": [10, 20, 30, 40]}
    )
    strict = analysis.key_drivers(patterns, "overall", ["visits"], satisfied_from=5)
    assert strict.outcome_satisfied == 10
    assert row(strict, "visits")["satisfied"] == 10
    lenient = analysis.key_drivers(patterns, "overall", ["visits"], satisfied_from=3)
    assert lenient.outcome_satisfied == 60
    assert row(lenient, "visits")["satisfied"] == 60


# --- data that break naive fits --------------------------------------------------------


def six_criteria(n: int, seed: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ratios = dict(zip(CRITERIA, [1.2, 1.8, 1.5, 1.0, 1.3, 1.6], strict=True))
    return simulate(rng, ratios, n, -6.5, missing=0.05)


def test_too_few_complete_cases_per_criterion_keeps_shares_and_says_why():
    result = analysis.key_drivers(patterns_of(six_criteria(150)), "overall", CRITERIA)
    assert not result.estimated
    assert result.criteria["odds_ratio"].isna().all()
    assert result.intercept is None
    assert result.criteria["share_satisfied"].notna().all()
    assert any("at least 60 of each" in note for note in result.notes), result.notes
    # The same questionnaire with enough answers is estimated.
    assert analysis.key_drivers(patterns_of(six_criteria(4000)), "overall", CRITERIA).estimated


def test_a_criterion_without_variation_leaves_the_model_with_a_note():
    rows = six_criteria(4000)
    rows["visits"] = rows["visits"].where(rows["visits"].isna(), 5.0)
    result = analysis.key_drivers(patterns_of(rows), "overall", CRITERIA)
    visits = row(result, "visits")
    assert result.estimated
    assert not visits["in_model"]
    assert pd.isna(visits["odds_ratio"])
    assert pd.isna(visits["rank"])
    assert visits["note"] == "not in the model: no variation (every answer 5)"
    assert visits["share_satisfied"] == 1.0
    others = result.criteria[result.criteria["criterion"] != "visits"]
    assert others["odds_ratio"].notna().all()
    assert others["in_model"].all()
    assert sorted(others["rank"]) == [1, 2, 3, 4, 5]


def test_nobody_answered_a_criterion():
    rows = six_criteria(4000)
    rows["feedback_handling"] = np.nan
    result = analysis.key_drivers(patterns_of(rows), "overall", CRITERIA)
    feedback = row(result, "feedback_handling")
    assert result.estimated
    assert feedback["n"] == 0
    assert pd.isna(feedback["share_satisfied"])
    assert feedback["note"] == "not in the model: nobody answered it"


def test_complete_separation_gives_no_estimates_and_names_the_criterion():
    rows = six_criteria(4000).dropna()
    rows["overall"] = np.where(rows["timeliness"] >= 4, 5.0, 2.0)
    result = analysis.key_drivers(patterns_of(rows), "overall", CRITERIA)
    assert not result.estimated
    assert result.criteria["odds_ratio"].isna().all()
    (note,) = result.notes
    assert "separation" in note
    assert "timeliness" in note


def test_quasi_complete_separation_is_found_too():
    rows = six_criteria(4000).dropna()
    rng = np.random.default_rng(1)
    # Staff attitude 4-5: always satisfied overall; 1-2: never; 3: either. A direction
    # (staff_attitude - 3) is >= 0 for every satisfied response and <= 0 for the others.
    middle = rows["staff_attitude"] == 3
    rows["overall"] = np.where(rows["staff_attitude"] > 3, 5.0, 2.0)
    rows.loc[middle, "overall"] = rng.choice([2.0, 5.0], size=int(middle.sum()))
    result = analysis.key_drivers(patterns_of(rows), "overall", CRITERIA)
    assert not result.estimated
    assert "separation" in result.notes[0]
    assert "staff_attitude" in result.notes[0]


def test_criteria_that_always_agree_make_a_singular_design():
    rows = six_criteria(4000).dropna()
    rows["online_quality"] = rows["timeliness"]
    result = analysis.key_drivers(patterns_of(rows), "overall", CRITERIA)
    assert not result.estimated
    assert result.criteria["odds_ratio"].isna().all()
    (note,) = result.notes
    assert "linearly dependent" in note
    assert "timeliness" in note
    assert "online_quality" in note
    assert "visits" not in note


def test_a_fit_that_does_not_converge_gives_no_estimates(monkeypatch):
    def stuck(self, *args, **kwargs):
        warnings.warn("IRLS did not converge", ConvergenceWarning, stacklevel=2)
        raise AssertionError("the warning should have stopped the fit")

    monkeypatch.setattr(sm.GLM, "fit", stuck)
    result = analysis.key_drivers(patterns_of(six_criteria(4000)), "overall", CRITERIA)
    assert not result.estimated
    assert result.criteria["odds_ratio"].isna().all()
    assert "ConvergenceWarning" in result.notes[0]


def test_every_complete_case_satisfied():
    patterns = pd.DataFrame({"overall": [5, 4], "visits": [5, 3], "count": [40, 30]})
    result = analysis.key_drivers(patterns, "overall", ["visits"])
    assert not result.estimated
    assert result.notes == ["no model estimates: all 70 complete cases are satisfied overall"]
    assert result.outcome_share == 1.0


@pytest.mark.parametrize(
    "patterns",
    [
        pd.DataFrame(),
        pd.DataFrame({"overall": [], "visits": [], "count": []}),
        pd.DataFrame({"overall": [5, 2], "visits": [5, 1], "timeliness": [4, 2], "count": [0, 0]}),
    ],
)
def test_empty_input(patterns):
    result = analysis.key_drivers(patterns, "overall", ["visits", "timeliness"])
    assert result.n_responses == 0
    assert result.outcome_share is None
    assert not result.estimated
    assert result.notes == ["no responses: nothing to estimate"]
    assert result.criteria["criterion"].tolist() == ["visits", "timeliness"]
    assert result.criteria["n"].tolist() == [0, 0]
    json.dumps(result.to_dict())
    assert "visits" in result.summary()


def test_nobody_answered_the_outcome():
    patterns = pd.DataFrame({"overall": [np.nan], "visits": [4], "count": [50]})
    result = analysis.key_drivers(patterns, "overall", ["visits"])
    assert result.outcome_share is None
    assert row(result, "visits")["share_satisfied"] == 1.0
    assert result.notes == ["nobody answered overall: no overall share and no model"]


@pytest.mark.parametrize(
    ("patterns", "criteria", "level", "message"),
    [
        (pd.DataFrame({"overall": [5], "count": [3]}), ["visits"], 0.95, "missing column"),
        (pd.DataFrame({"overall": [5], "visits": [3], "count": [-1]}), ["visits"], 0.95, "count"),
        (pd.DataFrame({"overall": [5], "visits": [3], "count": [1.5]}), ["visits"], 0.95, "count"),
        (
            pd.DataFrame({"overall": [5], "visits": ["good"], "count": [1]}),
            ["visits"],
            0.95,
            "numeric",
        ),
        (pd.DataFrame({"overall": [5], "visits": [3], "count": [1]}), ["visits"], 1.0, "level"),
        (pd.DataFrame({"overall": [5], "visits": [3], "count": [1]}), [], 0.95, "at least one"),
        (pd.DataFrame({"overall": [5], "visits": [3], "count": [1]}), "visits", 0.95, "list"),
    ],
)
def test_wrong_arguments_raise(patterns, criteria, level, message):
    with pytest.raises(ValueError, match=message):
        analysis.key_drivers(patterns, "overall", criteria, level=level)


rating = st.one_of(st.none(), st.integers(1, 5))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(rating, rating, rating, rating, st.integers(0, 60)), min_size=0, max_size=40)
)
def test_never_raises_on_data(cells):
    """Whatever the answers, a result (and no warning: the suite turns warnings into errors)."""
    patterns = pd.DataFrame(
        cells, columns=["overall", "timeliness", "visits", "publicity", "count"]
    )
    result = analysis.key_drivers(patterns, "overall", ["timeliness", "visits", "publicity"])
    json.dumps(result.to_dict())
    json.dumps(json_safe(analysis.suppress(result).to_dict()))
    frame = result.criteria
    assert frame["odds_ratio"].notna().any() == result.estimated
    assert (frame["odds_ratio"].isna() | (frame["ci_low"] <= frame["odds_ratio"])).all()


# --- to_dict and disclosure control ----------------------------------------------------


def test_to_dict_is_plain_json():
    result = analysis.key_drivers(snoring(), "heart_disease", ["snoring"])
    data = result.to_dict()
    assert set(data) == {
        "criteria",
        "outcome",
        "satisfied_from",
        "level",
        "n_responses",
        "n_outcome",
        "outcome_satisfied",
        "outcome_share",
        "outcome_ci_low",
        "outcome_ci_high",
        "n_complete",
        "complete_satisfied",
        "estimated",
        "intercept",
        "method",
        "notes",
    }
    assert json.loads(json.dumps(data)) == data
    assert "not causal" in " ".join(data["method"]) or "not causal" in result.method[4]
    assert result.to_frame() is not result.criteria


def with_a_rare_criterion(rare_answers: list[float]) -> pd.DataFrame:
    """Two criteria everybody answers, and 'visits' answered by five people only."""
    rows = six_criteria(3000)[["overall", "timeliness", "staff_attitude"]].dropna()
    rows = rows.reset_index(drop=True)
    rows["visits"] = np.nan
    rows.loc[: len(rare_answers) - 1, "visits"] = rare_answers
    return patterns_of(rows)


def test_suppress_withholds_a_rarely_answered_criterion_and_refits_without_it():
    criteria = ["timeliness", "staff_attitude", "visits"]
    result = analysis.key_drivers(with_a_rare_criterion([5, 4, 2, 1, 3]), "overall", criteria)
    assert result.n_complete == 5
    assert not result.estimated
    shown = analysis.suppress(result)
    visits = row(shown, "visits")
    assert bool(visits["suppressed"])
    assert visits.drop(["criterion", "suppressed"]).isna().all()
    assert shown.criteria["criterion"].tolist() == criteria  # labels kept, in their order
    assert shown.estimated
    assert shown.n_complete > 2000
    assert row(shown, "timeliness")["odds_ratio"] > 1
    assert "withheld: 1 row(s)" in shown.method
    assert "visits" not in shown.table.columns


@pytest.mark.parametrize("answers", [[5, 5, 5, 5, 5], [1, 2, 3, 4, 5], [2, 2, 2, 2]])
def test_published_output_does_not_depend_on_withheld_answers(answers):
    """Whether the rare criterion varies (which decides whether it can enter a model)
    and what it says: nothing published changes."""
    criteria = ["timeliness", "staff_attitude", "visits"]
    baseline = published(
        analysis.key_drivers(with_a_rare_criterion([3, 1, 4, 1, 5]), "overall", criteria)
    )
    other = analysis.key_drivers(with_a_rare_criterion(answers), "overall", criteria)
    assert published(other) == baseline


def test_suppress_withholds_the_model_when_complete_cases_are_few():
    patterns = pd.DataFrame(
        {
            "overall": [5, 2, 4, np.nan, np.nan],
            "timeliness": [5, 1, 4, 3, 5],
            "visits": [4, 2, 5, np.nan, 4],
            "count": [3, 2, 1, 20, 15],
        }
    )
    result = analysis.key_drivers(patterns, "overall", ["timeliness", "visits"])
    assert result.n_complete == 6
    shown = analysis.suppress(result)
    assert not shown.estimated
    assert shown.n_complete is None
    assert shown.intercept is None
    assert shown.notes == [
        "no model estimate published: it would rest on fewer than 10 complete cases"
    ]
    assert not shown.criteria["suppressed"].any()
    assert shown.criteria[["odds_ratio", "ci_low", "ci_high", "p_value", "rank"]].isna().all().all()
    # Shares rest on 41 and 21 answers: published. The overall share rests on 6: withheld.
    assert row(shown, "timeliness")["share_satisfied"] == pytest.approx(19 / 41)
    assert row(shown, "visits")["n"] == 21
    assert shown.outcome_share is None
    assert shown.n_outcome is None
    assert shown.n_responses == 41
    # Publishing twice changes nothing more.
    assert published(shown) == published(result)


def test_suppress_keeps_a_result_with_enough_answers():
    result = analysis.key_drivers(snoring(), "heart_disease", ["snoring"])
    shown = analysis.suppress(result)
    assert shown.estimated
    assert shown.n_complete == result.n_complete
    assert not shown.criteria["suppressed"].any()
    assert row(shown, "snoring")["odds_ratio"] == pytest.approx(
        row(result, "snoring")["odds_ratio"]
    )
    assert shown.method[-1].startswith("disclosure control")
