"""Disclosure control: what may leave the service, for every result and every format.

One rule for every output (JSON, CSV, XLSX, pages, charts, reports):

* **Primary suppression.** A figure resting on fewer than ``min_count``
  responses (its denominator: the responses of a group or period, the
  respondents of a reason question) is withheld. The counts inside a
  published denominator are not: a group of 40 may show that 3 were
  dissatisfied.
* **Complementary suppression.** When the withheld responses of one output
  number 1 to ``min_count - 1`` together, a total published elsewhere for the
  same filters (the national figure, the trend of the same selection) minus
  the published rows would give them away; the smallest published rows are
  withheld too, until the withheld responses number at least ``min_count``.
* **Results on published cells only.** Every overall figure, difference
  from "the rest", control limit, test and shrinkage estimate is computed
  again on the published rows, so nothing shown beside them can be solved for
  a withheld one.

:func:`suppress` applies it: to a result object (recomputed on the published
rows, withheld rows kept as labels with ``suppressed = True``) or to a plain
result frame (rows blanked; columns computed from other rows blanked in every
row when a row is withheld, since they were computed with it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from analysis.drivers import MODEL_COLUMNS, DriversResult, key_drivers
from analysis.funnel import FunnelPlot, funnel_plot
from analysis.league import RankIntervals, ShrunkenSatisfaction, rank_intervals, shrink_satisfaction
from analysis.reasons import ReasonBreakdown, reason_breakdown
from analysis.satisfaction import Overall, SatisfactionComparison, compare_satisfaction
from analysis.significance import Homogeneity
from analysis.trend import Change, TrendResult, TrendTest, trend
from analysis.trend_comparison import TrendComparison, compare_trends

MIN_PUBLISHED = 10
LABELS = ("group", "reason", "period", "score")
# Columns whose value in one row is computed from the other rows too (the rest, the
# pooled rate, a family of tests): a withheld row is inside them.
RELATIVE = (
    "diff",
    "diff_low",
    "diff_high",
    "p_value",
    "p_adjusted",
    "significant",
    "target_p_adjusted",
    "below_target",
    "adjusted_residual",
    "center",
    "lcl",
    "ucl",
    "out_of_control",
    "sigma_z",
    "lcl_p",
    "ucl_p",
    "out_of_control_p",
    "shrunken",
    "ci_low_shrunken",
    "ci_high_shrunken",
    "shrinkage_weight",
    "rank_median",
    "rank_low",
    "rank_high",
    "rank_raw",
    "z",
    "outside_95",
    "outside_998",
    "direction",
)
Result = TypeVar("Result")


def rule(min_count: int = MIN_PUBLISHED) -> str:
    """The rule as one sentence, for every result's ``method``."""
    return (
        f"disclosure control: figures resting on fewer than {min_count} responses are "
        f"withheld, and further smallest rows until the withheld responses number 0 or at "
        f"least {min_count}; every total, difference, limit and test is computed on the "
        "published rows only"
    )


def withheld(
    denominators: Sequence[float] | np.ndarray, min_count: int = MIN_PUBLISHED
) -> np.ndarray:
    """Which rows to withhold (primary and complementary), as a boolean array."""
    _check(min_count)
    n = np.nan_to_num(np.asarray(denominators, dtype=float))
    hidden = n < min_count
    residual = float(n[hidden].sum())
    for i in np.argsort(n, kind="stable"):
        if not 0 < residual < min_count:
            break
        if not hidden[i]:
            hidden[i] = True
            residual += n[i]
    return hidden


def suppress(
    result: Result,
    min_count: int = MIN_PUBLISHED,
    count_column: str | None = None,
    keep: Sequence[str] = LABELS,
    within: Sequence[str] = (),
) -> Result:
    """``result`` as it may be published (see the module's rule).

    A result object (satisfaction, reasons, trend, trend comparison, shrunken
    CSAT, rank intervals, funnel plot) is computed again on its published rows;
    key drivers withhold a criterion answered by fewer than ``min_count``
    (the model is fitted without it) and the model when its complete cases
    are that few;
    withheld rows keep their labels, every other value missing, and
    ``suppressed = True``. A DataFrame is blanked row by row: the base is
    ``count_column`` or the first of ``denominator``, ``total``, ``count``;
    with ``group`` and ``reason`` columns the unit is the group, and
    ``within`` names columns inside which the complementary rule runs.
    """
    _check(min_count)
    if isinstance(result, pd.DataFrame):
        return _frame(result, min_count, count_column, keep, within)  # type: ignore[return-value]
    for kind, publish in _PUBLISHERS.items():
        if isinstance(result, kind):
            return publish(result, min_count)  # type: ignore[return-value]
    raise TypeError(f"suppress: cannot publish a {type(result).__name__}")


def _check(min_count: int) -> None:
    if int(min_count) != min_count or min_count < 1:
        raise ValueError("min_count must be a whole number of at least 1")


def _frame(
    frame: pd.DataFrame,
    min_count: int,
    count_column: str | None,
    keep: Sequence[str],
    within: Sequence[str],
) -> pd.DataFrame:
    base = count_column or next(
        (c for c in ("denominator", "total", "count") if c in frame.columns), None
    )
    if base is None:
        raise ValueError("suppress: no count column (denominator, total or count) in the frame")
    unit = ["group"] if {"group", "reason"} <= set(frame.columns) else []
    counts = pd.to_numeric(frame[base], errors="coerce").fillna(0)
    keyed = frame.assign(_n=counts.to_numpy(), _row=np.arange(len(frame)))
    units = keyed.drop_duplicates(unit) if unit else keyed
    hidden_units: list[Any] = []
    for _, part in units.groupby(list(within), sort=False) if within else [(None, units)]:
        mask = withheld(part["_n"].to_numpy(), min_count)
        hidden_units += (
            part.loc[mask, unit].apply(tuple, axis=1).tolist()
            if unit
            else list(part.loc[mask, "_row"])
        )
    if unit:
        rows = keyed[unit].apply(tuple, axis=1).isin(set(hidden_units)).to_numpy()
    else:
        rows = keyed["_row"].isin(hidden_units).to_numpy()
    out = frame.copy()
    blank = [c for c in out.columns if c not in keep]
    out[blank] = out[blank].astype(object)
    out.loc[rows, blank] = np.nan
    if rows.any():
        relative = [c for c in RELATIVE if c in out.columns and c not in keep]
        out[relative] = np.nan
    out["suppressed"] = rows
    return out


def _with_withheld(
    published: pd.DataFrame, labels: pd.DataFrame, order: Sequence[str]
) -> pd.DataFrame:
    """The published rows and, in their place in ``order``, the withheld labels."""
    keys = list(labels.columns)
    shown = published.copy()
    values = [c for c in shown.columns if c not in keys]
    shown[values] = shown[values].astype(object)
    shown["suppressed"] = False
    hidden = labels.assign(suppressed=True)
    out = pd.concat([shown, hidden], ignore_index=True) if len(hidden) else shown
    if len(hidden) and not len(shown):
        out = hidden.reindex(columns=[*published.columns, "suppressed"])
    rank = {value: i for i, value in enumerate(order)}
    position = out[keys[0]].map(rank).fillna(len(rank))
    return (
        out.assign(_order=position.to_numpy())
        .sort_values("_order", kind="stable")
        .drop(columns="_order")
        .reset_index(drop=True)
    )


def _methods(method: list[str], min_count: int, hidden: Sequence[str]) -> list[str]:
    shown = [m for m in method if not m.startswith("disclosure control")]
    lines = [*shown, rule(min_count)]
    if len(hidden):
        lines.append(f"withheld: {len(hidden)} row(s)")
    return lines


def _satisfaction(result: SatisfactionComparison, min_count: int) -> SatisfactionComparison:
    table = result.table
    hidden = withheld(table["total"], min_count)
    published = table[~hidden]
    if len(published) and published["total"].sum() > 0:
        shown = compare_satisfaction(published, target=result.target)
        groups, overall, test = shown.groups, shown.overall, shown.test
        method = shown.method
    else:
        groups = result.groups.iloc[0:0]
        overall = Overall(None, None, None, None, None)  # type: ignore[arg-type]
        test = Homogeneity(None, None, None, None, "not applicable: every group withheld")  # type: ignore[arg-type]
        method = result.method
    labels = table.loc[hidden, ["group"]].astype(str)
    return replace(
        result,
        groups=_with_withheld(groups, labels, table["group"].astype(str).tolist()),
        overall=overall,
        test=test,
        method=_methods(method, min_count, labels["group"].tolist()),
        table=published,
    )


def _reasons(result: ReasonBreakdown, min_count: int) -> ReasonBreakdown:
    table = result.table
    order = sorted(table["group"].astype(str).unique())
    if result.respondents is not None:
        base = pd.Series({g: result.respondents.get(g, 0) for g in order}, dtype=float)
    else:
        base = table.groupby("group")["count"].sum().reindex(order).astype(float)
    hidden_groups = [
        g for g, h in zip(order, withheld(base.to_numpy(), min_count), strict=True) if h
    ]
    published = table[~table["group"].astype(str).isin(hidden_groups)]
    people = (
        {g: n for g, n in result.respondents.items() if g not in hidden_groups}
        if result.respondents is not None
        else None
    )
    if len(published) and (base.drop(hidden_groups).sum() > 0):
        shown = reason_breakdown(published, respondents=people)
        cells, overall = shown.cells, shown.overall
        test, reason_tests, method = shown.test, shown.reason_tests, shown.method
    else:
        cells, overall = result.cells.iloc[0:0], result.overall.iloc[0:0]
        test, reason_tests, method = None, None, result.method
    # Withheld groups are listed against the published reasons only: a reason named
    # by nobody else would tell that someone in a withheld group gave it.
    reasons = list(overall["reason"]) or [None]
    labels = pd.DataFrame(
        [(g, r) for g in hidden_groups for r in reasons], columns=["group", "reason"]
    )
    return replace(
        result,
        cells=_with_withheld(cells, labels, order),
        overall=overall.assign(suppressed=False),
        test=test,
        reason_tests=reason_tests,
        method=_methods(method, min_count, hidden_groups),
        table=published,
        respondents=people,
    )


def _empty_trend() -> tuple[TrendTest, Change]:
    why = "not applicable: every period withheld"
    return (
        TrendTest(None, None, None, None, None, None, why),
        Change(None, None, None, None, None, None, why),
    )


def _trend(result: TrendResult, min_count: int) -> TrendResult:
    table = result.table
    hidden = withheld(table["total"], min_count)
    published = table[~hidden]
    if len(published) and published["total"].sum() > 0:
        # The published periods keep their scores: a withheld month leaves a gap in
        # time, not a shorter series.
        shown = trend(published)
        periods, test, change, sigma_z = (
            shown.periods,
            shown.trend_test,
            shown.last_change,
            shown.sigma_z,
        )
        method = shown.method
    else:
        periods, sigma_z, method = result.periods.iloc[0:0], None, result.method
        test, change = _empty_trend()
    labels = table.loc[hidden, ["period", "score"]].assign(period=lambda f: f["period"].astype(str))
    return replace(
        result,
        periods=_with_withheld(periods, labels, table["period"].astype(str).tolist()),
        trend_test=test,
        last_change=change,
        sigma_z=sigma_z,
        method=_methods(method, min_count, labels["period"].tolist()),
        table=published,
    )


def _trend_comparison(result: TrendComparison, min_count: int) -> TrendComparison:
    table = result.table
    hidden = np.zeros(len(table), dtype=bool)
    for _, rows in table.groupby("group", sort=False).indices.items():
        hidden[rows] = withheld(table["total"].to_numpy()[rows], min_count)
    published = table[~hidden]
    columns = ["group", "period", "satisfied", "total"]
    if len(published):
        shown = compare_trends(published[columns])
    else:
        shown = replace(result, slopes=result.slopes.iloc[0:0], statistic=None, p_value=None)
    gone = sorted(set(table["group"]) - set(published["group"]))
    labels = pd.DataFrame({"group": gone})
    return replace(
        shown,
        slopes=_with_withheld(shown.slopes, labels, sorted(set(table["group"]))),
        method=_methods(shown.method, min_count, table.loc[hidden, "group"].tolist()),
    )


Grouped = TypeVar("Grouped", ShrunkenSatisfaction, RankIntervals, FunnelPlot)


def _grouped(result: Grouped, min_count: int) -> Grouped:
    table = result.table
    hidden = withheld(table["total"], min_count)
    published = table[~hidden]
    labels = table.loc[hidden, ["group"]].astype(str)
    order = table["group"].astype(str).tolist()
    needed = 1 if isinstance(result, FunnelPlot) else 2
    if int((published["total"] > 0).sum()) < needed:
        return _nothing_published(result, labels, order, min_count, needed)
    if isinstance(result, FunnelPlot):
        shown: Any = funnel_plot(
            published,
            target=None if result.target_pooled else result.target,
            limits=result.limit_type,
        )
    elif isinstance(result, RankIntervals):
        shown = rank_intervals(published, draws=result.draws, seed=result.seed, level=result.level)
    else:
        shown = shrink_satisfaction(published, level=result.level)
    return replace(
        shown,
        groups=_with_withheld(shown.groups, labels, order),
        method=_methods(shown.method, min_count, labels["group"].tolist()),
    )


def _nothing_published(
    result: Grouped, labels: pd.DataFrame, order: list[str], min_count: int, needed: int
) -> Grouped:
    """Too few published groups for the method: every row withheld, and nothing fitted
    on the withheld ones (prior, pooled target, limits) is kept either."""
    every = pd.DataFrame({"group": order})
    why = f"not applicable: fewer than {needed} published group(s)"
    changes: dict[str, Any] = {
        "groups": _with_withheld(result.groups.iloc[0:0], every, order),
        "method": [*_methods([], min_count, order), why],
        "table": result.table.iloc[0:0],
    }
    if isinstance(result, FunnelPlot):
        changes |= {
            "limits": result.limits.iloc[0:0],
            "target": None,
            "chi_square": None,
            "dispersion": None,
            "dispersion_p_value": None,
            "df": 0,
        }
    else:
        changes["prior"] = None
    return replace(result, **changes)


def _drivers(result: DriversResult, min_count: int) -> DriversResult:
    """Key drivers on the published criteria only.

    Criteria are separate questions, not parts of one total, so nothing is
    complementary. A criterion answered by fewer than ``min_count`` keeps its label
    only, and the model is fitted again without it. When the complete cases are fewer
    than ``min_count`` no estimate is published, nor what was read from those cases
    (which criteria entered the model and why not, the cells they lie in, the notes
    that count them).
    """

    def few(n: Any) -> bool:
        return n is None or pd.isna(n) or n < min_count

    order = result.criteria["criterion"].tolist()
    hidden = pd.to_numeric(result.criteria["n"], errors="coerce").fillna(0) < min_count
    labels = result.criteria.loc[hidden, ["criterion"]]
    shown_criteria = [c for c, h in zip(order, hidden, strict=True) if not h]
    shares = result.shares[~result.shares["question"].isin(labels["criterion"])]
    if not hidden.any():
        shown = result
    elif shown_criteria:
        # Complete cases answered every criterion, so with the stored sums a hidden
        # criterion means fewer than min_count of them (the model is withheld below);
        # the refit keeps the rule general and drops the hidden criterion's sums.
        shown = key_drivers(
            result.table,
            result.outcome,
            shown_criteria,
            shares=shares,
            satisfied_from=result.satisfied_from,
            level=result.level,
        )
    else:
        shown = replace(
            result,
            criteria=result.criteria.iloc[0:0],
            n_complete=None,  # type: ignore[arg-type]
            table=result.table.iloc[0:0, 0:0],
            shares=shares,
        )
    criteria = shown.criteria.drop(columns="suppressed", errors="ignore")
    changes: dict[str, Any] = {}
    if few(shown.n_complete):
        criteria = criteria.astype(object)
        criteria[[*MODEL_COLUMNS, "in_model", "note"]] = None
        changes |= {
            "n_complete": None,
            "complete_satisfied": None,
            "clusters": None,
            "estimated": False,
            "intercept": None,
            "notes": [
                f"no model estimate published: it would rest on fewer than {min_count} "
                "complete cases"
            ],
            "table": shown.table.iloc[0:0],
        }
    if few(shown.n_outcome):
        changes |= dict.fromkeys(
            ("n_outcome", "outcome_satisfied", "outcome_share", "outcome_ci_low", "outcome_ci_high")
        )
        changes["shares"] = shown.shares[shown.shares["question"] != shown.outcome]
    return replace(
        shown,
        criteria=_with_withheld(criteria, labels, order),
        method=_methods(shown.method, min_count, labels["criterion"].tolist()),
        **changes,
    )


_PUBLISHERS: dict[type, Any] = {
    SatisfactionComparison: _satisfaction,
    ReasonBreakdown: _reasons,
    TrendResult: _trend,
    TrendComparison: _trend_comparison,
    ShrunkenSatisfaction: _grouped,
    RankIntervals: _grouped,
    FunnelPlot: _grouped,
    DriversResult: _drivers,
}
