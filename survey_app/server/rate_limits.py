"""Request budgets: per client address on citizen pages, per API key on the API.

One ASGI middleware counts each request on ``/s/…`` against
``citizen_rate_per_minute`` per client address (an IPv6 client: per /64;
addresses in ``rate_limit_exempt``, one-stop counters where many citizens share
a tablet, are not counted) and each request on ``/api/…`` against
``api_rate_per_second`` per API key, in fixed windows. Past the budget: 429 with
``Retry-After``, a localized page for citizens (``server.errors``).

* With ``SURVEY_REDIS_URL`` a hit is one Lua script (INCR, and PEXPIRE on the
  first hit of a window) on ``namespace:kind:id:window``, so every worker and
  every machine draws on one exact budget. The hits of one turn of the event
  loop travel in one pipeline: a busy worker pays a fraction of a round trip per
  request. Without Redis the counts live in this process, current windows only
  (which is why ``survey serve --workers`` above 1 asks for Redis).
* The limiter fails open and never queues: a Redis that errs or does not
  answer within ``REDIS_TIMEOUT_S`` opens a circuit breaker. While it is open,
  requests are served uncounted without asking Redis; after ``COOL_DOWN_S`` a
  background PING decides whether to count again. A warning is logged at most
  once a minute: losing answers costs more than a few seconds without a budget.
* A key draws on its own budget only once it has been seen to pass a guard (a
  2xx on a guarded route) in the last ``KNOWN_KEY_TTL_S``. Any other key draws
  on the client address's budget, so random keys neither escape the limit nor
  fill Redis; checking keys here would cost a database query per request.
* Failed staff logins are counted in the same store (``auth.throttle``), behind
  the same breaker.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import ipaddress
import logging
import math
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from litestar.exceptions import TooManyRequestsException
from litestar.middleware import DefineMiddleware
from litestar.stores.memory import MemoryStore
from litestar.stores.redis import RedisStore
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, RedisError

from survey_app.auth.apikeys import bearer_token, hash_key, plausible_key
from survey_app.auth.throttle import STORE_NAME, address_id, client_ip, peer_address
from survey_app.lib.settings import Settings

# STORE_NAME too: the app registers the store under it, for the login throttle.
__all__ = ["STORE_NAME", "LimitsStore", "RateLimitMiddleware", "rate_limit_store", "rate_limits"]

log = logging.getLogger("survey.ratelimit")

CITIZEN_PREFIX = "/s/"
API_PREFIX = "/api/"
# A Redis that does not answer must not hold a citizen's request for long.
REDIS_TIMEOUT_S = 0.25
# Between probes of a failing Redis; short, since a probe keeps no request waiting.
COOL_DOWN_S = 10.0
WARN_EVERY_S = 60.0
# A revoked key keeps its own budget (not its access) for at most this long.
KNOWN_KEY_TTL_S = 30.0
KNOWN_KEYS_MAX = 10_000
COUNT_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return count
"""
# asyncio.timeout raises the builtin TimeoutError, and a socket error may escape redis-py's.
REDIS_FAILURES = (RedisError, OSError, TimeoutError)


class Breaker:
    """Stops asking a failing Redis for ``cool_down_s``, then lets ``probe`` decide.

    Requests never wait for the probe: it runs in the background while they
    are served uncounted.
    """

    def __init__(
        self,
        probe: Callable[[], Coroutine[Any, Any, Any]],
        cool_down_s: float = COOL_DOWN_S,
        timeout_s: float = REDIS_TIMEOUT_S,
    ) -> None:
        self.probe = probe
        self.cool_down_s = cool_down_s
        self.timeout_s = timeout_s
        self.open_until: float | None = None
        self._probing: asyncio.Task[None] | None = None
        self._warned_at = -math.inf

    def allows(self) -> bool:
        """Whether to ask Redis now; past the cool-down, this starts the probe."""
        if self.open_until is None:
            return True
        if self._probing is None and time.monotonic() >= self.open_until:
            self._probing = asyncio.get_running_loop().create_task(self._probe())
        return False

    async def _probe(self) -> None:
        try:
            async with asyncio.timeout(self.timeout_s):
                await self.probe()
        except REDIS_FAILURES as error:
            self.failed(error)
        else:
            self.succeeded()
        finally:
            self._probing = None

    def succeeded(self) -> None:
        if self.open_until is not None:
            self.open_until = None
            log.warning("rate limits resumed: Redis answers again")

    def failed(self, error: BaseException) -> None:
        now = time.monotonic()
        self.open_until = now + self.cool_down_s
        if now - self._warned_at >= WARN_EVERY_S:
            self._warned_at = now
            log.warning(
                "rate limits suspended: Redis unavailable (%s); requests are not counted "
                "until it answers again (asked every %g s)",
                type(error).__name__,
                self.cool_down_s,
            )


class Counter(Protocol):
    async def hit(self, kind: str, ident: str, window: int, window_ms: int) -> int | None:
        """The hits of ``ident`` in ``window`` so far, this one included; None: not counted."""


class MemoryCounter:
    """Counts in this process, the current window of each kind only."""

    def __init__(self) -> None:
        self._windows: dict[str, tuple[int, dict[str, int]]] = {}

    async def hit(self, kind: str, ident: str, window: int, window_ms: int) -> int | None:
        current, counts = self._windows.get(kind, (None, {}))
        if current != window:
            counts = {}
            self._windows[kind] = (window, counts)
        count = counts[ident] = counts.get(ident, 0) + 1
        return count


class RedisCounter:
    """Counts in Redis, atomically; the hits of one turn of the event loop share a pipeline."""

    def __init__(
        self,
        client: Redis,
        namespace: str,
        breaker: Breaker,
        timeout_s: float = REDIS_TIMEOUT_S,
        script: str = COUNT_SCRIPT,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.breaker = breaker
        self.timeout_s = timeout_s
        self.script = script
        self.sha = hashlib.sha1(script.encode(), usedforsecurity=False).hexdigest()
        self._batch: list[tuple[str, int, asyncio.Future[int | None]]] = []
        self._sending: set[asyncio.Task[None]] = set()

    async def hit(self, kind: str, ident: str, window: int, window_ms: int) -> int | None:
        if not self.breaker.allows():
            return None
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int | None] = loop.create_future()
        if not self._batch:
            # It starts on the next turn of the loop, with every hit of this one.
            task = loop.create_task(self._send())
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)
        self._batch.append((f"{self.namespace}:{kind}:{ident}:{window}", window_ms, future))
        return await future

    async def _send(self) -> None:
        batch, self._batch = self._batch, []
        counts: list[int | None] = [None] * len(batch)
        try:
            async with asyncio.timeout(self.timeout_s):
                counts = await self._evaluate([(key, ms) for key, ms, _ in batch])
            self.breaker.succeeded()
        except REDIS_FAILURES as error:
            self.breaker.failed(error)
        finally:
            for (_, _, future), count in zip(batch, counts, strict=True):
                if not future.done():
                    future.set_result(count)

    async def _evaluate(self, hits: list[tuple[str, int]]) -> list[int | None]:
        results = await self._pipeline("EVALSHA", self.sha, hits)
        lost = [i for i, result in enumerate(results) if isinstance(result, NoScriptError)]
        if lost:
            # Redis restarted or flushed its scripts: EVAL runs the script and caches it again.
            again = await self._pipeline("EVAL", self.script, [hits[i] for i in lost])
            for i, result in zip(lost, again, strict=True):
                results[i] = result
        for result in results:
            if isinstance(result, Exception):
                raise result
        return results

    async def _pipeline(self, command: str, script: str, hits: list[tuple[str, int]]) -> list:
        async with self.client.pipeline(transaction=False) as pipe:
            for key, window_ms in hits:
                pipe.execute_command(command, script, 1, key, window_ms)
            return await pipe.execute(raise_on_error=False)


class MemoryLimitsStore(MemoryStore):
    """The login throttle's store and the request counts, in this process."""

    def __init__(self) -> None:
        super().__init__()
        self.counter: Counter = MemoryCounter()


class RedisLimitsStore(RedisStore):
    """The login throttle's store and the request counts in Redis, behind one breaker."""

    def __init__(self, client: Redis, namespace: str) -> None:
        super().__init__(client, namespace=namespace, handle_client_shutdown=True)
        self.breaker = Breaker(client.ping)
        self.counter: Counter = RedisCounter(client, namespace, self.breaker)

    async def get(self, key: str, renew_for: int | timedelta | None = None) -> bytes | None:
        if not self.breaker.allows():
            return None
        try:
            async with asyncio.timeout(REDIS_TIMEOUT_S):
                value = await super().get(key, renew_for)
        except REDIS_FAILURES as error:
            self.breaker.failed(error)
            return None
        self.breaker.succeeded()
        return value

    async def set(
        self, key: str, value: str | bytes, expires_in: int | timedelta | None = None
    ) -> None:
        if not self.breaker.allows():
            return
        try:
            async with asyncio.timeout(REDIS_TIMEOUT_S):
                await super().set(key, value, expires_in)
        except REDIS_FAILURES as error:
            self.breaker.failed(error)
            return
        self.breaker.succeeded()


LimitsStore = MemoryLimitsStore | RedisLimitsStore


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


def bearer_key(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            return bearer_token({"authorization": value.decode("latin-1")})
    return None


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
        key = bearer_key(scope)
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


def rate_limit_store(settings: Settings) -> LimitsStore:
    if settings.redis_url is None:
        return MemoryLimitsStore()
    client = Redis.from_url(
        settings.redis_url,
        socket_timeout=REDIS_TIMEOUT_S,
        socket_connect_timeout=REDIS_TIMEOUT_S,
        # Once, at once: a connection dropped by a Redis restart is replaced without
        # tripping the breaker, and a Redis that is really gone trips it.
        retry=Retry(NoBackoff(), 1),
    )
    return RedisLimitsStore(client, settings.rate_limit_namespace)


def rate_limits(settings: Settings, store: LimitsStore) -> list[DefineMiddleware]:
    """The middleware enforcing the configured budgets, counting in ``store`` (none when
    both budgets are 0)."""
    limits = Limits(settings, store.counter)
    if limits.citizen is None and limits.api is None:
        return []
    return [DefineMiddleware(RateLimitMiddleware, limits=limits)]
