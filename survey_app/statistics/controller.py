"""Statistics API: reasons, satisfaction and trends, as JSON, CSV or XLSX.

Every figure is computed by ``analysis`` on count tables from ``statistics.counts``;
JSON carries the filters, the time, the number of responses and the methods,
so a researcher can reproduce it. Every result goes through ``analysis.suppress``
(disclosure control) before it is shown, in every format: rows resting on too
few responses are withheld and every figure is computed on the published rows.
"""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Any

import pandas as pd
from litestar import Controller, Response, get
from litestar.di import Provide
from litestar.exceptions import ValidationException
from litestar.params import FromQuery

import analysis
from analysis import DEFAULT_TARGET, MIN_PUBLISHED
from analysis.poststrat import MIN_RESPONSE_RATE
from analysis.results import json_safe
from survey_app.auth.guards import STAFF_ROLES, staff_or_key
from survey_app.lib.context import Ctx
from survey_app.lib.openapi import API_ERRORS, DownloadOperation
from survey_app.statistics import counts, nonresponse
from survey_app.statistics.filters import GROUP_BY, PERIODS, Filters, FiltersDep, parse_filters
from survey_app.statistics.league import standings
from survey_app.statistics.render import check_format, render

MAX_COMPARED = 20
# A statistics operation: JSON, or a CSV/XLSX download with ``format=``.
download = partial(get, raises=API_ERRORS, operation_class=DownloadOperation)


def _choice(value: str, allowed: tuple[str, ...], name: str) -> str:
    if value not in allowed:
        raise ValidationException(
            detail=f"{name} must be one of {', '.join(allowed)}, not {value!r}"
        )
    return value


def _envelope(
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


class StatisticsController(Controller):
    """``/api/v1/stats/...``: staff sessions and staff keys, every result in three formats."""

    path = "/api/v1/stats"
    tags = ["statistics"]
    guards = [staff_or_key(*STAFF_ROLES, what="Statistics")]
    dependencies = {"filters": Provide(parse_filters)}

    @download("/satisfaction", summary="Satisfaction per group against the rest")
    async def satisfaction(
        self,
        ctx: Ctx,
        filters: FiltersDep,
        group_by: FromQuery[str] = "agency",
        format: FromQuery[str] = "json",
        target: FromQuery[float] = DEFAULT_TARGET,
        min_response_rate: FromQuery[float] = MIN_RESPONSE_RATE,
    ) -> Response[Any]:
        fmt = check_format(format)
        _choice(group_by, GROUP_BY, "group_by")
        if not 0 < target < 1:
            raise ValidationException(detail="target must be between 0 and 1")
        if not 0 <= min_response_rate < 1:
            raise ValidationException(detail="min_response_rate must be between 0 and 1")
        table = counts.satisfaction_table(await counts.rating_counts(filters, group_by))
        if table.empty or table["total"].sum() == 0:
            return render(
                fmt,
                "satisfaction",
                _envelope(filters, 0, [], group_by=group_by) | {"groups": []},
                table,
            )
        result = analysis.suppress(analysis.compare_satisfaction(table, target=target))
        threshold = ctx.settings.dissatisfied_max
        groups, cells, weighting, official = nonresponse.with_nonresponse(
            result.groups,
            await nonresponse.frame_table(filters, group_by, threshold),
            min_response_rate,
            threshold,
        )
        body = _envelope(
            filters,
            result.overall.total or 0,
            [*result.method, *weighting],
            groups,
            group_by=group_by,
            target=target,
        ) | {
            "overall": {**json_safe(result.overall), "official_rate": official},
            "test": result.test,
            "groups": _records(groups),
            "response_cells": _records(cells),
        }
        return render(fmt, "satisfaction", body, groups)

    @download("/league", summary="A fair league table: shrunken CSAT, rank intervals, funnel")
    async def league(
        self,
        filters: FiltersDep,
        group_by: FromQuery[str] = "agency",
        format: FromQuery[str] = "json",
    ) -> Response[Any]:
        """Groups ranked by their empirical-Bayes (shrunken) CSAT, which pulls small groups
        toward the national rate, with the interval of ranks each could hold and its place
        on a funnel plot around the national rate."""
        fmt = check_format(format)
        _choice(group_by, GROUP_BY, "group_by")
        table = counts.satisfaction_table(await counts.rating_counts(filters, group_by))
        published = ~analysis.withheld(table["total"]) & (table["total"] > 0)
        if published.sum() < 2:
            method = [analysis.rule(), "a league table needs at least two published groups"]
            shown = _envelope(filters, 0, method, group_by=group_by)
            return render(fmt, "league", shown | {"groups": []}, table.iloc[0:0])
        league = standings(table)
        body = _envelope(
            filters,
            int(league.table["total"].sum()),
            league.method,
            league.groups,
            group_by=group_by,
        ) | {
            "groups": _records(league.groups),
            "prior": league.prior,
            "funnel": league.funnel,
        }
        return render(fmt, "league", body, league.groups)

    @download("/reasons", summary="Why citizens are dissatisfied, per group")
    async def reasons(
        self,
        filters: FiltersDep,
        group_by: FromQuery[str] = "agency",
        format: FromQuery[str] = "json",
    ) -> Response[Any]:
        fmt = check_format(format)
        _choice(group_by, GROUP_BY, "group_by")
        table, people = await counts.reason_counts(filters, group_by)
        if table.empty:
            return render(
                fmt, "reasons", _envelope(filters, 0, [], group_by=group_by) | {"cells": []}, table
            )
        result = analysis.suppress(analysis.reason_breakdown(table, respondents=people))
        cells = result.cells
        shown = sum((result.respondents or {}).values())
        body = _envelope(filters, shown, result.method, cells, group_by=group_by) | {
            "overall": _records(result.overall),
            "cells": _records(cells),
            "reason_tests": _records(result.reason_tests)
            if result.reason_tests is not None
            else [],
        }
        return render(fmt, "reasons", body, cells)

    @download("/trend", summary="Satisfaction per period, its trend and the last change")
    async def trend(
        self,
        filters: FiltersDep,
        period: FromQuery[str] = "month",
        compare: FromQuery[str | None] = None,
        format: FromQuery[str] = "json",
    ) -> Response[Any]:
        fmt = check_format(format)
        _choice(period, PERIODS, "period")
        compared = [c for c in (compare or "").split(",") if c]
        if len(compared) > MAX_COMPARED:
            raise ValidationException(detail=f"compare at most {MAX_COMPARED} agencies")
        daily = await counts.daily_rating_counts(filters, period)
        if compared:
            daily = daily[daily["agency"].isin(compared)]
            return _compared(fmt, filters, period, compared, daily)
        table = counts.period_table(daily, period)
        if table.empty:
            return render(
                fmt, "trend", _envelope(filters, 0, [], period=period) | {"periods": []}, table
            )
        result = analysis.suppress(analysis.trend(table))
        periods = result.periods
        body = _envelope(
            filters, int(result.table["total"].sum()), result.method, periods, period=period
        ) | {
            "periods": _records(periods),
            "trend_test": result.trend_test,
            "last_change": result.last_change,
        }
        return render(fmt, "trend", body, periods)


def _compared(
    fmt: str, filters: Filters, period: str, agencies: list[str], daily: pd.DataFrame
) -> Response[Any]:
    table = counts.period_table(daily, period, by_agency=True).rename(columns={"agency": "group"})
    if table.empty:
        envelope = _envelope(filters, 0, [], period=period, compare=agencies)
        return render(fmt, "trend", envelope | {"series": {}}, table)
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
    envelope = _envelope(filters, shown, [], frame, period=period, compare=agencies)
    body = envelope | {
        "method": comparison.method,
        "series": series,
        "comparison": {
            "statistic": comparison.statistic,
            "df": comparison.df,
            "p_value": comparison.p_value,
            "slopes": _records(comparison.slopes),
        },
    }
    return render(fmt, "trend", body, frame)
