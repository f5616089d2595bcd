"""The CPU part of each statistics answer: count tables in, rendered bytes out.

Pure functions of picklable values (frames, filters, scopes), so ``statistics.offload``
can run them in a worker process while the event loop serves other requests; the
controller reads the count tables and checks the parameters before. Every result goes
through ``analysis.suppress`` (disclosure control) before it is shown, in every format.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

import analysis
from analysis import MIN_PUBLISHED
from analysis.indicator import method as official_method
from analysis.results import json_safe
from survey_app.statistics import counts, nonresponse
from survey_app.statistics.filters import Filters
from survey_app.statistics.league import standings
from survey_app.statistics.questions import OVERALL, Scope
from survey_app.statistics.render import Rendered, render_bytes

OFFICIAL_COLUMNS = ("transactions", "dissatisfied", "official_rate")


def envelope(
    filters: Filters,
    n: int,
    method: list[str],
    shown: pd.DataFrame | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """What every statistics answer starts with; ``n`` counts the responses behind the
    published figures only, and ``disclosure`` says how many rows were withheld."""
    withheld = int(shown["suppressed"].eq(True).sum()) if shown is not None else 0
    return {
        "filters": {**filters.to_dict(), **extra},
        "generated_at": dt.datetime.now(dt.UTC).isoformat(),
        "n_responses": n,
        "disclosure": {"min_count": MIN_PUBLISHED, "withheld_rows": withheld},
        "method": method,
    }


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.to_dict(orient="records")


def satisfaction(
    fmt: str,
    filters: Filters,
    scope: Scope,
    group_by: str,
    target: float,
    min_response_rate: float,
    threshold: int,
    ratings: pd.DataFrame,
    frame: pd.DataFrame,
) -> Rendered:
    about = {"group_by": group_by, "question": scope.to_dict()}
    table = counts.satisfaction_table(ratings)
    if table.empty or table["total"].sum() == 0:
        body = envelope(filters, 0, [scope.method], **about) | {"groups": []}
        return render_bytes(fmt, "satisfaction", body, table)
    result = analysis.suppress(analysis.compare_satisfaction(table, target=target))
    groups, cells, weighting, official = nonresponse.with_nonresponse(
        result.groups, frame, min_response_rate, threshold
    )
    if scope.question != OVERALL:
        groups = groups.drop(columns=[c for c in OFFICIAL_COLUMNS if c in groups])
        official = None
        weighting = [line for line in weighting if line != official_method(threshold)]
        weighting.append("The official rate is defined on the overall question only.")
    body = envelope(
        filters,
        result.overall.total or 0,
        [scope.method, *result.method, *weighting],
        groups,
        target=target,
        **about,
    ) | {
        "overall": {**json_safe(result.overall), "official_rate": official},
        "test": result.test,
        "groups": _records(groups),
        "response_cells": _records(cells),
    }
    return render_bytes(fmt, "satisfaction", body, groups)


def league(
    fmt: str, filters: Filters, scope: Scope, group_by: str, ratings: pd.DataFrame
) -> Rendered:
    table = counts.satisfaction_table(ratings)
    published = ~analysis.withheld(table["total"]) & (table["total"] > 0)
    if published.sum() < 2:
        method = [analysis.rule(), "a league table needs at least two published groups"]
        shown = envelope(filters, 0, method, group_by=group_by)
        return render_bytes(fmt, "league", shown | {"groups": []}, table.iloc[0:0])
    ranked = standings(table)
    body = envelope(
        filters,
        int(ranked.table["total"].sum()),
        [scope.method, *ranked.method],
        ranked.groups,
        group_by=group_by,
        question=scope.to_dict(),
    ) | {
        "groups": _records(ranked.groups),
        "prior": ranked.prior,
        "funnel": ranked.funnel,
    }
    return render_bytes(fmt, "league", body, ranked.groups)


def reasons(
    fmt: str,
    filters: Filters,
    scope: Scope,
    group_by: str,
    table: pd.DataFrame,
    people: Any,
) -> Rendered:
    about = {"group_by": group_by, "question": scope.to_dict()}
    if table.empty:
        body = envelope(filters, 0, [scope.method], **about) | {"cells": []}
        return render_bytes(fmt, "reasons", body, table)
    result = analysis.suppress(analysis.reason_breakdown(table, respondents=people))
    cells = result.cells
    shown = sum((result.respondents or {}).values())
    body = envelope(filters, shown, [scope.method, *result.method], cells, **about) | {
        "overall": _records(result.overall),
        "cells": _records(cells),
        "reason_tests": _records(result.reason_tests) if result.reason_tests is not None else [],
    }
    return render_bytes(fmt, "reasons", body, cells)


def trend(
    fmt: str,
    filters: Filters,
    scope: Scope,
    period: str,
    compared: list[str],
    daily: pd.DataFrame,
) -> Rendered:
    if compared:
        return _compared(
            fmt, filters, period, compared, daily[daily["agency"].isin(compared)], scope
        )
    about = {"period": period, "question": scope.to_dict()}
    table = counts.period_table(daily, period)
    if table.empty:
        body = envelope(filters, 0, [scope.method], **about) | {"periods": []}
        return render_bytes(fmt, "trend", body, table)
    result = analysis.suppress(analysis.trend(table))
    periods = result.periods
    body = envelope(
        filters,
        int(result.table["total"].sum()),
        [scope.method, *result.method],
        periods,
        **about,
    ) | {
        "periods": _records(periods),
        "trend_test": result.trend_test,
        "last_change": result.last_change,
    }
    return render_bytes(fmt, "trend", body, periods)


def _compared(
    fmt: str, filters: Filters, period: str, agencies: list[str], daily: pd.DataFrame, scope: Scope
) -> Rendered:
    table = counts.period_table(daily, period, by_agency=True).rename(columns={"agency": "group"})
    about = {"period": period, "compare": agencies, "question": scope.to_dict()}
    if table.empty:
        body = envelope(filters, 0, [scope.method], **about) | {"series": {}}
        return render_bytes(fmt, "trend", body, table)
    comparison = analysis.suppress(analysis.compare_trends(table))
    series, frames = {}, []
    for agency in agencies:
        own = table[table["group"] == agency].drop(columns=["group"])
        if own.empty or own["total"].sum() == 0:
            continue
        result = analysis.suppress(analysis.trend(own))
        periods = result.periods
        series[agency] = {
            "periods": _records(periods),
            "trend_test": result.trend_test,
            "last_change": result.last_change,
        }
        frames.append(periods.assign(agency=agency))
    frame = pd.concat(frames) if frames else table.iloc[0:0]
    shown = int(comparison.table["total"].sum()) if len(comparison.table) else 0
    body = envelope(filters, shown, [], frame, **about) | {
        "method": [scope.method, *comparison.method],
        "series": series,
        "comparison": {
            "statistic": comparison.statistic,
            "df": comparison.df,
            "p_value": comparison.p_value,
            "slopes": _records(comparison.slopes),
        },
    }
    return render_bytes(fmt, "trend", body, frame)


def drivers(
    fmt: str,
    filters: Filters,
    scope: Scope,
    criteria: list[str],
    moments: pd.DataFrame,
    shares: pd.DataFrame,
) -> Rendered:
    about = {"outcome": scope.question, "question": scope.to_dict()}
    result = analysis.suppress(analysis.key_drivers(moments, scope.question, criteria, shares))
    ranked = result.criteria.sort_values("rank", kind="stable", na_position="last")
    published = {k: v for k, v in result.to_dict().items() if k not in ("criteria", "method")}
    body = (
        envelope(
            filters,
            result.n_complete,
            [scope.method, *result.method],
            ranked if "suppressed" in ranked else None,
            **about,
        )
        | published
        | {"criteria": _records(ranked)}
    )
    return render_bytes(fmt, "drivers", body, ranked)
