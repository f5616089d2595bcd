"""Security headers on every response; the citizen page sets its own frame-ancestors.

``/admin`` (piccolo_admin's single-page app, which needs inline styles) gets
no CSP, but it may not be framed either: ``X-Frame-Options: DENY``. The API
reference under ``/schema`` loads its assets from this origin only, so it
gets the strict policy like every other page.
"""

from __future__ import annotations

from litestar.types import Message, Scope

from survey_app.lib.frames import policy

NO_CSP_PREFIXES = (b"/admin",)
CSP = b"content-security-policy"
# Tokens live in paths: never hand them to another site in a Referer.
# (Not "no-referrer": browsers then send "Origin: null" on our own forms.)
ALWAYS = ((b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin"))
FRAME = (b"x-frame-options", b"DENY")
STRICT_CSP = (CSP, policy("'none'").encode("latin-1"))
# A handler's own value of one of these is replaced; its own CSP (and framing) is kept.
REPLACED = frozenset(name for name, _ in ALWAYS)


async def security_headers(message: Message, scope: Scope) -> None:
    """``before_send`` hook adding the headers every response should carry.

    A hook, not a middleware: Litestar answers errors raised inside middleware
    (a rate limit, a CSRF failure) outside the middleware stack, but through
    the hooks. It runs on every response, so it works on the raw header list
    (names as bytes, compared lower-cased) instead of building a headers object.
    """
    if message["type"] != "http.response.start":
        return
    own_csp = own_frame = False
    headers = []
    for name, value in message.get("headers") or ():
        lower = name.lower()
        if lower in REPLACED:
            continue
        own_csp = own_csp or lower == CSP
        own_frame = own_frame or lower == FRAME[0]
        headers.append((name, value))
    headers += ALWAYS
    if not own_csp:
        if own_frame:
            headers = [header for header in headers if header[0].lower() != FRAME[0]]
        # The citizen page, framed by its agency's portals, keeps its own policy and
        # framing; everything else is strict. The router rewrites "path" for mounted
        # apps (/admin/x becomes /x); raw_path is as sent.
        raw_path = scope.get("raw_path") or scope.get("path", "").encode("latin-1")
        if not raw_path.startswith(NO_CSP_PREFIXES):
            headers.append(STRICT_CSP)
        headers.append(FRAME)
    message["headers"] = headers
