"""Security headers on every response; the citizen page sets its own frame-ancestors.

``/admin`` (piccolo_admin's single-page app, which needs inline styles) gets
no CSP, but it may not be framed either: ``X-Frame-Options: DENY``. The API
reference under ``/schema`` loads its assets from this origin only, so it
gets the strict policy like every other page.
"""

from __future__ import annotations

from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

from survey_app.lib.frames import policy

NO_CSP_PREFIXES = ("/admin",)


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
    if "content-security-policy" in headers:
        return  # the citizen page: framed by its agency's portals, as its own policy says
    # The router rewrites "path" for mounted apps (/admin/x becomes /x); raw_path is as sent.
    raw_path = scope.get("raw_path") or scope.get("path", "").encode()
    if not raw_path.decode("latin-1").startswith(NO_CSP_PREFIXES):
        headers["Content-Security-Policy"] = policy("'none'")
    headers["X-Frame-Options"] = "DENY"
