"""Group commit: one long-lived writer per process turns concurrent submissions into batches.

Each request puts its submission on a queue and waits for its own outcome;
the writer takes whatever has queued up, has its store run
``plan.plan_batch`` for all of it in one transaction, and answers every
request only after COMMIT returned. While one batch commits, the next one
gathers, so the cost of a commit (an fsync) is shared by as many requests as
arrive meanwhile.

The loop is written once, here; what differs by engine is the store
(``submissions.sqlite``, ``submissions.postgres``): how it connects, how it
commits a batch, and how it runs the plan's steps.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Protocol

from litestar.di import NamedDependency
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine

from survey_app.submissions.plan import Outcome, QuestionnaireOf, Results, Submission
from survey_app.submissions.postgres import PostgresStore
from survey_app.submissions.sqlite import SqliteStore

log = logging.getLogger("survey.writer")

MAX_BATCH = 256
WRITER_NAME = "survey-writer"  # its thread's name, and its PostgreSQL application_name

Pending = tuple[Submission, asyncio.Future[Outcome]]


class BatchStore(Protocol):
    """The engine's part of the writer."""

    async def open(self) -> None: ...

    async def commit(self, batch: list[Submission]) -> Results:
        """Decide and store ``batch`` in one transaction; an error stands for every item."""
        ...

    async def close(self) -> None: ...


@dataclass
class WriterStats:
    """How many batches carried how many submissions (for tests and benchmarks)."""

    batches: int = 0
    submissions: int = 0
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

    async def submit(self, submission: Submission) -> Outcome:
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((submission, future))
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
            results = await self.store.commit([submission for submission, _ in batch])
            self.stats.count(len(batch))
            for (_, future), result in zip(batch, results, strict=True):
                _settle(future, result)
            if stop:
                return


def _settle(future: asyncio.Future[Outcome], outcome: Outcome | BaseException) -> None:
    if future.done():  # the client went away; its answer is stored all the same
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


def writer_for(engine: Engine, questionnaire_of: QuestionnaireOf) -> GroupCommitWriter:
    """The writer for ``engine`` (not started: the app's lifespan starts and stops it)."""
    if isinstance(engine, SQLiteEngine):
        return GroupCommitWriter(SqliteStore(engine.path, questionnaire_of, WRITER_NAME))
    if isinstance(engine, PostgresEngine):
        return GroupCommitWriter(PostgresStore(engine.config["dsn"], questionnaire_of, WRITER_NAME))
    raise TypeError(f"no submission writer for {type(engine).__name__}")


# How handlers ask for it (dependency named ``writer``, provided by the app factory).
WriterDep = NamedDependency[GroupCommitWriter]
