"""The middleware stack after its costs were cut: every guarantee still holds.

Security headers on every response, framing rules for the citizen page and
/admin, CSRF on staff forms (and no CSRF cookie where no form can be), gzip
where it pays and nowhere else, oversized requests refused. Over real HTTP.
"""

from __future__ import annotations

import gzip
import socket
from urllib.parse import urlsplit

import httpx
import pytest

from survey_app.lib.frames import policy
from survey_app.server.request_size import MAX_HEADER_BYTES, MAX_TARGET_BYTES

STRICT = policy("'none'")
NO_GZIP = {"Accept-Encoding": "identity"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/livez"),
        ("GET", "/readyz"),
        ("GET", "/static/frame.js"),
        ("GET", "/embed.js"),
        ("GET", "/login"),
        ("GET", "/no/such/page"),
        ("GET", "/static/no-such-file.css"),
        ("POST", "/livez"),
        ("POST", "/api/v1/invitations"),  # 401: no key
        ("GET", "/schema/openapi.json"),
    ],
)
def test_every_response_carries_the_strict_headers(http, method, path):
    response = http.request(method, path, headers=NO_GZIP)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers["content-security-policy"] == STRICT
    assert response.headers["x-frame-options"] == "DENY"
    for name in ("x-content-type-options", "referrer-policy", "x-frame-options"):
        assert len(response.headers.get_list(name)) == 1, (name, response.headers)


def test_admin_may_not_be_framed_and_has_no_policy(http):
    response = http.get("/admin/")
    assert response.headers["x-frame-options"] == "DENY"
    assert "content-security-policy" not in response.headers
    assert response.headers["x-content-type-options"] == "nosniff"


def test_oversized_requests_are_refused_with_the_headers(http):
    long = http.get("/livez", params={"q": "x" * MAX_TARGET_BYTES})
    assert long.status_code == 414
    big = http.get("/livez", headers={"X-Big": "y" * (MAX_HEADER_BYTES + 1)})
    assert big.status_code == 431
    assert long.json()["status_code"] == 414


def test_no_csrf_cookie_where_no_form_can_be(http):
    for path in ("/livez", "/readyz", "/static/frame.js", "/embed.js"):
        response = http.get(path)
        assert response.status_code == 200, path
        assert "set-cookie" not in response.headers, path


def test_staff_forms_still_get_a_token_and_unsafe_requests_need_it(http):
    page = http.get("/login")
    assert "survey_csrf" in page.headers.get("set-cookie", "")
    assert 'name="_csrf_token"' in page.text
    refused = http.post("/login", data={"username": "a", "password": "b"})
    assert refused.status_code == 403


def test_a_posted_form_to_an_excluded_path_is_not_served(http):
    # Left out of CSRF because no handler accepts anything but GET there.
    for path in ("/livez", "/readyz", "/static/frame.js", "/embed.js"):
        assert http.post(path, data={"x": "1"}).status_code == 405, path


def test_pages_are_gzipped_for_clients_that_ask_and_only_for_them(http):
    plain = http.get("/static/frame.js", headers=NO_GZIP)
    assert "content-encoding" not in plain.headers
    zipped = http.get("/login", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert "accept-encoding" in zipped.headers["vary"].lower()
    identity = http.get("/login", headers=NO_GZIP)
    assert "content-encoding" not in identity.headers
    # httpx has already inflated the body: the same page either way.
    assert zipped.text.split("_csrf_token")[0] == identity.text.split("_csrf_token")[0]


def test_a_body_too_small_to_compress_is_sent_as_it_is(live):
    # A raw socket, so nothing is inflated on the way: the bytes the server sent.
    address = urlsplit(live.url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall(
            b"GET /livez HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n"
        )
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"content-encoding" not in head.lower()
    assert body == b'{"status":"ok"}'


def test_a_large_body_is_gzipped_on_the_wire(live):
    with (
        httpx.Client(base_url=live.url, timeout=30) as client,
        client.stream("GET", "/login", headers={"Accept-Encoding": "gzip"}) as response,
    ):
        raw = b"".join(response.iter_raw())
    assert response.headers["content-encoding"] == "gzip"
    assert b"<html" in gzip.decompress(raw)
