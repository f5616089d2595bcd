"""``GET /embed.js``: the portal-side snippet that mounts an auto-resizing iframe."""

from __future__ import annotations

from pathlib import Path

from litestar import Response, get

EMBED_JS = Path(__file__).resolve().parent.parent / "static" / "embed.js"


@get("/embed.js", include_in_schema=False)
async def embed_js() -> Response[bytes]:
    return Response(
        EMBED_JS.read_bytes(),
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=3600", "Access-Control-Allow-Origin": "*"},
    )
