"""Count tables: the only way statistics read the responses.

Statistics read the cells of ``ResponseCell`` (responses per day, agency,
service, channel, locale, rating and reason set, kept in the transaction
that stores each response), so their cost grows with the number of cells,
not of responses. Cells are grouped on their id columns and the few agency
and service codes are looked up apart, so no query joins; the queries go
through Piccolo's database-agnostic functions and run unchanged on SQLite
and PostgreSQL. ``where_filters`` serves the microdata export, which reads
the responses themselves.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from piccolo.query.functions.aggregate import Sum

from survey_app.stats.filters import FilterError, Filters, period_label
from survey_app.storage.rollup import REASON_SEPARATOR
from survey_app.storage.tables import Agency, ResponseCell, Service

SATISFIED_FROM = 4  # CSAT is the share of ratings 4-5
NOTHING = -1  # an id no row has: a filter naming an unknown code matches no cell


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


async def _codes(table: Any) -> dict[int, str]:
    return {row["id"]: row["code"] for row in await table.select(table.id, table.code)}


async def _id_of(table: Any, code: str) -> int:
    row = await table.select(table.id).where(table.code == code).first()
    return row["id"] if row else NOTHING


async def cell_filters(filters: Filters) -> Any:
    """Conditions on ``ResponseCell`` for ``filters`` (codes resolved to ids first)."""
    cell = ResponseCell
    conditions = [cell.responses > 0]
    if filters.agency:
        conditions.append(cell.agency == await _id_of(Agency, filters.agency))
    if filters.service:
        conditions.append(cell.service == await _id_of(Service, filters.service))
    if filters.channel:
        conditions.append(cell.channel == filters.channel)
    if filters.locale:
        conditions.append(cell.locale == filters.locale)
    if filters.essential:
        essential = await Service.select(Service.id).where(Service.essential.eq(True))
        conditions.append(cell.service.is_in([row["id"] for row in essential] or [NOTHING]))
    if filters.date_from:
        conditions.append(cell.day >= filters.date_from)
    if filters.date_to:
        conditions.append(cell.day <= filters.date_to)
    combined = conditions[0]
    for condition in conditions[1:]:
        combined = combined & condition
    return combined


async def _group(group_by: str) -> tuple[Any, dict[Any, str] | None]:
    """The cell column to group on and, for ids, how to name its values."""
    if group_by == "agency":
        return ResponseCell.agency, await _codes(Agency)
    if group_by == "service":
        return ResponseCell.service, await _codes(Service)
    if group_by == "channel":
        return ResponseCell.channel, None
    raise FilterError(f"unknown group_by {group_by!r}: use agency, service or channel")


async def _sum_cells(filters: Filters, *columns: Any) -> list[dict[str, Any]]:
    return (
        await ResponseCell.select(*columns, Sum(ResponseCell.responses, alias="count"))
        .where(await cell_filters(filters))
        .group_by(*columns)
    )


async def rating_counts(filters: Filters, group_by: str) -> pd.DataFrame:
    """``group, rating, count``: responses per group and overall rating."""
    column, names = await _group(group_by)
    rows = await _sum_cells(filters, column, ResponseCell.rating)
    frame = pd.DataFrame(rows, columns=[column._meta.name, "rating", "count"])
    frame.columns = ["group", "rating", "count"]
    if names is not None:
        frame["group"] = frame["group"].map(names)
    return frame.astype({"rating": "int64", "count": "int64"})


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
    column, names = await _group(group_by)
    rows = [
        row for row in await _sum_cells(filters, column, ResponseCell.reasons) if row["reasons"]
    ]
    people: dict[str, int] = {}
    counted: dict[tuple[str, str], int] = {}
    for row in rows:
        group = str(names[row[column._meta.name]] if names is not None else row[column._meta.name])
        people[group] = people.get(group, 0) + int(row["count"])
        for reason in row["reasons"].split(REASON_SEPARATOR):
            counted[group, reason] = counted.get((group, reason), 0) + int(row["count"])
    table = pd.DataFrame(
        [(group, reason, n) for (group, reason), n in counted.items()],
        columns=["group", "reason", "count"],
    )
    return table, people


async def daily_rating_counts(filters: Filters) -> pd.DataFrame:
    """``agency, day, rating, count`` per UTC day."""
    rows = await _sum_cells(filters, ResponseCell.agency, ResponseCell.day, ResponseCell.rating)
    frame = pd.DataFrame(rows, columns=["agency", "day", "rating", "count"])
    frame["agency"] = frame["agency"].map(await _codes(Agency))
    frame["day"] = [dt.date.fromisoformat(d) if isinstance(d, str) else d for d in frame["day"]]
    return frame.astype({"rating": "int64", "count": "int64"})


def period_table(daily: pd.DataFrame, period: str, by_agency: bool = False) -> pd.DataFrame:
    """Roll daily counts up to ``period`` (day, week, month, quarter)."""
    labels = {day: period_label(day, period) for day in set(daily["day"])}
    frame = daily.assign(period=daily["day"].map(labels))
    return _roll_up(frame, ["agency", "period"] if by_agency else ["period"])
