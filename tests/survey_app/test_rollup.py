"""The statistics cells always equal a GROUP BY over the raw responses, on both engines."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx

from survey_app.db import cells as rollup
from survey_app.db.tables import (
    MonthlyRating,
    MonthlyReason,
    Response,
    ResponseCell,
    ResponseReason,
)
from survey_app.lib.settings import local_zone
from tests.conftest import survey_command
from tests.survey_app.conftest import REASONS, invite

CHANNELS = ["web", "mobile", "counter"]
LOCALES = ["vi", "en", "id"]


async def cells() -> Counter:
    rows = await ResponseCell.select().where(ResponseCell.responses > 0)
    return Counter(
        {
            (
                row["day"]
                if isinstance(row["day"], dt.date)
                else dt.date.fromisoformat(row["day"]),
                row["agency"],
                row["service"],
                row["channel"],
                row["locale"],
                row["rating"],
                row["reasons"],
            ): row["responses"]
            for row in rows
        }
    )


def as_date(value) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


async def all_tables() -> tuple[Counter, Counter, Counter]:
    """The day cells and both monthly tables, as counters."""
    ratings = Counter(
        {
            (as_date(r["month"]), r["agency"], r["service"], r["rating"]): r["responses"]
            for r in await MonthlyRating.select().where(MonthlyRating.responses > 0)
        }
    )
    reasons = Counter(
        {
            (as_date(r["month"]), r["agency"], r["service"], r["reason"]): r["responses"]
            for r in await MonthlyReason.select().where(MonthlyReason.responses > 0)
        }
    )
    return await cells(), ratings, reasons


async def expected_tables() -> tuple[Counter, Counter, Counter]:
    """All three tables computed here, independently, from the raw rows."""
    day_cells = await grouped_raw_rows()
    ratings: Counter = Counter()
    reasons: Counter = Counter()
    for (day, agency, service, _, _, rating, ticked), n in day_cells.items():
        month = day.replace(day=1)
        ratings[month, agency, service, rating] += n
        if ticked:
            reasons[month, agency, service, ""] += n
            for reason in ticked.split(","):
                reasons[month, agency, service, reason] += n
    return day_cells, ratings, reasons


async def grouped_raw_rows() -> Counter:
    """The cells computed here, independently, from every stored response."""
    reasons: dict[int, list[str]] = {}
    for row in await ResponseReason.select(ResponseReason.response, ResponseReason.reason):
        reasons.setdefault(row["response"], []).append(row["reason"])
    expected: Counter = Counter()
    for row in await Response.select().where(Response.overall.is_not_null()):
        day = row["submitted_at"].astimezone(local_zone()).date()
        ticked = ",".join(sorted(reasons.get(row["id"], [])))
        key = (
            day,
            row["agency"],
            row["service"],
            row["channel"],
            row["locale"],
            row["overall"],
            ticked,
        )
        expected[key] += 1
    return expected


def test_cells_follow_random_submissions_and_rebuild_restores_them(http, portal, live):
    rng = random.Random(11)
    invited = [
        invite(http, portal, f"C-{i}", channel=rng.choice(CHANNELS))["token"] for i in range(90)
    ]
    api, form = invited[:60], invited[60:]

    def by_api(token: str) -> int:
        overall = rng.randint(1, 5)
        answers: dict = {"overall": overall}
        if overall <= 3:
            answers["reasons"] = rng.sample(REASONS, rng.randint(1, 3))
        body = {"token": token, "answers": answers, "locale": rng.choice(LOCALES)}
        with httpx.Client(base_url=live.url, timeout=60) as client:
            return client.post("/api/v1/responses", json=body, headers=portal.auth).status_code

    def by_form(token: str) -> int:
        overall = rng.randint(1, 5)
        data: dict = {"overall": str(overall), "lang": rng.choice(LOCALES)}
        if overall <= 3:
            data["reasons"] = rng.sample(REASONS[:5], rng.randint(1, 2))
        with httpx.Client(base_url=live.url, timeout=60) as client:
            return client.post(f"/s/{token}", data=data).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        codes = list(pool.map(by_api, api)) + list(pool.map(by_form, form))
    assert codes == [201] * len(api) + [303] * len(form)

    expected = live.run(expected_tables())
    assert sum(expected[0].values()) == len(invited)
    assert len(expected[0]) > 10  # many distinct cells, not one
    assert len(expected[2]) > 3
    assert live.run(all_tables()) == expected

    # Cells damaged behind the service's back are recomputed from the responses.
    for table in (ResponseCell, MonthlyRating, MonthlyReason):
        live.run(table.update({table.responses: 999}, force=True))
    assert live.run(all_tables()) != expected
    live.run(rollup.rebuild(ResponseCell._meta.db))
    assert live.run(all_tables()) == expected


def test_rollup_rebuild_command(http, portal, live):
    token = invite(http, portal)["token"]
    body = {"token": token, "answers": {"overall": 2, "reasons": ["payment_error", "other"]}}
    assert http.post("/api/v1/responses", json=body, headers=portal.auth).status_code == 201
    live.run(ResponseCell.delete(force=True))
    done = survey_command(
        "rollup",
        "rebuild",
        env={"DATABASE_URL": live.settings.database_url, "SURVEY_SECRET": "x"},
    )
    assert done.returncode == 0, done.stderr
    assert "Rebuilt 1 cells from 1 responses" in done.stdout
    rows = live.run(ResponseCell.select(ResponseCell.reasons, ResponseCell.responses))
    assert rows == [{"reasons": "other,payment_error", "responses": 1}]
