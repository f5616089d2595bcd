"""Statistics over any question, per questionnaire, and the whole path of
``dossier-evaluation``, on both engines.

Citizens answer both shipped questionnaires through the API and the form at
random; every cell must then equal a count over the stored answers, and
every statistic the API returns over HTTP must equal the analysis run here
on counts made from the stored responses themselves.
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pandas as pd
import pytest

import analysis
from questionnaires import DEFAULT_QUESTIONNAIRE_ID, load_directory
from survey_app.agencies import directory
from survey_app.auth import apikeys
from survey_app.db import cells as rollup
from survey_app.db.tables import (
    AnswerCell,
    DailyAnswer,
    DriverMoment,
    Invitation,
    InvitationCell,
    MonthlyAnswer,
    NationalAnswer,
    Response,
    ResponseReason,
    Role,
)
from survey_app.lib.settings import local_zone
from tests.questionnaires.test_dossier_evaluation import CRITERIA
from tests.survey_app.conftest import REASONS, Portal, invite, make_portal

DOSSIER = "dossier-evaluation"
LOCALES = ["vi", "en", "id"]
CHANNELS = ["web", "mobile", "counter"]


def as_day(value):
    return value if not isinstance(value, str) else pd.Timestamp(value).date()


def dossier_answers(rng: random.Random, skip: float = 0.2) -> dict:
    """A citizen whose overall rating follows timeliness and staff attitude."""
    timeliness = rng.randint(1, 5)
    staff = rng.randint(1, 5)
    answers: dict = {"timeliness": timeliness, "staff_attitude": staff}
    for criterion in ("publicity", "visits", "online_quality", "feedback_handling"):
        if rng.random() >= skip:  # optional: some are skipped
            answers[criterion] = rng.randint(1, 5)
    drift = rng.choice([-1, 0, 0, 1])
    answers["overall"] = max(1, min(5, round((timeliness + staff) / 2) + drift))
    if answers["overall"] <= 3 and rng.random() < 0.8:
        answers["reasons"] = rng.sample(REASONS[:5], rng.randint(1, 2))
    return answers


def default_answers(rng: random.Random) -> dict:
    answers: dict = {"overall": rng.randint(1, 5)}
    if answers["overall"] <= 3:
        answers["reasons"] = rng.sample(REASONS[:5], rng.randint(1, 2))
    return answers


def as_form(answers: dict, lang: str) -> dict:
    data: dict = {"lang": lang}
    for qid, value in answers.items():
        data[qid] = [str(v) for v in value] if isinstance(value, list) else str(value)
    return data


@pytest.fixture
def answered(live, http):
    """90 dossier evaluations (MOJ, assigned) and 40 default answers (MIC), half by form."""
    dossier = live.run(make_portal("MOJ", "MOJ-1"))
    default = live.run(make_portal("MIC", "MIC-1"))
    live.run(directory.assign_questionnaire(DOSSIER, service_code="MOJ-1"))
    rng = random.Random(2026)
    jobs = []
    for i in range(90):
        invitation = invite(http, dossier, f"D-{i}", channel=rng.choice(CHANNELS))
        assert invitation["questionnaire"] == DOSSIER
        jobs.append((dossier, invitation["token"], dossier_answers(rng), i % 2 == 0))
    for i in range(40):
        invitation = invite(http, default, f"P-{i}", channel=rng.choice(CHANNELS))
        assert invitation["questionnaire"] == DEFAULT_QUESTIONNAIRE_ID
        jobs.append((default, invitation["token"], default_answers(rng), i % 2 == 0))
    locales = [rng.choice(LOCALES) for _ in jobs]

    def submit(job: tuple[Portal, str, dict, bool], lang: str) -> int:
        portal, token, answers, by_form = job
        with httpx.Client(base_url=live.url, timeout=60) as client:
            if by_form:
                return client.post(f"/s/{token}", data=as_form(answers, lang)).status_code
            body = {"token": token, "answers": answers, "locale": lang}
            return client.post("/api/v1/responses", json=body, headers=portal.auth).status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        codes = list(pool.map(submit, jobs, locales))
    assert codes == [303 if job[3] else 201 for job in jobs]
    key = live.run(apikeys.create(Role.researcher, None, "test researcher"))
    return {"auth": {"Authorization": f"Bearer {key}"}, "jobs": jobs}


async def stored() -> list[dict]:
    """Every stored response with all its structured answers, from the raw rows."""
    ticked: dict[int, list[str]] = {}
    for row in await ResponseReason.select():
        ticked.setdefault(row["response"], []).append(row["reason"])
    rows = []
    for row in await Response.select():
        answers = json.loads(row["answers"]) if isinstance(row["answers"], str) else row["answers"]
        answers.pop("redacted", None)
        if row["overall"] is not None:
            answers["overall"] = row["overall"]
        if row["id"] in ticked:
            answers["reasons"] = sorted(ticked[row["id"]])
        rows.append({**row, "answers": answers})
    return rows


# The rating questions of each shipped questionnaire: a response that rated them all
# adds to the key-driver moments.
RATINGS = {qid: q.ratings() for qid, q in load_directory().items()}


def grouped_answers(responses: list[dict]) -> tuple[Counter, ...]:
    """The answer tables and the key-driver sums, counted here from the raw responses."""
    day_cells: Counter = Counter()
    months: Counter = Counter()
    days: Counter = Counter()
    national: Counter = Counter()
    moments: Counter = Counter()
    for r in responses:
        day = r["submitted_at"].astimezone(local_zone()).date()
        month = day.replace(day=1)
        where = (r["agency"], r["service"], r["channel"])
        for qid, value in r["answers"].items():
            values = ["", *value] if isinstance(value, list) else [value]
            for v in values:
                day_cells[(day, *where, r["locale"], r["questionnaire_id"], qid, str(v))] += 1
                months[(month, *where, r["questionnaire_id"], qid, str(v))] += 1
                days[(day, *where[:2], r["questionnaire_id"], qid, str(v))] += 1
                national[(day, r["questionnaire_id"], qid, str(v))] += 1
        asked = RATINGS[r["questionnaire_id"]]
        if len(asked) > 1 and all(isinstance(r["answers"].get(q), int) for q in asked):
            criteria = {q: r["answers"][q] for q in asked if q != "overall"}
            variables = ",".join(sorted(asked))
            terms = analysis.moment_terms("overall", r["answers"]["overall"], criteria)
            for name, product in terms.items():
                if product:
                    moments[(month, *where, r["questionnaire_id"], variables, name)] += product
    return day_cells, months, days, national, moments


async def answer_tables() -> tuple[Counter, ...]:
    def counter(rows, *names):
        return Counter(
            {
                tuple(as_day(row[n]) if n in ("day", "month") else row[n] for n in names): row[
                    "responses"
                ]
                for row in rows
                if row["responses"]
            }
        )

    common = ("agency", "service", "channel")
    return (
        counter(
            await AnswerCell.select(),
            "day",
            *common,
            "locale",
            "questionnaire_id",
            "question",
            "value",
        ),
        counter(
            await MonthlyAnswer.select(), "month", *common, "questionnaire_id", "question", "value"
        ),
        counter(
            await DailyAnswer.select(),
            "day",
            "agency",
            "service",
            "questionnaire_id",
            "question",
            "value",
        ),
        counter(await NationalAnswer.select(), "day", "questionnaire_id", "question", "value"),
        Counter(
            {
                (as_day(row["month"]), *(row[n] for n in common), *key, name): row[f"s{i}"]
                for row in await DriverMoment.select()
                for key in [(row["questionnaire_id"], row["variables"])]
                for i, name in enumerate(rollup.moment_names(row["variables"]))
                if row[f"s{i}"]
            }
        ),
    )


async def invitation_cells() -> tuple[Counter, Counter]:
    """The invitation cells as stored, and as counted here from the invitations."""
    stored_cells: Counter = Counter()
    for row in await InvitationCell.select():
        key = (as_day(row["day"]), row["agency"], row["service"], row["channel"])
        stored_cells[(*key, row["questionnaire_id"])] += row["invitations"]
    counted: Counter = Counter()
    for row in await Invitation.select():
        day = row["created_at"].astimezone(local_zone()).date()
        key = (day, row["agency"], row["service"], row["channel"], row["questionnaire_id"])
        counted[key] += 1
    return stored_cells, counted


def test_answer_cells_equal_a_count_of_the_stored_answers_and_rebuild(live, answered):
    responses = live.run(stored())
    assert len(responses) == len(answered["jobs"])
    expected = grouped_answers(responses)
    assert {k[6] for k in expected[0]} >= {"overall", "reasons", *CRITERIA}
    assert live.run(answer_tables()) == expected
    stored_cells, counted = live.run(invitation_cells())
    assert sum(counted.values()) == len(answered["jobs"])
    assert stored_cells == counted

    # Damaged cells are recounted from the responses.
    for table in (AnswerCell, MonthlyAnswer, DailyAnswer, NationalAnswer):
        live.run(table.update({table.responses: 7}, force=True))
    live.run(DriverMoment.update({DriverMoment.s1: 7}, force=True))
    assert live.run(answer_tables()) != expected
    live.run(InvitationCell.update({InvitationCell.invitations: 3}, force=True))
    live.run(rollup.rebuild(Response._meta.db))
    assert live.run(answer_tables()) == expected
    stored_cells, counted = live.run(invitation_cells())
    assert stored_cells == counted


def ratings_of(responses: list[dict], qid: str, questionnaires: set[str]) -> pd.DataFrame:
    """``group, satisfied, total, rating_sum`` per agency code, from the raw answers."""
    rows: dict[str, list[int]] = {}
    for r in responses:
        value = r["answers"].get(qid)
        if r["questionnaire_id"] in questionnaires and isinstance(value, int):
            rows.setdefault(r["agency_code"], []).append(value)
    return pd.DataFrame(
        [
            {
                "group": g,
                "satisfied": sum(v >= 4 for v in vs),
                "total": len(vs),
                "rating_sum": sum(vs),
            }
            for g, vs in sorted(rows.items())
        ]
    )


def with_codes(live, responses: list[dict]) -> list[dict]:
    async def codes():
        from survey_app.db.tables import Agency

        return {row["id"]: row["code"] for row in await Agency.select(Agency.id, Agency.code)}

    names = live.run(codes())
    return [{**r, "agency_code": names[r["agency"]]} for r in responses]


def test_satisfaction_of_a_criterion_matches_the_stored_answers(live, http, answered):
    responses = with_codes(live, live.run(stored()))
    params = {"questionnaire": DOSSIER, "question": "timeliness"}
    got = http.get("/api/v1/stats/satisfaction", params=params, headers=answered["auth"])
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["filters"]["questionnaire"] == DOSSIER
    assert body["filters"]["question"] == {
        "question": "timeliness",
        "kind": "rating",
        "questionnaires": [DOSSIER],
    }
    expected = analysis.compare_satisfaction(ratings_of(responses, "timeliness", {DOSSIER}))
    (group,) = body["groups"]
    assert group["group"] == "MOJ"
    assert group["total"] == expected.groups.iloc[0]["total"] == 90
    assert group["csat"] == pytest.approx(expected.groups.iloc[0]["csat"])
    # The official rate belongs to the overall question only.
    assert body["overall"]["official_rate"] is None
    assert any("overall question only" in line for line in body["method"])


def test_overall_of_one_questionnaire_has_the_official_rate_of_its_transactions(
    live, http, answered
):
    responses = with_codes(live, live.run(stored()))
    params = {"questionnaire": DOSSIER}
    body = http.get("/api/v1/stats/satisfaction", params=params, headers=answered["auth"]).json()
    dossier = [r for r in responses if r["questionnaire_id"] == DOSSIER]
    dissatisfied = sum(r["answers"]["overall"] <= 2 for r in dossier)
    # Every invitation was answered: 90 transactions of the dossier questionnaire.
    assert body["overall"]["official_rate"] == {
        "rate": pytest.approx((90 - dissatisfied) / 90),
        "transactions": 90,
        "dissatisfied": dissatisfied,
        "threshold": 2,
    }
    expected = analysis.compare_satisfaction(ratings_of(responses, "overall", {DOSSIER}))
    assert body["groups"][0]["csat"] == pytest.approx(expected.groups.iloc[0]["csat"])


def test_without_questionnaire_the_shared_questions_pool_both(live, http, answered):
    responses = with_codes(live, live.run(stored()))
    body = http.get("/api/v1/stats/satisfaction", headers=answered["auth"]).json()
    assert {g["group"]: g["total"] for g in body["groups"]} == {"MIC": 40, "MOJ": 90}
    assert body["filters"]["question"]["questionnaires"] == "all"
    both = {DOSSIER, DEFAULT_QUESTIONNAIRE_ID}
    expected = analysis.compare_satisfaction(ratings_of(responses, "overall", both))
    got = {g["group"]: g["csat"] for g in body["groups"]}
    assert got == pytest.approx(
        dict(zip(expected.groups["group"], expected.groups["csat"], strict=True))
    )
    # A criterion only one questionnaire asks: pooled over that one, and said so.
    body = http.get(
        "/api/v1/stats/satisfaction", params={"question": "visits"}, headers=answered["auth"]
    ).json()
    assert body["filters"]["question"]["questionnaires"] == [DOSSIER]
    assert any("same kind and options: dossier-evaluation" in line for line in body["method"])


def test_reasons_of_one_questionnaire(live, http, answered):
    responses = with_codes(live, live.run(stored()))
    params = {"questionnaire": DOSSIER, "question": "reasons"}
    body = http.get("/api/v1/stats/reasons", params=params, headers=answered["auth"]).json()
    ticked = Counter()
    people = 0
    for r in responses:
        if r["questionnaire_id"] == DOSSIER and r["answers"].get("reasons"):
            people += 1
            ticked.update(r["answers"]["reasons"])
    overall = {row["reason"]: row for row in body["overall"]}
    for reason, n in ticked.items():
        if n >= 10:
            assert overall[reason]["count"] == n
            assert overall[reason]["share"] == pytest.approx(n / people)


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        ("satisfaction", {"question": "nope"}, "no questionnaire has a question 'nope'"),
        ("satisfaction", {"question": "reasons"}, "'reasons' of questionnaire"),
        ("reasons", {"question": "overall"}, "is a rating question"),
        ("satisfaction", {"questionnaire": "nope"}, "unknown questionnaire 'nope'"),
        (
            "trend",
            {"questionnaire": DEFAULT_QUESTIONNAIRE_ID, "question": "visits"},
            "has no question 'visits'",
        ),
        ("drivers", {}, "give questionnaire=ID"),
        ("drivers", {"questionnaire": DEFAULT_QUESTIONNAIRE_ID}, "no rating question besides"),
        ("drivers", {"questionnaire": DOSSIER, "from": "2026-01-15"}, "whole months"),
        ("drivers", {"questionnaire": DOSSIER, "outcome": "reasons"}, "is a multi question"),
    ],
)
def test_a_question_that_cannot_be_used_is_a_400_naming_it(http, answered, path, params, message):
    got = http.get(f"/api/v1/stats/{path}", params=params, headers=answered["auth"])
    assert got.status_code == 400, got.text
    assert message in got.json()["detail"]


def test_trend_of_a_criterion(live, http, answered):
    params = {"questionnaire": DOSSIER, "question": "staff_attitude", "period": "quarter"}
    body = http.get("/api/v1/stats/trend", params=params, headers=answered["auth"]).json()
    responses = live.run(stored())
    values = [r["answers"]["staff_attitude"] for r in responses if r["questionnaire_id"] == DOSSIER]
    (period,) = body["periods"]
    assert period["total"] == len(values) == 90
    assert period["satisfied"] == sum(v >= 4 for v in values)


@pytest.fixture
def many_dossiers(live, http):
    """400 dossier evaluations through the API, few criteria skipped: enough complete
    cases for the regression (10 of each outcome per criterion), in 12 cells (4
    services by 3 channels), the clusters of its intervals."""
    portal = live.run(make_portal("MOJ", "MOJ-1"))
    services = ["MOJ-1", "MOJ-2", "MOJ-3", "MOJ-4"]
    for code in services[1:]:
        live.run(directory.add_service(code, "MOJ", f"Dịch vụ {code}", {"en": code}, True))
    live.run(directory.assign_questionnaire(DOSSIER, agency_code="MOJ"))
    rng = random.Random(7)
    tokens = [
        invite(http, portal, f"D-{i}", service=services[i % 4], channel=CHANNELS[i // 4 % 3])[
            "token"
        ]
        for i in range(400)
    ]
    bodies = [{"token": t, "answers": dossier_answers(rng, skip=0.03)} for t in tokens]

    def submit(body: dict) -> int:
        with httpx.Client(base_url=live.url, timeout=60) as client:
            return client.post("/api/v1/responses", json=body, headers=portal.auth).status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        assert set(pool.map(submit, bodies)) == {201}
    key = live.run(apikeys.create(Role.researcher, None, "test researcher"))
    return {"auth": {"Authorization": f"Bearer {key}"}}


def test_drivers_match_a_regression_on_the_stored_answers(live, http, many_dossiers):
    answered = many_dossiers
    responses = [r for r in live.run(stored()) if r["questionnaire_id"] == DOSSIER]
    # The moments and shares, counted here from the raw answers: a cell is a cluster.
    cells: dict[tuple, Counter] = {}
    for r in responses:
        given = [r["answers"].get(q) for q in ["overall", *CRITERIA]]
        if all(isinstance(v, int) for v in given):
            cell = cells.setdefault((r["service"], r["channel"]), Counter())
            cell.update(
                analysis.moment_terms(
                    "overall", given[0], dict(zip(CRITERIA, given[1:], strict=True))
                )
            )
    assert len(cells) == 12
    moments = pd.DataFrame(list(cells.values())).fillna(0)
    shares = pd.DataFrame(
        [
            {
                "question": q,
                "n": sum(isinstance(r["answers"].get(q), int) for r in responses),
                "satisfied": sum(r["answers"].get(q, 0) >= 4 for r in responses),
            }
            for q in ["overall", *CRITERIA]
        ]
    )
    expected = analysis.suppress(analysis.key_drivers(moments, "overall", CRITERIA, shares))
    got = http.get(
        "/api/v1/stats/drivers", params={"questionnaire": DOSSIER}, headers=answered["auth"]
    )
    assert got.status_code == 200, got.text
    body = got.json()
    assert expected.estimated
    assert body["n_complete"] == expected.n_complete
    assert body["n_outcome"] == expected.n_outcome == 400
    assert body["clusters"] == 12
    rows = {row["criterion"]: row for row in body["criteria"]}
    assert set(rows) == set(CRITERIA)
    for row in expected.criteria.to_dict(orient="records"):
        got_row = rows[row["criterion"]]
        assert got_row["n"] == row["n"]
        assert got_row["share_satisfied"] == pytest.approx(row["share_satisfied"])
        assert got_row["effect"] == pytest.approx(row["effect"])
        assert got_row["ci_low"] == pytest.approx(row["ci_low"])
        assert got_row["p_value"] == pytest.approx(row["p_value"])
    # Listed in rank order; the two criteria the simulated citizens weigh lead.
    ranks = [row["rank"] for row in body["criteria"] if row["rank"] is not None]
    assert ranks == sorted(ranks)
    assert {body["criteria"][0]["criterion"], body["criteria"][1]["criterion"]} == {
        "timeliness",
        "staff_attitude",
    }
    csv_answer = http.get(
        "/api/v1/stats/drivers",
        params={"questionnaire": DOSSIER, "format": "csv"},
        headers=answered["auth"],
    )
    assert csv_answer.status_code == 200
    assert "effect" in csv_answer.text.splitlines()[0]


def test_microdata_of_one_questionnaire_has_a_column_per_question(live, http, answered):
    admin = live.run(apikeys.create(Role.admin, None, "test admin"))
    headers = {"Authorization": f"Bearer {admin}"}
    got = http.get(
        "/api/v1/exports/responses.csv", params={"questionnaire": DOSSIER}, headers=headers
    )
    assert got.status_code == 200, got.text
    rows = list(csv.DictReader(io.StringIO(got.text.lstrip("\ufeff"))))
    assert len(rows) == 90
    assert {"overall", *CRITERIA, "reasons_portal_error", "reasons_other"} <= set(rows[0])
    assert not {"reason_other", "comment", "reason_other_text"} & set(rows[0])
    responses = sorted(
        (r for r in live.run(stored()) if r["questionnaire_id"] == DOSSIER),
        key=lambda r: r["id"],
    )
    for row, response in zip(rows, responses, strict=True):
        for criterion in CRITERIA:
            assert row[criterion] == str(response["answers"].get(criterion, ""))
        ticked = "portal_error" in response["answers"].get("reasons", [])
        assert row["reasons_portal_error"] == str(int(ticked))
        local = response["submitted_at"].astimezone(local_zone()).date().isoformat()
        assert row["date"] == local
    shared = http.get("/api/v1/exports/responses.csv", headers=headers)
    header = next(csv.reader(io.StringIO(shared.text.lstrip("\ufeff"))))
    assert "rating" in header
    assert "publicity" not in header
    assert len(shared.text.strip().splitlines()) == 1 + 130
    dictionary = http.get(
        "/api/v1/exports/dictionary.json", params={"questionnaire": DOSSIER}, headers=headers
    ).json()
    assert dictionary["timezone"] == "Asia/Ho_Chi_Minh"
    names = [c["name"] for c in dictionary["columns"]]
    assert names == list(rows[0])
    timeliness = next(c for c in dictionary["columns"] if c["name"] == "timeliness")
    assert timeliness["question"]["vi"] != timeliness["question"]["en"]
    bad = http.get(
        "/api/v1/exports/responses.csv", params={"questionnaire": "nope"}, headers=headers
    )
    assert bad.status_code == 400
    assert "unknown questionnaire 'nope'" in bad.json()["detail"]


@pytest.mark.parametrize(
    ("lang", "text"),
    [
        ("vi", "Thời gian giải quyết hồ sơ so với thời gian cho phép"),
        ("en", "Time taken to settle your dossier, compared with the time limit set by law"),
        ("id", "Waktu penyelesaian berkas Anda dibandingkan dengan batas waktu"),
    ],
)
def test_the_dossier_page_is_served_in_each_language(live, http, lang, text):
    portal = live.run(make_portal("MOJ", "MOJ-1"))
    live.run(directory.assign_questionnaire(DOSSIER, service_code="MOJ-1"))
    token = invite(http, portal, "D-page")["token"]
    page = http.get(f"/s/{token}", params={"lang": lang})
    assert page.status_code == 200
    assert text in page.text
    assert 'name="staff_attitude"' in page.text
    definition = http.get(
        f"/api/v1/questionnaires/{DOSSIER}", params={"lang": lang}, headers=portal.auth
    ).json()
    timeliness = next(q for q in definition["questions"] if q["id"] == "timeliness")
    assert timeliness["text"].startswith(text)


def test_the_demo_rates_dossiers_and_their_drivers_come_out_ranked(live, http):
    """``survey demo``: the provinces and dossier ministries answer dossier-evaluation,
    whose criteria follow the overall rating with strengths set in the generator."""
    from survey_app.demo import fixtures
    from survey_app.demo import synthetic as demo

    live.run(fixtures.load(live.settings))
    live.run(demo.synthesize(12_000, 12, seed=3))
    key = live.run(apikeys.create(Role.analyst, None, "test analyst"))
    headers = {"Authorization": f"Bearer {key}"}
    body = http.get(
        "/api/v1/stats/drivers", params={"questionnaire": DOSSIER}, headers=headers
    ).json()
    assert body["estimated"], body["notes"]
    ranked = [row["criterion"] for row in body["criteria"]]
    assert ranked[:2] == ["timeliness", "staff_attitude"]
    assert ranked[-1] == "feedback_handling"
    shared = http.get("/api/v1/stats/satisfaction", headers=headers).json()
    dossier = http.get(
        "/api/v1/stats/satisfaction", params={"questionnaire": DOSSIER}, headers=headers
    ).json()
    assert 0.35 < dossier["n_responses"] / shared["n_responses"] < 0.65
