"""Statistics API: reasons, satisfaction and trends, as JSON, CSV or XLSX.

Every figure is computed by ``analysis`` on count tables from ``stats.counts``;
JSON carries the filters, the time, the number of responses and the methods,
so a researcher can reproduce it. Rows resting on fewer than 10 responses are
suppressed in every format.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import pandas as pd
from litestar import Request, Response, get
from litestar.di import NamedDependency, Provide
from litestar.exceptions import (
    NotAuthorizedException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.params import FromQuery, QueryParameter

import analysis
from survey_app import staff
from survey_app.apidocs import API_ERRORS, DownloadOperation
from survey_app.apikeys import KeyHolder
from survey_app.bearer import CHALLENGE, key_with_role
from survey_app.stats import counts
from survey_app.stats.filters import GROUP_BY, PERIODS, FilterError, Filters
from survey_app.stats.responses import check_format, published, render
from survey_app.storage.tables import Role

STAFF_ROLES = (Role.admin, Role.analyst, Role.researcher)
MAX_COMPARED = 20


async def parse_filters(
    agency: FromQuery[str | None] = None,
    service: FromQuery[str | None] = None,
    channel: FromQuery[str | None] = None,
    locale: FromQuery[str | None] = None,
    essential: FromQuery[str | None] = None,
    date_from: Annotated[
        str | None, QueryParameter(name="from", description="First day, YYYY-MM-DD")
    ] = None,
    date_to: Annotated[
        str | None, QueryParameter(name="to", description="Last day, YYYY-MM-DD")
    ] = None,
) -> Filters:
    try:
        return Filters.parse(
            agency=agency,
            service=service,
            channel=channel,
            locale=locale,
            essential=essential,
            date_from=date_from,
            date_to=date_to,
        )
    except FilterError as error:
        raise ValidationException(detail=str(error)) from error


def caller(*roles: Role, what: str):  # type: ignore[no-untyped-def]
    """A bearer key of ``roles`` or, without one, a staff session of ``roles``."""
    by_key = key_with_role(*roles, what=what)

    async def dependency(request: Request) -> KeyHolder | staff.StaffMember:
        if request.headers.get("authorization"):
            return await by_key(request)
        member = await staff.from_request(request)
        if member is None:
            raise NotAuthorizedException(
                detail="Log in, or send 'Authorization: Bearer <key>'", headers=CHALLENGE
            )
        if member.role not in roles:
            raise PermissionDeniedException(detail=f"{what} is not open to the role {member.role}")
        return member

    return dependency


DEPENDENCIES = {
    "staff": Provide(caller(*STAFF_ROLES, what="Statistics")),
    "filters": Provide(parse_filters),
}
Staff = NamedDependency[Any]
FiltersDep = NamedDependency[Filters]


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


@get(
    "/api/v1/stats/satisfaction",
    dependencies=DEPENDENCIES,
    tags=["statistics"],
    raises=API_ERRORS,
    operation_class=DownloadOperation,
    summary="Satisfaction per group against the rest",
)
async def satisfaction(
    staff: Staff,
    filters: FiltersDep,
    group_by: FromQuery[str] = "agency",
    format: FromQuery[str] = "json",
    target: FromQuery[float] = 0.95,
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


@get(
    "/api/v1/stats/reasons",
    dependencies=DEPENDENCIES,
    tags=["statistics"],
    raises=API_ERRORS,
    operation_class=DownloadOperation,
    summary="Why citizens are dissatisfied, per group",
)
async def reasons(
    staff: Staff,
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
        "reason_tests": _records(result.reason_tests) if result.reason_tests is not None else [],
    }
    return render(fmt, "reasons", body, cells)


@get(
    "/api/v1/stats/trend",
    dependencies=DEPENDENCIES,
    tags=["statistics"],
    raises=API_ERRORS,
    operation_class=DownloadOperation,
    summary="Satisfaction per period, its trend and the last change",
)
async def trend(
    staff: Staff,
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


ROUTES = [satisfaction, reasons, trend]
