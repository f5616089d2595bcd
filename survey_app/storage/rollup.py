"""The statistics cells (``ResponseCell``): their key, their upsert and their rebuild.

A response adds one to its cell in the transaction that stores it (the
submission writer and the bulk loader both use ``cell_rows`` and
``upsert_cells_sql``); ``rebuild`` recomputes every cell from the raw
responses with one ``GROUP BY``. SQL differs by engine only where it must:
placeholders, the UTC day of a timestamp and ordered string aggregation.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from piccolo.engine.base import Engine
from piccolo.engine.sqlite import SQLiteEngine

from survey_app.storage.engine import write_transaction
from survey_app.storage.tables import ResponseCell

DIMENSIONS = ("day", "agency", "service", "channel", "locale", "rating", "reasons")
REASON_SEPARATOR = ","

UNIQUE_INDEX_SQL = (
    "CREATE UNIQUE INDEX IF NOT EXISTS response_cell_key "
    f"ON response_cell ({', '.join(DIMENSIONS)})"
)
# Statistics of one agency read its cells without scanning the others.
AGENCY_INDEX_SQL = "CREATE INDEX IF NOT EXISTS response_cell_agency ON response_cell (agency, day)"


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


def cell_rows(cells: Counter[CellKey], sqlite: bool) -> list[tuple]:
    """Parameters for ``upsert_cells_sql``; SQLite stores a day as its ISO text."""
    if sqlite:
        return [(key[0].isoformat(), *key[1:], n) for key, n in cells.items()]
    return [(*key, n) for key, n in cells.items()]


def upsert_cells_sql(sqlite: bool) -> str:
    """Add to existing cells, create missing ones (``ON CONFLICT`` on both engines)."""
    names = ", ".join((*DIMENSIONS, "responses"))
    marks = ", ".join("?" * 8) if sqlite else ", ".join(f"${i}" for i in range(1, 9))
    # Every piece is a constant of this module; values are bound parameters.
    return (
        f"INSERT INTO response_cell ({names}) VALUES ({marks}) "
        f"ON CONFLICT ({', '.join(DIMENSIONS)}) "
        "DO UPDATE SET responses = response_cell.responses + excluded.responses"
    )


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
    async with write_transaction(engine):
        await engine.run_ddl("DELETE FROM response_cell")
        await engine.run_ddl(f"INSERT INTO response_cell ({names}) {_rebuild_select(sqlite)}")
    return await ResponseCell.count()
