"""The register (agencies, services, their questionnaires, API keys) as this process last
read it, kept for at most a stated time.

Every portal request asks who its key belongs to and which questionnaire its service uses;
both change a few times a year. Each process keeps what it read for ``seconds`` (the
``register_cache_seconds`` setting): a change made by another process (``survey key
revoke``, ``survey questionnaire assign``) is seen within that bound, one made through this
process's own engine at once, since the engine clears the cache after every statement that
writes one of ``REGISTER_TABLES`` (``RegisterCache.wrote``).
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

from piccolo.table import Table

from survey_app.db.replica import on_primary
from survey_app.lib.settings import Settings

V = TypeVar("V")

REGISTER_TABLES = frozenset({"agency", "service", "api_key"})
# Entries per cache: a flood of random keys or service codes evicts the least recently used
# entries instead of growing the process (a few hundred bytes each, so about 2 MB at most).
MAX_ENTRIES = 10_000
# The table a write statement changes, as Piccolo writes it (``UPDATE "api_key" SET ...``).
WRITTEN_TABLE = re.compile(r'^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)"?', re.IGNORECASE)


class BoundedCache:
    """At most ``max_entries`` values, each until it expires; the least recently used go first."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable, now: float) -> tuple[bool, Any]:
        entry = self._entries.get(key)
        if entry is None:
            return False, None
        if entry[0] <= now:
            self._entries.pop(key, None)
            return False, None
        self._entries.move_to_end(key)
        return True, entry[1]

    def put(self, key: Hashable, value: Any, expires: float) -> None:
        self._entries[key] = (expires, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()


class RegisterCache:
    """One process's copy of register look-ups, by kind (``keys``, ``services``)."""

    def __init__(self, seconds: float | None = None, max_entries: int = MAX_ENTRIES) -> None:
        self.seconds = Settings.default("register_cache_seconds") if seconds is None else seconds
        self.max_entries = max_entries
        self._caches: dict[str, BoundedCache] = {}
        # Bumped by every change: a look-up that began before a change must not store
        # what it read, which may be from before it.
        self._generation = 0
        # Several event loops (threads) of one process share the engine and its cache.
        self._lock = threading.Lock()

    def size(self, kind: str) -> int:
        return len(self._caches.get(kind, ()))

    async def get(
        self,
        kind: str,
        key: Hashable,
        load: Callable[[], Awaitable[V]],
        *,
        keep_none: bool = True,
    ) -> V:
        """The cached value of ``key``, else ``load()``'s, kept unless it is None and
        ``keep_none`` is false (then every look-up of an unknown key reads the database)."""
        if self.seconds <= 0:
            return await load()
        now = time.monotonic()
        with self._lock:
            cache = self._caches.setdefault(kind, BoundedCache(self.max_entries))
            found, value = cache.get(key, now)
            generation = self._generation
        if found:
            return value
        value = await on_primary(load)
        if value is not None or keep_none:
            with self._lock:
                if generation == self._generation:
                    cache.put(key, value, now + self.seconds)
        return value

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            for cache in self._caches.values():
                cache.clear()

    def wrote(self, query: str) -> None:
        """Forget everything if ``query`` writes a register table."""
        match = WRITTEN_TABLE.match(query)
        if match and match.group(1).lower() in REGISTER_TABLES:
            self.clear()


# For engines made elsewhere (a test's own): look-ups go straight to the database.
UNCACHED = RegisterCache(seconds=0)


def register_of(table: type[Table]) -> RegisterCache:
    """The register cache of the engine ``table`` is bound to."""
    return getattr(table._meta.db, "register", UNCACHED)
