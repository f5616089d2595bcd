"""Where request budgets are counted: in this process, or in Redis behind a circuit breaker.

* In Redis a hit is one Lua script (INCR, and PEXPIRE on the first hit of a
  window) on ``namespace:kind:id:window``, so every worker and every machine
  draws on one exact budget. The hits of one turn of the event loop travel in
  one pipeline: a busy worker pays a fraction of a round trip per request.
* Without Redis the counts live in this process, current windows only.
* The store fails open and never queues: a Redis that errs or does not answer
  within ``REDIS_TIMEOUT_S`` opens the breaker. While it is open, requests are
  served uncounted without asking Redis; after ``COOL_DOWN_S`` a background PING
  decides whether to count again. A warning is logged at most once a minute:
  losing answers costs more than a few seconds without a budget.
* The login throttle (``auth.throttle``) keeps its counts in the same store,
  behind the same breaker.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any, Protocol

from litestar.stores.memory import MemoryStore
from litestar.stores.redis import RedisStore
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, RedisError

from survey_app.lib.settings import Settings

log = logging.getLogger("survey.ratelimit")

# A Redis that does not answer must not hold a citizen's request for long.
REDIS_TIMEOUT_S = 0.25
# Between probes of a failing Redis; short, since a probe keeps no request waiting.
COOL_DOWN_S = 10.0
WARN_EVERY_S = 60.0

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
