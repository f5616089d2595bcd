"""Group commit: one long-lived writer per process turns concurrent writes into batches.

Each request puts its job (a submission, an invitation to issue) on a queue
and waits for its own outcome; the writer takes whatever has queued up, has
its store decide and write all of it in one transaction, and answers every
request only after COMMIT returned. While one batch commits, the next one
gathers, so the cost of a commit (an fsync) is shared by as many requests as
arrive meanwhile.

The loop lives here, below every domain, so that any domain's handler can
queue on it; what a job means is decided by the plans the store runs
(``submissions.plan``, ``invitations.batch``), and how they reach the
database by the engine's store (``submissions.sqlite``, ``submissions.postgres``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

from litestar.di import NamedDependency

from survey_app.lib.metrics import WRITER_BATCH_SIZE, WRITER_COMMIT_SECONDS, WRITER_QUEUE_DEPTH

log = logging.getLogger("survey.writer")

MAX_BATCH = 256
WRITER_NAME = "survey-writer"  # its thread's name, and its PostgreSQL application_name

Pending = tuple[object, asyncio.Future[Any]]


@dataclass(frozen=True)
class Step:
    """A piece of database work a plan needs; ``name`` is a method of the store."""

    name: str
    args: tuple[Any, ...]


class BatchStore(Protocol):
    """The engine's part of the writer."""

    async def open(self) -> None: ...

    async def commit(self, batch: list[object]) -> list[Any]:
        """Decide and store ``batch`` in one transaction: a result per job, in order.

        An exception in the list is what its request raises; an error that stopped
        the transaction stands for every job.
        """
        ...

    async def close(self) -> None: ...


@dataclass
class WriterStats:
    """How many batches carried how many jobs (for tests and benchmarks)."""

    batches: int = 0
    submissions: int = 0  # every job, whatever its kind (the name predates invitations)
    largest: int = 0

    def count(self, size: int) -> None:
        self.batches += 1
        self.submissions += size
        self.largest = max(self.largest, size)


class GroupCommitWriter:
    """The writer task, on the event loop that started it (the app's lifespan)."""

    def __init__(self, store: BatchStore) -> None:
        self.stats = WriterStats()
        self.store = store
        self._queue: asyncio.Queue[Pending | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.store.open()
        self._task = asyncio.create_task(self._run(), name=WRITER_NAME)

    async def stop(self) -> None:
        if self._task is None:
            return
        self._queue.put_nowait(None)
        await self._task
        self._task = None
        await self.store.close()
        log.info("writer stopped: %s", self.stats)

    async def submit(self, job: object) -> Any:
        """The job's result once its batch committed (or the error that stopped it)."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((job, future))
        WRITER_QUEUE_DEPTH.inc()
        return await future

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < MAX_BATCH and not self._queue.empty():
                more = self._queue.get_nowait()
                if more is None:
                    stop = True
                    break
                batch.append(more)
            WRITER_QUEUE_DEPTH.dec(len(batch))
            started = time.perf_counter()
            results = await self.store.commit([job for job, _ in batch])
            WRITER_COMMIT_SECONDS.observe(time.perf_counter() - started)
            WRITER_BATCH_SIZE.observe(len(batch))
            self.stats.count(len(batch))
            for (_, future), result in zip(batch, results, strict=True):
                _settle(future, result)
            if stop:
                return


def _settle(future: asyncio.Future[Any], outcome: object) -> None:
    if future.done():  # the client went away; its answer is stored all the same
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


# How handlers ask for it (dependency named ``writer``, provided by the app factory).
WriterDep = NamedDependency[GroupCommitWriter]
