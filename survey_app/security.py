"""Security headers on every response; the citizen page sets its own frame-ancestors.

The strict policy allows only this origin's styles, scripts and images (plus
``data:`` for the empty favicon), no plugins, no ``<base>``, forms only to
this origin, and no framing. ``/admin`` (piccolo_admin's single-page app) and
``/schema`` (the API reference page) keep their own needs and get only the
non-CSP headers.
"""

from __future__ import annotations

import re

from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

BASE_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "form-action 'self'; base-uri 'none'; object-src 'none'"
)
ORIGIN = re.compile(r"^https?://(\*\.)?[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d{1,5})?$")
NO_CSP_PREFIXES = ("/admin", "/schema")


def policy(frame_ancestors: str) -> str:
    return f"{BASE_POLICY}; frame-ancestors {frame_ancestors}"


def parse_origins(text: str) -> list[str]:
    """Origins from a space-separated list; ValueError names the first malformed one."""
    origins = []
    for origin in text.split():
        origin = origin.rstrip("/").lower()
        if not ORIGIN.match(origin):
            raise ValueError(
                f"{origin!r} is not an origin like https://portal.example.gov (no path, no quotes)"
            )
        origins.append(origin)
    return origins


def embedding_policy(frame_origins: str | None) -> str:
    """The citizen page: framable by this site and the agency's registered portals."""
    if frame_origins is None:
        # No invitation behind the page (unknown token): nothing to protect, any portal may show it.
        return policy("*")
    return policy(" ".join(["'self'", *parse_origins(frame_origins)]))


async def security_headers(message: Message, scope: Scope) -> None:
    """``before_send`` hook adding the headers every response should carry.

    A hook, not a middleware: Litestar answers errors raised inside middleware
    (a rate limit, a CSRF failure) outside the middleware stack, but through
    the hooks.
    """
    if message["type"] != "http.response.start":
        return
    headers = MutableScopeHeaders.from_message(message)
    headers["X-Content-Type-Options"] = "nosniff"
    # Tokens live in paths: never hand them to another site in a Referer.
    # (Not "no-referrer": browsers then send "Origin: null" on our own forms.)
    headers["Referrer-Policy"] = "same-origin"
    # The router rewrites "path" for mounted apps (/admin/x becomes /x); raw_path is as sent.
    raw_path = scope.get("raw_path") or scope.get("path", "").encode()
    if (
        not raw_path.decode("latin-1").startswith(NO_CSP_PREFIXES)
        and "content-security-policy" not in headers
    ):
        headers["Content-Security-Policy"] = policy("'none'")
        headers["X-Frame-Options"] = "DENY"
