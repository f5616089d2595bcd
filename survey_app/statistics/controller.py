"""Statistics API: reasons, satisfaction and trends, as JSON, CSV or XLSX.

Every figure is computed by ``analysis`` on count tables from ``statistics.counts``;
JSON carries the filters, the time, the number of responses and the methods,
so a researcher can reproduce it. Rows resting on fewer than 10 responses are
suppressed in every format.
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
from analysis import DEFAULT_TARGET
from survey_app.auth.guards import STAFF_ROLES, staff_or_key
from survey_app.lib.openapi import API_ERRORS, DownloadOperation
from survey_app.statistics import counts
from survey_app.statistics.filters import GROUP_BY, PERIODS, Filters, FiltersDep, parse_filters
from survey_app.statistics.render import check_format, published, render

MAX_COMPARED = 20
# A statistics operation: JSON, or a CSV/XLSX download with ``format=``.
download = partial(get, raises=API_ERRORS, operation_class=DownloadOperation)


def _choice(value: str, allowed: tuple[str, ...], name: str) -> str:
    if value not in allowed:
        raise ValidationException(
            detail=f"{name} must be one of {', '.join(allowed)}, not {value!r}"
        )
    return value


def _envelope(filters: Filters, n: int, method: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "filters": {**filters.to_dict(), **extra},
        "generated_at": dt.datetime.now(dt.UTC).isoformat(),
        "n_responses": n,
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
        filters: FiltersDep,
        group_by: FromQuery[str] = "agency",
        format: FromQuery[str] = "json",
        target: FromQuery[float] = DEFAULT_TARGET,
    ) -> Response[Any]:
        fmt = check_format(format)
        _choice(group_by, GROUP_BY, "group_by")
        if not 0 < target < 1:
            raise ValidationException(detail="target must be between 0 and 1")
        table = counts.satisfaction_table(await counts.rating_counts(filters, group_by))
        if table.empty or table["total"].sum() == 0:
            return render(
                fmt,
                "satisfaction",
                _envelope(filters, 0, [], group_by=group_by) | {"groups": []},
                table,
            )
        result = analysis.compare_satisfaction(table, target=target)
        groups = published(result.groups)
        body = _envelope(
            filters, result.overall.total, result.method, group_by=group_by, target=target
        ) | {
            "overall": result.overall,
            "test": result.test,
            "groups": _records(groups),
        }
        return render(fmt, "satisfaction", body, groups)

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
        result = analysis.reason_breakdown(table, respondents=people)
        cells = published(result.cells)
        overall = published(result.overall.assign(denominator=sum(people.values())))
        body = _envelope(filters, sum(people.values()), result.method, group_by=group_by) | {
            "overall": _records(overall),
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
        result = analysis.trend(table)
        periods = published(result.periods)
        body = _envelope(filters, int(table["total"].sum()), result.method, period=period) | {
            "periods": _records(periods),
            "trend_test": result.trend_test,
            "last_change": result.last_change,
        }
        return render(fmt, "trend", body, periods)


def _compared(
    fmt: str, filters: Filters, period: str, agencies: list[str], daily: pd.DataFrame
) -> Response[Any]:
    table = counts.period_table(daily, period, by_agency=True).rename(columns={"agency": "group"})
    envelope = _envelope(
        filters, int(table["total"].sum()) if len(table) else 0, [], period=period, compare=agencies
    )
    if table.empty:
        return render(fmt, "trend", envelope | {"series": {}}, table)
    comparison = analysis.compare_trends(table)
    series, frames = {}, []
    for agency in agencies:
        own = table[table["group"] == agency].drop(columns=["group"])
        if own.empty or own["total"].sum() == 0:
            continue
        result = analysis.trend(own)
        periods = published(result.periods)
        series[agency] = {
            "periods": _records(periods),
            "trend_test": result.trend_test,
            "last_change": result.last_change,
        }
        frames.append(periods.assign(agency=agency))
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
    frame = pd.concat(frames) if frames else table
    return render(fmt, "trend", body, frame)
