"""The portal API over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from questionnaires import REASON_CODES
from survey_app.db.tables import ApiKey, Comment, Invitation, Response, ResponseReason, Role
from tests.survey_app.conftest import Portal, invite, make_portal

GOOD_ANSWERS = {"overall": 2, "reasons": ["portal_error", "payment_error"], "comment": "Chậm quá"}


def submit(http: httpx.Client, portal: Portal, token: str, answers=None, **extra) -> httpx.Response:
    body = {"token": token, "answers": GOOD_ANSWERS if answers is None else answers, **extra}
    return http.post("/api/v1/responses", json=body, headers=portal.auth)


# --- invitations -------------------------------------------------------------------------


def test_invitation_is_created_once_per_transaction(http, portal, live):
    first = http.post(
        "/api/v1/invitations",
        json={"transaction_ref": "HS-2026-0001", "service": "MIC-1", "channel": "web"},
        headers=portal.auth,
    )
    assert first.status_code == 201
    again = http.post(
        "/api/v1/invitations",
        json={"transaction_ref": "HS-2026-0001", "service": "MIC-1", "channel": "mobile"},
        headers=portal.auth,
    )
    assert again.status_code == 200
    assert again.json()["token"] == first.json()["token"]
    other = invite(http, portal, "HS-2026-0002")
    assert other["token"] != first.json()["token"]
    body = first.json()
    assert body["url"] == f"{live.url}/s/{body['token']}"
    expires = dt.datetime.fromisoformat(body["expires_at"])
    assert (
        dt.timedelta(days=13, hours=23) < expires - dt.datetime.now(dt.UTC) <= dt.timedelta(days=14)
    )


def test_invitation_url_carries_the_suggested_language(http, portal):
    body = invite(http, portal, "T-lang", locale="id")
    assert body["url"].endswith(f"/s/{body['token']}?lang=id")


def test_token_is_long_and_random(http, portal):
    tokens = {invite(http, portal, f"T-{i}")["token"] for i in range(20)}
    assert len(tokens) == 20
    assert all(len(token) >= 32 for token in tokens)  # 24 random bytes, base64url


def test_transaction_reference_is_stored_only_as_a_keyed_hash(http, portal, live):
    invite(http, portal, "CITIZEN-REF-7788")
    rows = live.run(Invitation.select())
    assert len(rows) == 1
    assert "CITIZEN-REF-7788" not in repr(rows)
    assert len(rows[0]["transaction_key"]) == 64


def test_same_reference_at_two_agencies_gives_two_invitations(http, portal, live):
    other = live.run(make_portal("MPS", "MPS-1"))
    mine = invite(http, portal, "SHARED-REF")
    theirs = invite(http, other, "SHARED-REF")
    assert mine["token"] != theirs["token"]


def test_concurrent_requests_for_one_transaction_get_one_invitation(http, portal, live):
    body = {"transaction_ref": "RACE", "service": "MIC-1", "channel": "web"}

    def call(_):
        with httpx.Client(base_url=live.url, timeout=30) as client:
            return client.post("/api/v1/invitations", json=body, headers=portal.auth)

    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(call, range(10)))
    assert all(a.status_code in (200, 201) for a in answers), [a.text for a in answers]
    assert len({a.json()["token"] for a in answers}) == 1
    assert live.run(Invitation.count()) == 1


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ({"service": "MIC-1", "channel": "web"}, "transaction_ref"),
        ({"transaction_ref": "", "service": "MIC-1", "channel": "web"}, "transaction_ref"),
        ({"transaction_ref": "x" * 201, "service": "MIC-1", "channel": "web"}, "transaction_ref"),
        ({"transaction_ref": 12, "service": "MIC-1", "channel": "web"}, "transaction_ref"),
        ({"transaction_ref": "T", "service": "MIC-1", "channel": "fax"}, "channel"),
        ({"transaction_ref": "T", "service": "MIC-1", "channel": "web", "locale": "fr"}, "locale"),
        ({"transaction_ref": "T", "service": "NOPE", "channel": "web"}, "service"),
        ({"transaction_ref": "T", "service": "MIC-1", "channel": "web", "name": "A"}, "name"),
    ],
)
def test_bad_invitation_requests_say_what_is_wrong(http, portal, body, key):
    answer = http.post("/api/v1/invitations", json=body, headers=portal.auth)
    assert answer.status_code == 400
    assert key in answer.text


def test_service_of_another_agency_is_refused(http, portal, live):
    live.run(make_portal("MPS", "MPS-1"))
    answer = http.post(
        "/api/v1/invitations",
        json={"transaction_ref": "T", "service": "MPS-1", "channel": "web"},
        headers=portal.auth,
    )
    assert answer.status_code == 400
    assert "MPS-1" in answer.json()["detail"]


def test_malformed_json_is_a_400(http, portal):
    answer = http.post(
        "/api/v1/invitations",
        content=b'{"transaction_ref": ',
        headers={**portal.auth, "Content-Type": "application/json"},
    )
    assert answer.status_code == 400


def test_invalid_utf8_is_a_400(http, portal):
    answer = http.post(
        "/api/v1/invitations",
        content=b'{"transaction_ref": "\xff\xfe", "service": "MIC-1", "channel": "web"}',
        headers={**portal.auth, "Content-Type": "application/json"},
    )
    assert answer.status_code == 400


def test_oversize_body_is_a_413(http, portal):
    body = {"transaction_ref": "T", "service": "MIC-1", "channel": "web", "pad": "x" * 100_000}
    answer = http.post("/api/v1/invitations", json=body, headers=portal.auth)
    assert answer.status_code == 413


# --- authentication ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer svk_not-a-real-key"},
        {"Authorization": "Bearer " + "x" * 5000},
    ],
)
def test_missing_or_wrong_key_is_a_401(http, portal, headers):
    answer = http.post(
        "/api/v1/invitations",
        json={"transaction_ref": "T", "service": "MIC-1", "channel": "web"},
        headers=headers,
    )
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"


def test_revoked_key_is_a_401(http, portal, live):
    live.run(ApiKey.update({ApiKey.revoked: True}, force=True))
    answer = http.get("/api/v1/questionnaires/public-service-satisfaction", headers=portal.auth)
    assert answer.status_code == 401


def test_key_of_another_role_is_a_403(http, portal, live):
    from survey_app.agencies import directory
    from survey_app.auth import apikeys

    async def researcher_key() -> str:
        return await apikeys.create(Role.researcher, await directory.agency_id("MIC"))

    key = live.run(researcher_key())
    answer = http.post(
        "/api/v1/invitations",
        json={"transaction_ref": "T", "service": "MIC-1", "channel": "web"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert answer.status_code == 403


# --- questionnaire definition ------------------------------------------------------------


def test_questionnaire_in_each_language(http, portal):
    texts = {}
    for lang in ("vi", "en", "id"):
        answer = http.get(
            "/api/v1/questionnaires/public-service-satisfaction",
            params={"lang": lang},
            headers=portal.auth,
        )
        assert answer.status_code == 200
        body = answer.json()
        assert body["locale"] == lang
        assert [q["id"] for q in body["questions"]] == [
            "overall",
            "reasons",
            "reason_other",
            "comment",
        ]
        texts[lang] = body["questions"][0]["text"]
    assert len(set(texts.values())) == 3
    reasons = next(q for q in body["questions"] if q["id"] == "reasons")
    assert [o["value"] for o in reasons["options"]] == list(REASON_CODES)


def test_questionnaire_language_from_accept_language(http, portal):
    answer = http.get(
        "/api/v1/questionnaires/public-service-satisfaction",
        headers={**portal.auth, "Accept-Language": "fr;q=1, id-ID;q=0.9, en;q=0.5"},
    )
    assert answer.json()["locale"] == "id"


def test_unknown_questionnaire_or_language(http, portal):
    assert http.get("/api/v1/questionnaires/nope", headers=portal.auth).status_code == 404
    answer = http.get(
        "/api/v1/questionnaires/public-service-satisfaction",
        params={"lang": "xx"},
        headers=portal.auth,
    )
    assert answer.status_code == 400
    assert "xx" in answer.json()["detail"]


# --- responses ---------------------------------------------------------------------------


def test_response_is_stored_once_with_reasons_apart_from_comment(http, portal, live):
    token = invite(http, portal)["token"]
    answer = submit(http, portal, token, locale="en")
    assert answer.status_code == 201, answer.text
    assert answer.json()["questionnaire_version"] == 1
    again = submit(http, portal, token)
    assert again.status_code == 409
    responses = live.run(Response.select())
    assert len(responses) == 1
    stored = responses[0]
    assert stored["overall"] == 2
    assert stored["locale"] == "en"
    assert stored["questionnaire_id"] == "public-service-satisfaction"
    assert "Chậm quá" not in repr(stored)
    reasons = {r["reason"] for r in live.run(ResponseReason.select())}
    assert reasons == {"portal_error", "payment_error"}
    comments = live.run(Comment.select())
    assert [(c["question"], c["text"]) for c in comments] == [("comment", "Chậm quá")]


def test_reasons_are_dropped_when_the_rating_does_not_ask_for_them(http, portal, live):
    token = invite(http, portal)["token"]
    answer = submit(http, portal, token, {"overall": 5, "reasons": ["portal_error"]})
    assert answer.status_code == 201
    assert live.run(ResponseReason.count()) == 0


def test_invalid_answers_list_each_problem(http, portal, live):
    token = invite(http, portal)["token"]
    answer = submit(
        http,
        portal,
        token,
        {"overall": 9, "reasons": ["portal_error", "bogus"], "comment": "x" * 1001, "age": 3},
    )
    assert answer.status_code == 400
    keys = {item["key"] for item in answer.json()["extra"]}
    assert {"answers.overall", "answers.comment", "answers.age"} <= keys
    assert live.run(Response.count()) == 0
    # Nothing was consumed: the citizen can still answer.
    assert submit(http, portal, token).status_code == 201


@pytest.mark.parametrize(
    "answers",
    [
        {},
        {"overall": "5"},
        {"overall": True},
        {"overall": 2.5},
        {"overall": None},
        {"overall": [5]},
    ],
)
def test_wrong_types_are_a_400(http, portal, answers):
    token = invite(http, portal)["token"]
    assert submit(http, portal, token, answers).status_code == 400


def test_answers_must_be_an_object(http, portal):
    token = invite(http, portal)["token"]
    answer = http.post(
        "/api/v1/responses", json={"token": token, "answers": [1, 2]}, headers=portal.auth
    )
    assert answer.status_code == 400
    assert "answers" in answer.text


def test_unknown_forged_and_foreign_tokens_are_404(http, portal, live):
    other = live.run(make_portal("MPS", "MPS-1"))
    foreign = invite(http, other)["token"]
    for token in ("nope", "A" * 32, foreign):
        assert submit(http, portal, token).status_code == 404
    # The foreign token is still usable by its own agency.
    assert submit(http, other, foreign).status_code == 201


def test_expired_token_is_410(http, portal, live):
    token = invite(http, portal)["token"]
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    live.run(Invitation.update({Invitation.expires_at: past}).where(Invitation.token == token))
    answer = submit(http, portal, token)
    assert answer.status_code == 410
    assert live.run(Response.count()) == 0


def test_concurrent_submissions_of_one_token_store_one(http, portal, live):
    token = invite(http, portal)["token"]

    def call(_):
        with httpx.Client(base_url=live.url, timeout=60) as client:
            body = {"token": token, "answers": {"overall": 4}}
            return client.post("/api/v1/responses", json=body, headers=portal.auth).status_code

    with ThreadPoolExecutor(max_workers=50) as pool:
        codes = list(pool.map(call, range(50)))
    assert sorted(codes) == [201] + [409] * 49
    assert live.run(Response.count()) == 1


def test_a_500_never_reaches_the_client_for_garbage(http, portal):
    for body in (b"null", b"[]", b'"text"', b"{}", b'{"token": {"a": 1}, "answers": {}}'):
        answer = http.post(
            "/api/v1/responses",
            content=body,
            headers={**portal.auth, "Content-Type": "application/json"},
        )
        assert answer.status_code == 400, (body, answer.text)
