"""The demo's nonresponse: invitations nobody answered, at rates that differ by channel.

Every synthetic response still comes with its answered invitation; around them
come unanswered invitations (no response, nothing in the statistics cells), as
many as each agency × service × channel's response propensity implies, and the
channels that answer least are the least satisfied. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from collections import Counter, defaultdict

import numpy as np
import pytest
from piccolo.engine.sqlite import SQLiteEngine

from questionnaires import DEFAULT_QUESTIONNAIRE_ID
from survey_app.db.bulk import Columns, Unanswered, insert_columns
from survey_app.db.bulk.columns import INVITATION_DAYS
from survey_app.db.tables import (
    CELL_TABLES,
    Channel,
    Invitation,
    MonthlyRating,
    Response,
    ResponseCell,
    ResponseReason,
    Service,
)
from survey_app.demo import fixtures
from survey_app.demo import synthetic as demo
from survey_app.demo.fixtures import DOSSIER_AGENCIES, DOSSIER_EVALUATION

from .conftest import LiveServer

RESPONSES = 6000
MONTHS = 6
LIFETIME = dt.timedelta(days=INVITATION_DAYS)
SATISFIED_FROM = 4


async def _table(table) -> list[dict]:
    return await table.select().order_by(table.id)


def _rates(invitations: list[dict], key) -> dict:
    """{key: (invitations, answered)} over the invitations."""
    counts: dict = defaultdict(lambda: [0, 0])
    for row in invitations:
        cell = counts[key(row)]
        cell[0] += 1
        cell[1] += row["answered_at"] is not None
    return {k: tuple(v) for k, v in counts.items()}


@pytest.fixture
def loaded(live: LiveServer) -> dict:
    """The default demo directory with ``RESPONSES`` demo responses, read back, as
    ``survey demo --responses N`` loads them.

    ``invitations`` are all of them, ``synthetic`` those the responses brought
    (not the demo link's, issued by ``fixtures.load``).
    """
    live.run(fixtures.load(live.settings))
    link = {row["id"] for row in live.run(Invitation.select(Invitation.id))}
    started = dt.datetime.now(dt.UTC)
    added = live.run(demo.synthesize(RESPONSES, MONTHS, seed=demo.DEMO_SEED))
    invitations = live.run(_table(Invitation))
    return {
        "added": added,
        "started": started,
        "finished": dt.datetime.now(dt.UTC),
        "invitations": invitations,
        "synthetic": [i for i in invitations if i["id"] not in link],
        "responses": live.run(_table(Response)),
        "services": {
            row["id"]: row
            for row in live.run(
                Service.select(*Service.all_columns(), Service.agency.code.as_alias("agency_code"))
            )
        },
        "cells": live.run(ResponseCell.select()),
        "monthly": live.run(MonthlyRating.select()),
    }


def test_invitations_outnumber_responses_and_only_responses_are_answered(loaded: dict) -> None:
    invitations, responses = loaded["invitations"], loaded["responses"]
    assert loaded["added"] == len(responses) == RESPONSES
    answered = [i for i in invitations if i["answered_at"] is not None]
    unanswered = [i for i in loaded["synthetic"] if i["answered_at"] is None]
    assert len(loaded["synthetic"]) > 2 * len(responses)  # about 3 invitations per response
    assert len(invitations) > len(responses)
    assert len(answered) == len(responses)

    # Every response still has its own answered invitation, answered when submitted...
    by_id = {i["id"]: i for i in invitations}
    assert len({r["invitation"] for r in responses}) == len(responses)
    for response in responses:
        invitation = by_id[response["invitation"]]
        assert invitation["answered_at"] == invitation["created_at"] == response["submitted_at"]
        for column in ("agency", "service", "channel", "locale", "questionnaire_id"):
            assert invitation[column] == response[column]
    # ...and no response points at an unanswered one.
    assert {r["invitation"] for r in responses} == {i["id"] for i in answered}

    # The unanswered invitations are issued ones like any other, over the responses' period.
    earliest = loaded["started"] - dt.timedelta(days=30 * MONTHS, seconds=1)
    services = loaded["services"]
    for invitation in unanswered:
        assert earliest <= invitation["created_at"] <= loaded["finished"]
        assert invitation["expires_at"] == invitation["created_at"] + LIFETIME
        # The questionnaire assigned to its agency (the demo's provinces and dossier
        # ministries rate each dossier), else the default one.
        assert invitation["questionnaire_id"] == (
            DOSSIER_EVALUATION
            if services[invitation["service"]]["agency_code"] in DOSSIER_AGENCIES
            else DEFAULT_QUESTIONNAIRE_ID
        )
        assert invitation["channel"] in set(Channel)
        assert invitation["locale"] in demo.LOCALE_WEIGHTS
        assert services[invitation["service"]]["agency"] == invitation["agency"]
        assert re.fullmatch(r"[A-Za-z0-9_-]{32}", invitation["token"])
        assert re.fullmatch(r"[0-9a-f]{64}", invitation["transaction_key"])
    assert len({i["token"] for i in invitations}) == len(invitations)
    assert len({i["transaction_key"] for i in invitations}) == len(invitations)
    # Spread over the whole period, not bunched at one end.
    months = Counter((loaded["finished"] - i["created_at"]).days // 30 for i in unanswered)
    assert set(months) == set(range(MONTHS))
    assert min(months.values()) > len(unanswered) / MONTHS / 2


def test_cells_count_only_the_responses(loaded: dict) -> None:
    responses = loaded["responses"]
    assert sum(cell["responses"] for cell in loaded["cells"]) == len(responses)
    assert sum(row["responses"] for row in loaded["monthly"]) == len(responses)
    per_channel = Counter()
    for cell in loaded["cells"]:
        per_channel[cell["channel"]] += cell["responses"]
    assert per_channel == Counter(r["channel"] for r in responses)


def test_response_rates_follow_the_channel_propensities(loaded: dict) -> None:
    invitations = loaded["synthetic"]
    by_channel = _rates(invitations, lambda row: row["channel"])
    rate = {channel: answered / invited for channel, (invited, answered) in by_channel.items()}
    assert set(rate) == set(demo.RESPONSE_PROPENSITY)
    # Answered most at a counter, then on the web, then on mobile, least by e-mail.
    assert rate["counter"] > rate["web"] > rate["mobile"] > rate["email"]
    assert rate["sms"] < rate["web"]
    for channel, expected in demo.RESPONSE_PROPENSITY.items():
        assert rate[channel] == pytest.approx(expected, abs=0.06), channel
    overall = sum(a for _, a in by_channel.values()) / sum(i for i, _ in by_channel.values())
    assert 0.25 < overall < 0.40

    # Within a channel the rate varies by service too.
    cells = _rates(invitations, lambda row: (row["service"], row["channel"]))
    web = [answered / invited for (_, channel), (invited, answered) in cells.items()
           if channel == "web" and invited >= 100]  # fmt: skip
    assert len(web) >= 20
    assert max(web) - min(web) > 0.08


def test_the_channels_that_answer_least_are_least_satisfied(loaded: dict) -> None:
    """Differential nonresponse: weighting responses back to the invitations lowers CSAT."""
    responses = loaded["responses"]
    satisfied: Counter = Counter()
    answered: Counter = Counter()
    for r in responses:
        answered[r["channel"]] += 1
        satisfied[r["channel"]] += r["overall"] >= SATISFIED_FROM
    csat = {channel: satisfied[channel] / answered[channel] for channel in answered}
    assert csat["counter"] > csat["web"] > csat["email"]
    assert csat["counter"] > csat["mobile"]

    invited = Counter(i["channel"] for i in loaded["synthetic"])
    plain = sum(satisfied.values()) / len(responses)
    total = sum(invited.values())
    weighted = sum(invited[channel] / total * csat[channel] for channel in csat)
    assert weighted < plain - 0.005


def test_the_same_seed_gives_the_same_invitations(live: LiveServer) -> None:
    """Tokens and keys aside; times move with the clock, but not relative to each other."""

    async def run(seed: int) -> list[tuple]:
        for table in (*CELL_TABLES, ResponseReason, Response):
            await table.delete(force=True)
        await Invitation.delete(force=True)
        await demo.synthesize(1500, MONTHS, seed=seed)
        rows = await _table(Invitation)
        first = rows[0]
        return [
            (r["id"] - first["id"], r["agency"], r["service"], r["channel"], r["locale"],
             r["answered_at"] is None, r["created_at"] - first["created_at"])
            for r in rows
        ]  # fmt: skip

    live.run(fixtures.load(live.settings))
    first = live.run(run(11))
    assert sum(row[5] for row in first) > 1500  # unanswered ones included
    assert live.run(run(11)) == first
    assert live.run(run(12)) != first


def _chunk(services: list[dict], when: dt.datetime) -> Columns:
    """Two responses and three unanswered invitations, one with microseconds."""
    base_us = int(when.timestamp()) * 1_000_000
    first, second = services[0], services[1]
    return Columns(
        agency=[first["agency"], second["agency"]],
        service=[first["id"], second["id"]],
        channel=["web", "counter"],
        locale=["vi", "en"],
        submitted_us=np.array([base_us, base_us + 60_000_000], dtype=np.int64),
        overall=[5, 2],
        reasons=[(), ("portal_error",)],
        unanswered=Unanswered(
            agency=[first["agency"], second["agency"], second["agency"]],
            service=[first["id"], second["id"], second["id"]],
            channel=["email", "mobile", "sms"],
            locale=["vi", "id", "en"],
            created_us=np.array([base_us - 5, base_us + 1, base_us + 3_600_000_000]),
        ),
    )


def test_the_loader_stores_unanswered_invitations_as_given(live: LiveServer) -> None:
    live.run(fixtures.load(live.settings))
    live.run(Invitation.delete(force=True))  # the demo link's, not under test here
    services = live.run(Service.select().order_by(Service.id))
    when = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
    chunk = _chunk(services, when)
    alone = Columns([], [], [], [], np.zeros(0, np.int64), [], [], chunk.unanswered)
    assert live.run(insert_columns([chunk, alone])) == 2  # responses only

    invitations = live.run(_table(Invitation))
    responses = live.run(_table(Response))
    assert len(invitations) == 8
    assert len(responses) == 2
    assert sum(c["responses"] for c in live.run(ResponseCell.select())) == 2
    assert [i["id"] for i in invitations if i["answered_at"] is not None] == [
        r["invitation"] for r in responses
    ]
    unanswered = [i for i in invitations if i["answered_at"] is None]
    given = chunk.unanswered
    expected = [
        (a, s, c, loc, dt.datetime.fromtimestamp(0, dt.UTC) + dt.timedelta(microseconds=int(us)))
        for a, s, c, loc, us in zip(
            given.agency, given.service, given.channel, given.locale, given.created_us, strict=True
        )
    ]
    assert [
        (i["agency"], i["service"], i["channel"], i["locale"], i["created_at"]) for i in unanswered
    ] == expected * 2
    assert all(i["expires_at"] == i["created_at"] + LIFETIME for i in unanswered)

    engine = Invitation._meta.db
    if isinstance(engine, SQLiteEngine):
        # Stored text exactly as Piccolo writes it, NULL where never answered.
        with sqlite3.connect(engine.path) as connection:
            raw = connection.execute(
                "SELECT created_at, expires_at, answered_at FROM invitation "
                "WHERE answered_at IS NULL ORDER BY id"
            ).fetchall()
        assert raw == [(str(at), str(at + LIFETIME), None) for *_, at in expected * 2]


def test_generation_gives_each_cell_its_propensity() -> None:
    """Without a database: over many draws, responses / invitations per cell ≈ its propensity."""
    rows = [
        {"id": 1, "code": "A-1", "agency_id": 1, "agency": "MIC"},
        {"id": 2, "code": "B-2", "agency_id": 2, "agency": "HN"},
    ]
    services = demo.ServiceTable.of(rows)
    assert services.propensity.shape == (2, len(demo.CHANNEL_WEIGHTS))
    assert not np.allclose(services.propensity[0], services.propensity[1])
    period = demo.Period(start_s=1_700_000_000, end_s=1_710_000_000, size=100_000)
    chunk = demo._generate(np.random.default_rng(3), services, period.end_s, period)
    unanswered = chunk.unanswered
    assert (np.diff(unanswered.created_us) >= 0).all()
    assert period.start_s * 1_000_000 <= unanswered.created_us.min()
    assert unanswered.created_us.max() < period.end_s * 1_000_000
    responses = Counter(zip(chunk.service, chunk.channel, strict=True))
    missed = Counter(zip(unanswered.service, unanswered.channel, strict=True))
    for (service, channel), answered in responses.items():
        rate = answered / (answered + missed[(service, channel)])
        index = list(demo.CHANNEL_WEIGHTS).index(channel)
        assert rate == pytest.approx(services.propensity[service - 1, index], abs=0.04)
