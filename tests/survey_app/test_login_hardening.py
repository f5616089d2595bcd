"""Staff logins: throttled per address and per user name (``/login`` and ``/admin`` alike),
sessions of one lifetime stored as hashes, and comments kept out of piccolo_admin.

Every test speaks to the live server over HTTP. Client addresses come from
``X-Forwarded-For``, which uvicorn trusts from 127.0.0.1 only (its default
``FORWARDED_ALLOW_IPS``, the deployment's proxy); each test draws fresh
addresses and user names, so the counters it fills touch no other test.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
import secrets
import statistics
import time

import httpx
import pytest
from piccolo.apps.user.tables import BaseUser
from piccolo_api.session_auth.tables import SessionsBase
from prometheus_client import REGISTRY

from survey_app.auth import staff
from survey_app.auth.throttle import MAX_FAILURES, WINDOW_S, wait_message
from survey_app.db.tables import Role
from survey_app.server.admin import COMMENTS_EXPORT
from tests.survey_app.conftest import invite

PASSWORD = "hardening-Passw0rd-long"
LIFETIME_S = staff.SESSION_HOURS * 3600


_used: set[str] = set()


def address() -> str:
    """A fresh private address for one simulated client."""
    while True:
        octets = (secrets.randbelow(256), secrets.randbelow(256), secrets.randbelow(254) + 1)
        candidate = "10.{}.{}.{}".format(*octets)
        if candidate not in _used:
            _used.add(candidate)
            return candidate


def name(prefix: str) -> str:
    return f"lh_{prefix}_{secrets.token_hex(4)}"


async def _user(username: str, *, admin: bool, role: Role | None) -> int:
    user = await BaseUser.create_user(
        username, PASSWORD, admin=admin, active=True, email=f"{username}@staff.invalid"
    )
    if role is not None:
        await staff.set_role(user.id, role, None)
    return user.id


@pytest.fixture
def admin_user(live) -> tuple[str, int]:
    username = name("admin")
    return username, live.run(_user(username, admin=True, role=Role.admin))


@pytest.fixture
def researcher(live) -> tuple[str, int]:
    """A staff member who is not an admin (``BaseUser.admin`` False)."""
    username = name("researcher")
    return username, live.run(_user(username, admin=False, role=Role.researcher))


def login(http: httpx.Client, username: str, password: str, ip: str, lang: str = "en"):
    """The /login form, as a browser at ``ip`` sends it."""
    headers = {"X-Forwarded-For": ip}
    page = http.get(f"/login?lang={lang}", headers=headers)
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)
    return http.post(
        f"/login?lang={lang}",
        data={"username": username, "password": password, "_csrf_token": token, "lang": lang},
        headers=headers,
    )


def admin_login(http: httpx.Client, username: str, password: str, ip: str, **extra_headers):
    """piccolo_admin's login, as its single-page app sends it."""
    headers = {"X-Forwarded-For": ip, **extra_headers}
    if "csrftoken" not in http.cookies:
        http.get("/admin/", headers=headers)
    return http.post(
        "/admin/public/login/",
        json={"username": username, "password": password},
        headers={"X-CSRFToken": http.cookies["csrftoken"], **headers},
    )


def retry_after(answer: httpx.Response) -> int:
    seconds = int(answer.headers["retry-after"])
    assert 1 <= seconds <= WINDOW_S
    return seconds


def without_csrf(text: str) -> str:
    return re.sub(r'name="_csrf_token" value="[^"]+"', "", text)


def refusals(limit: str) -> float:
    """What an operator's Prometheus sees (the test server shares this process's registry)."""
    return REGISTRY.get_sample_value("survey_rate_limit_refusals_total", {"limit": limit}) or 0.0


def test_failed_logins_from_one_address_are_throttled(http, live, admin_user):
    username, _ = admin_user
    ip, elsewhere = address(), address()
    refused_before = refusals("login")
    # Five names (one real, four unknown) tried from one address: refused one by one...
    names = [username] + [name("nobody") for _ in range(MAX_FAILURES - 1)]
    assert [login(http, n, "wrong", ip).status_code for n in names] == [400] * MAX_FAILURES
    # ...then the address waits, whatever the name and even with the right password.
    refused = login(http, name("other"), "wrong", ip, lang="vi")
    assert refused.status_code == 429
    seconds = retry_after(refused)
    assert refused.headers["content-type"].startswith("text/html")
    assert '<html lang="vi">' in refused.text
    assert "Đăng nhập cán bộ" in refused.text  # the login page, in the language asked for
    catalogs = live.app.state["ctx"].catalogs
    assert wait_message(catalogs, "vi", seconds) in refused.text
    assert "Wrong user name or password." not in refused.text
    right = login(http, username, PASSWORD, ip)
    assert right.status_code == 429
    assert staff.SESSION_COOKIE not in right.cookies
    # Another address is not affected, and its success resets nothing here.
    assert login(http, username, PASSWORD, elsewhere).status_code == 303
    assert login(http, username, PASSWORD, ip).status_code == 429
    assert refusals("login") - refused_before == 3


@pytest.mark.parametrize("exists", [True, False], ids=["existing-name", "unknown-name"])
def test_one_user_name_is_throttled_from_every_address(http, live, exists):
    username = name("target")
    if exists:
        live.run(_user(username, admin=False, role=Role.researcher))
    answers = [login(http, username, "wrong", address()) for _ in range(MAX_FAILURES)]
    assert [answer.status_code for answer in answers] == [400] * MAX_FAILURES
    refused = login(http, username, "wrong", address())
    assert refused.status_code == 429
    retry_after(refused)
    # Even the right password, from yet another address, waits.
    assert login(http, username, PASSWORD, address()).status_code == 429
    # Case and spaces do not make another name.
    assert login(http, f" {username.upper()} ", "wrong", address()).status_code == 429
    # Other names from those addresses are still served.
    assert login(http, name("bystander"), "wrong", address()).status_code == 400


def test_unknown_and_existing_names_get_the_same_answers(http, live, researcher):
    """Whether a name exists shows neither in the answers nor in their timing."""
    known, _ = researcher
    unknown = name("ghost")
    known_answers, unknown_answers, known_s, unknown_s = [], [], [], []
    for _ in range(MAX_FAILURES + 1):
        for target, answers, times in (
            (known, known_answers, known_s),
            (unknown, unknown_answers, unknown_s),
        ):
            started = time.perf_counter()
            answers.append(login(http, target, "wrong", address()))
            times.append(time.perf_counter() - started)
    assert [a.status_code for a in known_answers] == [a.status_code for a in unknown_answers]
    assert [a.status_code for a in known_answers][-2:] == [400, 429]
    for mine, theirs in zip(known_answers, unknown_answers, strict=True):
        assert without_csrf(mine.text) == without_csrf(theirs.text)
    # An unknown name costs a password hash too (a shortcut would be many times faster).
    assert statistics.median(unknown_s[:MAX_FAILURES]) > 0.5 * statistics.median(
        known_s[:MAX_FAILURES]
    )


def test_admin_login_is_throttled_with_the_same_counts(http, live, admin_user):
    username, _ = admin_user
    ip = address()
    # Failures at /login and at /admin fill one count.
    assert login(http, username, "wrong", ip).status_code == 400
    for _ in range(MAX_FAILURES - 1):
        assert admin_login(http, username, "wrong", ip).status_code == 401
    refused = admin_login(http, username, PASSWORD, ip, **{"Accept-Language": "id"})
    assert refused.status_code == 429
    seconds = retry_after(refused)
    assert refused.json()["detail"] == wait_message(live.app.state["ctx"].catalogs, "id", seconds)
    assert staff.SESSION_COOKIE not in refused.cookies
    assert login(http, username, PASSWORD, ip).status_code == 429
    # The name is spent from any address, through either door.
    assert admin_login(http, username, PASSWORD, address()).status_code == 429


def test_a_non_admin_cannot_log_in_through_admin(http, live, researcher, admin_user):
    username, user_id = researcher
    refused = admin_login(http, username, PASSWORD, address())
    assert refused.status_code == 401
    assert refused.json() == {"detail": "Login failed"}  # as for a wrong password
    assert staff.SESSION_COOKIE not in refused.cookies
    assert not http.cookies.get(staff.SESSION_COOKIE)
    assert live.run(SessionsBase.count().where(SessionsBase.user_id == user_id)) == 0
    assert http.get("/admin/api/tables/").status_code in (401, 403)
    assert http.get("/api/v1/exports/responses.csv").status_code == 401
    # The same person logs in at /login, and an admin at /admin.
    assert login(http, username, PASSWORD, address()).status_code == 303
    http.cookies.clear()
    admin_name, _ = admin_user
    assert admin_login(http, admin_name, PASSWORD, address()).status_code == 200


def _max_age(answer: httpx.Response) -> int:
    cookie = next(
        value
        for value in answer.headers.get_list("set-cookie")
        if value.startswith(f"{staff.SESSION_COOKIE}=")
    )
    return int(re.search(r"max-age=(\d+)", cookie, re.IGNORECASE).group(1))


async def _session_rows(user_id: int) -> list[dict]:
    return await SessionsBase.raw(
        "SELECT token, expiry_date, max_expiry_date FROM sessions WHERE user_id = {}", user_id
    )


def _as_datetime(value) -> dt.datetime:
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)


def test_admin_and_dashboard_sessions_last_as_long(live, admin_user):
    username, user_id = admin_user
    with (
        httpx.Client(base_url=live.url, timeout=30) as ours,
        httpx.Client(base_url=live.url, timeout=30) as theirs,
    ):
        dashboard = login(ours, username, PASSWORD, address())
        admin = admin_login(theirs, username, PASSWORD, address())
    assert dashboard.status_code == 303
    assert admin.status_code == 200
    assert _max_age(dashboard) == _max_age(admin) == LIFETIME_S
    rows = live.run(_session_rows(user_id))
    assert len(rows) == 2
    now = dt.datetime.now()
    for row in rows:
        for column in ("expiry_date", "max_expiry_date"):
            left = (_as_datetime(row[column]) - now).total_seconds()
            assert LIFETIME_S - 120 < left <= LIFETIME_S, (column, left)


def test_the_sessions_table_holds_no_usable_token(live, admin_user):
    username, user_id = admin_user
    with (
        httpx.Client(base_url=live.url, timeout=30) as ours,
        httpx.Client(base_url=live.url, timeout=30) as theirs,
    ):
        cookies = [
            login(ours, username, PASSWORD, address()).cookies[staff.SESSION_COOKIE],
            admin_login(theirs, username, PASSWORD, address()).cookies[staff.SESSION_COOKIE],
        ]
        stored = {row["token"] for row in live.run(_session_rows(user_id))}
        assert stored == {hashlib.sha256(cookie.encode()).hexdigest() for cookie in cookies}
        assert not stored & set(cookies)
        # Both sessions work, each through both doors.
        for client in (ours, theirs):
            assert client.get("/dashboard?lang=en").status_code == 200
            assert client.get("/admin/api/tables/").status_code == 200
        # What a copy of the table holds opens nothing.
        for token in stored:
            with httpx.Client(
                base_url=live.url, timeout=30, cookies={staff.SESSION_COOKIE: token}
            ) as thief:
                assert thief.get("/dashboard?lang=en").status_code == 303
                assert thief.get("/api/v1/comments").status_code == 401
                assert thief.get("/admin/api/tables/").status_code in (401, 403)
        # Logging out removes the row the cookie stands for.
        csrf = re.search(
            r'name="_csrf_token" value="([^"]+)"', ours.get("/dashboard?lang=en").text
        ).group(1)
        assert ours.post("/logout", data={"_csrf_token": csrf}).status_code == 303
        left = {row["token"] for row in live.run(_session_rows(user_id))}
        assert left == {hashlib.sha256(cookies[1].encode()).hexdigest()}


def test_a_plain_token_row_from_before_no_longer_opens_a_session(live, admin_user):
    _, user_id = admin_user
    row = live.run(
        SessionsBase.create_session(user_id, expiry_date=dt.datetime.now() + dt.timedelta(hours=1))
    )
    with httpx.Client(
        base_url=live.url, timeout=30, cookies={staff.SESSION_COOKIE: str(row.token)}
    ) as old:
        assert old.get("/dashboard?lang=en").status_code == 303
        assert old.get("/admin/api/tables/").status_code in (401, 403)


COMMENT = f'=HYPERLINK("http://evil.example","{secrets.token_hex(6)}")'


def test_comment_text_is_not_reachable_through_admin(http, live, portal, admin_user):
    token = invite(http, portal, "T-hardening")["token"]
    answers = {"overall": 2, "reasons": ["other"], "reason_other": COMMENT, "comment": COMMENT}
    stored = http.post(
        "/api/v1/responses", json={"token": token, "answers": answers}, headers=portal.auth
    )
    assert stored.status_code == 201, stored.text
    username, _ = admin_user
    assert admin_login(http, username, PASSWORD, address()).status_code == 200

    tables = http.get("/admin/api/tables/")
    assert tables.status_code == 200
    assert "comment" not in tables.json()
    assert "response" in tables.json()
    assert http.get("/admin/api/tables/comment/").status_code == 404
    secret = COMMENT.split('"')[3]
    for table in tables.json():
        rows = http.get(f"/admin/api/tables/{table}/", params={"__page_size": 100})
        assert rows.status_code == 200, table
        assert secret not in rows.text, table
    # The admin points to the formula-safe export, which this session may use.
    links = http.get("/admin/api/links/").json()
    assert COMMENTS_EXPORT in links.values()
    export = http.get(COMMENTS_EXPORT)
    assert export.status_code == 200
    texts = {row["text"] for row in csv.DictReader(io.StringIO(export.content.decode("utf-8-sig")))}
    assert "'" + COMMENT in texts
    assert COMMENT not in texts
