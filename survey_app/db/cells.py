"""The statistics cells: their keys, their upserts and their rebuild.

``ResponseCell`` counts responses per (local day, agency, service, channel,
locale, overall rating, reason set); ``MonthlyRating`` and ``MonthlyReason``
sum those cells by month, agency and service. ``AnswerCell`` and
``MonthlyAnswer`` count every answer to every question of every
questionnaire, and ``DriverMoment`` the cross-product sums key-driver
analysis needs. A response adds to all of them in the transaction that stores it (the
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

from analysis.drivers import CONSTANT, moment_terms, term
from questionnaires import QuestionnaireError, load_directory
from survey_app.db import version
from survey_app.db.engine import write_transaction
from survey_app.db.tables import (
    MAX_CRITERIA,
    MOMENT_SUMS,
    Invitation,
    QuestionnaireVersion,
    Response,
    ResponseCell,
    ResponseReason,
)
from survey_app.lib.clock import local_day
from survey_app.lib.settings import data_directories, local_zone

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
NATIONAL_ANSWER = ("day", "questionnaire_id", "question", "value")
MOMENT = ("month", "agency", "service", "channel", "questionnaire_id", "variables")
MOMENT_COLUMNS = tuple(f"s{i}" for i in range(MOMENT_SUMS))
INVITATION = ("day", "agency", "service", "channel", "questionnaire_id")
MONTHLY_INVITATION = ("month", "agency", "service", "channel", "questionnaire_id")
ANSWERED = ""  # AnswerCell.value of a multiple choice: the responses that answered it
VARIABLE_SEPARATOR = ","
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


def moment_names(variables: str) -> list[str]:
    """The term (``analysis.drivers.term``) each of ``s0``, ``s1``, ... holds in a
    ``DriverMoment`` row of these ``variables``: the pairs of the constant, overall
    and the other ratings in sorted order."""
    criteria = sorted(set(variables.split(VARIABLE_SEPARATOR)) - {OVERALL})
    names = [CONSTANT, OVERALL, *criteria]
    return [term(a, b) for i, a in enumerate(names) for b in names[i:]]


def driver_sums(answers: Mapping[str, Any], ratings: Iterable[str]) -> tuple[str, list[int]] | None:
    """What a response adds to ``DriverMoment``: its variables key and sums, in the
    order of ``moment_names``.

    Only a complete case counts: one that rated ``overall`` and every other rating
    question of its questionnaire version (``ratings``); otherwise None. Summing
    cases with different answered sets would mix populations term by term. A
    version with more than ``MAX_CRITERIA`` criteria has no sums.
    """
    asked = sorted(set(ratings))
    if OVERALL not in asked or not 1 < len(asked) <= MAX_CRITERIA + 1:
        return None
    points = {question: answers.get(question) for question in asked}
    if any(not isinstance(p, int) or isinstance(p, bool) for p in points.values()):
        return None
    outcome = points.pop(OVERALL)
    terms = moment_terms(OVERALL, outcome, points)  # type: ignore[arg-type]
    variables = VARIABLE_SEPARATOR.join(asked)
    return variables, [terms[name] for name in moment_names(variables)]


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
    # The rating questions of its questionnaire version: a response that answered them
    # all adds to the key-driver moments.
    ratings: tuple[str, ...] = ()


CellKey = tuple[dt.date, int, int, str, str, int, str]
AnswerKey = tuple[dt.date, int, int, str, str, str, str, str]
MomentKey = tuple[dt.date, int, int, str, str, str]


@dataclass
class Cells:
    """What a set of responses adds: to the rating cells, the answer cells and the moments."""

    ratings: Counter[CellKey] = field(default_factory=Counter)
    answers: Counter[AnswerKey] = field(default_factory=Counter)
    moments: dict[MomentKey, list[int]] = field(default_factory=dict)

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
        complete = driver_sums(answers, r.ratings)
        if complete is not None:
            variables, sums = complete
            key = (day.replace(day=1), *where, r.questionnaire_id, variables)
            total = self.moments.setdefault(key, [0] * MOMENT_SUMS)
            for i, value in enumerate(sums):
                total[i] += value * times


def cell_counts(responses: Iterable[CellInput]) -> Cells:
    """Responses per cell. Unrated responses count in no rating cell, only in the answer
    cells of the questions they answered."""
    cells = Cells()
    zone = local_zone()
    for r in responses:
        cells.add(r, local_day(r.submitted_at, zone))
    return cells


def _upsert_sql(
    table: str, dimensions: tuple[str, ...], sqlite: bool, counts: tuple[str, ...] = ("responses",)
) -> str:
    """Add to existing rows, create missing ones (``ON CONFLICT`` on both engines)."""
    names = ", ".join((*dimensions, *counts))
    n = len(dimensions) + len(counts)
    marks = ", ".join("?" * n) if sqlite else ", ".join(f"${i}" for i in range(1, n + 1))
    added = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in counts)
    # Every piece is a constant of this module; values are bound parameters.
    return (
        f"INSERT INTO {table} ({names}) VALUES ({marks}) "
        f"ON CONFLICT ({', '.join(dimensions)}) DO UPDATE SET {added}"
    )


def _rows(counter: Mapping[tuple, int | list[int]], sqlite: bool) -> list[tuple]:
    """``(*key, n)`` (or ``(*key, *sums)``) sorted, so that concurrent writers lock the
    rows they share in the same order; SQLite stores a day as its ISO text, PostgreSQL
    as a date."""
    rows = []
    for key, n in sorted(counter.items()):
        day = key[0].isoformat() if sqlite else key[0]
        rows.append((day, *key[1:], *(n if isinstance(n, list) else (n,))))
    return rows


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
            _upsert_sql("invitation_cell", INVITATION, sqlite, ("invitations",)),
            _rows(invitations, sqlite),
        ),
        (
            _upsert_sql("monthly_invitation", MONTHLY_INVITATION, sqlite, ("invitations",)),
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
    """(statement, parameter rows) adding ``cells`` to the cell tables; for ``executemany``.

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
    national_answer: Counter[tuple] = Counter()
    for (day, agency, service, channel, _, *answer), n in cells.answers.items():
        monthly_answer[(day.replace(day=1), agency, service, channel, *answer)] += n
        daily_answer[(day, agency, service, *answer)] += n
        national_answer[(day, *answer)] += n

    statements = [
        ("response_cell", DIMENSIONS, cells.ratings),
        ("monthly_rating", MONTHLY_RATING, monthly_rating),
        ("monthly_reason", MONTHLY_REASON, monthly_reason),
        ("answer_cell", ANSWER, cells.answers),
        ("monthly_answer", MONTHLY_ANSWER, monthly_answer),
        ("daily_answer", DAILY_ANSWER, daily_answer),
        ("national_answer", NATIONAL_ANSWER, national_answer),
    ]
    found = [
        (_upsert_sql(table, dimensions, sqlite), _rows(counter, sqlite))
        for table, dimensions, counter in statements
        if counter
    ]
    if cells.moments:
        sql = _upsert_sql("driver_moment", MOMENT, sqlite, MOMENT_COLUMNS)
        found.append((sql, _rows(cells.moments, sqlite)))
    return found


CELL_TABLES = (
    "response_cell",
    "monthly_rating",
    "monthly_reason",
    "answer_cell",
    "monthly_answer",
    "daily_answer",
    "national_answer",
    "driver_moment",
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
    ratings = await rating_questions()
    columns = ("submitted_at", "agency", "service", "channel", "locale", "questionnaire_id")
    async for rows in in_batches(Response, *columns, "questionnaire_version", "overall", "answers"):
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
                ratings=ratings.get((row["questionnaire_id"], row["questionnaire_version"]), ()),
            )
            cells.add(cell, local_day(row["submitted_at"], zone))
        if progress is not None:
            progress(len(rows))
    return cells


async def rating_questions() -> dict[tuple[str, int], tuple[str, ...]]:
    """The rating questions of each questionnaire version, by (id, version): those of
    ``SURVEY_QUESTIONNAIRE_DIR``, and of every version ever served as stored when it
    was first served (a file may since have changed or gone; the stored one holds)."""
    try:
        on_disk = load_directory(data_directories()[0]).values()
    except QuestionnaireError:
        on_disk = []  # the server refuses to start on them; the stored ones still hold
    found = {(q.id, q.version): q.ratings() for q in on_disk}
    rows = await QuestionnaireVersion.select(
        QuestionnaireVersion.questionnaire_id,
        QuestionnaireVersion.version,
        QuestionnaireVersion.definition,
    )
    for row in rows:
        definition = row["definition"]
        if isinstance(definition, str):
            definition = json.loads(definition)
        found[row["questionnaire_id"], row["version"]] = tuple(
            q["id"] for q in definition.get("questions", ()) if q.get("kind") == "rating"
        )
    return found


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
        # Cached statistics of every process read this: their answers are now stale.
        await version.bump(engine, sqlite)
    return await ResponseCell.count()


async def _executemany(engine: Engine, sql: str, rows: list[tuple]) -> None:
    """Run ``sql`` for each row through the transaction's own connection (Piccolo has no
    executemany)."""
    connection = engine.current_transaction.get().connection  # type: ignore[union-attr]
    await connection.executemany(sql, rows)
