"""Request budgets: per client address on citizen pages, per API key on the API.

Litestar's rate-limit middleware counts; the counts live in Redis when
``SURVEY_REDIS_URL`` is set, so every worker and every machine draws on one
budget (the default memory store is per process: N workers would grant N
times the budget, which is why ``survey serve --workers`` above 1 asks for
Redis). Failed staff logins are counted in the same store (``auth.throttle``).
Addresses of one-stop counters, where many citizens share one tablet,
can be exempted.

The limiter fails open: if Redis stops answering, requests are served
unlimited and a warning is logged, because losing answers costs more than a
few minutes without a budget.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import time
from datetime import timedelta
from typing import Any

from litestar import Request
from litestar.middleware import DefineMiddleware
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.stores.base import Store
from litestar.stores.memory import MemoryStore
from litestar.stores.redis import RedisStore
from redis.asyncio import Redis
from redis.exceptions import RedisError

from survey_app.auth.apikeys import bearer_token
from survey_app.auth.throttle import STORE_NAME, client_address, client_id
from survey_app.lib.settings import Settings

log = logging.getLogger("survey.ratelimit")

CITIZEN_PREFIX = "/s/"
API_PREFIX = "/api/"
# A Redis that does not answer must not hold a citizen's request for long.
REDIS_TIMEOUT_S = 0.25
WARN_EVERY_S = 60.0


class FailOpenRedisStore(RedisStore):
    """A shared store that turns an unreachable Redis into "no count yet"."""

    _last_warning = 0.0

    def _warn(self, error: RedisError) -> None:
        now = time.monotonic()
        if now - FailOpenRedisStore._last_warning >= WARN_EVERY_S:
            FailOpenRedisStore._last_warning = now
            log.warning("rate limits suspended: Redis unavailable (%s)", type(error).__name__)

    async def get(self, key: str, renew_for: int | timedelta | None = None) -> bytes | None:
        try:
            return await super().get(key, renew_for)
        except RedisError as error:
            self._warn(error)
            return None

    async def set(
        self, key: str, value: str | bytes, expires_in: int | timedelta | None = None
    ) -> None:
        try:
            await super().set(key, value, expires_in)
        except RedisError as error:
            self._warn(error)


def rate_limit_store(settings: Settings) -> Store:
    if settings.redis_url is None:
        return MemoryStore()
    client = Redis.from_url(
        settings.redis_url,
        socket_timeout=REDIS_TIMEOUT_S,
        socket_connect_timeout=REDIS_TIMEOUT_S,
    )
    return FailOpenRedisStore(
        client, namespace=settings.rate_limit_namespace, handle_client_shutdown=True
    )


def rate_limits(settings: Settings) -> list[DefineMiddleware]:
    """The middleware enforcing the configured budgets (none when both are 0)."""
    exempt = [ipaddress.ip_network(network) for network in settings.rate_limit_exempt]

    # Async on purpose: Litestar runs a plain function given as check_throttle_handler in a
    # worker thread, on every request, which halved the throughput of the whole service.
    async def citizen_applies(request: Request[Any, Any, Any]) -> bool:
        if not request.scope["path"].startswith(CITIZEN_PREFIX):
            return False
        if not exempt:
            return True
        try:
            address = ipaddress.ip_address(client_address(request))
        except ValueError:
            return True
        return not any(address in network for network in exempt)

    async def api_applies(request: Request[Any, Any, Any]) -> bool:
        return request.scope["path"].startswith(API_PREFIX)

    def api_key_or_address(request: Request[Any, Any, Any]) -> str:
        key = bearer_token(request.headers)
        if key:
            # The store sees a digest, never a key.
            return "api:key:" + hashlib.sha256(key.encode()).hexdigest()[:32]
        return "api:address:" + client_id(request)

    middleware = []
    if settings.citizen_rate_per_minute > 0:
        middleware.append(
            RateLimitConfig(
                rate_limit=("minute", settings.citizen_rate_per_minute),
                identifier_for_request=lambda request: "citizen:" + client_id(request),
                check_throttle_handler=citizen_applies,
                store=STORE_NAME,
            ).middleware
        )
    if settings.api_rate_per_second > 0:
        middleware.append(
            RateLimitConfig(
                rate_limit=("second", settings.api_rate_per_second),
                identifier_for_request=api_key_or_address,
                check_throttle_handler=api_applies,
                store=STORE_NAME,
            ).middleware
        )
    return middleware
