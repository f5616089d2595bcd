"""Health endpoints for orchestrators: liveness touches nothing, readiness pings the database.

With a read replica, ``/readyz`` also says where reads go, the replica's lag and whether
they fell back to the primary, as the lag check last found (it does not reach the replica
itself). It stays 200 while the primary answers: a replica that is down only moves reads
to the primary, and a load balancer taking every instance out for it would turn an
optional copy's outage into the whole service's.
"""

from __future__ import annotations

from typing import Any

from litestar import Response, get
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

from survey_app.auth.guards import PUBLIC
from survey_app.db.engine import UNAVAILABLE, ping
from survey_app.db.replica import replica_status
from survey_app.lib.context import Ctx
from survey_app.server.errors import RETRY_AFTER_S


@get("/livez", tags=["operations"], summary="The process is alive", opt=PUBLIC)
async def livez() -> dict[str, str]:
    return {"status": "ok"}


@get("/readyz", tags=["operations"], summary="The database answers", opt=PUBLIC)
async def readyz(ctx: Ctx) -> Response[dict[str, Any]]:
    """``{"status": "ok", "database": "ok"}``; with a replica also ``reads`` (replica or
    primary), ``replica`` (its state), ``replica_lag_s``, ``fallback`` and ``fallbacks``."""
    replica = replica_status(ctx.engine)
    extra = replica.to_dict() if replica is not None else {}
    try:
        await ping(ctx.engine)
    except UNAVAILABLE as error:
        return Response(
            {"status": "unavailable", "database": type(error).__name__, **extra},
            status_code=HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": RETRY_AFTER_S},
        )
    return Response({"status": "ok", "database": "ok", **extra}, status_code=HTTP_200_OK)
