"""Disclosure control: the attacks of issue 13 recover nothing.

The strongest form of "nothing can be derived": two databases that differ only
inside the withheld cells publish exactly the same output, figure for figure. If
the published output does not change when a withheld citizen's answer changes, no
algebra on it (totals minus rows, differences from the rest, control limits,
tests, shrinkage) can recover that answer.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import analysis
from analysis.publication import withheld
from analysis.results import json_safe


def published(result) -> str:
    return json.dumps(json_safe(analysis.suppress(result).to_dict()), sort_keys=True)


def satisfaction(small_satisfied: int, small_total: int = 3) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "group": ["A", "B", "C", "D", "SMALL"],
            "satisfied": [40, 70, 52, 90, small_satisfied],
            "total": [50, 80, 60, 100, small_total],
            "rating_sum": [200, 330, 250, 430, 5 * small_satisfied + small_total - small_satisfied],
        }
    )


def test_primary_then_complementary_until_the_withheld_number_ten():
    assert withheld([50, 3, 60]).tolist() == [True, True, False]  # 3 alone would follow
    assert withheld([50, 3, 8, 60]).tolist() == [False, True, True, False]  # 11 withheld
    assert withheld([50, 0, 60]).tolist() == [False, True, False]  # nothing behind a 0
    assert withheld([9]).tolist() == [True]
    assert withheld([10, 12]).tolist() == [False, False]
    assert withheld([4, 5]).tolist() == [True, True]  # everything withheld: nothing shown


@pytest.mark.parametrize("total", [1, 3, 9])
def test_satisfaction_output_does_not_depend_on_a_withheld_group(total):
    # (a) diff algebra and totals minus visible rows: with the withheld group all
    # satisfied or all dissatisfied, every published number is the same.
    none = published(analysis.compare_satisfaction(satisfaction(0, total)))
    every = published(analysis.compare_satisfaction(satisfaction(total, total)))
    assert none == every
    # and the same holds for the group's size within the primary range
    assert none == published(analysis.compare_satisfaction(satisfaction(0, 1)))


def test_published_totals_are_the_sum_of_the_published_rows():
    result = analysis.suppress(analysis.compare_satisfaction(satisfaction(1)))
    shown = result.groups[~result.groups["suppressed"]]
    assert result.overall.total == shown["total"].sum()
    assert result.overall.satisfied == shown["satisfied"].sum()
    # The full total (published by other outputs, e.g. the trend) minus this one leaves
    # at least 10 responses: SMALL's 3 and A's 50.
    assert satisfaction(1)["total"].sum() - result.overall.total == 53
    # Every visible row's difference is from the other visible rows only.
    for row in shown.itertuples():
        rest = shown[shown["group"] != row.group]
        assert row.diff == pytest.approx(
            row.satisfied / row.total - rest["satisfied"].sum() / rest["total"].sum()
        )


def test_two_periods_a_withheld_month_changes_nothing_published():
    def months(hidden_satisfied: int) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "period": ["2026-01", "2026-02", "2026-03", "2026-04", "2026-05"],
                "satisfied": [400, 420, hidden_satisfied, 380, 15],
                "total": [500, 510, 4, 490, 20],
            }
        )

    low, high = analysis.trend(months(0)), analysis.trend(months(4))
    assert published(low) == published(high)
    shown = analysis.suppress(low)
    by_period = shown.periods.set_index("period")
    assert by_period.loc["2026-03", "suppressed"]
    assert by_period.loc["2026-05", "suppressed"]  # the smallest other month
    # The last change is between published months, the gap kept in the scores.
    assert (shown.last_change.previous, shown.last_change.period) == ("2026-02", "2026-04")
    assert by_period.loc["2026-04", "score"] == 3
    # p-bar, the p' limits and sigma_z come from published months only.
    centre = (400 + 420 + 380) / (500 + 510 + 490)
    assert by_period.loc["2026-01", "center"] == pytest.approx(centre)


@pytest.mark.parametrize("multi", [False, True])
def test_reasons_do_not_depend_on_a_withheld_group(multi):
    def table(small: dict[str, int]) -> tuple[pd.DataFrame, dict[str, int] | None]:
        counts = {("A", "slow"): 20, ("A", "fee"): 15, ("B", "slow"): 9, ("B", "fee"): 30}
        counts |= {("C", "slow"): 12, ("C", "fee"): 11}
        counts |= {("S", reason): n for reason, n in small.items()}
        frame = pd.DataFrame(
            [(g, r, n) for (g, r), n in counts.items()], columns=["group", "reason", "count"]
        )
        people = {"A": 30, "B": 35, "C": 20, "S": 4} if multi else None
        return frame, people

    one = analysis.reason_breakdown(*table({"slow": 4, "fee": 0}))
    other = analysis.reason_breakdown(*table({"slow": 1, "fee": 3}))
    assert published(one) == published(other)
    cells = analysis.suppress(one).cells
    assert cells.loc[cells["group"] == "S", "suppressed"].all()
    assert cells.loc[cells["group"] == "S", "share"].isna().all()


def test_a_reason_named_only_in_a_withheld_group_is_not_listed():
    frame = pd.DataFrame(
        {"group": ["A", "B", "S"], "reason": ["slow", "slow", "bribe"], "count": [30, 40, 2]}
    )
    result = analysis.suppress(analysis.reason_breakdown(frame))
    assert "bribe" not in set(result.cells["reason"].dropna())
    assert "bribe" not in set(result.overall["reason"])


def test_league_funnel_and_trend_comparison_do_not_depend_on_withheld_cells():
    def provinces(hidden: int) -> pd.DataFrame:
        rng = np.random.default_rng(3)
        n = rng.integers(20, 200, size=12)
        x = rng.binomial(n, 0.85)
        return pd.DataFrame(
            {
                "group": [f"P{i:02d}" for i in range(12)] + ["TINY"],
                "satisfied": [*x, hidden],
                "total": [*n, 5],
            }
        )

    for analyse in (
        analysis.shrink_satisfaction,
        analysis.rank_intervals,
        analysis.funnel_plot,
    ):
        assert published(analyse(provinces(0))) == published(analyse(provinces(5)))

    def series(hidden: int) -> pd.DataFrame:
        rows = [("A", f"2026-0{m}", 40 + m, 50) for m in range(1, 6)]
        rows += [("B", f"2026-0{m}", 35, 50) for m in range(1, 6)]
        rows += [("B", "2026-06", hidden, 6)]
        return pd.DataFrame(rows, columns=["group", "period", "satisfied", "total"])

    assert published(analysis.compare_trends(series(0))) == published(
        analysis.compare_trends(series(6))
    )


def test_a_plain_frame_loses_columns_computed_with_a_withheld_row():
    groups = analysis.compare_satisfaction(satisfaction(1)).groups
    shown = analysis.suppress(groups)
    visible = shown[~shown["suppressed"]]
    assert visible["diff"].isna().all()
    assert visible["p_adjusted"].isna().all()
    assert visible["csat"].notna().all()  # a row's own figures stay


def test_every_result_states_the_rule():
    result = analysis.suppress(analysis.compare_satisfaction(satisfaction(1)))
    assert any(m.startswith("disclosure control") for m in result.method)
    with pytest.raises(ValueError, match="min_count"):
        analysis.suppress(analysis.compare_satisfaction(satisfaction(1)), min_count=0)
    with pytest.raises(TypeError, match="cannot publish"):
        analysis.suppress(object())


def test_nothing_published_when_every_group_is_small():
    result = analysis.suppress(
        analysis.compare_satisfaction(
            pd.DataFrame({"group": ["A", "B"], "satisfied": [1, 2], "total": [3, 4]})
        )
    )
    body = json_safe(result.to_dict())
    assert body["overall"] == dict.fromkeys(("satisfied", "total", "csat", "ci_low", "ci_high"))
    assert all(g["suppressed"] and g["csat"] is None for g in body["groups"])
    assert "every group withheld" in body["test"]["method"]


@pytest.mark.parametrize(
    "analyse", [analysis.shrink_satisfaction, analysis.rank_intervals, analysis.funnel_plot]
)
def test_a_league_left_with_too_few_groups_keeps_nothing_fitted_on_withheld_ones(analyse):
    table = pd.DataFrame(
        {"group": ["A", "B", "C"], "satisfied": [5, 80, 300], "total": [6, 100, 400]}
    )
    body = json_safe(analysis.suppress(analyse(table), min_count=200).to_dict())
    assert all(g["suppressed"] for g in body["groups"])
    assert body.get("prior") is None
    assert body.get("target") is None
    assert body.get("limits", []) == []


def test_charts_draw_a_result_with_everything_withheld():
    from analysis import charts

    small = pd.DataFrame({"group": ["A", "B"], "satisfied": [1, 2], "total": [3, 4]})
    figure = charts.forest_chart(analysis.suppress(analysis.compare_satisfaction(small)))
    assert charts.render(figure, "svg").startswith(b"<?xml")
