"""Refuse oversized request lines and headers before any work is done on them.

uvicorn with httptools accepts a request target or a header value of any
length; the application then parses, logs and queries with it. This ASGI
middleware answers 414 for a path and query string over ``MAX_TARGET_BYTES``
and 431 for one header over ``MAX_HEADER_BYTES`` or all of them over
``MAX_HEADERS_BYTES``, as JSON like every other API error. Bodies are limited
by Litestar (``Settings.max_body_bytes``, 413).
"""

from __future__ import annotations

import json

from litestar.status_codes import (
    HTTP_414_REQUEST_URI_TOO_LONG,
    HTTP_431_REQUEST_HEADER_FIELDS_TOO_LARGE,
)
from litestar.types import ASGIApp, Receive, Scope, Send

MAX_TARGET_BYTES = 8 * 1024
MAX_HEADER_BYTES = 8 * 1024
MAX_HEADERS_BYTES = 32 * 1024


def refusal(scope: Scope) -> tuple[int, str] | None:
    """The status and reason to refuse ``scope`` with, or None when it is within limits."""
    target = len(scope.get("raw_path") or scope["path"].encode()) + len(scope["query_string"])
    if target > MAX_TARGET_BYTES:
        return HTTP_414_REQUEST_URI_TOO_LONG, f"The URL is longer than {MAX_TARGET_BYTES} bytes"
    total = 0
    for name, value in scope["headers"]:
        if len(value) > MAX_HEADER_BYTES:
            return (
                HTTP_431_REQUEST_HEADER_FIELDS_TOO_LARGE,
                f"A header is longer than {MAX_HEADER_BYTES} bytes",
            )
        total += len(name) + len(value)
    if total > MAX_HEADERS_BYTES:
        return (
            HTTP_431_REQUEST_HEADER_FIELDS_TOO_LARGE,
            f"The headers are larger than {MAX_HEADERS_BYTES} bytes in all",
        )
    return None


class RequestLimits:
    """ASGI middleware: 414/431 for oversized request targets and headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refused = refusal(scope) if scope["type"] in ("http", "websocket") else None
        if refused is None:
            await self.app(scope, receive, send)
            return
        status, detail = refused
        body = json.dumps({"status_code": status, "detail": detail}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
