"""Edge inputs an attacker tries get a clear 4xx, over real HTTP on both engines.

Far dates (a day past 9999-12-31 is no date), control characters in filter
values (PostgreSQL cannot compare a NUL), ``/static/`` paths with a NUL or
``..``, and an agency's ``frame_origins`` that ``/admin`` stored malformed.
Also the framing and third-party rules of the staff pages: ``/admin`` and the
API reference under ``/schema`` may not be framed, and the reference loads
nothing from another host.
"""

from __future__ import annotations

import logging
import re
import secrets
from urllib.parse import urlsplit

import httpx
import pytest

from survey_app.agencies import directory
from survey_app.auth import apikeys
from survey_app.db.tables import Agency, AgencyKind, Role
from tests.survey_app.conftest import LiveServer, Portal, invite

# Every route that reads the shared filters, and the role that may call it.
FILTERED_ROUTES = [
    ("/api/v1/stats/satisfaction", Role.admin),
    ("/api/v1/stats/reasons", Role.admin),
    ("/api/v1/stats/trend", Role.admin),
    ("/api/v1/stats/league", Role.admin),
    ("/api/v1/comments", Role.admin),
    ("/api/v1/exports/responses.csv", Role.researcher),
]
TEXT_FILTERS = ["agency", "service", "channel", "locale", "essential", "from", "to"]
CONTROL_CHARACTERS = ["\x00", "\x1f", "\x7f", "\n"]
FAR_DATES = ["9999-12-31", "0001-01-01", "1999-12-31", "2101-01-01"]


@pytest.fixture
def keys(live: LiveServer, portal: Portal) -> dict[Role, dict[str, str]]:
    async def make() -> dict[Role, dict[str, str]]:
        agency = await directory.agency_id(portal.agency)
        return {
            role: {"Authorization": f"Bearer {await apikeys.create(role, agency)}"}
            for role in (Role.admin, Role.researcher)
        }

    return live.run(make())


def assert_error(answer: httpx.Response, status: int) -> dict:
    """The API's error format: JSON with the status and a message."""
    assert answer.status_code == status, (answer.status_code, answer.text)
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert body["status_code"] == status
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return body


@pytest.mark.parametrize(("path", "role"), FILTERED_ROUTES, ids=[p for p, _ in FILTERED_ROUTES])
@pytest.mark.parametrize("name", ["from", "to"])
def test_a_date_outside_the_range_is_a_400_that_says_the_range(http, keys, path, role, name):
    for value in FAR_DATES:
        answer = http.get(path, params={name: value}, headers=keys[role])
        body = assert_error(answer, 400)
        assert f"'{name}'" in body["detail"]
        assert "2000-01-01" in body["detail"]
        assert "2100-12-31" in body["detail"]
    # The edges themselves are days like any other.
    for value in ("2000-01-01", "2100-12-31"):
        assert http.get(path, params={name: value}, headers=keys[role]).status_code == 200


@pytest.mark.parametrize(("path", "role"), FILTERED_ROUTES, ids=[p for p, _ in FILTERED_ROUTES])
def test_a_control_character_in_any_filter_is_a_400_naming_it(http, keys, portal, path, role):
    real = {"agency": portal.agency, "service": portal.service, "channel": "web"}
    for name in TEXT_FILTERS:
        for char in CONTROL_CHARACTERS:
            value = real.get(name, "") + char
            answer = http.get(path, params={name: value}, headers=keys[role])
            body = assert_error(answer, 400)
            assert f"'{name}'" in body["detail"], body
            assert "control character" in body["detail"]
    # Text without control characters (even odd text) is an ordinary filter.
    odd = http.get(path, params={"agency": "MIC ☃ ' OR 1=1 --"}, headers=keys[role])
    assert odd.status_code == 200, odd.text


def test_a_nul_anywhere_else_is_a_4xx_not_a_500(http, portal):
    """What no filter checks still reaches the database's refusal as a 4xx: a token, a body."""
    assert http.get("/s/%00abc").status_code in (400, 404)
    # A reference is stored only as its HMAC: any text will do.
    answer = http.post(
        "/api/v1/invitations",
        json={"transaction_ref": "T\x00-1", "service": portal.service, "channel": "web"},
        headers=portal.auth,
    )
    assert answer.status_code == 201, answer.text
    answer = http.post(
        "/api/v1/invitations",
        json={"transaction_ref": "T-2", "service": "MIC\x00-1", "channel": "web"},
        headers=portal.auth,
    )
    assert 400 <= answer.status_code < 500, answer.text


@pytest.mark.parametrize(
    "path",
    [
        "/static/%00",
        "/static/survey.css%00",
        "/static/a%00b.js",
        "/static/%01frame.js",
        "/static/..%2fserver%2fapp.py",
        "/static/..%2f..%2fpyproject.toml",
        "/static/%2e%2e/%2e%2e/pyproject.toml",
        "/static/sub/..%2f..%2fpiccolo_conf.py",
    ],
)
def test_static_paths_with_a_nul_or_traversal_are_404(http, path):
    answer = http.send(httpx.Request("GET", http.base_url.join(path)))
    assert_error(answer, 404)
    assert "import" not in answer.text  # no source file came back
    assert http.get("/static/survey.css").status_code == 200  # and the server still serves


MALFORMED_ORIGINS = [
    # A directive smuggled into the header.
    "https://portal.example.gov; script-src https://evil.example",
    "'unsafe-inline' https://portal.example.gov",
    # A URL with credentials and a path: the password must not reach the log.
    "https://admin:s3cr3t-pass@portal.example.gov/embed?key=tok3n",
    "javascript:alert(1)",
]


@pytest.mark.parametrize("stored", MALFORMED_ORIGINS)
def test_a_malformed_stored_frame_origins_frames_by_this_site_only(
    http, live, portal, stored, caplog
):
    token = invite(http, portal)["token"]
    # /admin saves any text; the page must still open. (A value is logged once per process:
    # a fresh one for each engine's run.)
    stored = f"https://{secrets.token_hex(4)}.example.gov {stored}"
    live.run(Agency.update({Agency.frame_origins: stored}).where(Agency.code == portal.agency))
    with caplog.at_level(logging.WARNING, logger="survey"):
        page = http.get(f"/s/{token}")
    assert page.status_code == 200, page.text
    csp = page.headers["content-security-policy"]
    assert csp.endswith("frame-ancestors 'self'")
    assert "evil" not in csp
    assert "unsafe-inline" not in csp
    assert "s3cr3t" not in csp
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("frame_origins" in message and portal.agency in message for message in warnings)
    assert not any("s3cr3t" in m or "tok3n" in m or "evil" in m for m in warnings)
    # A well-formed list still frames as registered.
    live.run(
        Agency.update({Agency.frame_origins: "https://portal.example.gov"}).where(
            Agency.code == portal.agency
        )
    )
    csp = http.get(f"/s/{token}").headers["content-security-policy"]
    assert csp.endswith("frame-ancestors 'self' https://portal.example.gov")


@pytest.mark.parametrize("origins", MALFORMED_ORIGINS)
def test_a_malformed_frame_origins_is_refused_when_saved(live, origins):
    async def add() -> None:
        await directory.add_agency("EDGE", AgencyKind.ministry, "Edge", {}, origins)

    with pytest.raises(directory.DirectoryError, match="is not an origin"):
        live.run(add())
    assert live.run(directory.agency_id("EDGE")) is None


# --- framing and third parties ------------------------------------------------------------

ASSET = re.compile(r"<(?:script|link)\b[^>]*\b(?:src|href)=\"([^\"]+)\"", re.IGNORECASE)


def assert_not_framable(answer: httpx.Response) -> None:
    assert answer.headers.get("x-frame-options") == "DENY", answer.headers
    csp = answer.headers.get("content-security-policy")
    if csp is not None:
        assert "frame-ancestors 'none'" in csp


@pytest.mark.parametrize("path", ["/schema", "/schema/swagger"])
def test_the_api_reference_loads_nothing_from_another_host(http, live, path):
    page = http.get(path)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert_not_framable(page)
    csp = page.headers["content-security-policy"]
    assert "script-src 'self';" in csp
    assert "style-src 'self';" in csp
    assert "frame-ancestors 'none'" in csp
    assert not re.search(r"https?://|unsafe-|\*", csp), csp
    assets = ASSET.findall(page.text)
    assert any(a.endswith(".js") for a in assets)
    assert any(a.endswith(".css") for a in assets)
    own = urlsplit(live.url).netloc
    for asset in assets:
        target = urlsplit(asset)
        assert target.netloc in ("", own), asset
        if target.scheme == "data":
            continue
        fetched = http.get(asset)
        assert fetched.status_code == 200, asset
        assert fetched.headers["content-type"].startswith(("text/css", "text/javascript"))
    assert "<script>" not in page.text
    assert "<style" not in page.text
    assert "SwaggerUIBundle" in http.get("/schema/swagger/init.js").text
    assert http.get("/schema/swagger/swagger-editor.js").status_code == 404
    document = http.get("/schema/openapi.json")
    assert document.status_code == 200
    assert "/api/v1/stats/satisfaction" in document.json()["paths"]


def test_admin_may_not_be_framed(http):
    page = http.get("/admin/", follow_redirects=True)
    assert page.status_code == 200
    assert_not_framable(page)
    assert_not_framable(http.get("/admin/api/tables/"))
