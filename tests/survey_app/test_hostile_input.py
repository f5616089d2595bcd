"""Hostile requests over real HTTP: refused with a 4xx, and the server keeps serving.

Oversized bodies (with and without a Content-Length), JSON nested 100,000
levels deep (and deep enough to stay under the size limit), bodies that are
not UTF-8, a 100 KB query string and 100 KB header values, on the live server
of each engine. After each one the server still answers, and a refused
submission stored nothing.
"""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import httpx
import pytest

from survey_app.db.tables import Invitation, Response
from survey_app.server.request_size import RequestLimits
from tests.conftest import run_async
from tests.survey_app.conftest import LiveServer, Portal, invite

JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
HUGE = 100 * 1024
# uvicorn (httptools) refuses a request line of 64 KB or more by itself, but hands header
# values of any length to the application: server.request_size.RequestLimits refuses them.
QUESTIONNAIRE = "/api/v1/questionnaires/public-service-satisfaction"


def still_serving(http: httpx.Client, portal: Portal, token: str) -> None:
    """The server answers, and the refused request left the invitation open and unstored."""
    assert http.get("/livez").status_code == 200
    answer = http.post(
        "/api/v1/responses", json={"token": token, "answers": {"overall": 4}}, headers=portal.auth
    )
    assert answer.status_code == 201, answer.text


def nothing_stored(live: LiveServer) -> None:
    assert live.run(Response.count()) == 0
    assert live.run(Invitation.count().where(Invitation.answered_at.is_not_null())) == 0


def raw_status(live: LiveServer, request: bytes) -> int:
    """Send ``request`` as is on a socket (httpx refuses some of these) and read the status."""
    parts = urlsplit(live.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(request)
        head = b""
        while b"\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                break
            head += chunk
    assert head.startswith(b"HTTP/1.1 "), head[:200]
    return int(head.split()[1])


@pytest.fixture
def token(http, portal) -> str:
    return invite(http, portal, "HOSTILE")["token"]


def bodies(token: str, limit: int) -> list[tuple[str, str, bytes]]:
    """(path, kind, body) of each oversized body."""
    filler = "x" * limit
    return [
        (
            "/api/v1/responses",
            "json",
            f'{{"token": "{token}", "answers": {{"comment": "{filler}"}}}}',
        ),
        ("/api/v1/invitations", "json", f'{{"transaction_ref": "{filler}"}}'),
        (f"/s/{token}", "form", f"overall=2&comment={filler}"),
    ]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_oversized_bodies_are_413(live, http, portal, token, chunked):
    limit = live.settings.max_body_bytes
    for path, kind, text in bodies(token, limit):
        body = text.encode()
        assert len(body) > limit
        content = iter([body[: limit // 2], body[limit // 2 :]]) if chunked else body
        answer = http.post(
            path, content=content, headers={**(JSON if kind == "json" else FORM), **portal.auth}
        )
        assert answer.status_code == 413, (path, answer.status_code, answer.text[:200])
    nothing_stored(live)
    still_serving(http, portal, token)


NESTED = {
    "100k arrays": b"[" * 100_000 + b"]" * 100_000,
    "30k arrays": b"[" * 30_000 + b"]" * 30_000,
    "10k objects": b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
}


@pytest.mark.parametrize("path", ["/api/v1/responses", "/api/v1/invitations"])
@pytest.mark.parametrize("name", list(NESTED))
def test_deeply_nested_json_is_refused(live, http, portal, token, path, name):
    body = NESTED[name]
    answer = http.post(path, content=body, headers={**JSON, **portal.auth})
    expected = 413 if len(body) > live.settings.max_body_bytes else 400
    assert answer.status_code == expected, answer.text[:200]
    assert answer.headers["content-type"].startswith("application/json")
    # Inside a valid envelope too: deep answers to a real token.
    inner = b'{"token": "%s", "answers": {"overall": %s}}' % (
        token.encode(),
        b"[" * 20_000 + b"]" * 20_000,
    )
    answer = http.post("/api/v1/responses", content=inner, headers={**JSON, **portal.auth})
    assert answer.status_code == 400, answer.text[:200]
    nothing_stored(live)
    still_serving(http, portal, token)


def test_json_bodies_that_are_not_utf8_are_400(live, http, portal, token):
    for path, body in [
        (
            "/api/v1/responses",
            b'{"token": "%s", "answers": {"comment": "\xff\xfe"}}' % token.encode(),
        ),
        ("/api/v1/responses", b'{"token": "\xed\xa0\x80", "answers": {}}'),
        (
            "/api/v1/invitations",
            b'{"transaction_ref": "\xc3(", "service": "MIC-1", "channel": "web"}',
        ),
    ]:
        answer = http.post(path, content=body, headers={**JSON, **portal.auth})
        assert answer.status_code == 400, (body, answer.status_code, answer.text[:200])
        assert answer.json()["status_code"] == 400
    nothing_stored(live)
    still_serving(http, portal, token)


def test_form_bodies_that_are_not_utf8_are_refused(live, http, portal, token):
    for body in [
        b"overall=\xff\xfe",
        b"overall=%FF",
        b"over\xc3(all=2",
        b"overall=%ED%A0%80",
    ]:
        answer = http.post(f"/s/{token}", content=body, headers=FORM)
        assert 400 <= answer.status_code < 500, (body, answer.status_code)
        assert answer.headers["content-type"].startswith("text/html")
    nothing_stored(live)
    still_serving(http, portal, token)


@pytest.mark.parametrize(
    "path", ["/livez", "/api/v1/stats/satisfaction", QUESTIONNAIRE, "/s/TOKEN"]
)
def test_a_huge_query_string_is_refused(live, http, portal, token, path):
    """Each of these paths answers 200 to the same request with a short query string."""
    target = f"{path.replace('TOKEN', token)}?agency={'A' * HUGE}"
    request = (
        f"GET {target} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {portal.key}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    status = raw_status(live, request)
    assert 400 <= status < 500, status
    still_serving(http, portal, token)


@pytest.mark.parametrize("size", [1024, HUGE])
@pytest.mark.parametrize("header", ["X-Filler", "Cookie", "Accept-Language"])
def test_a_huge_header_value_is_refused(live, http, portal, token, header, size):
    """The same request with a 1 KB value is served: only the size makes it refused."""
    raw = (
        f"GET {QUESTIONNAIRE} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {portal.key}\r\n"
        f"{header}: {'A' * size}\r\nConnection: close\r\n\r\n"
    ).encode()
    status = raw_status(live, raw)
    assert (status == 200) if size < HUGE else (400 <= status < 500), status
    still_serving(http, portal, token)


def asgi_answer(scope_extra: dict) -> tuple[int, bytes]:
    """Status and body of ``RequestLimits`` around an app that answers 200."""
    sent: list[dict] = []

    async def app(scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def receive() -> dict:
        return {"type": "http.request", "body": b""}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "path": "/livez",
        "raw_path": b"/livez",
        "query_string": b"",
        "headers": [(b"host", b"test")],
        **scope_extra,
    }
    run_async(RequestLimits(app)(scope, receive, send))
    return sent[0]["status"], sent[1]["body"]


@pytest.mark.parametrize(
    ("scope", "status"),
    [
        ({}, 200),
        ({"query_string": b"a=" + b"x" * 8000}, 200),
        ({"query_string": b"a=" + b"x" * HUGE}, 414),
        ({"raw_path": b"/s/" + b"x" * 9000}, 414),
        ({"headers": [(b"cookie", b"x" * 8000)]}, 200),
        ({"headers": [(b"cookie", b"x" * HUGE)]}, 431),
        ({"headers": [(b"x-%d" % i, b"x" * 4000) for i in range(9)]}, 431),
    ],
    ids=["plain", "8k-query", "huge-query", "long-path", "8k-header", "huge-header", "many"],
)
def test_request_limits_refuse_only_oversized_requests(scope, status):
    answer, body = asgi_answer(scope)
    assert answer == status
    if status != 200:
        assert json.loads(body)["status_code"] == status
