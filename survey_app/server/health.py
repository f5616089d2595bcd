"""Health endpoints for orchestrators: liveness touches nothing, readiness pings the database."""

from __future__ import annotations

from litestar import Response, get
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

from survey_app.auth.guards import PUBLIC
from survey_app.db.engine import UNAVAILABLE, ping
from survey_app.lib.context import Ctx
from survey_app.server.errors import RETRY_AFTER_S


@get("/livez", tags=["operations"], summary="The process is alive", opt=PUBLIC)
async def livez() -> dict[str, str]:
    return {"status": "ok"}


@get("/readyz", tags=["operations"], summary="The database answers", opt=PUBLIC)
async def readyz(ctx: Ctx) -> Response[dict[str, str]]:
    try:
        await ping(ctx.engine)
    except UNAVAILABLE as error:
        return Response(
            {"status": "unavailable", "database": type(error).__name__},
            status_code=HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": RETRY_AFTER_S},
        )
    return Response({"status": "ok", "database": "ok"}, status_code=HTTP_200_OK)
