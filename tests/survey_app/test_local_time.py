"""Days, months and quarters are those of SURVEY_TIMEZONE, on both engines.

Twelve citizens answer a minute before local midnight on 31 March (the end of
a month and of a quarter in Hà Nội, 16:59 UTC) and twelve a minute after it
(17:01 UTC, still 31 March in London). Every cell, filter, period and export
must put the first twelve in March and Q1, the others in April and Q2.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from zoneinfo import ZoneInfo

import pytest

from survey_app.agencies import directory
from survey_app.auth import apikeys
from survey_app.db.bulk import Synthetic, insert_responses
from survey_app.db.cells import CellInput, cell_counts
from survey_app.db.tables import AgencyKind, AnswerCell, MonthlyRating, ResponseCell, Role
from survey_app.lib.clock import local_day
from survey_app.lib.settings import Settings, local_zone, timezone_name

HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
MIDNIGHT = dt.datetime(2026, 4, 1, tzinfo=HANOI)
BEFORE = [MIDNIGHT - dt.timedelta(minutes=1, seconds=s) for s in range(12)]
AFTER = [MIDNIGHT + dt.timedelta(minutes=1, seconds=s) for s in range(12)]
MARCH_31, APRIL_1 = dt.date(2026, 3, 31), dt.date(2026, 4, 1)


def as_date(value) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


@pytest.fixture
def midnight(live):
    async def seed() -> dict[str, str]:
        agency = await directory.add_agency("MIC", AgencyKind.ministry, "MIC", {})
        service = await directory.add_service("MIC-1", "MIC", "S", {}, True)
        records = [
            # Given in UTC, as a server stores them; ratings 1..5 in turn.
            Synthetic(agency, service, "web", "vi", at.astimezone(dt.UTC), 1 + i % 5)
            for i, at in enumerate(BEFORE + AFTER)
        ]
        await insert_responses(records)
        key = await apikeys.create(Role.admin, None, "test admin")
        return {"Authorization": f"Bearer {key}"}

    assert local_zone() == HANOI, "the default zone"
    return live.run(seed())


def summed(rows, when: str) -> dict[dt.date, int]:
    total: dict[dt.date, int] = {}
    for row in rows:
        total[as_date(row[when])] = total.get(as_date(row[when]), 0) + row["responses"]
    return total


def test_cells_count_local_days_and_months(live, midnight):
    assert summed(live.run(ResponseCell.select()), "day") == {MARCH_31: 12, APRIL_1: 12}
    answered = live.run(
        AnswerCell.select(AnswerCell.day, AnswerCell.responses).where(
            AnswerCell.question == "overall"
        )
    )
    assert summed(answered, "day") == {MARCH_31: 12, APRIL_1: 12}
    months = summed(live.run(MonthlyRating.select()), "month")
    assert months == {dt.date(2026, 3, 1): 12, dt.date(2026, 4, 1): 12}


@pytest.mark.parametrize(
    ("period", "labels"),
    [
        ("day", ["2026-03-31", "2026-04-01"]),
        ("week", ["2026-W14"]),  # both days are in ISO week 14
        ("month", ["2026-03", "2026-04"]),
        ("quarter", ["2026-Q1", "2026-Q2"]),
    ],
)
def test_trend_periods_are_local(http, midnight, period, labels):
    body = http.get("/api/v1/stats/trend", params={"period": period}, headers=midnight).json()
    got = {p["period"]: p["total"] for p in body["periods"]}
    assert list(got) == labels
    assert sum(got.values()) == 24
    if len(labels) == 2:
        assert set(got.values()) == {12}


@pytest.mark.parametrize(
    ("day", "questionnaire"),
    [(MARCH_31, None), (APRIL_1, None), (APRIL_1, "public-service-satisfaction")],
)
def test_from_and_to_are_local_days(http, midnight, day, questionnaire):
    params = {"from": day.isoformat(), "to": day.isoformat()}
    if questionnaire:
        params["questionnaire"] = questionnaire
    body = http.get("/api/v1/stats/satisfaction", params=params, headers=midnight).json()
    assert [(g["group"], g["total"]) for g in body["groups"]] == [("MIC", 12)]
    # The transactions of the official rate are the invitations issued that local day.
    assert body["overall"]["official_rate"]["transactions"] == 12


def test_the_export_dates_are_local_and_the_dictionary_names_the_zone(http, midnight):
    got = http.get("/api/v1/exports/responses.csv", headers=midnight)
    rows = list(csv.DictReader(io.StringIO(got.text.lstrip("\ufeff"))))
    assert sorted({r["date"] for r in rows}) == ["2026-03-31", "2026-04-01"]
    assert [r["date"] for r in rows].count("2026-04-01") == 12
    dictionary = http.get("/api/v1/exports/dictionary.json", headers=midnight).json()
    assert dictionary["timezone"] == "Asia/Ho_Chi_Minh"
    (date,) = [c for c in dictionary["columns"] if c["name"] == "date"]
    assert "Asia/Ho_Chi_Minh" in date["description"]


def one_response(at: dt.datetime) -> CellInput:
    return CellInput(at, 1, 1, "web", "vi", 4, (), "q", {"overall": 4})


def test_the_writer_counts_in_the_zone_it_is_given(monkeypatch):
    """What a submission adds: the same instant is 1 April in Hà Nội, 31 March in UTC."""
    after = AFTER[0].astimezone(dt.UTC)
    assert after.date() == MARCH_31
    monkeypatch.delenv("SURVEY_TIMEZONE", raising=False)
    (key,) = cell_counts([one_response(after)]).ratings
    assert key[0] == APRIL_1
    monkeypatch.setenv("SURVEY_TIMEZONE", "UTC")
    (key,) = cell_counts([one_response(after)]).ratings
    assert key[0] == MARCH_31
    monkeypatch.setenv("SURVEY_TIMEZONE", "America/New_York")
    assert local_day(dt.datetime(2026, 4, 1, 3, 59, tzinfo=dt.UTC)) == MARCH_31
    assert local_day(dt.datetime(2026, 4, 1, 4, 1, tzinfo=dt.UTC)) == APRIL_1


def test_an_unknown_zone_is_refused_with_its_name():
    assert Settings.from_env({"SURVEY_SECRET": "x"}).timezone == "Asia/Ho_Chi_Minh"
    with pytest.raises(ValueError, match=r"SURVEY_TIMEZONE must be an IANA time zone.*'Mars/Base'"):
        timezone_name({"SURVEY_TIMEZONE": "Mars/Base"})
    with pytest.raises(ValueError, match="SURVEY_TIMEZONE"):
        Settings.from_env({"SURVEY_SECRET": "x", "SURVEY_TIMEZONE": "../etc/passwd"})
