"""The statistics cells: their keys, their upserts and their rebuild.

``ResponseCell`` counts responses per (day, agency, service, channel,
locale, rating, reason set); ``MonthlyRating`` and ``MonthlyReason`` sum
those cells by month, agency and service, which is all most statistics
need. A response adds to all three in the transaction that stores it (the
submission writer and the bulk loader both call ``cell_counts`` then
``upserts``); ``rebuild`` recomputes them from the raw responses. SQL
differs by engine only where it must: placeholders, the UTC day of a
timestamp, the first day of a month and ordered string aggregation.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from piccolo.engine.base import Engine
from piccolo.engine.sqlite import SQLiteEngine

from survey_app.db.engine import write_transaction
from survey_app.db.tables import ResponseCell

DIMENSIONS = ("day", "agency", "service", "channel", "locale", "rating", "reasons")
REASON_SEPARATOR = ","

MONTHLY_RATING = ("month", "agency", "service", "rating")
MONTHLY_REASON = ("month", "agency", "service", "reason")
ANY_REASON = ""  # MonthlyReason.reason of the responses that ticked any reason

INDEX_SQL = (
    "CREATE UNIQUE INDEX IF NOT EXISTS response_cell_key "
    f"ON response_cell ({', '.join(DIMENSIONS)})",
    # Statistics of one agency read its cells without scanning the others.
    "CREATE INDEX IF NOT EXISTS response_cell_agency ON response_cell (agency, day)",
    "CREATE UNIQUE INDEX IF NOT EXISTS monthly_rating_key "
    f"ON monthly_rating ({', '.join(MONTHLY_RATING)})",
    "CREATE UNIQUE INDEX IF NOT EXISTS monthly_reason_key "
    f"ON monthly_reason ({', '.join(MONTHLY_REASON)})",
)


def reason_key(reasons: Iterable[str]) -> str:
    """The canonical text of a reason set: sorted codes joined by commas, '' for none."""
    return REASON_SEPARATOR.join(sorted(set(reasons)))


@dataclass(frozen=True)
class CellInput:
    """What one response contributes to the cells."""

    submitted_at: dt.datetime
    agency: int
    service: int
    channel: str
    locale: str
    rating: int | None
    reasons: Iterable[str]


CellKey = tuple[dt.date, int, int, str, str, int, str]


def cell_counts(responses: Iterable[CellInput]) -> Counter[CellKey]:
    """Responses per cell; unrated responses count in no cell (no statistic reads them)."""
    cells: Counter[CellKey] = Counter()
    for r in responses:
        if r.rating is None:
            continue
        day = r.submitted_at.astimezone(dt.UTC).date()
        key = (day, r.agency, r.service, r.channel, r.locale, r.rating, reason_key(r.reasons))
        cells[key] += 1
    return cells


def _upsert_sql(table: str, dimensions: tuple[str, ...], sqlite: bool) -> str:
    """Add to existing rows, create missing ones (``ON CONFLICT`` on both engines)."""
    names = ", ".join((*dimensions, "responses"))
    n = len(dimensions) + 1
    marks = ", ".join("?" * n) if sqlite else ", ".join(f"${i}" for i in range(1, n + 1))
    # Every piece is a constant of this module; values are bound parameters.
    return (
        f"INSERT INTO {table} ({names}) VALUES ({marks}) "
        f"ON CONFLICT ({', '.join(dimensions)}) "
        f"DO UPDATE SET responses = {table}.responses + excluded.responses"
    )


def upserts(cells: Counter[CellKey], sqlite: bool) -> list[tuple[str, list[tuple]]]:
    """(statement, parameter rows) adding ``cells`` to the three tables; for ``executemany``.

    SQLite stores a day as its ISO text, PostgreSQL as a date.
    """
    monthly_rating: Counter[tuple] = Counter()
    monthly_reason: Counter[tuple] = Counter()
    for (day, agency, service, _, _, rating, reasons), n in cells.items():
        month = day.replace(day=1)
        monthly_rating[month, agency, service, rating] += n
        if reasons:
            monthly_reason[month, agency, service, ANY_REASON] += n
            for reason in reasons.split(REASON_SEPARATOR):
                monthly_reason[month, agency, service, reason] += n

    def rows(counter: Counter) -> list[tuple]:
        # Sorted, so that concurrent writers lock the rows they share in the same order.
        ordered = sorted(counter.items())
        if sqlite:
            return [(key[0].isoformat(), *key[1:], n) for key, n in ordered]
        return [(*key, n) for key, n in ordered]

    return [
        (_upsert_sql("response_cell", DIMENSIONS, sqlite), rows(cells)),
        (_upsert_sql("monthly_rating", MONTHLY_RATING, sqlite), rows(monthly_rating)),
        (_upsert_sql("monthly_reason", MONTHLY_REASON, sqlite), rows(monthly_reason)),
    ]


def _rebuild_select(sqlite: bool) -> str:
    if sqlite:
        day = "date(r.submitted_at)"
        reasons = (
            "COALESCE((SELECT group_concat(reason, ',') FROM (SELECT reason FROM response_reason"
            " WHERE response = r.id ORDER BY reason)), '')"
        )
    else:
        day = "(r.submitted_at AT TIME ZONE 'UTC')::date"
        reasons = (
            "COALESCE((SELECT string_agg(reason, ',' ORDER BY reason COLLATE \"C\")"
            " FROM response_reason WHERE response = r.id), '')"
        )
    dims = ", ".join(DIMENSIONS)
    return (
        f"SELECT {dims}, COUNT(*) FROM (SELECT {day} AS day, r.agency AS agency, "
        "r.service AS service, r.channel AS channel, r.locale AS locale, "
        f"r.overall AS rating, {reasons} AS reasons FROM response r "
        "WHERE r.overall IS NOT NULL) AS rated "
        f"GROUP BY {dims}"
    )


async def rebuild(engine: Engine) -> int:
    """Replace every cell by a fresh ``GROUP BY`` over the responses; returns the cell count.

    One write transaction: readers see the old cells or the new ones, and a
    submission arriving meanwhile waits, so no response is counted twice or lost.
    """
    sqlite = isinstance(engine, SQLiteEngine)
    names = ", ".join((*DIMENSIONS, "responses"))
    month = "date(day, 'start of month')" if sqlite else "date_trunc('month', day)::date"
    async with write_transaction(engine):
        for table in ("response_cell", "monthly_rating", "monthly_reason"):
            await engine.run_ddl(f"DELETE FROM {table}")
        await engine.run_ddl(f"INSERT INTO response_cell ({names}) {_rebuild_select(sqlite)}")
        await engine.run_ddl(
            f"INSERT INTO monthly_rating ({', '.join(MONTHLY_RATING)}, responses) "
            f"SELECT {month}, agency, service, rating, SUM(responses) FROM response_cell "
            f"GROUP BY {month}, agency, service, rating"
        )
        # Reason sets are split here rather than in engine-specific SQL; there are
        # few rows per month, agency and service.
        sets = await engine.run_ddl(
            f"SELECT {month} AS month, agency, service, reasons, SUM(responses) AS n "
            f"FROM response_cell WHERE reasons <> '' GROUP BY {month}, agency, service, reasons"
        )
        reasons: Counter[tuple] = Counter()
        for row in sets:
            key = (_as_date(row["month"]), row["agency"], row["service"])
            reasons[(*key, ANY_REASON)] += int(row["n"])
            for reason in row["reasons"].split(REASON_SEPARATOR):
                reasons[(*key, reason)] += int(row["n"])
        if reasons:
            values = [
                (key[0].isoformat() if sqlite else key[0], *key[1:], n)
                for key, n in reasons.items()
            ]
            await _insert_many(engine, "monthly_reason", MONTHLY_REASON, values, sqlite)
    return await ResponseCell.count()


def _as_date(value: object) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


async def _insert_many(
    engine: Engine, table: str, dimensions: tuple[str, ...], rows: list[tuple], sqlite: bool
) -> None:
    """Insert through the transaction's own connection (Piccolo has no executemany)."""
    connection = engine.current_transaction.get().connection  # type: ignore[union-attr]
    await connection.executemany(_upsert_sql(table, dimensions, sqlite), rows)
