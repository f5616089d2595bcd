"""Who read what: every read of comments or microdata leaves an audit entry, over real HTTP
on both engines; admins alone read the log; ``survey purge audit`` keeps its retention;
nothing but that purge changes an entry.

An entry names the reader (staff login or API key), role and agency, the route, format,
filters applied and the rows returned; a streamed export is recorded before its first row
and counted at its end (``survey_app.audit.log``).
"""

from __future__ import annotations

import ast
import csv
import datetime as dt
import io
import re
from pathlib import Path

import httpx
import pytest
from piccolo.apps.user.tables import BaseUser

from survey_app.agencies import directory
from survey_app.audit import log
from survey_app.auth import apikeys, staff
from survey_app.db.tables import ApiKey, AuditEntry, Role, StaffRole
from tests.conftest import survey_command
from tests.survey_app.conftest import Portal, invite, seed_statistics

USERS = "au_"  # prefix of the staff accounts this module creates
PASSWORD = "audit-Passw0rd-long"
FORMULA_USER = "=au_formula"  # a username a spreadsheet would run as a formula
COMMENTS = "/api/v1/comments"
EXPORT = "/api/v1/exports/responses.csv"
SOURCES = Path(__file__).resolve().parents[2] / "survey_app"
SEEDED = 216  # responses of seed_statistics


async def _setup() -> dict:
    await AuditEntry.delete(force=True)
    await BaseUser.delete().where(
        BaseUser.username.like(f"{USERS}%") | (BaseUser.username == FORMULA_USER)
    )
    keys = (await seed_statistics())["keys"]  # keys of every role, bound to MIC
    key_ids = {}
    for role, key in keys.items():
        row = await ApiKey.select(ApiKey.id).where(ApiKey.key_hash == apikeys.hash_key(key))
        key_ids[role] = row[0]["id"]
    user_ids = {}
    for name, role, agency in (
        (f"{USERS}analyst", Role.analyst, "MIC"),
        (f"{USERS}researcher", Role.researcher, None),
        (f"{USERS}admin", Role.admin, None),
        (FORMULA_USER, Role.analyst, "MIC"),
    ):
        user = BaseUser(
            username=name,
            # Few iterations keep the set-up fast; a login upgrades the hash as usual.
            password=BaseUser.hash_password(PASSWORD, iterations=1_000),
            email=f"{name.strip('=')}@staff.invalid",
            active=True,
            admin=role is Role.admin,
        )
        await user.save()
        agency_id = await directory.agency_id(agency) if agency else None
        await StaffRole.insert(StaffRole(user=user.id, role=role.value, agency=agency_id))
        user_ids[name] = user.id
    return {"keys": keys, "key_ids": key_ids, "user_ids": user_ids}


def log_in(http: httpx.Client, username: str) -> dict[str, str]:
    """The headers of a staff session opened through the real ``/login`` form."""
    with httpx.Client(base_url=str(http.base_url), timeout=30) as client:
        page = client.get("/login?lang=en")
        csrf = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)
        answer = client.post(
            "/login?lang=en",
            data={"username": username, "password": PASSWORD, "_csrf_token": csrf},
        )
        assert answer.status_code == 303, (username, answer.status_code)
        return {"Cookie": f"{staff.SESSION_COOKIE}={answer.cookies[staff.SESSION_COOKIE]}"}


@pytest.fixture
def world(live, http) -> dict:
    """Seeded statistics, two comments of MIC, keys of every role and staff logins."""
    made = live.run(_setup())
    portal = Portal(agency="MIC", service="MIC-1", key=made["keys"]["portal"])
    for i in range(2):
        token = invite(http, portal, f"AUDIT-{i}")["token"]
        body = {"token": token, "answers": {"overall": 2, "comment": f"audit comment {i}"}}
        assert http.post("/api/v1/responses", json=body, headers=portal.auth).status_code == 201
    live.run(AuditEntry.delete(force=True))  # nothing read yet
    return made


def bearer(world: dict, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world['keys'][role]}"}


def audit_log(http: httpx.Client, world: dict, **params) -> list[dict]:
    answer = http.get("/api/v1/audit", params=params, headers=bearer(world, "admin"))
    assert answer.status_code == 200, answer.text
    return answer.json()["entries"]


def csv_rows(answer: httpx.Response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))


# --- what a read leaves -----------------------------------------------------------------------


def test_an_analyst_reading_comments_leaves_an_entry_per_read(http, world):
    """JSON, CSV and XLSX by key, CSV by session: one entry each, newest first, with the
    reader, role, agency, route, format, the filters applied (the analyst's own agency
    included though not asked for) and the rows returned."""
    key = bearer(world, "analyst")
    answers = {}
    for fmt in ("json", "csv", "xlsx"):
        answers[fmt] = http.get(COMMENTS, params={"channel": "web", "format": fmt}, headers=key)
        assert answers[fmt].status_code == 200
    session = log_in(http, f"{USERS}analyst")
    by_session = http.get(COMMENTS, params={"format": "csv"}, headers=session)
    assert by_session.status_code == 200
    body = answers["json"].json()
    assert body["count"] == 2
    assert len(csv_rows(answers["csv"])) == len(csv_rows(by_session)) == 2

    entries = audit_log(http, world)
    assert [e["format"] for e in entries] == ["csv", "xlsx", "csv", "json"]
    session_entry, *key_entries = entries
    for entry in key_entries:
        assert entry["actor"] == "key"
        assert entry["key_id"] == world["key_ids"]["analyst"]
        assert entry["user_id"] is None
        assert entry["username"] is None
        assert entry["role"] == "analyst"
        assert entry["agency"] == "MIC"
        assert entry["route"] == COMMENTS
        assert entry["filters"] == body["filters"]
        assert entry["filters"]["agency"] == "MIC"
        assert entry["filters"]["channel"] == "web"
        assert entry["row_count"] == 2
    assert session_entry["actor"] == "user"
    assert session_entry["user_id"] == world["user_ids"][f"{USERS}analyst"]
    assert session_entry["username"] == f"{USERS}analyst"
    assert session_entry["key_id"] is None
    assert (session_entry["role"], session_entry["agency"]) == ("analyst", "MIC")
    assert session_entry["filters"]["agency"] == "MIC"
    assert session_entry["filters"]["channel"] is None
    assert session_entry["row_count"] == 2
    read_at = dt.datetime.fromisoformat(session_entry["read_at"])
    assert read_at.utcoffset() == dt.timedelta(0)
    assert abs(dt.datetime.now(dt.UTC) - read_at) < dt.timedelta(minutes=5)


def test_a_researcher_exporting_microdata_leaves_an_entry_with_the_rows_streamed(http, world):
    session = log_in(http, f"{USERS}researcher")
    narrow = http.get(EXPORT, params={"agency": "MOF", "channel": "web"}, headers=session)
    assert narrow.status_code == 200
    whole = http.get(EXPORT, headers=bearer(world, "researcher"))
    assert whole.status_code == 200
    narrow_rows, whole_rows = len(csv_rows(narrow)), len(csv_rows(whole))
    assert 0 < narrow_rows < whole_rows
    assert whole_rows == SEEDED + 2
    # The dictionary holds no citizen data: not recorded.
    assert http.get("/api/v1/exports/dictionary.json", headers=session).status_code == 200

    by_key, by_session = audit_log(http, world)
    assert by_session["actor"] == "user"
    assert by_session["username"] == f"{USERS}researcher"
    assert by_session["user_id"] == world["user_ids"][f"{USERS}researcher"]
    assert (by_session["role"], by_session["agency"]) == ("researcher", None)
    assert (by_session["route"], by_session["format"]) == (EXPORT, "csv")
    assert by_session["filters"]["agency"] == "MOF"
    assert by_session["filters"]["channel"] == "web"
    assert by_session["row_count"] == narrow_rows
    assert by_key["actor"] == "key"
    assert by_key["key_id"] == world["key_ids"]["researcher"]
    assert (by_key["role"], by_key["agency"]) == ("researcher", "MIC")
    assert by_key["filters"]["agency"] is None
    assert by_key["row_count"] == whole_rows


def test_a_read_that_cannot_be_recorded_is_not_answered(http, world, monkeypatch):
    """The entry is written before any row leaves: when it cannot be, no row leaves."""

    async def broken(*args, **kwargs):
        raise RuntimeError("the audit log is away")

    monkeypatch.setattr(log, "record", broken)
    answer = http.get(COMMENTS, headers=bearer(world, "admin"))
    assert answer.status_code == 500
    assert "audit comment" not in answer.text
    answer = http.get(EXPORT, headers=bearer(world, "admin"))
    assert answer.status_code == 500
    assert "MIC-1" not in answer.text


def test_refused_reads_leave_no_entry(http, world):
    """Only answered reads are recorded: a wrong role, another agency or a bad filter
    returns no rows and adds no entry."""
    assert http.get(COMMENTS, headers=bearer(world, "researcher")).status_code == 403
    assert (
        http.get(COMMENTS, params={"agency": "MOF"}, headers=bearer(world, "analyst")).status_code
        == 403
    )
    assert http.get(EXPORT, headers=bearer(world, "analyst")).status_code == 403
    assert (
        http.get(COMMENTS, params={"format": "pdf"}, headers=bearer(world, "admin")).status_code
        == 400
    )
    assert audit_log(http, world) == []


# --- who reads the log ------------------------------------------------------------------------


def test_only_admins_read_the_audit_log(http, world):
    assert http.get(COMMENTS, headers=bearer(world, "analyst")).status_code == 200
    sessions = {name: log_in(http, f"{USERS}{name}") for name in ("analyst", "researcher", "admin")}
    for headers, status in (
        ({}, 401),
        (bearer(world, "portal"), 403),
        (bearer(world, "analyst"), 403),
        (sessions["analyst"], 403),
        (bearer(world, "researcher"), 403),
        (sessions["researcher"], 403),
    ):
        for fmt in ("json", "csv"):
            answer = http.get("/api/v1/audit", params={"format": fmt}, headers=headers)
            assert answer.status_code == status, (headers, fmt)
            assert "/api/v1/comments" not in answer.text
    for headers in (bearer(world, "admin"), sessions["admin"]):
        answer = http.get("/api/v1/audit", headers=headers)
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("application/json")
        assert [e["route"] for e in answer.json()["entries"]] == [COMMENTS]
        answer = http.get("/api/v1/audit", params={"format": "csv"}, headers=headers)
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/csv")
        assert "attachment" in answer.headers["content-disposition"]
        (row,) = csv_rows(answer)
        assert row["route"] == COMMENTS
        assert row["key_id"] == str(world["key_ids"]["analyst"])
        assert row["user_id"] == ""
        assert row["row_count"] == "2"


def test_the_csv_log_neutralises_formulas(http, world):
    """A username (set in /admin) that a spreadsheet would run is prefixed with ``'`` in
    CSV and XLSX, kept as is in JSON."""
    headers = log_in(http, FORMULA_USER)
    assert http.get(COMMENTS, headers=headers).status_code == 200
    (row,) = csv_rows(
        http.get("/api/v1/audit", params={"format": "csv"}, headers=bearer(world, "admin"))
    )
    assert row["username"] == "'" + FORMULA_USER
    assert audit_log(http, world)[0]["username"] == FORMULA_USER
    book = http.get("/api/v1/audit", params={"format": "xlsx"}, headers=bearer(world, "admin"))
    assert book.status_code == 200
    assert book.content.startswith(b"PK")


def test_the_log_filters_by_days_user_key_and_route(http, world, live):
    analyst = log_in(http, f"{USERS}analyst")
    assert http.get(COMMENTS, headers=analyst).status_code == 200
    assert http.get(COMMENTS, headers=bearer(world, "admin")).status_code == 200
    assert http.get(EXPORT, headers=bearer(world, "researcher")).status_code == 200
    old = live.run(AuditEntry.select(AuditEntry.id).order_by(AuditEntry.id).first())["id"]
    ten_days_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=10)
    live.run(AuditEntry.update({AuditEntry.read_at: ten_days_ago}).where(AuditEntry.id == old))

    assert len(audit_log(http, world)) == 3
    assert [e["username"] for e in audit_log(http, world, user=f"{USERS}analyst")] == [
        f"{USERS}analyst"
    ]
    by_key = audit_log(http, world, key=world["key_ids"]["admin"])
    assert [(e["role"], e["route"]) for e in by_key] == [("admin", COMMENTS)]
    assert [e["route"] for e in audit_log(http, world, route=EXPORT)] == [EXPORT]
    assert len(audit_log(http, world, route=COMMENTS)) == 2
    day = ten_days_ago.date().isoformat()
    assert [e["id"] for e in audit_log(http, world, **{"from": day, "to": day})] == [old]
    today = dt.datetime.now(dt.UTC).date().isoformat()
    assert old not in {e["id"] for e in audit_log(http, world, **{"from": today})}
    answer = http.get("/api/v1/audit", params={"user": "nobody"}, headers=bearer(world, "admin"))
    assert answer.json()["count"] == 0
    assert answer.json()["filters"]["user"] == "nobody"
    for params in (
        {"from": "yesterday"},
        {"from": today, "to": day},
        {"key": "0"},
        {"key": "nine"},
        {"user": "a\x00b"},
        {"format": "pdf"},
    ):
        answer = http.get("/api/v1/audit", params=params, headers=bearer(world, "admin"))
        assert answer.status_code == 400, params


# --- retention and immutability ---------------------------------------------------------------


@pytest.mark.slow  # runs `survey purge audit` five times
def test_purge_removes_entries_past_the_retention_period_only(http, world, live):
    for _ in range(3):
        assert http.get(COMMENTS, headers=bearer(world, "admin")).status_code == 200
    ids = [row["id"] for row in live.run(AuditEntry.select(AuditEntry.id).order_by(AuditEntry.id))]
    now = dt.datetime.now(dt.UTC)
    for entry_id, age in zip(ids, (500, 40), strict=False):
        live.run(
            AuditEntry.update({AuditEntry.read_at: now - dt.timedelta(days=age)}).where(
                AuditEntry.id == entry_id
            )
        )
    env = {"DATABASE_URL": live.settings.database_url, "SURVEY_SECRET": live.settings.secret}

    def remaining() -> list[int]:
        return [r["id"] for r in live.run(AuditEntry.select(AuditEntry.id).order_by(AuditEntry.id))]

    dry = survey_command("purge", "audit", "--dry-run", env={**env, "SURVEY_AUDIT_DAYS": "30"})
    assert dry.returncode == 0, dry.stderr
    assert "Would delete 2 audit entry(ies)" in dry.stdout
    assert remaining() == ids
    # Unset: the default of 400 days removes the 500-day-old entry alone.
    done = survey_command("purge", "audit", env={**env, "SURVEY_AUDIT_DAYS": ""})
    assert done.returncode == 0, done.stderr
    assert "Deleted 1 audit entry(ies)" in done.stdout
    assert remaining() == ids[1:]
    done = survey_command("purge", "audit", env={**env, "SURVEY_AUDIT_DAYS": "30"})
    assert "Deleted 1 audit entry(ies)" in done.stdout
    assert remaining() == ids[2:]
    done = survey_command("purge", "audit", "--older-than", "1d", env=env)
    assert "Deleted 0 audit entry(ies)" in done.stdout
    assert remaining() == ids[2:]
    bad = survey_command("purge", "audit", env={**env, "SURVEY_AUDIT_DAYS": "a year"})
    assert bad.returncode == 1
    assert "SURVEY_AUDIT_DAYS" in bad.stderr
    assert remaining() == ids[2:]


def test_retention_days_reads_the_environment_when_asked():
    assert log.retention_days({}) == 400
    assert log.retention_days({"SURVEY_AUDIT_DAYS": " 30 "}) == 30
    for bad in ("0", "-5", "30d", "1.5"):
        with pytest.raises(ValueError, match="SURVEY_AUDIT_DAYS"):
            log.retention_days({"SURVEY_AUDIT_DAYS": bad})


def test_no_route_changes_an_entry(http, world, live):
    """The route table serves the log by GET only, and writing methods change nothing."""
    assert http.get(COMMENTS, headers=bearer(world, "admin")).status_code == 200
    audit_routes = [route for route in live.app.routes if route.path.startswith("/api/v1/audit")]
    assert [route.path for route in audit_routes] == ["/api/v1/audit"]
    for route in audit_routes:
        assert set(route.methods) - {"HEAD", "OPTIONS"} == {"GET"}
    before = audit_log(http, world)
    (entry,) = before
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        for url in ("/api/v1/audit", f"/api/v1/audit/{entry['id']}"):
            answer = http.request(
                method, url, json={"row_count": 0}, headers=bearer(world, "admin")
            )
            assert answer.status_code in (404, 405), (method, url, answer.status_code)
    assert audit_log(http, world) == before


def test_the_application_appends_only():
    """In the application's code, only ``log.finish`` (the count of a streamed export, set
    once) updates entries and only ``log.purge`` deletes them; no other code names the
    table in SQL. Migrations aside."""
    writers = set()
    for path in SOURCES.rglob("*.py"):
        if "piccolo_migrations" in path.parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                named = (
                    isinstance(node, ast.Attribute)
                    and isinstance(node.value, ast.Name)
                    and node.value.id == "AuditEntry"
                    and node.attr in ("update", "delete", "raw", "alter")
                )
                in_sql = isinstance(node, ast.Constant) and "audit_entry" in str(node.value)
                if named or in_sql:
                    writers.add(
                        (
                            path.relative_to(SOURCES).as_posix(),
                            function.name,
                            node.attr if named else "sql",
                        )
                    )
    assert writers == {("audit/log.py", "finish", "update"), ("audit/log.py", "purge", "delete")}


def test_the_admin_lists_the_log_but_changes_nothing(http, world):
    """piccolo_admin shows the audit table to admins; its write endpoints refuse (405)."""
    assert http.get(COMMENTS, headers=bearer(world, "admin")).status_code == 200
    with httpx.Client(base_url=str(http.base_url), timeout=30) as admin:
        name, _, value = log_in(admin, f"{USERS}admin")["Cookie"].partition("=")
        admin.cookies.set(name, value)
        admin.get("/admin/")
        csrf = {"X-CSRFToken": admin.cookies["csrftoken"]}
        tables = admin.get("/admin/api/tables/").json()
        assert "audit_entry" in tables
        rows = admin.get("/admin/api/tables/audit_entry/").json()["rows"]
        assert len(rows) == 1
        entry = rows[0]["id"]
        for method, url in (
            ("POST", "/admin/api/tables/audit_entry/"),
            ("PUT", f"/admin/api/tables/audit_entry/{entry}/"),
            ("PATCH", f"/admin/api/tables/audit_entry/{entry}/"),
            ("DELETE", f"/admin/api/tables/audit_entry/{entry}/"),
            ("DELETE", "/admin/api/tables/audit_entry/"),
        ):
            body = {
                "read_at": "2026-01-01T00:00:00+00:00",
                "actor": "user",
                "role": "admin",
                "route": "/forged",
                "format": "json",
                "filters": "{}",
                "row_count": 0,
            }
            answer = admin.request(method, url, json=body, headers=csrf)
            assert answer.status_code == 405, (method, url, answer.status_code, answer.text)
    assert len(audit_log(http, world)) == 1


def test_the_admin_refuses_a_malformed_frame_origin(http, world, live):
    """An agency's frame origins are parsed when saved in /admin, as by the CLI."""
    from survey_app.db.tables import Agency

    mic = live.run(Agency.select(Agency.id, Agency.frame_origins).where(Agency.code == "MIC"))[0]
    with httpx.Client(base_url=str(http.base_url), timeout=30) as admin:
        name, _, value = log_in(admin, f"{USERS}admin")["Cookie"].partition("=")
        admin.cookies.set(name, value)
        admin.get("/admin/")
        csrf = {"X-CSRFToken": admin.cookies["csrftoken"]}
        url = f"/admin/api/tables/agency/{mic['id']}/"
        for bad in ("javascript:alert(1)", "https://a.example; script-src *", "*"):
            answer = admin.patch(url, json={"frame_origins": bad}, headers=csrf)
            assert answer.status_code == 400, (bad, answer.text)
        stored = live.run(Agency.select(Agency.frame_origins).where(Agency.id == mic["id"]))
        assert stored[0]["frame_origins"] == mic["frame_origins"]
        good = admin.patch(url, json={"frame_origins": "https://portal.example.gov"}, headers=csrf)
        assert good.status_code == 200, good.text
    page_policy = live.run(Agency.select(Agency.frame_origins).where(Agency.id == mic["id"]))
    assert page_policy[0]["frame_origins"] == "https://portal.example.gov"
