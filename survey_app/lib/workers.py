"""Heavy work off the event loop: a process pool for statistics and charts, threads for
password hashing, and a cap on how much heavy work one caller may ask for at once.

Processes, not threads, for the statistics: pandas, statsmodels and matplotlib hold the
GIL for most of a computation, so a thread would still stall every other request (the
benchmark ``benchmarks/offload.py`` measures both). Threads for PBKDF2: ``hashlib``
releases the GIL while it hashes, and a thread costs no pickling.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Hashable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, TypeVar

from litestar.exceptions import TooManyRequestsException

log = logging.getLogger("survey")
T = TypeVar("T")

HASH_THREADS = 2
# Each caller (an API key, a staff member) computes this many heavy answers at a time,
# and this many more wait their turn; beyond that, 429.
RUNNING_PER_CALLER = 2
WAITING_PER_CALLER = 4
RETRY_AFTER_BUSY_S = "2"
WARM_UP_ROUNDS = 5
WARM_UP_HOLD_S = 0.05


class Workers:
    """A bounded pool of worker processes (forkserver), or none: ``size`` 0 runs inline.

    Forkserver rather than fork: the server process has an event loop, threads and open
    database connections, none of which a forked child may safely inherit. The server
    preloads ``preload`` once, so each worker starts in milliseconds.
    """

    def __init__(self, size: int, preload: Sequence[str] = (), threads: bool = False) -> None:
        self.size = max(0, size)
        self.threads = threads
        self._preload = list(preload)
        self._pool: Executor | None = None
        self._warming: asyncio.Future[Any] | None = None

    def start(self) -> None:
        """Create the pool and start its workers in the background: the first request does
        not pay for their start, and a server start does not wait for it."""
        if self.size == 0 or self._pool is not None:
            return
        if self.threads:
            self._pool = ThreadPoolExecutor(self.size, thread_name_prefix="stats")
            return
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(self._preload)
        self._pool = ProcessPoolExecutor(
            max_workers=self.size, mp_context=context, initializer=exit_with_the_server
        )
        self._warming = asyncio.ensure_future(self._warm_up(self._pool))

    async def _warm_up(self, pool: Executor) -> None:
        """Start every worker now. The pool starts a worker on submit only when none is
        idle, so a warm-up task that ends before the next submit (a busy machine may
        deschedule the loop between two) would leave the pool one worker short: each task
        holds its worker a moment, and a round that still met fewer is repeated."""
        loop = asyncio.get_running_loop()
        for _ in range(WARM_UP_ROUNDS):
            try:
                met = await asyncio.gather(
                    *(loop.run_in_executor(pool, _hold_a_moment) for _ in range(self.size))
                )
            except Exception:  # a pool broken or shut down meanwhile: nothing to warm
                return
            if len(set(met)) >= self.size:
                return

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a worker (``fn`` and its arguments are pickled), or inline."""
        if self._pool is None:
            return fn(*args)
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        except BrokenProcessPool:
            # A worker died (killed, out of memory): the pool refuses all work from then
            # on. Start a new one for this request and the next.
            log.warning("a statistics worker died; starting a new pool")
            broken, self._pool = self._pool, None
            if broken is not None:
                broken.shutdown(wait=False, cancel_futures=True)
            self.start()
            assert self._pool is not None
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def stop(self) -> None:
        """Stop the workers and wait for them, so none outlives the server."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if self._warming is not None:
            await self._warming
        await asyncio.get_running_loop().run_in_executor(
            None, partial(pool.shutdown, wait=True, cancel_futures=True)
        )


def _hold_a_moment() -> int:
    time.sleep(WARM_UP_HOLD_S)
    return os.getpid()


def exit_with_the_server() -> None:
    """Make a pool worker exit when the server process that asked for it dies.

    A server killed outright (SIGKILL, the OOM killer) runs no shutdown, and its workers
    would wait for work forever: each holds both ends of the pool's queue, and the
    forkserver lives on as long as they do. Multiprocessing gives each worker a sentinel
    that becomes ready when that process is gone; a thread waits on it.
    """
    server = multiprocessing.parent_process()
    if server is None:
        return

    def watch() -> None:
        server.join()
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-the-server", daemon=True).start()


class _Hashing:
    """The threads that hash passwords, made on first use (threads need no lifespan);
    ``size`` 0 hashes on the loop (to measure what the threads spare)."""

    size = HASH_THREADS
    pool: ThreadPoolExecutor | None = None


def configure_hashing(size: int) -> None:
    _Hashing.size = max(0, size)


async def in_hashing_thread(fn: Callable[..., T], *args: Any) -> T:
    if _Hashing.size == 0:
        return fn(*args)
    if _Hashing.pool is None:
        _Hashing.pool = ThreadPoolExecutor(_Hashing.size, thread_name_prefix="hash")
    return await asyncio.get_running_loop().run_in_executor(_Hashing.pool, fn, *args)


class CallerCap:
    """At most ``running`` heavy computations per caller, ``waiting`` more queued; past
    that a 429 with ``Retry-After``, so one caller cannot fill the pool for everyone."""

    def __init__(self, running: int = RUNNING_PER_CALLER, waiting: int = WAITING_PER_CALLER):
        self.running = running
        self.waiting = waiting
        self._inflight: Counter[Hashable] = Counter()
        self._slots: dict[Hashable, asyncio.Semaphore] = {}

    @asynccontextmanager
    async def slot(self, caller: Hashable) -> AsyncIterator[None]:
        if self._inflight[caller] >= self.running + self.waiting:
            # Imported here: the pool's processes import this module too, and would
            # otherwise make metrics files of their own in a multiprocess directory.
            from survey_app.lib.metrics import RATE_LIMIT_REFUSALS

            RATE_LIMIT_REFUSALS.labels("statistics").inc()
            raise TooManyRequestsException(
                detail=f"Too many statistics requests at once from this caller: at most "
                f"{self.running} are computed and {self.waiting} wait; retry shortly",
                headers={"Retry-After": RETRY_AFTER_BUSY_S},
            )
        self._inflight[caller] += 1
        semaphore = self._slots.setdefault(caller, asyncio.Semaphore(self.running))
        try:
            async with semaphore:
                yield
        finally:
            self._inflight[caller] -= 1
            if self._inflight[caller] == 0:
                # Nobody holds or waits for it: forget the caller, so the map stays small.
                del self._inflight[caller]
                self._slots.pop(caller, None)
