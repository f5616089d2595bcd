"""The statistics cells: their keys, their upserts and their rebuild.

``ResponseCell`` counts responses per (local day, agency, service, channel,
locale, overall rating, reason set); ``MonthlyRating`` and ``MonthlyReason``
sum those cells by month, agency and service. ``AnswerCell`` and
``MonthlyAnswer`` count every answer to every question of every
questionnaire, and ``RatingPattern`` the joint ratings key-driver analysis
needs. A response adds to all six in the transaction that stores it (the
submission writer and the bulk loader both call ``cell_counts`` then
``upserts``); ``rebuild`` recomputes them from the raw responses.

Days, months and quarters are those of ``SURVEY_TIMEZONE`` (``local_day``):
a response at 06:00 on 1 March in Hà Nội (23:00 UTC the day before) counts
on 1 March. Timestamps stay stored in UTC; after changing the zone,
``survey rollup rebuild`` recounts every cell.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from piccolo.engine.base import Engine
from piccolo.engine.sqlite import SQLiteEngine

from survey_app.db.engine import write_transaction
from survey_app.db.tables import Invitation, Response, ResponseCell, ResponseReason
from survey_app.lib.clock import local_day
from survey_app.lib.settings import local_zone

DIMENSIONS = ("day", "agency", "service", "channel", "locale", "rating", "reasons")
REASON_SEPARATOR = ","

MONTHLY_RATING = ("month", "agency", "service", "rating")
MONTHLY_REASON = ("month", "agency", "service", "reason")
ANY_REASON = ""  # MonthlyReason.reason of the responses that ticked any reason

ANSWER = (
    "day",
    "agency",
    "service",
    "channel",
    "locale",
    "questionnaire_id",
    "question",
    "value",
)
MONTHLY_ANSWER = ("month", "agency", "service", "channel", "questionnaire_id", "question", "value")
DAILY_ANSWER = ("day", "agency", "service", "questionnaire_id", "question", "value")
PATTERN = ("month", "agency", "service", "channel", "questionnaire_id", "pattern")
INVITATION = ("day", "agency", "service", "channel", "questionnaire_id")
MONTHLY_INVITATION = ("month", "agency", "service", "channel", "questionnaire_id")
ANSWERED = ""  # AnswerCell.value of a multiple choice: the responses that answered it
PATTERN_SEPARATOR = ";"
# Among a response's structured answers, how many pieces of personal data were taken
# out of its free text: a count, not an answer.
REDACTED = "redacted"
OVERALL = "overall"
REASONS = "reasons"

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


def answer_values(answers: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(question, value) counted for one response's structured answers.

    The kind shows in the stored value: points (an integer) for a rating, a
    code for a choice, a list of codes for a multiple choice, which also
    counts once under ``ANSWERED``.
    """
    for question, answer in answers.items():
        if question == REDACTED or answer is None or isinstance(answer, bool):
            continue
        if isinstance(answer, list | tuple):
            if answer:
                yield question, ANSWERED
                for code in sorted({str(a) for a in answer}):
                    yield question, code
        elif isinstance(answer, int | str):
            yield question, str(answer)


def rating_pattern(answers: Mapping[str, Any]) -> str | None:
    """``overall=4;publicity=5``: every rating of a response, or None without any."""
    ratings = sorted(
        (question, answer)
        for question, answer in answers.items()
        if question != REDACTED and isinstance(answer, int) and not isinstance(answer, bool)
    )
    if not ratings:
        return None
    return PATTERN_SEPARATOR.join(f"{question}={points}" for question, points in ratings)


def parse_pattern(pattern: str) -> dict[str, int]:
    """The ratings of a ``RatingPattern.pattern``."""
    pairs = (item.partition("=") for item in pattern.split(PATTERN_SEPARATOR) if item)
    return {question: int(points) for question, _, points in pairs}


@dataclass(frozen=True)
class CellInput:
    """What one response contributes to the cells.

    ``answers`` holds every structured answer (``overall`` and ``reasons``
    included); when empty, the rating and the reasons are its answers.
    """

    submitted_at: dt.datetime
    agency: int
    service: int
    channel: str
    locale: str
    rating: int | None
    reasons: Iterable[str]
    questionnaire_id: str = ""
    answers: Mapping[str, Any] = field(default_factory=dict)


CellKey = tuple[dt.date, int, int, str, str, int, str]
AnswerKey = tuple[dt.date, int, int, str, str, str, str, str]
PatternKey = tuple[dt.date, int, int, str, str, str]


@dataclass
class Cells:
    """What a set of responses adds: to the rating cells, the answer cells and the patterns."""

    ratings: Counter[CellKey] = field(default_factory=Counter)
    answers: Counter[AnswerKey] = field(default_factory=Counter)
    patterns: Counter[PatternKey] = field(default_factory=Counter)

    def __bool__(self) -> bool:
        return bool(self.ratings or self.answers)

    def add(self, r: CellInput, day: dt.date, times: int = 1) -> None:
        reasons = tuple(r.reasons)
        if r.rating is not None:
            key = (day, r.agency, r.service, r.channel, r.locale, r.rating, reason_key(reasons))
            self.ratings[key] += times
        answers = dict(r.answers)
        if r.rating is not None:
            answers.setdefault(OVERALL, r.rating)
        if reasons:
            answers.setdefault(REASONS, list(reasons))
        where = (r.agency, r.service, r.channel)
        for question, value in answer_values(answers):
            self.answers[(day, *where, r.locale, r.questionnaire_id, question, value)] += times
        pattern = rating_pattern(answers)
        if pattern is not None:
            self.patterns[(day.replace(day=1), *where, r.questionnaire_id, pattern)] += times


def cell_counts(responses: Iterable[CellInput]) -> Cells:
    """Responses per cell. Unrated responses count in no rating cell, only in the answer
    cells of the questions they answered."""
    cells = Cells()
    zone = local_zone()
    for r in responses:
        cells.add(r, local_day(r.submitted_at, zone))
    return cells


def _upsert_sql(
    table: str, dimensions: tuple[str, ...], sqlite: bool, count: str = "responses"
) -> str:
    """Add to existing rows, create missing ones (``ON CONFLICT`` on both engines)."""
    names = ", ".join((*dimensions, count))
    n = len(dimensions) + 1
    marks = ", ".join("?" * n) if sqlite else ", ".join(f"${i}" for i in range(1, n + 1))
    # Every piece is a constant of this module; values are bound parameters.
    return (
        f"INSERT INTO {table} ({names}) VALUES ({marks}) "
        f"ON CONFLICT ({', '.join(dimensions)}) "
        f"DO UPDATE SET {count} = {table}.{count} + excluded.{count}"
    )


def _rows(counter: Counter, sqlite: bool) -> list[tuple]:
    """``(*key, n)`` sorted, so that concurrent writers lock the rows they share in the
    same order; SQLite stores a day as its ISO text, PostgreSQL as a date."""
    ordered = sorted(counter.items())
    if sqlite:
        return [(key[0].isoformat(), *key[1:], n) for key, n in ordered]
    return [(*key, n) for key, n in ordered]


InvitationKey = tuple[dt.date, int, int, str, str]


def invitation_upserts(
    invitations: Counter[InvitationKey], sqlite: bool
) -> list[tuple[str, list[tuple]]]:
    """(statement, parameter rows) adding ``invitations`` (per local day, agency,
    service, channel and questionnaire) to the invitation cells, daily and monthly."""
    monthly: Counter[tuple] = Counter()
    for (day, *rest), n in invitations.items():
        monthly[(day.replace(day=1), *rest)] += n
    return [
        (
            _upsert_sql("invitation_cell", INVITATION, sqlite, "invitations"),
            _rows(invitations, sqlite),
        ),
        (
            _upsert_sql("monthly_invitation", MONTHLY_INVITATION, sqlite, "invitations"),
            _rows(monthly, sqlite),
        ),
    ]


async def count_invitation(
    engine: Engine,
    created_at: dt.datetime,
    agency: int,
    service: int,
    channel: str,
    questionnaire_id: str,
) -> None:
    """Add one issued invitation to its cells, inside the transaction that stores it."""
    key = (local_day(created_at), agency, service, channel, questionnaire_id)
    for sql, rows in invitation_upserts(Counter({key: 1}), isinstance(engine, SQLiteEngine)):
        await _executemany(engine, sql, rows)


def upserts(cells: Cells, sqlite: bool) -> list[tuple[str, list[tuple]]]:
    """(statement, parameter rows) adding ``cells`` to the six tables; for ``executemany``.

    SQLite stores a day as its ISO text, PostgreSQL as a date.
    """
    monthly_rating: Counter[tuple] = Counter()
    monthly_reason: Counter[tuple] = Counter()
    for (day, agency, service, _, _, rating, reasons), n in cells.ratings.items():
        month = day.replace(day=1)
        monthly_rating[month, agency, service, rating] += n
        if reasons:
            monthly_reason[month, agency, service, ANY_REASON] += n
            for reason in reasons.split(REASON_SEPARATOR):
                monthly_reason[month, agency, service, reason] += n
    monthly_answer: Counter[tuple] = Counter()
    daily_answer: Counter[tuple] = Counter()
    for (day, agency, service, channel, _, *answer), n in cells.answers.items():
        monthly_answer[(day.replace(day=1), agency, service, channel, *answer)] += n
        daily_answer[(day, agency, service, *answer)] += n

    statements = [
        ("response_cell", DIMENSIONS, cells.ratings),
        ("monthly_rating", MONTHLY_RATING, monthly_rating),
        ("monthly_reason", MONTHLY_REASON, monthly_reason),
        ("answer_cell", ANSWER, cells.answers),
        ("monthly_answer", MONTHLY_ANSWER, monthly_answer),
        ("daily_answer", DAILY_ANSWER, daily_answer),
        ("rating_pattern", PATTERN, cells.patterns),
    ]
    return [
        (_upsert_sql(table, dimensions, sqlite), _rows(counter, sqlite))
        for table, dimensions, counter in statements
        if counter
    ]


CELL_TABLES = (
    "response_cell",
    "monthly_rating",
    "monthly_reason",
    "answer_cell",
    "monthly_answer",
    "daily_answer",
    "rating_pattern",
    "invitation_cell",
    "monthly_invitation",
)
REBUILD_BATCH = 20_000


async def in_batches(table: Any, *names: str) -> AsyncIterator[list[dict[str, Any]]]:
    """The rows of ``table`` (``id`` and the columns ``names``) in id order, a batch of
    ``REBUILD_BATCH`` at a time, so memory stays flat however many there are."""
    columns = [table.id, *(getattr(table, name) for name in names)]
    last = 0
    while True:
        rows = (
            await table.select(*columns)
            .where(table.id > last)
            .order_by(table.id)
            .limit(REBUILD_BATCH)
        )
        if not rows:
            return
        last = rows[-1]["id"]
        yield rows


async def count_responses(
    zone: ZoneInfo | None = None, progress: Callable[[int], None] | None = None
) -> Cells:
    """The cells of every stored response, read in batches of ``REBUILD_BATCH`` by id;
    ``progress`` is told how many responses each batch counted."""
    zone = zone or local_zone()
    cells = Cells()
    columns = ("submitted_at", "agency", "service", "channel", "locale", "questionnaire_id")
    async for rows in in_batches(Response, *columns, "overall", "answers"):
        first, last = rows[0]["id"], rows[-1]["id"]
        ticked: dict[int, list[str]] = {}
        for row in await ResponseReason.select(
            ResponseReason.response, ResponseReason.reason
        ).where((ResponseReason.response >= first) & (ResponseReason.response <= last)):
            ticked.setdefault(row["response"], []).append(row["reason"])
        for row in rows:
            answers = row["answers"]
            stored = json.loads(answers) if isinstance(answers, str) else dict(answers or {})
            reasons = ticked.get(row["id"], [])
            cell = CellInput(
                submitted_at=row["submitted_at"],
                agency=row["agency"],
                service=row["service"],
                channel=row["channel"],
                locale=row["locale"],
                rating=row["overall"],
                reasons=reasons,
                questionnaire_id=row["questionnaire_id"],
                answers=stored,
            )
            cells.add(cell, local_day(row["submitted_at"], zone))
        if progress is not None:
            progress(len(rows))
    return cells


async def count_invitations(zone: ZoneInfo | None = None) -> Counter[InvitationKey]:
    """Every stored invitation per local day, agency, service, channel and questionnaire."""
    zone = zone or local_zone()
    counted: Counter[InvitationKey] = Counter()
    columns = ("created_at", "agency", "service", "channel", "questionnaire_id")
    async for rows in in_batches(Invitation, *columns):
        for row in rows:
            day = local_day(row["created_at"], zone)
            where = (row["agency"], row["service"], row["channel"], row["questionnaire_id"])
            counted[(day, *where)] += 1
    return counted


async def rebuild(engine: Engine, progress: Callable[[int], None] | None = None) -> int:
    """Replace every cell by a fresh count of the responses, in ``SURVEY_TIMEZONE``'s days;
    returns the number of rating cells.

    One write transaction: readers see the old cells or the new ones, and a
    submission arriving meanwhile waits, so no response is counted twice or lost.
    The responses are read in batches and counted here rather than in SQL, so that
    the local day is the zone database's on both engines (SQLite has none).
    """
    sqlite = isinstance(engine, SQLiteEngine)
    async with write_transaction(engine):
        for table in CELL_TABLES:
            await engine.run_ddl(f"DELETE FROM {table}")
        for sql, rows in upserts(await count_responses(progress=progress), sqlite):
            await _executemany(engine, sql, rows)
        for sql, rows in invitation_upserts(await count_invitations(), sqlite):
            await _executemany(engine, sql, rows)
    return await ResponseCell.count()


async def _executemany(engine: Engine, sql: str, rows: list[tuple]) -> None:
    """Run ``sql`` for each row through the transaction's own connection (Piccolo has no
    executemany)."""
    connection = engine.current_transaction.get().connection  # type: ignore[union-attr]
    await connection.executemany(sql, rows)
