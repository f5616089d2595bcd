"""Post-stratified (nonresponse-weighted) CSAT: a published example, a simulation with
known truth, hand-derived formulas and the edge cases."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from analysis.intervals import wilson
from analysis.poststrat import PostStratified, poststratify


def cells_table(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(
        rows, columns=["group", "service", "channel", "invitations", "satisfied", "total"]
    )


def hand_wilson(p: float, n: float, level: float = 0.95) -> tuple[float, float]:
    return proportion_confint(p * n, n, alpha=1 - level, method="wilson")


# Lohr, Table 4.2: ACLS discipline, members, valid returns, % female among the returns.
ACLS = [
    ("Literature", 9100, 636, 38),
    ("Classics", 1950, 451, 27),
    ("Philosophy", 5500, 481, 18),
    ("History", 10850, 611, 19),
    ("Linguistics", 2100, 493, 36),
    ("Political science", 5500, 575, 13),
    ("Sociology", 9000, 588, 26),
]


def test_lohr_acls_survey_stratified_with_nonresponse():
    """Lohr SL, Sampling: Design and Analysis (1st ed. 1999, Duxbury), Example 4.3 and
    Table 4.2: the American Council of Learned Societies survey, seven disciplines
    (strata) with their membership N_h and the number of valid returns n_h; the returns
    are treated as a stratified sample of the members, i.e. post-stratified to the
    membership. The worked figures used here are those of E. Slud's STAT 440 handout on
    that example (University of Maryland, "Data demo involving stratified samples",
    2005): estimated percentage female sum N_h p_h / N = 24.65%, standard error 0.00712
    (with the finite-population correction (1 - n_h / N_h) and divisor n_h - 1).

    The table gives % female, not counts, so the counts are round(% × n_h); that moves
    the estimate by 0.0003, inside 3 significant digits. The module uses no finite-
    population correction and divisor n_h (see its docstring): its standard error is
    0.00739 by the same hand arithmetic, and the published 0.00712 is recovered from the
    cells it reports once the correction and n_h - 1 are put back.
    """
    table = cells_table(
        [
            ("ACLS", name, "mail", members, round(pct * returns / 100), returns)
            for name, members, returns, pct in ACLS
        ]
    )
    result = poststratify(table)
    group = result.groups.iloc[0]
    assert f"{group['csat_weighted']:.3g}" == "0.247"
    assert group["csat_weighted"] == pytest.approx(0.2465, abs=5e-4)
    # unweighted: 972 of the 3835 returns
    assert group["satisfied"] == 972
    assert group["csat"] == pytest.approx(972 / 3835)
    assert group["se"] == pytest.approx(0.00739, abs=5e-6)
    cells = result.cells
    n_h = cells["responses"].to_numpy(dtype=float)
    share = cells["weight"].to_numpy() * n_h / 44000
    assert share == pytest.approx([m / 44000 for _, m, _, _ in ACLS])
    p_h = cells["csat"].to_numpy()
    fpc = 1 - n_h / cells["invitations"].to_numpy()
    published_se = np.sqrt(np.sum(fpc * share**2 * p_h * (1 - p_h) / (n_h - 1)))
    assert published_se == pytest.approx(0.00712, abs=5e-6)
    assert group["response_rate"] == pytest.approx(3835 / 44000)
    assert group["strata"] == 7
    assert group["collapsed"] == 0


def test_kish_design_effect_and_interval_by_hand():
    """Two strata of 100 invitations each, 50 and 10 responses: respondent weights 2
    (x50) and 10 (x10). Kish: deff = n sum(w^2) / (sum w)^2 = 60 × 1200 / 200^2 = 1.8,
    which is 1 + CV^2 with CV^2 = 8.889 / 3.333^2 = 0.8; n_effective = 60 / 1.8.
    CSAT 40/50 and 5/10: weighted 0.5 × 0.8 + 0.5 × 0.5 = 0.65 (unweighted 45/60 = 0.75);
    V = 0.25 × 0.16 / 50 + 0.25 × 0.25 / 10 = 0.00705, n* = 0.65 × 0.35 / V = 32.27,
    under n_effective, so the interval is Wilson's at p = 0.65 on n = 32.27."""
    table = cells_table([("A", "s", "web", 100, 40, 50), ("A", "s", "sms", 100, 5, 10)])
    group = poststratify(table).groups.iloc[0]
    weights = np.array([2.0] * 50 + [10.0] * 10)
    cv2 = weights.var() / weights.mean() ** 2
    assert group["deff"] == pytest.approx(1.8)
    assert group["deff"] == pytest.approx(1 + cv2)
    assert group["n_effective"] == pytest.approx(60 / 1.8)
    assert group["csat"] == pytest.approx(0.75)
    assert group["csat_weighted"] == pytest.approx(0.65)
    assert group["se"] == pytest.approx(np.sqrt(0.00705))
    low, high = hand_wilson(0.65, 0.65 * 0.35 / 0.00705)
    assert group["ci_low"] == pytest.approx(low)
    assert group["ci_high"] == pytest.approx(high)


def test_simulation_removes_nonresponse_bias_and_covers_the_truth():
    """One agency, four service × channel strata with true satisfaction 0.60, 0.90,
    0.75, 0.95 and response propensities 4%, 40%, 10%, 30%: the least satisfied
    stratum, the largest, answers least. Truth = invitation-weighted satisfaction
    0.7292. 500 replications (fixed seed), each a group of the same table: the
    unweighted CSAT is biased upward by about 12.6 points, the post-stratified one by
    less than half a point, and its 95% interval covers the truth about 95% of the time.
    """
    rng = np.random.default_rng(20240501)
    invitations = np.array([3000, 1500, 1000, 500])
    truth_h = np.array([0.60, 0.90, 0.75, 0.95])
    propensity = np.array([0.04, 0.40, 0.10, 0.30])
    truth = float(np.sum(invitations * truth_h) / invitations.sum())
    replications = 500
    responses = rng.binomial(invitations, propensity, size=(replications, 4))
    satisfied = rng.binomial(responses, truth_h)
    table = pd.DataFrame(
        {
            "group": np.repeat([f"R{i:03d}" for i in range(replications)], 4),
            "service": np.tile(["a", "a", "b", "b"], replications),
            "channel": np.tile(["web", "sms", "web", "sms"], replications),
            "invitations": np.tile(invitations, replications),
            "satisfied": satisfied.ravel(),
            "total": responses.ravel(),
        }
    )
    groups = poststratify(table).groups
    assert len(groups) == replications
    unweighted_bias = groups["csat"].mean() - truth
    weighted_bias = groups["csat_weighted"].mean() - truth
    assert unweighted_bias > 0.10
    assert abs(weighted_bias) < 0.005
    covered = ((groups["ci_low"] <= truth) & (truth <= groups["ci_high"])).mean()
    assert 0.92 <= covered <= 0.975
    # the standard error matches the spread of the estimates across replications
    assert groups["se"].mean() == pytest.approx(groups["csat_weighted"].std(), rel=0.15)
    assert (groups["deff"] > 1.5).all()


def test_stratum_without_responses_collapses_into_its_service():
    table = cells_table(
        [
            ("A", "tax", "web", 300, 80, 100),
            ("A", "tax", "sms", 100, 0, 0),
            ("A", "tax", "kiosk", 100, 30, 50),
            ("A", "permit", "web", 500, 100, 200),
        ]
    )
    result = poststratify(table)
    group = result.groups.iloc[0]
    assert group["strata"] == 4
    assert group["collapsed"] == 1
    cells = result.cells.set_index(["service", "channel"])
    assert cells.loc[("tax", "sms"), "collapsed_into"] == "service"
    assert np.isnan(cells.loc[("tax", "sms"), "weight"])
    # the 100 sms invitations go to web and kiosk in proportion 300:100
    assert cells.loc[("tax", "web"), "weight"] == pytest.approx(375 / 100)
    assert cells.loc[("tax", "kiosk"), "weight"] == pytest.approx(125 / 50)
    assert cells.loc[("permit", "web"), "weight"] == 2.5
    assert cells["collapsed_into"].isna().sum() == 3
    expected = (375 * 0.8 + 125 * 0.6 + 500 * 0.5) / 1000
    assert group["csat_weighted"] == pytest.approx(expected)
    # every invitation is represented once
    represented = (result.cells["weight"] * result.cells["responses"]).sum()
    assert represented == pytest.approx(1000)


def test_service_without_responses_collapses_into_the_group():
    table = cells_table(
        [
            ("A", "tax", "web", 300, 80, 100),
            ("A", "permit", "web", 100, 20, 50),
            ("A", "licence", "web", 200, 0, 0),
            ("A", "licence", "sms", 50, 0, 0),
            ("B", "tax", "web", 100, 50, 100),
        ]
    )
    result = poststratify(table)
    a = result.groups.set_index("group").loc["A"]
    assert a["collapsed"] == 2
    assert a["strata"] == 4
    licence = result.cells[result.cells["service"] == "licence"]
    assert list(licence["collapsed_into"]) == ["group", "group"]
    # the licence invitations take the weighted CSAT of the rest of the group
    assert a["csat_weighted"] == pytest.approx((300 * 0.8 + 100 * 0.4) / 400)
    a_cells = result.cells[result.cells["group"] == "A"]
    assert (a_cells["weight"] * a_cells["responses"]).sum() == pytest.approx(650)
    b = result.groups.set_index("group").loc["B"]
    assert b["collapsed"] == 0
    assert b["csat_weighted"] == pytest.approx(0.5)


def test_group_without_any_response_has_no_estimate():
    table = cells_table([("A", "tax", "web", 100, 50, 80), ("B", "tax", "web", 40, 0, 0)])
    groups = poststratify(table).groups.set_index("group")
    b = groups.loc["B"]
    for column in ("csat", "csat_weighted", "se", "ci_low", "ci_high", "deff", "n_effective"):
        assert np.isnan(b[column])
    assert b["collapsed"] == 0
    assert bool(b["low_response"])
    assert groups.loc["A", "csat_weighted"] == pytest.approx(50 / 80)


def test_equal_response_rates_need_no_weighting():
    table = cells_table(
        [
            ("A", "tax", "web", 400, 150, 200),
            ("A", "tax", "sms", 100, 45, 50),
            ("A", "permit", "web", 200, 90, 100),
        ]
    )
    group = poststratify(table).groups.iloc[0]
    assert group["deff"] == pytest.approx(1.0)
    assert group["n_effective"] == pytest.approx(350)
    assert group["csat_weighted"] == pytest.approx(group["csat"])
    assert group["csat"] == pytest.approx(285 / 350)
    low, high = wilson(285, 350)
    assert group["ci_low"] == pytest.approx(float(low))
    assert group["ci_high"] == pytest.approx(float(high))


def test_all_satisfied_uses_kish_effective_size():
    table = cells_table([("A", "tax", "web", 100, 50, 50), ("A", "tax", "sms", 100, 10, 10)])
    group = poststratify(table).groups.iloc[0]
    assert group["csat_weighted"] == 1.0
    assert group["se"] == 0.0
    low, high = hand_wilson(1.0, 60 / 1.8)
    assert group["ci_high"] == pytest.approx(high) == 1.0
    assert group["ci_low"] == pytest.approx(low)
    assert group["ci_low"] < wilson(60, 60)[0]


def test_small_strata_that_all_agree_do_not_shrink_the_interval():
    """A heavily weighted stratum of 3 responses, all satisfied, has p_h (1 - p_h) = 0:
    V alone would credit the group with far more precision than 3 responses carry.
    The effective size is capped at Kish's n_effective."""
    table = cells_table([("A", "tax", "web", 900, 3, 3), ("A", "tax", "sms", 100, 50, 100)])
    group = poststratify(table).groups.iloc[0]
    p = 0.9 * 1 + 0.1 * 0.5
    assert group["csat_weighted"] == pytest.approx(p)
    assert p * (1 - p) / group["se"] ** 2 > 10 * group["n_effective"]
    low, high = hand_wilson(p, group["n_effective"])
    assert group["ci_low"] == pytest.approx(low)
    assert group["ci_high"] == pytest.approx(high)


def test_low_response_flag_at_the_threshold():
    table = cells_table(
        [
            ("A", "tax", "web", 100, 5, 10),
            ("A", "tax", "sms", 100, 5, 9),
            ("B", "tax", "web", 100, 5, 9),
            ("C", "tax", "web", 0, 0, 0),
            ("D", "tax", "web", 100, 5, 10),
            ("D", "tax", "sms", 100, 5, 10),
        ]
    )
    result = poststratify(table)
    flags = result.cells.set_index(["group", "channel"])["low_response"]
    assert not flags.loc[("A", "web")]  # exactly 10%: not below
    assert flags.loc[("A", "sms")]
    assert not flags.loc[("C", "web")]  # no invitations: no rate to flag
    assert np.isnan(result.cells["response_rate"].iloc[3])
    groups = result.groups.set_index("group")
    assert groups.loc["A", "response_rate"] == pytest.approx(0.095)
    assert groups.loc["A", "low_response"]  # 19 of 200, though one of its cells is at 10%
    assert groups.loc["B", "low_response"]
    assert not groups.loc["D", "low_response"]  # 20 of 200: exactly 10%
    assert not groups.loc["C", "low_response"]
    assert groups.loc["C", "strata"] == 0
    assert "response rate below 10% flagged" in result.method
    stricter = poststratify(table, min_response_rate=0.25)
    assert stricter.cells["low_response"].iloc[:3].all()
    assert "response rate below 25% flagged" in stricter.method
    assert not poststratify(table, min_response_rate=0).cells["low_response"].any()


def test_level_widens_the_interval():
    table = cells_table([("A", "s", "web", 100, 40, 50), ("A", "s", "sms", 100, 5, 10)])
    narrow = poststratify(table, level=0.80).groups.iloc[0]
    wide = poststratify(table, level=0.99).groups.iloc[0]
    assert wide["ci_low"] < narrow["ci_low"] < narrow["ci_high"] < wide["ci_high"]
    low, high = hand_wilson(0.65, 0.65 * 0.35 / 0.00705, level=0.99)
    assert wide["ci_low"] == pytest.approx(low)
    assert wide["ci_high"] == pytest.approx(high)


@pytest.mark.parametrize(
    ("rows", "drop", "message"),
    [
        ([("A", "s", "web", 10, 1, 2)], "invitations", "missing column(s) invitations"),
        ([("A", "s", "web", 10, 1, 12)], None, "response rate above 1 for A, s, web"),
        ([("A", "s", "web", 10, 5, 4)], None, "satisfied exceeds total for A, s, web"),
        ([("A", "s", "web", -10, 1, 2)], None, "'invitations' has a negative count"),
        ([("A", "s", "web", 10, -1, 2)], None, "'satisfied' has a negative count"),
        ([("A", "s", "web", 10, 1.5, 2)], None, "'satisfied' must hold whole numbers"),
        ([("A", "s", "web", 10, 1, 2)] * 2, None, "more than one row for A, s, web"),
        ([("A", "s", "web", 10, 0, 0)], None, "no responses at all"),
        ([], None, "no rows"),
    ],
)
def test_invalid_tables_are_rejected_with_the_problem_named(rows, drop, message):
    table = cells_table(rows)
    if drop:
        table = table.drop(columns=[drop])
    with pytest.raises(ValueError, match="post-stratification table") as error:
        poststratify(table)
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_response_rate": 1.0}, "min_response_rate"),
        ({"min_response_rate": -0.1}, "min_response_rate"),
        ({"min_response_rate": float("nan")}, "min_response_rate"),
        ({"level": 1.0}, "level"),
        ({"level": 0.0}, "level"),
    ],
)
def test_invalid_parameters(kwargs, message):
    table = cells_table([("A", "s", "web", 10, 1, 2)])
    with pytest.raises(ValueError, match=message):
        poststratify(table, **kwargs)


def test_result_serialises_and_summarises():
    table = cells_table(
        [("A", "tax", "web", 100, 40, 50), ("A", "tax", "sms", 60, 0, 0), ("B", "x", "y", 5, 0, 0)]
    )
    result = poststratify(table)
    assert isinstance(result, PostStratified)
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert set(data) == {"groups", "cells", "min_response_rate", "level", "method"}
    assert data["groups"][1]["csat_weighted"] is None
    assert data["cells"][1]["weight"] is None
    assert data["cells"][1]["collapsed_into"] == "service"
    assert data["cells"][0]["collapsed_into"] is None
    assert list(result.groups.columns) == [
        "group",
        "invitations",
        "responses",
        "response_rate",
        "satisfied",
        "csat",
        "csat_weighted",
        "se",
        "ci_low",
        "ci_high",
        "deff",
        "n_effective",
        "strata",
        "collapsed",
        "low_response",
    ]
    frame = result.to_frame()
    frame.loc[0, "csat"] = -1.0
    assert result.groups.loc[0, "csat"] == pytest.approx(0.8)
    text = result.summary()
    assert "post-stratified" in text
    assert "csat_weighted" in text
    assert "2 of 3 cells with a response rate below 10%" in text
    assert result.table is not table


def test_small_cells_are_pooled_so_the_weighted_csat_hides_their_answers():
    """With ``min_stratum`` every weighted stratum rests on that many responses: moving
    satisfied answers between the small cells of a pooled stratum changes nothing
    published, so the weighted CSAT beside the plain one cannot be solved for them."""

    def table(small_a: int, small_b: int) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "group": ["A"] * 5,
                "service": ["s1", "s1", "s2", "s2", "s3"],
                "channel": ["web", "mobile", "web", "mobile", "web"],
                "invitations": [200, 100, 150, 40, 30],
                "satisfied": [40, small_a, 50, small_b, 1],
                "total": [50, 4, 60, 5, 2],
            }
        )

    one = poststratify(table(3, 2), min_stratum=10)
    other = poststratify(table(1, 4), min_stratum=10)
    columns = ["csat", "csat_weighted", "ci_low", "ci_high", "deff"]
    pd.testing.assert_frame_equal(one.groups[columns], other.groups[columns])
    # without pooling the same move shows in the weighted CSAT
    assert poststratify(table(3, 2)).groups["csat_weighted"].iloc[0] != pytest.approx(
        poststratify(table(1, 4)).groups["csat_weighted"].iloc[0]
    )
    pooled = one.cells.set_index(["service", "channel"])
    assert pooled.loc[("s1", "mobile"), "collapsed_into"] == "group"
    assert pd.isna(pooled.loc[("s1", "web"), "collapsed_into"])
    assert one.groups["collapsed"].iloc[0] == 3
    with pytest.raises(ValueError, match="min_stratum"):
        poststratify(table(3, 2), min_stratum=0)


def test_official_rate_by_its_definition():
    """The indicator set's formula, on hand-checked numbers: 150 transactions, 8 rated
    dissatisfied -> 142 / 150."""
    from analysis.indicator import official_rates

    out = official_rates(
        pd.DataFrame(
            {"group": ["A", "B", "C"], "invitations": [150, 20, 0], "dissatisfied": [8, 0, 0]}
        )
    ).set_index("group")
    assert out.loc["A", "official_rate"] == pytest.approx(142 / 150)
    assert out.loc["B", "official_rate"] == 1
    assert pd.isna(out.loc["C", "official_rate"])
    with pytest.raises(ValueError, match="threshold"):
        official_rates(pd.DataFrame({"group": ["A"], "invitations": [1], "dissatisfied": [0]}), 5)
    with pytest.raises(ValueError, match="more dissatisfied"):
        official_rates(pd.DataFrame({"group": ["A"], "invitations": [1], "dissatisfied": [2]}))
