"""How a statistics answer is served without holding the event loop: from the cache when
the data has not changed, else read on the loop, computed and rendered in a worker
process (``lib.workers``), at most a few at a time per caller.

The cache is per process and keyed by everything an answer depends on: the route, every
query parameter (format included), the locale, the time zone the days are counted in, the
caller's scope (role and agency), the data version (``db.version``: one small query,
moved by every process that writes, a CLI command included) and the database it was read
from (the primary or its replica, ``db.replica``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from litestar import Request, Response
from litestar.utils.scope.state import ScopeState
from piccolo.engine.base import Engine

from survey_app.auth.guards import PRINCIPAL
from survey_app.auth.staff import StaffMember
from survey_app.db.replica import read_source
from survey_app.db.version import data_version
from survey_app.lib.i18n import request_locale
from survey_app.lib.metrics import STATS_CACHE_HITS, STATS_CACHE_MISSES
from survey_app.lib.settings import Settings, timezone_name
from survey_app.lib.workers import CallerCap, Workers
from survey_app.statistics.render import Rendered, compressed

STATE = "offload"
CACHE_HEADER = "X-Cache"
MAX_ENTRIES = 256
# What the statistics workers import once, in the forkserver, before any worker forks.
PRELOAD = ("survey_app.statistics.compute", "survey_app.dashboard.drawing")


class StatsCache:
    """Least recently used answers, bounded by their bytes and their number."""

    def __init__(self, max_bytes: int, max_entries: int = MAX_ENTRIES) -> None:
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self.size = 0
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[Hashable, Rendered] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    def get(self, key: Hashable) -> Rendered | None:
        found = self._entries.get(key)
        if found is None:
            self.misses += 1
            STATS_CACHE_MISSES.inc()
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        STATS_CACHE_HITS.inc()
        return found

    def put(self, key: Hashable, value: Rendered) -> None:
        if len(value.body) > self.max_bytes:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self.size -= len(old.body)
        self._entries[key] = value
        self.size += len(value.body)
        while self.size > self.max_bytes or len(self._entries) > self.max_entries:
            _, dropped = self._entries.popitem(last=False)
            self.size -= len(dropped.body)


@dataclass
class Offload:
    """The app's statistics workers, cache and per-caller cap (kept in ``app.state``)."""

    workers: Workers
    cache: StatsCache
    cap: CallerCap = field(default_factory=CallerCap)

    @classmethod
    def from_settings(cls, settings: Settings) -> Offload:
        return cls(
            Workers(settings.stats_workers, PRELOAD, threads=settings.stats_pool == "thread"),
            StatsCache(settings.stats_cache_mb * 1024 * 1024),
        )


def caller_of(principal: Any) -> tuple[Hashable, Hashable]:
    """(who counts against the cap, whose scope an answer may depend on)."""
    if isinstance(principal, StaffMember):
        return ("staff", principal.user_id), (principal.role, principal.agency_code)
    return ("key", principal.key_id), (principal.role, principal.agency_id)


def cache_key(request: Request, scope: Hashable) -> tuple[Hashable, ...]:
    return (
        request.url.path,
        tuple(sorted(request.query_params.multi_items())),
        request_locale(request),
        timezone_name(),
        scope,
    )


async def answer(
    request: Request,
    engine: Engine,
    compute: Callable[..., Rendered],
    *args: Any,
    reads: Callable[[], Awaitable[tuple[Any, ...]]],
) -> Response[bytes]:
    """``compute(*args, *await reads())`` as a response: cached, or read here and computed
    in a worker, within the caller's cap. ``X-Cache`` says which (``off`` without a cache)."""
    offload: Offload = request.app.state[STATE]
    caller, scope = caller_of(request.state[PRINCIPAL])
    gzip_it = "gzip" in request.headers.get("accept-encoding", "")
    key = source = None
    if offload.cache.enabled:
        version = await data_version(engine)
        # The database the version came from, which the answer is read from too (the
        # request is pinned to it): a replica's answer is never served for the primary's.
        source = read_source()
        key = (*cache_key(request, scope), gzip_it, version, source)
        cached = offload.cache.get(key)
        if cached is not None:
            return _sent(request, cached, "hit")
    async with offload.cap.slot(caller):
        data = await reads()
        rendered = await offload.workers.run(compressed, gzip_it, compute, *args, *data)
    if key is None:
        return _sent(request, rendered, "off")
    if read_source() != source:
        # The replica failed mid-request: the answer is not of the version in the key.
        return _sent(request, rendered, "off")
    offload.cache.put(key, rendered)
    return _sent(request, rendered, "miss")


def _sent(request: Request, rendered: Rendered, cache: str) -> Response[bytes]:
    if rendered.gzipped:
        # Already compressed in the worker: Litestar's compression middleware passes a
        # response it takes for one of its own cached (already encoded) answers.
        ScopeState.from_scope(request.scope).is_cached = True
    return rendered.response(**{CACHE_HEADER: cache})
