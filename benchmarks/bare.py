"""The reference: a bare Litestar app with one JSON route, nothing else.

Served by the same uvicorn with the same log configuration as ``survey serve``
(``benchmarks.serve``), so that the ratio of our ``/livez`` to its ``/livez``
is the share of a request our own stack leaves to the framework.
"""

from __future__ import annotations

from litestar import Litestar, get


@get("/livez")
async def livez() -> dict[str, str]:
    return {"status": "ok"}


def create_app() -> Litestar:
    return Litestar(route_handlers=[livez])
