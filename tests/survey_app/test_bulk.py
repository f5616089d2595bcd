"""The bulk loader stores what the normal path stores, and keeps the statistics cells exact."""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from piccolo.engine.sqlite import SQLiteEngine

from questionnaires import DEFAULT_QUESTIONNAIRE_ID
from survey_app.agencies import directory
from survey_app.db import cells as rollup
from survey_app.db.bulk import Synthetic, insert_responses
from survey_app.db.tables import (
    CELL_TABLES,
    AgencyKind,
    Invitation,
    Response,
    ResponseReason,
)
from survey_app.demo import synthetic as demo
from survey_app.lib.settings import local_zone

from .conftest import REASONS, LiveServer

STATISTICS = CELL_TABLES
MIDNIGHT = dt.datetime(2026, 3, 1, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))  # local, the default zone
ICT = dt.timezone(dt.timedelta(hours=7))
COUNT = 3000


async def _clear_statistics() -> None:
    for table in STATISTICS:
        await table.delete(force=True)


@pytest.fixture
def db(server: LiveServer, request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    """The live server's database, emptied; statistics rows go first (they reference agencies)."""
    server.run(_clear_statistics())
    live = request.getfixturevalue("live")
    yield live
    server.run(_clear_statistics())


async def _directory() -> list[tuple[int, int]]:
    """(agency id, service id) pairs: two agencies, three services."""
    pairs = []
    for agency, services in (("MIC", ("MIC-1", "MIC-2")), ("MOF", ("MOF-1",))):
        agency_id = await directory.add_agency(agency, AgencyKind.ministry, agency, {})
        for code in services:
            pairs.append((agency_id, await directory.add_service(code, agency, code, {}, True)))
    return pairs


def _records(pairs: list[tuple[int, int]], count: int, seed: int) -> list[Synthetic]:
    """Responses within three hours of a local midnight, some given in UTC+7, some in UTC,
    some with microseconds."""
    rng = random.Random(seed)
    records = []
    for _ in range(count):
        agency, service = rng.choice(pairs)
        when = MIDNIGHT + dt.timedelta(
            seconds=rng.randrange(-3 * 3600, 3 * 3600),
            microseconds=rng.choice([0, rng.randrange(1, 1_000_000)]),
        )
        overall = rng.randint(1, 5)
        # Unsorted on purpose: the cell key sorts them, the stored rows keep the order given.
        reasons = tuple(rng.sample(REASONS, rng.randint(0, 3))) if overall <= 3 else ()
        records.append(
            Synthetic(
                agency_id=agency,
                service_id=service,
                channel=rng.choice(["web", "mobile", "sms"]),
                locale=rng.choice(["vi", "en"]),
                submitted_at=when.astimezone(rng.choice([dt.UTC, ICT])),
                overall=overall,
                reasons=reasons,
            )
        )
    return records


async def _responses() -> list[dict]:
    return await Response.select().order_by(Response.id)


async def _reasons_by_response() -> dict[int, list[str]]:
    found: dict[int, list[str]] = defaultdict(list)
    for row in await ResponseReason.select().order_by(ResponseReason.id):
        found[row["response"]].append(row["reason"])
    return found


async def _statistics() -> dict[str, Counter]:
    """Every statistics table as {key: responses (or invitations)}."""
    tables = {}
    counts = ("responses", "invitations")
    for table in STATISTICS:
        rows = await table.select()
        tables[table._meta.tablename] = Counter(
            {tuple(v for k, v in row.items() if k not in ("id", *counts)):
             next(row[c] for c in counts if c in row)
             for row in rows}
        )  # fmt: skip
    return tables


async def _cells_by_hand() -> Counter:
    """The response cells, grouped here from the raw rows, without ``rollup``."""
    reasons = await _reasons_by_response()
    cells: Counter = Counter()
    for row in await _responses():
        day = row["submitted_at"].astimezone(local_zone()).date()
        key = (row["agency"], row["service"], row["channel"], row["locale"], row["overall"])
        cells[(day, *key, ",".join(sorted(reasons[row["id"]])))] += 1
    return cells


def _raw_sqlite_timestamps(path: str) -> list[tuple]:
    with sqlite3.connect(path) as connection:
        return connection.execute(
            "SELECT r.submitted_at, i.created_at, i.expires_at, i.answered_at, r.answers "
            "FROM response r JOIN invitation i ON i.id = r.invitation ORDER BY r.id"
        ).fetchall()


def test_rows_are_what_was_given(db: LiveServer) -> None:
    pairs = db.run(_directory())
    records = _records(pairs, COUNT, seed=1)
    assert db.run(insert_responses(records, questionnaire_version=3)) == COUNT

    responses = db.run(_responses())
    assert [
        (r["agency"], r["service"], r["channel"], r["locale"], r["submitted_at"], r["overall"])
        for r in responses
    ] == [
        (r.agency_id, r.service_id, r.channel, r.locale, r.submitted_at, r.overall) for r in records
    ]
    assert {(r["questionnaire_id"], r["questionnaire_version"]) for r in responses} == {
        (DEFAULT_QUESTIONNAIRE_ID, 3)
    }
    assert all(json.loads(r["answers"]) == {} for r in responses)

    reasons = db.run(_reasons_by_response())
    assert [reasons.get(r["id"], []) for r in responses] == [list(r.reasons) for r in records]

    invitations = {row["id"]: row for row in db.run(Invitation.select())}
    assert len(invitations) == COUNT
    for response in responses:
        invitation = invitations[response["invitation"]]
        for column in ("agency", "service", "channel", "locale"):
            assert invitation[column] == response[column]
        assert invitation["created_at"] == invitation["answered_at"] == response["submitted_at"]
        assert invitation["expires_at"] == response["submitted_at"] + dt.timedelta(days=14)
        assert invitation["questionnaire_id"] == DEFAULT_QUESTIONNAIRE_ID
        assert re.fullmatch(r"[A-Za-z0-9_-]{32}", invitation["token"])
        assert re.fullmatch(r"[0-9a-f]{64}", invitation["transaction_key"])

    engine = Response._meta.db
    if isinstance(engine, SQLiteEngine):
        # Stored text exactly as Piccolo writes it, so SQL comparisons and
        # date() agree between rows from either path.
        expected = []
        for r in records:
            at = str(r.submitted_at.astimezone(dt.UTC))
            expires = str((r.submitted_at + dt.timedelta(days=14)).astimezone(dt.UTC))
            expected.append((at, at, expires, at, "{}"))
        assert _raw_sqlite_timestamps(engine.path) == expected


def test_cells_match_the_rows_and_a_rebuild(db: LiveServer) -> None:
    pairs = db.run(_directory())
    db.run(insert_responses(_records(pairs, COUNT, seed=2)))

    by_hand = db.run(_cells_by_hand())
    assert {key[0] for key in by_hand} == {dt.date(2026, 2, 28), dt.date(2026, 3, 1)}
    assert sum(by_hand.values()) == COUNT
    loaded = db.run(_statistics())
    assert loaded["response_cell"] == by_hand

    db.run(rollup.rebuild(Response._meta.db))
    assert db.run(_statistics()) == loaded


def test_a_second_load_adds_to_the_cells(db: LiveServer) -> None:
    pairs = db.run(_directory())
    records = _records(pairs, COUNT // 2, seed=3)
    db.run(insert_responses(records))
    first = db.run(_statistics())
    db.run(insert_responses(records))  # the same responses again, new invitations

    second = db.run(_statistics())
    for table, counts in first.items():
        assert second[table] == Counter({key: 2 * n for key, n in counts.items()}), table
    assert second["response_cell"] == db.run(_cells_by_hand())


def test_demo_responses_follow_the_demo_distributions(db: LiveServer) -> None:
    db.run(_directory())
    months = 2
    before = dt.datetime.now(dt.UTC) - dt.timedelta(days=30 * months, seconds=1)
    assert db.run(demo.synthesize(4000, months, seed=5)) == 4000

    responses = db.run(_responses())
    reasons = db.run(_reasons_by_response())
    assert all(before <= r["submitted_at"] <= dt.datetime.now(dt.UTC) for r in responses)
    for r in responses:
        codes = reasons.get(r["id"], [])
        if r["overall"] <= 3:
            assert 1 <= len(codes) <= 2, codes
            assert set(codes) <= set(demo.REASON_WEIGHTS), codes
        else:
            assert codes == []
    share = sum(r["overall"] >= 4 for r in responses) / len(responses)
    assert 0.70 < share < 0.95
    assert db.run(_statistics())["response_cell"] == db.run(_cells_by_hand())


def test_demo_generation_is_reproducible() -> None:
    services = demo.ServiceTable.of(
        [{"id": 1, "agency_id": 1, "agency": "VSS"}, {"id": 2, "agency_id": 2, "agency": "HN"}]
    )
    period = demo.Period(start_s=1_700_000_000, end_s=1_700_864_000, size=1000)

    def draw(seed: int) -> demo.Columns:
        return demo._generate(np.random.default_rng(seed), services, period.end_s, period)

    first, again, other = draw(7), draw(7), draw(8)
    assert first.overall == again.overall
    assert first.reasons == again.reasons
    assert (first.submitted_us == again.submitted_us).all()
    assert first.overall != other.overall
    assert (np.diff(first.submitted_us) >= 0).all()
