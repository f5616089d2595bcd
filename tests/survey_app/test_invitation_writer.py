"""Invitations issued by the group-commit writer: one per transaction, answered after commit."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from survey_app.auth import apikeys
from survey_app.db.tables import ApiKey, Invitation, InvitationCell, MonthlyInvitation, Role
from tests.survey_app.conftest import Portal, make_portal
from tests.survey_app.processes import server_process

REPEATS = 50
DISTINCT = 120


def post_invitations(urls: list[str], portal: Portal, refs: list[str]) -> list[httpx.Response]:
    """Every ref at once, request ``i`` to server ``urls[i % len(urls)]``."""

    def call(i: int) -> httpx.Response:
        body = {"transaction_ref": refs[i], "service": portal.service, "channel": "web"}
        with httpx.Client(base_url=urls[i % len(urls)], timeout=60) as client:
            return client.post("/api/v1/invitations", json=body, headers=portal.auth)

    with ThreadPoolExecutor(max_workers=48) as pool:
        return list(pool.map(call, range(len(refs))))


def cell_totals(live) -> tuple[int, int]:
    daily = live.run(InvitationCell.select(InvitationCell.invitations))
    monthly = live.run(MonthlyInvitation.select(MonthlyInvitation.invitations))
    return sum(r["invitations"] for r in daily), sum(r["invitations"] for r in monthly)


def test_one_reference_requested_at_once_is_issued_once(http, portal, live):
    answers = post_invitations([live.url], portal, ["SAME"] * REPEATS)
    codes = sorted(answer.status_code for answer in answers)
    assert codes == [200] * (REPEATS - 1) + [201]
    bodies = [answer.json() for answer in answers]
    assert len({body["token"] for body in bodies}) == 1
    assert len({(body["expires_at"], body["questionnaire"]) for body in bodies}) == 1
    assert live.run(Invitation.count()) == 1
    assert cell_totals(live) == (1, 1)
    # And afterwards too: the stored invitation, 200.
    again = post_invitations([live.url], portal, ["SAME"])[0]
    assert (again.status_code, again.json()["token"]) == (200, bodies[0]["token"])


def test_distinct_references_share_batches_and_are_all_stored(http, portal, live):
    writer = live.app.state["writer"]
    before = (writer.stats.batches, writer.stats.submissions)
    refs = [f"D-{i}" for i in range(DISTINCT)]
    answers = post_invitations([live.url], portal, refs)
    assert [answer.status_code for answer in answers] == [201] * DISTINCT
    tokens = {answer.json()["token"] for answer in answers}
    assert len(tokens) == DISTINCT
    stored = live.run(Invitation.select(Invitation.token))
    assert {row["token"] for row in stored} == tokens
    assert cell_totals(live) == (DISTINCT, DISTINCT)
    assert writer.stats.submissions - before[1] == DISTINCT
    batches = writer.stats.batches - before[0]
    assert batches < DISTINCT, f"{batches} transactions for {DISTINCT} invitations"


def test_repeats_and_new_references_in_one_burst_each_get_their_own(http, portal, live):
    first = post_invitations([live.url], portal, ["OLD"])[0].json()["token"]
    refs = ["OLD", "NEW-A", "NEW-B"] * 10
    answers = post_invitations([live.url], portal, refs)
    by_ref: dict[str, set[str]] = {}
    created: dict[str, int] = {}
    for ref, answer in zip(refs, answers, strict=True):
        by_ref.setdefault(ref, set()).add(answer.json()["token"])
        created[ref] = created.get(ref, 0) + (answer.status_code == 201)
    assert by_ref["OLD"] == {first}
    assert created == {"OLD": 0, "NEW-A": 1, "NEW-B": 1}
    assert all(len(tokens) == 1 for tokens in by_ref.values())
    assert live.run(Invitation.count()) == 3
    assert cell_totals(live) == (3, 3)


def test_refused_requests_in_a_burst_do_not_stop_the_others(http, portal, live):
    """Keys and services are checked in the batch: each request gets its own answer."""
    other = live.run(make_portal("MOF", "MOF-1"))
    analyst = live.run(apikeys.create(Role.analyst, None, "analyst"))
    unbound = live.run(apikeys.create(Role.portal, None, "no agency"))
    revoked = live.run(apikeys.create(Role.portal, None, "revoked"))
    live.run(ApiKey.update({ApiKey.revoked: True}).where(ApiKey.label == "revoked"))
    cases = [
        (portal.key, portal.service, 201),
        (analyst, portal.service, 403),
        (unbound, portal.service, 403),
        (revoked, portal.service, 401),
        (portal.key + "x", portal.service, 401),
        (portal.key, other.service, 400),  # a service of another agency
        (portal.key, "NOPE", 400),
        (other.key, other.service, 201),
    ] * 6

    def call(i: int) -> httpx.Response:
        key, service, _ = cases[i]
        body = {"transaction_ref": f"M-{i}", "service": service, "channel": "sms"}
        with httpx.Client(base_url=live.url, timeout=60) as client:
            return client.post(
                "/api/v1/invitations", json=body, headers={"Authorization": f"Bearer {key}"}
            )

    with ThreadPoolExecutor(max_workers=48) as pool:
        answers = list(pool.map(call, range(len(cases))))
    assert [a.status_code for a in answers] == [status for *_, status in cases]
    refused = [a for a, (*_, status) in zip(answers, cases, strict=True) if status != 201]
    assert all(a.json()["status_code"] == a.status_code for a in refused)
    assert {a.headers.get("www-authenticate") for a in answers if a.status_code == 401} == {
        "Bearer"
    }
    unknown = answers[[service for _, service, _ in cases].index("NOPE")]
    assert "Unknown service 'NOPE' for agency MIC" in unknown.json()["detail"]
    rows = live.run(Invitation.select(Invitation.agency.code, Invitation.channel))
    assert sorted(row["agency.code"] for row in rows) == ["MIC"] * 6 + ["MOF"] * 6
    assert cell_totals(live) == (12, 12)


def test_an_invitation_is_readable_as_soon_as_its_201_arrives(http, portal, live):
    def issue_then_open(i: int) -> tuple[int, int]:
        body = {"transaction_ref": f"V-{i}", "service": portal.service, "channel": "web"}
        with httpx.Client(base_url=live.url, timeout=60) as client:
            issued = client.post("/api/v1/invitations", json=body, headers=portal.auth)
            page = client.get(f"/s/{issued.json()['token']}")
            return issued.status_code, page.status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        assert set(pool.map(issue_then_open, range(32))) == {(201, 200)}


@pytest.mark.slow
def test_two_server_processes_racing_the_same_references_store_one_each(portal, live, tmp_path):
    env = {
        "DATABASE_URL": live.settings.database_url,
        "SURVEY_SECRET": live.settings.secret,
        "SURVEY_VAR_DIR": str(tmp_path),
        "SURVEY_RATE_LIMIT_EXEMPT": "127.0.0.1",
    }
    refs = [f"R-{i // 4}" for i in range(160)]  # 40 references, each 4 times
    with (
        server_process(env, tmp_path / "a.log") as a,
        server_process(env, tmp_path / "b.log") as b,
    ):
        answers = post_invitations([a.url, b.url], portal, refs)
    assert {answer.status_code for answer in answers} <= {200, 201}
    tokens: dict[str, set[str]] = {}
    for ref, answer in zip(refs, answers, strict=True):
        tokens.setdefault(ref, set()).add(answer.json()["token"])
    assert all(len(found) == 1 for found in tokens.values())
    assert [answer.status_code for answer in answers].count(201) == 40
    stored = live.run(Invitation.select(Invitation.token))
    assert sorted(row["token"] for row in stored) == sorted(t for (t,) in tokens.values())
    assert cell_totals(live) == (40, 40)


def test_a_failed_batch_fails_its_requests_with_the_database_error(portal, live, monkeypatch):
    """What the store's transaction raises reaches every request of its batch."""
    writer = live.app.state["writer"]
    store = writer.store
    failing: Callable = _raising(store.insert_invitations)
    monkeypatch.setattr(store, "insert_invitations", failing)
    answers = post_invitations([live.url], portal, [f"F-{i}" for i in range(8)])
    assert {answer.status_code for answer in answers} == {503}
    monkeypatch.undo()
    assert live.run(Invitation.count()) == 0
    after = post_invitations([live.url], portal, ["F-0"])[0]
    assert after.status_code == 201


def _raising(method: Callable) -> Callable:
    import sqlite3

    if asyncio.iscoroutinefunction(method):

        async def failing(*_: object) -> None:
            raise OSError("database host unreachable")

        return failing

    def failing_sync(*_: object) -> None:
        raise sqlite3.OperationalError("database is locked")

    return failing_sync
