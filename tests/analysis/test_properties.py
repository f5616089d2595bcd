"""Properties that hold on any table, checked on random ones."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import analysis

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def reason_tables(draw):
    groups = draw(st.integers(1, 4))
    reasons = draw(st.integers(1, 6))
    counts = draw(
        st.lists(st.integers(0, 60), min_size=groups * reasons, max_size=groups * reasons)
    )
    rows = [
        {"group": f"g{g}", "reason": f"r{r}", "count": counts[g * reasons + r]}
        for g in range(groups)
        for r in range(reasons)
    ]
    return pd.DataFrame(rows)


def no_nan_json(result) -> None:
    json.dumps(result.to_dict(), allow_nan=False)


def check_intervals(frame, estimate):
    defined = frame[estimate].notna()
    sub = frame[defined]
    assert (sub["ci_low"] <= sub[estimate] + 1e-12).all()
    assert (sub[estimate] <= sub["ci_high"] + 1e-12).all()
    assert ((sub["ci_low"] >= 0) & (sub["ci_high"] <= 1)).all()


@FAST
@given(reason_tables())
def test_reason_breakdown_properties(table):
    if table["count"].sum() == 0:
        return
    result = analysis.reason_breakdown(table)
    cells = result.cells
    check_intervals(cells, "share")
    sums = cells.groupby("group")["share"].sum(min_count=1).dropna()
    assert np.allclose(sums, 1.0)
    tested = cells["p_value"].notna()
    assert (cells.loc[tested, "p_adjusted"] >= cells.loc[tested, "p_value"] - 1e-12).all()
    no_nan_json(result)


@FAST
@given(reason_tables())
def test_an_empty_reason_changes_nothing(table):
    if table["count"].sum() == 0:
        return
    before = analysis.reason_breakdown(table)
    extra = pd.DataFrame({"group": table["group"].unique(), "reason": "zz_empty", "count": 0})
    after = analysis.reason_breakdown(pd.concat([table, extra]))
    kept = after.cells[after.cells["reason"] != "zz_empty"].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, before.cells.reset_index(drop=True))
    if before.test.df:
        assert after.test.statistic == pytest.approx(before.test.statistic)


@FAST
@given(reason_tables(), st.integers(0, 40))
def test_multi_select_properties(table, extra_people):
    people = (table.groupby("group")["count"].max() + extra_people).to_dict()
    result = analysis.reason_breakdown(table, respondents=people)
    check_intervals(result.cells, "share")
    tested = result.cells["p_value"].notna()
    assert (
        result.cells.loc[tested, "p_adjusted"] >= result.cells.loc[tested, "p_value"] - 1e-12
    ).all()
    no_nan_json(result)


@st.composite
def satisfaction_tables(draw, key="group", size=(1, 6)):
    n = draw(st.integers(*size))
    totals = draw(st.lists(st.integers(0, 300), min_size=n, max_size=n))
    satisfied = [draw(st.integers(0, t)) for t in totals]
    return pd.DataFrame(
        {key: [f"{key[0]}{i:02d}" for i in range(n)], "satisfied": satisfied, "total": totals}
    )


@FAST
@given(satisfaction_tables())
def test_satisfaction_properties(table):
    if table["total"].sum() == 0:
        with pytest.raises(ValueError, match="no responses"):
            analysis.compare_satisfaction(table)
        return
    result = analysis.compare_satisfaction(table)
    groups = result.groups
    check_intervals(groups, "csat")
    both = groups["diff"].notna()
    assert (groups.loc[both, "diff_low"] <= groups.loc[both, "diff"] + 1e-9).all()
    assert (groups.loc[both, "diff"] <= groups.loc[both, "diff_high"] + 1e-9).all()
    tested = groups["p_value"].notna()
    assert (groups.loc[tested, "p_adjusted"] >= groups.loc[tested, "p_value"] - 1e-12).all()
    assert (groups["insufficient"] == (groups["total"] < 30)).all()
    no_nan_json(result)


@FAST
@given(satisfaction_tables(key="period", size=(1, 14)))
def test_trend_properties(table):
    if table["total"].sum() == 0:
        with pytest.raises(ValueError, match="no responses"):
            analysis.trend(table)
        return
    result = analysis.trend(table)
    check_intervals(result.periods, "csat")
    limits = result.periods.dropna(subset=["lcl"])
    assert ((limits["lcl"] >= 0) & (limits["lcl"] <= limits["ucl"]) & (limits["ucl"] <= 1)).all()
    no_nan_json(result)


def test_degenerate_inputs_are_defined_or_clear_errors():
    all_satisfied = pd.DataFrame({"group": ["a", "b"], "satisfied": [40, 50], "total": [40, 50]})
    result = analysis.compare_satisfaction(all_satisfied)
    assert result.overall.csat == 1.0
    assert list(result.groups["p_value"]) == [1.0, 1.0]
    no_nan_json(result)
    one_group = analysis.compare_satisfaction(all_satisfied.iloc[:1])
    assert one_group.to_dict()["groups"][0]["diff"] is None
    assert "not applicable" in one_group.test.method
    flat = analysis.trend(
        pd.DataFrame({"period": ["1", "2"], "satisfied": [5, 5], "total": [5, 5]})
    )
    assert flat.trend_test.odds_ratio is None
    no_nan_json(flat)
    one = analysis.reason_breakdown(pd.DataFrame({"group": ["a"], "reason": ["x"], "count": [3]}))
    assert one.cells["share"].iloc[0] == 1.0
    no_nan_json(one)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (pd.DataFrame({"group": ["a"], "total": [3]}), "missing column"),
        (pd.DataFrame({"group": ["a"], "satisfied": [-1], "total": [3]}), "negative"),
        (pd.DataFrame({"group": ["a"], "satisfied": [4], "total": [3]}), "exceeds total"),
        (pd.DataFrame({"group": ["a"], "satisfied": [1.5], "total": [3]}), "whole numbers"),
        (
            pd.DataFrame({"group": ["a", "a"], "satisfied": [1, 1], "total": [3, 3]}),
            "more than one row",
        ),
        (pd.DataFrame({"group": ["a"], "satisfied": ["x"], "total": [3]}), "numbers"),
    ],
)
def test_bad_tables_are_refused_with_the_reason(table, message):
    with pytest.raises(ValueError, match=message):
        analysis.compare_satisfaction(table)


def test_input_is_not_changed():
    table = pd.DataFrame({"group": ["a", "b"], "reason": ["x", "y"], "count": [3, 0]})
    copy = table.copy()
    analysis.reason_breakdown(table)
    pd.testing.assert_frame_equal(table, copy)


def test_suppress_blanks_small_cells_and_what_would_give_them_away():
    frame = analysis.compare_satisfaction(
        pd.DataFrame(
            {"group": ["big", "bigger", "small"], "satisfied": [80, 100, 5], "total": [100, 120, 9]}
        )
    ).groups
    published = analysis.suppress(frame)
    small = published[published["group"] == "small"].iloc[0]
    assert small["suppressed"]
    assert pd.isna(small["csat"])
    assert pd.isna(small["total"])
    # 9 withheld responses would follow from a total published elsewhere: the smallest
    # other row goes too, so the withheld responses number 109.
    assert published.set_index("group")["suppressed"].to_dict() == {
        "big": True,
        "bigger": False,
        "small": True,
    }
    bigger = published[published["group"] == "bigger"].iloc[0]
    assert bigger["csat"] == 100 / 120
    # Its difference from "the rest" was computed with the withheld rows: blanked.
    assert pd.isna(bigger["diff"])
    assert pd.isna(bigger["p_adjusted"])


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(st.floats(0, 1, allow_nan=False), st.just(float("nan")), st.sampled_from([0, 1])),
        min_size=0,
        max_size=40,
    )
)
def test_holm_equals_statsmodels_multipletests(p_values):
    from statsmodels.stats.multitest import multipletests

    from analysis.significance import holm

    p = np.asarray(p_values, dtype=float)
    ours = holm(p)
    ok = ~np.isnan(p)
    assert np.isnan(ours[~ok]).all()
    if ok.any():
        reference = multipletests(p[ok], method="holm")[1]
        np.testing.assert_allclose(ours[ok], reference, rtol=1e-12, atol=1e-15)


def test_holm_worked_example():
    # Worked by hand from the definition in Holm (1979), Scand. J. Statist. 6:65-70:
    # sorted .005 .01 .03 .04 times 4 3 2 1 = .02 .03 .06 .04, made non-decreasing.
    from analysis.significance import holm

    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
