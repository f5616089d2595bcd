"""gzip for clients that accept it, with no per-request cost where nothing is compressed.

Litestar's ``CompressionMiddleware`` builds a headers object from the scope on
every request only to read ``Accept-Encoding``, and for a client that accepts
gzip it opens a gzip stream before the response exists, even for a body too
small to compress. This one finds the header in the raw list, and waits for the
first body: a whole body under ``minimum_size``, or one its handler already
encoded, goes out as it is (as Litestar would send it), anything else goes
through Litestar's own send wrapper, so what is compressed, and how, is unchanged.
"""

from __future__ import annotations

from litestar.enums import CompressionEncoding
from litestar.middleware.compression import CompressionMiddleware
from litestar.types import Message, Receive, Scope, Send

from survey_app.lib.media import accepts_gzip

CONTENT_ENCODING = b"content-encoding"


class GzipWhenAccepted(CompressionMiddleware):
    """``CompressionConfig(backend="gzip", middleware_class=GzipWhenAccepted)``."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if accepts_gzip(scope["headers"]):
            await self.app(scope, receive, self.compressing(send, scope))
            return
        await self.app(scope, receive, send)

    def compressing(self, send: Send, scope: Scope) -> Send:
        start: Message | None = None
        target: Send | None = None

        async def send_compressed(message: Message) -> None:
            nonlocal start, target
            if target is not None:
                await target(message)
                return
            if message["type"] == "http.response.start":
                start = message
                return
            small = (
                start is not None
                and message["type"] == "http.response.body"
                and not message.get("more_body")
                and len(message["body"]) < self.config.minimum_size
            )
            # A handler that compressed its body itself (the blank questionnaire page).
            encoded = start is not None and any(
                name == CONTENT_ENCODING for name, _ in start.get("headers", ())
            )
            if small or encoded:
                target = send
            else:
                target = self.create_compression_send_wrapper(
                    send=send, compression_encoding=CompressionEncoding.GZIP, scope=scope
                )
            if start is not None:
                await target(start)
            await target(message)

        return send_compressed
