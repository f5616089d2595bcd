"""Request budgets: per client address on citizen pages, per API key on the API.

One ASGI middleware counts each request on ``/s/…`` against
``citizen_rate_per_minute`` per client address (an IPv6 client: per /64;
addresses in ``rate_limit_exempt``, one-stop counters where many citizens share
a tablet, are not counted) and each request on ``/api/…`` against
``api_rate_per_second`` per API key, in fixed windows. Past the budget: 429 with
``Retry-After``, a localized page for citizens (``server.errors``).

* The counts live in Redis with ``SURVEY_REDIS_URL``, exact across workers and
  machines, else in this process (which is why ``survey serve --workers`` above 1
  asks for Redis); ``server.limit_store`` counts, fails open and never queues.
* A key draws on its own budget only once it has been seen to pass a guard (a
  2xx on a guarded route) in the last ``KNOWN_KEY_TTL_S``. Any other key draws
  on the client address's budget, so random keys neither escape the limit nor
  fill Redis; checking keys here would cost a database query per request.
"""

from __future__ import annotations

import functools
import ipaddress
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from litestar.exceptions import TooManyRequestsException
from litestar.middleware import DefineMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from survey_app.auth.apikeys import bearer_in_scope, hash_key, plausible_key
from survey_app.auth.throttle import STORE_NAME, address_id, client_ip, peer_address
from survey_app.lib.metrics import RATE_LIMIT_REFUSALS
from survey_app.lib.settings import Settings
from survey_app.server.limit_store import Counter, LimitsStore, rate_limit_store

# STORE_NAME too: the app registers the store under it, for the login throttle.
__all__ = ["STORE_NAME", "LimitsStore", "RateLimitMiddleware", "rate_limit_store", "rate_limits"]

CITIZEN_PREFIX = "/s/"
API_PREFIX = "/api/"
# A revoked key keeps its own budget (not its access) for at most this long.
KNOWN_KEY_TTL_S = 30.0
KNOWN_KEYS_MAX = 10_000


class KnownKeys:
    """Digests of API keys recently seen to pass a guard: at most ``size``, each for ``ttl_s``."""

    def __init__(self, size: int = KNOWN_KEYS_MAX, ttl_s: float = KNOWN_KEY_TTL_S) -> None:
        self.size = size
        self.ttl_s = ttl_s
        self._until: dict[str, float] = {}

    def __contains__(self, digest: str) -> bool:
        until = self._until.get(digest)
        if until is None:
            return False
        if until < time.monotonic():
            del self._until[digest]
            return False
        return True

    def add(self, digest: str) -> None:
        self._until.pop(digest, None)
        if len(self._until) >= self.size:
            del self._until[next(iter(self._until))]  # insertion order: the oldest first
        self._until[digest] = time.monotonic() + self.ttl_s


@dataclass(frozen=True)
class Budget:
    """``limit`` requests per window of ``window_ms`` for each client of ``kind``."""

    kind: str
    limit: int
    window_ms: int
    per: str


def wall_clock_ms() -> int:
    # The wall clock, not the monotonic one: every worker and machine must agree on windows.
    return time.time_ns() // 1_000_000


class Limits:
    """The budgets, their counter, and whose budget each request draws on."""

    def __init__(
        self, settings: Settings, counter: Counter, clock_ms: Callable[[], int] = wall_clock_ms
    ) -> None:
        self.counter = counter
        self.clock_ms = clock_ms
        self.citizen: Budget | None = None
        self.api: Budget | None = None
        if settings.citizen_rate_per_minute > 0:
            self.citizen = Budget("citizen", settings.citizen_rate_per_minute, 60_000, "minute")
        if settings.api_rate_per_second > 0:
            self.api = Budget("api", settings.api_rate_per_second, 1_000, "second")
        self.known_keys = KnownKeys()
        exempt = [ipaddress.ip_network(network) for network in settings.rate_limit_exempt]

        # Cached for the same reason as address_id; an unparsable address is not exempt.
        @functools.lru_cache(maxsize=4096)
        def is_exempt(address: str) -> bool:
            ip = client_ip(address)
            return ip is not None and any(ip in network for network in exempt)

        self.is_exempt = is_exempt

    async def citizen_page(self, scope: Scope, budget: Budget) -> None:
        address = peer_address(scope)
        if not self.is_exempt(address):
            await self.count(budget, address_id(address))

    async def api_call(self, scope: Scope, send: Send, budget: Budget) -> Send:
        """Count the call; the ``send`` to answer it with (it learns a key that passes)."""
        key = bearer_in_scope(scope)
        if key is not None and plausible_key(key):
            digest = hash_key(key)
            if digest in self.known_keys:
                await self.count(budget, "key:" + digest[:32])  # Redis sees a digest, never a key
                return send
            send = self._learning(scope, send, digest)
        await self.count(budget, "address:" + address_id(peer_address(scope)))
        return send

    def _learning(self, scope: Scope, send: Send, digest: str) -> Send:
        async def learn(message: Message) -> None:
            if (
                message["type"] == "http.response.start"
                and 200 <= message["status"] < 300
                and not scope["route_handler"].opt.get("public")
            ):
                self.known_keys.add(digest)
            await send(message)

        return learn

    async def count(self, budget: Budget, ident: str) -> None:
        """Count one request of ``ident``; 429 past the budget."""
        window, elapsed_ms = divmod(self.clock_ms(), budget.window_ms)
        count = await self.counter.hit(budget.kind, ident, window, budget.window_ms)
        if count is not None and count > budget.limit:
            RATE_LIMIT_REFUSALS.labels(budget.kind).inc()
            wait_s = str(math.ceil((budget.window_ms - elapsed_ms) / 1000))
            raise TooManyRequestsException(
                detail=f"Rate limit exceeded: {budget.limit} requests per {budget.per}",
                headers={
                    "Retry-After": wait_s,
                    "RateLimit-Limit": str(budget.limit),
                    "RateLimit-Remaining": "0",
                    "RateLimit-Reset": wait_s,
                },
            )


class RateLimitMiddleware:
    """ASGI middleware: each request on ``/s/`` and ``/api/`` counted, 429 past the budget."""

    def __init__(self, app: ASGIApp, limits: Limits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            limits = self.limits
            path = scope["path"]
            if path.startswith(CITIZEN_PREFIX) and limits.citizen is not None:
                await limits.citizen_page(scope, limits.citizen)
            elif path.startswith(API_PREFIX) and limits.api is not None:
                send = await limits.api_call(scope, send, limits.api)
        await self.app(scope, receive, send)


def rate_limits(settings: Settings, store: LimitsStore) -> list[DefineMiddleware]:
    """The middleware enforcing the configured budgets, counting in ``store`` (none when
    both budgets are 0)."""
    limits = Limits(settings, store.counter)
    if limits.citizen is None and limits.api is None:
        return []
    return [DefineMiddleware(RateLimitMiddleware, limits=limits)]
