"""Count tables from SQL ``GROUP BY``: the only way statistics read the responses.

Every query returns counts per (group, rating) or (group, reason) or
(day, rating) cells, never individual responses, so the cost of the
statistics grows with the number of cells. The queries go through Piccolo's
database-agnostic functions and run unchanged on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from piccolo.query.functions.aggregate import Count
from piccolo.query.functions.datetime import Day, Month, Year

from survey_app.stats.filters import FilterError, Filters, period_label
from survey_app.storage.tables import Response, ResponseReason

SATISFIED_FROM = 4  # CSAT is the share of ratings 4-5


def where_filters(base: Any, filters: Filters) -> Any:
    """Conditions on ``Response`` columns, reached from ``base`` (the table or a foreign key)."""
    conditions = [base.overall.is_not_null()]
    if filters.agency:
        conditions.append(base.agency.code == filters.agency)
    if filters.service:
        conditions.append(base.service.code == filters.service)
    if filters.channel:
        conditions.append(base.channel == filters.channel)
    if filters.locale:
        conditions.append(base.locale == filters.locale)
    if filters.essential:
        conditions.append(base.service.essential.eq(True))
    if filters.date_from:
        start = dt.datetime.combine(filters.date_from, dt.time(), tzinfo=dt.UTC)
        conditions.append(base.submitted_at >= start)
    if filters.date_to:
        end = dt.datetime.combine(filters.date_to + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
        conditions.append(base.submitted_at < end)
    combined = conditions[0]
    for condition in conditions[1:]:
        combined = combined & condition
    return combined


def _group_column(base: Any, group_by: str) -> Any:
    if group_by == "agency":
        return base.agency.code
    if group_by == "service":
        return base.service.code
    if group_by == "channel":
        return base.channel
    raise FilterError(f"unknown group_by {group_by!r}: use agency, service or channel")


async def rating_counts(filters: Filters, group_by: str) -> pd.DataFrame:
    """``group, rating, count``: responses per group and overall rating."""
    group = _group_column(Response, group_by)
    rows = (
        await Response.select(group.as_alias("group"), Response.overall, Count(alias="count"))
        .where(where_filters(Response, filters))
        .group_by(group, Response.overall)
    )
    frame = pd.DataFrame(rows, columns=["group", "overall", "count"])
    return frame.rename(columns={"overall": "rating"})


def satisfaction_table(ratings: pd.DataFrame, key: str = "group") -> pd.DataFrame:
    """``key, satisfied, total, rating_sum`` from per-rating counts."""
    return _roll_up(ratings, [key])


def _roll_up(ratings: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Sum per-rating counts over ``keys`` into satisfied, total and the sum of ratings."""
    if ratings.empty:
        return pd.DataFrame(columns=[*keys, "satisfied", "total", "rating_sum"])
    frame = ratings.assign(
        satisfied=(ratings["rating"] >= SATISFIED_FROM) * ratings["count"],
        rating_sum=ratings["rating"] * ratings["count"],
    )
    table = frame.groupby(keys, sort=True)[["satisfied", "count", "rating_sum"]].sum()
    return (
        table.rename(columns={"count": "total"})
        .reset_index()
        .astype({"satisfied": "int64", "total": "int64", "rating_sum": "int64"})
    )


async def reason_counts(filters: Filters, group_by: str) -> tuple[pd.DataFrame, dict[str, int]]:
    """``group, reason, count`` and, per group, how many responses gave any reason."""
    base = ResponseReason.response
    group = _group_column(base, group_by)
    where = where_filters(base, filters)
    rows = (
        await ResponseReason.select(
            group.as_alias("group"), ResponseReason.reason, Count(alias="count")
        )
        .where(where)
        .group_by(group, ResponseReason.reason)
    )
    people = (
        await ResponseReason.select(
            group.as_alias("group"), Count(distinct=[ResponseReason.response], alias="people")
        )
        .where(where)
        .group_by(group)
    )
    table = pd.DataFrame(rows, columns=["group", "reason", "count"])
    return table, {str(row["group"]): int(row["people"]) for row in people}


async def daily_rating_counts(filters: Filters) -> pd.DataFrame:
    """``agency, day, rating, count`` per UTC day."""
    at = Response.submitted_at
    year, month, day = Year(at, alias="y"), Month(at, alias="m"), Day(at, alias="d")
    rows = (
        await Response.select(
            Response.agency.code.as_alias("agency"),
            year,
            month,
            day,
            Response.overall,
            Count(alias="count"),
        )
        .where(where_filters(Response, filters))
        .group_by(Response.agency.code, Year(at), Month(at), Day(at), Response.overall)
    )
    frame = pd.DataFrame(rows, columns=["agency", "y", "m", "d", "overall", "count"])
    frame["day"] = [
        dt.date(int(y), int(m), int(d))
        for y, m, d in zip(frame["y"], frame["m"], frame["d"], strict=True)
    ]
    return frame.rename(columns={"overall": "rating"})[["agency", "day", "rating", "count"]]


def period_table(daily: pd.DataFrame, period: str, by_agency: bool = False) -> pd.DataFrame:
    """Roll daily counts up to ``period`` (day, week, month, quarter)."""
    frame = daily.assign(period=[period_label(day, period) for day in daily["day"]])
    return _roll_up(frame, ["agency", "period"] if by_agency else ["period"])
