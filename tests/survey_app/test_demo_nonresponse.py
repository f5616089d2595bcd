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
    assert 0.12 < overall < 0.25

    # Within a channel the rate varies by agency and service too, from a few percent
    # to a third or more.
    cells = _rates(invitations, lambda row: (row["service"], row["channel"]))
    web = [answered / invited for (_, channel), (invited, answered) in cells.items()
           if channel == "web" and invited >= 100]  # fmt: skip
    assert len(web) >= 20
    assert max(web) - min(web) > 0.10
    every = [answered / invited for (invited, answered) in cells.values() if invited >= 200]
    assert min(every) < 0.07
    assert max(every) > 0.30


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


def _csat(responses: list[dict]) -> float:
    return sum(r["overall"] >= SATISFIED_FROM for r in responses) / len(responses)


def test_the_demo_tells_stories_a_dashboard_can_find(loaded: dict) -> None:
    """One agency improves and one deteriorates, and a few are too small to publish."""
    code = {row["agency"]: row["agency_code"] for row in loaded["services"].values()}
    by_agency: defaultdict = defaultdict(list)
    for response in loaded["responses"]:
        by_agency[code[response["agency"]]].append(response)
    now = loaded["finished"]

    def halves(agency: str) -> tuple[float, float]:
        rows = by_agency[agency]
        early = [r for r in rows if (now - r["submitted_at"]).days >= 30 * MONTHS / 2]
        late = [r for r in rows if (now - r["submitted_at"]).days < 30 * MONTHS / 2]
        return _csat(early), _csat(late)

    # About 200 responses each: the halves differ by 6 points in expectation, and in
    # this seeded draw the direction shows.
    early, late = halves("DN")
    assert late > early
    early, late = halves("MOT")
    assert early > late
    ordinary = RESPONSES / len(fixtures.AGENCIES)
    for agency, share in demo.SPARSE_AGENCIES.items():
        assert len(by_agency[agency]) < max(4 * share * ordinary, 10), agency
    others = [len(by_agency[a]) for a in set(code.values()) - set(demo.SPARSE_AGENCIES)]
    assert min(others) > ordinary / 3


def test_the_expected_csat_follows_each_agencys_story() -> None:
    """Two points a month up for Da Nang, 1.8 down for Transport, flat elsewhere (but for
    the slow national gain), whatever the season."""
    rows = [
        {"id": i, "code": f"S{i}", "agency": agency, "agency_id": i}
        for i, agency in enumerate(["DN", "MOT", "MIC"])
    ]
    services = demo.ServiceTable.of(rows)
    now = 1_790_000_000
    picked = np.array([0, 1, 2])
    propensity = np.full(3, demo.PROPENSITY_CSAT_PIVOT)
    for days_ago in (30, 120, 200, 300):
        then = np.full(3, now - days_ago * demo.DAY_S)
        earlier = then - 60 * demo.DAY_S
        change = demo.expected_csat(services, picked, propensity, then, now) - (
            demo.expected_csat(services, picked, propensity, earlier, now)
        )
        season = demo.SEASONAL_CSAT_DIP * (demo.seasonal_dip(earlier) - demo.seasonal_dip(then))
        assert change - season == pytest.approx(
            2 * np.array([0.02, -0.018, 0.0]) + 2 * demo.MONTHLY_GAIN, abs=1e-9
        )


def test_seasons_shape_volumes_and_satisfaction() -> None:
    """Drawn times follow the volume curve (busiest at the March tax deadline); the CSAT
    dip is deepest around Tết."""
    rng = np.random.default_rng(1)
    year_s = int(365.2425 * demo.DAY_S)
    start = 1_767_225_600  # 2026-01-01 UTC
    times = demo._times(rng, demo.Period(start, start + year_s, 0), 200_000)
    month = ((times - start) // (year_s // 12)).clip(0, 11)
    per_month = np.bincount(month, minlength=12)
    assert per_month.argmax() in (1, 2, 3)  # February to April, around day 85
    assert per_month.argmin() in (7, 8, 9)  # half a year later
    assert per_month.max() / per_month.min() > 1.7  # (1 + 0.35) / (1 - 0.35) at the extremes
    assert (np.diff(times) >= 0).all()
    dip = demo.seasonal_dip(np.array([start + demo.TET_DAY * demo.DAY_S, start + 200 * 86_400]))
    assert dip[0] == pytest.approx(1.0, abs=0.01)
    assert dip[1] < 0.01


def test_the_same_seed_gives_the_same_invitations(live: LiveServer) -> None:
    """Tokens and keys aside. Times move with the clock, and relative to each other only
    by the seconds the seasons' curve moves in the time between two runs."""

    async def run(seed: int) -> tuple[list[tuple], list[float]]:
        for table in (*CELL_TABLES, ResponseReason, Response):
            await table.delete(force=True)
        await Invitation.delete(force=True)
        await demo.synthesize(1500, MONTHS, seed=seed)
        rows = await _table(Invitation)
        first = rows[0]
        drawn = [
            (r["id"] - first["id"], r["agency"], r["service"], r["channel"], r["locale"],
             r["answered_at"] is None)
            for r in rows
        ]  # fmt: skip
        return drawn, [(r["created_at"] - first["created_at"]).total_seconds() for r in rows]

    live.run(fixtures.load(live.settings))
    first, times = live.run(run(11))
    assert sum(row[5] for row in first) > 1500  # unanswered ones included
    again, times_again = live.run(run(11))
    assert again == first
    assert times_again == pytest.approx(times, abs=60)
    assert live.run(run(12))[0] != first


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
