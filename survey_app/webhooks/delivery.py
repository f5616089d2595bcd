"""The delivery loop: each process posts the due messages of the outbox, at least once.

Every worker runs one (started by the app's lifespan). It looks for due deliveries with a
plain read, and only when there are some claims a few in a write transaction: on PostgreSQL
``FOR UPDATE SKIP LOCKED``, so workers never claim the same row; on SQLite under the write
lock (``BEGIN IMMEDIATE``). Claiming moves ``next_attempt_at`` one lease ahead: a process
killed mid-post leaves the message due again once the lease has passed, and another attempt
posts it with the same ``webhook-id``, which receivers use to drop duplicates.

Each POST is signed (``signing``), bounded by ``webhook_timeout_seconds`` in total, never
follows a redirect and never reads the answer's body. A failure is retried after an
exponential delay with jitter (``backoff``); when one message has failed
``webhook_max_attempts`` times in a row its endpoint is disabled, and its queue waits,
``paused``, until an administrator enables it again (``survey webhook enable``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import random
import time
from dataclasses import dataclass, replace
from typing import Any

import httpx
from piccolo.engine.base import Engine
from piccolo.engine.sqlite import SQLiteEngine
from piccolo.querystring import QueryString

from survey_app.db.engine import write_transaction
from survey_app.lib import metrics
from survey_app.lib.clock import utcnow
from survey_app.lib.settings import Settings
from survey_app.webhooks import signing

log = logging.getLogger("survey.webhooks")

USER_AGENT = "citizen-survey-webhooks/1"
ERROR_LENGTH = 255  # webhook_attempt.error
GRACE_SECONDS = 5.0  # how long a stopping process lets its posts in flight finish

BACKLOG = "SELECT count(*) AS n FROM webhook_delivery WHERE status IN ('pending', 'paused')"
BACKLOG_EVERY_POLLS = 10  # how often each process counts the backlog for /metrics
DUE = "SELECT id FROM webhook_delivery WHERE status = 'pending' AND next_attempt_at <= {} LIMIT 1"
_CANDIDATES = (
    "SELECT d.id FROM webhook_delivery d JOIN webhook_endpoint e ON e.id = d.endpoint "
    "WHERE d.status = 'pending' AND e.enabled AND d.next_attempt_at <= {} "
    "ORDER BY d.next_attempt_at LIMIT {}"
)
# The lease: claimed rows are due again only once it has passed.
CLAIM = "UPDATE webhook_delivery SET next_attempt_at = {} WHERE id IN (%s) RETURNING id"
CLAIM_POSTGRES = CLAIM % (_CANDIDATES + " FOR UPDATE OF d SKIP LOCKED")
CLAIM_SQLITE = CLAIM % _CANDIDATES
DETAILS = (
    "SELECT d.id AS id, d.attempts AS attempts, ev.msg_id AS msg_id, ev.payload AS payload, "
    "ev.response AS response, e.id AS endpoint, e.url AS url, e.secret AS secret, "
    "e.include_comments AS include_comments "
    "FROM webhook_delivery d JOIN webhook_event ev ON ev.id = d.event "
    "JOIN webhook_endpoint e ON e.id = d.endpoint WHERE d.id IN ({ids})"
)
COMMENTS = "SELECT question, text FROM comment WHERE response = {} ORDER BY id"
DELIVERED = (
    "UPDATE webhook_delivery SET status = 'delivered', delivered_at = {}, last_status = {}, "
    "last_error = '' WHERE id = {}"
)
FAILED = (
    "UPDATE webhook_delivery SET attempts = {}, next_attempt_at = {}, last_status = {}, "
    "last_error = {} WHERE id = {} AND status = 'pending'"
)
SUCCEEDED = "UPDATE webhook_endpoint SET consecutive_failures = 0 WHERE id = {}"
FAILED_ENDPOINT = (
    "UPDATE webhook_endpoint SET consecutive_failures = consecutive_failures + 1 WHERE id = {}"
)
DISABLE = (
    "UPDATE webhook_endpoint SET enabled = {}, disabled_at = {}, disabled_reason = {} "
    "WHERE id = {} AND enabled"
)
PAUSE = "UPDATE webhook_delivery SET status = 'paused' WHERE endpoint = {} AND status = 'pending'"
ATTEMPT = (
    "INSERT INTO webhook_attempt "
    "(delivery, endpoint, attempted_at, status_code, error, duration_ms, retry_at) "
    "VALUES ({}, {}, {}, {}, {}, {}, {})"
)


@dataclass(frozen=True)
class Timing:
    """The loop's parameters (``webhook_*`` settings)."""

    timeout: float = Settings.default("webhook_timeout_seconds")
    backoff: float = Settings.default("webhook_backoff_seconds")
    backoff_max: float = Settings.default("webhook_backoff_max_seconds")
    max_attempts: int = Settings.default("webhook_max_attempts")
    lease: float = Settings.default("webhook_lease_seconds")
    poll: float = Settings.default("webhook_poll_seconds")
    concurrency: int = Settings.default("webhook_concurrency")

    @classmethod
    def from_settings(cls, settings: Settings) -> Timing:
        return cls(
            timeout=settings.webhook_timeout_seconds,
            backoff=settings.webhook_backoff_seconds,
            backoff_max=settings.webhook_backoff_max_seconds,
            max_attempts=settings.webhook_max_attempts,
            # A lease shorter than a POST may take would let a second process post the same
            # message while the first still waits for its answer.
            lease=max(settings.webhook_lease_seconds, 2 * settings.webhook_timeout_seconds),
            poll=settings.webhook_poll_seconds,
            concurrency=settings.webhook_concurrency,
        )

    def delay(self, failures: int) -> float:
        """Seconds before the next attempt after ``failures`` failed ones: the exponential
        delay ``d`` capped, then "equal jitter" (between d/2 and d), so that retries of many
        messages spread out while each message's delays still never shrink below the cap."""
        capped = min(self.backoff_max, self.backoff * 2 ** min(failures - 1, 60))
        return capped / 2 + random.uniform(0, capped / 2)  # noqa: S311 (not for secrets)


@dataclass(frozen=True)
class Claimed:
    delivery: int
    attempts: int
    msg_id: str
    payload: str
    response: int
    endpoint: int
    url: str
    secret: str
    include_comments: bool


@dataclass(frozen=True)
class Outcome:
    status: int | None
    error: str
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class DeliveryLoop:
    """One process's delivery loop on the event loop of the app's lifespan."""

    def __init__(self, engine: Engine, timing: Timing, sealer: signing.Sealer) -> None:
        self.engine = engine
        self.timing = timing
        self.sealer = sealer
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()

    @classmethod
    def from_settings(cls, engine: Engine, settings: Settings) -> DeliveryLoop:
        return cls(engine, Timing.from_settings(settings), signing.Sealer(settings.secret))

    async def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name="survey-webhooks")

    async def stop(self) -> None:
        """Let posts in flight finish for a moment; those cut short are posted again once
        their lease has passed."""
        if self._task is None:
            return
        self._stopping.set()
        await self._task
        self._task = None

    async def _run(self) -> None:
        stopping = asyncio.create_task(self._stopping.wait())
        async with httpx.AsyncClient(
            follow_redirects=False, timeout=self.timing.timeout, headers={"user-agent": USER_AGENT}
        ) as client:
            try:
                every = BACKLOG_EVERY_POLLS * self.timing.poll
                counted_at = -every
                while not self._stopping.is_set():
                    if time.monotonic() - counted_at >= every:
                        counted_at = time.monotonic()
                        await self._count_backlog()
                    free = self.timing.concurrency - len(self._inflight)
                    for claimed in await self._claim(free) if free > 0 else []:
                        task = asyncio.create_task(self._deliver(client, claimed))
                        self._inflight.add(task)
                        task.add_done_callback(self._inflight.discard)
                    # Until the next poll, a post finishes (room for more) or the app stops.
                    await asyncio.wait(
                        [stopping, *self._inflight],
                        timeout=self.timing.poll,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
            finally:
                if self._inflight:
                    await asyncio.wait(list(self._inflight), timeout=GRACE_SECONDS)
                for task in list(self._inflight):
                    task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.gather(*self._inflight, return_exceptions=True)
                stopping.cancel()

    async def _sql(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        """``sql`` (``{}`` placeholders) on this loop's own engine, whatever the tables are
        bound to: in a test process several apps may come and go."""
        return await self.engine.run_querystring(QueryString(sql, *args)) or []

    async def _count_backlog(self) -> None:
        try:
            rows = await self._sql(BACKLOG)
        except Exception as error:  # the database is away: the claim will say so too
            log.debug("webhook backlog not counted: %s", type(error).__name__)
            return
        metrics.webhook_backlog(int(rows[0]["n"]))

    async def _claim(self, limit: int) -> list[Claimed]:
        try:
            now = utcnow()
            if not await self._sql(DUE, now):
                return []
            lease_until = now + dt.timedelta(seconds=self.timing.lease)
            claim = CLAIM_SQLITE if isinstance(self.engine, SQLiteEngine) else CLAIM_POSTGRES
            async with write_transaction(self.engine):
                ids = [row["id"] for row in await self._sql(claim, lease_until, now, limit)]
            if not ids:
                return []
            sql = DETAILS.format(ids=", ".join("{}" for _ in ids))
            rows = await self._sql(sql, *ids)
        except Exception as error:  # the database is away: the next poll tries again
            log.warning("webhook deliveries not claimed: %s: %s", type(error).__name__, error)
            return []
        return [
            Claimed(
                delivery=row["id"],
                attempts=row["attempts"],
                msg_id=row["msg_id"],
                payload=_text(row["payload"]),
                response=row["response"],
                endpoint=row["endpoint"],
                url=row["url"],
                secret=row["secret"],
                include_comments=bool(row["include_comments"]),
            )
            for row in rows
        ]

    async def _deliver(self, client: httpx.AsyncClient, claimed: Claimed) -> None:
        try:
            try:
                claimed = replace(claimed, secret=self.sealer.open(claimed.secret))
            except signing.UnsealError as error:
                # Never posted unsigned: a failed attempt, so the endpoint ends disabled
                # with the reason in its attempts, as for a receiver that keeps failing.
                await self._record(claimed, utcnow(), Outcome(None, str(error), 0))
                return
            body = await self._body(claimed)
            attempted_at = utcnow()
            outcome = await post(client, claimed, body, self.timing.timeout)
            await self._record(claimed, attempted_at, outcome)
        except Exception as error:  # recorded nowhere: the lease expires and it is retried
            log.warning(
                "webhook message %s to endpoint %d not recorded: %s",
                claimed.msg_id,
                claimed.endpoint,
                type(error).__name__,
            )

    async def _body(self, claimed: Claimed) -> bytes:
        """The stored payload; for an endpoint that opted in, with the response's free text
        (redacted when stored) as it is now: a purged comment is no longer sent."""
        if not claimed.include_comments:
            return claimed.payload.encode()
        rows = await self._sql(COMMENTS, claimed.response)
        if not rows:
            return claimed.payload.encode()
        payload = json.loads(claimed.payload)
        payload["data"]["comments"] = {row["question"]: row["text"] for row in rows}
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()

    async def _record(self, claimed: Claimed, attempted_at: dt.datetime, outcome: Outcome) -> None:
        now = utcnow()
        failures = claimed.attempts + 1
        give_up = not outcome.ok and failures >= self.timing.max_attempts
        retry_at = None
        if not outcome.ok and not give_up:
            # From the attempt's start, so the recorded delays are the planned ones exactly.
            retry_at = attempted_at + dt.timedelta(seconds=self.timing.delay(failures))
        error = outcome.error[:ERROR_LENGTH]
        if not outcome.ok:
            metrics.webhook_delivery_failed()
        async with write_transaction(self.engine):
            if outcome.ok:
                await self._sql(DELIVERED, now, outcome.status, claimed.delivery)
                await self._sql(SUCCEEDED, claimed.endpoint)
            else:
                await self._sql(
                    FAILED, failures, retry_at or now, outcome.status, error, claimed.delivery
                )
                await self._sql(FAILED_ENDPOINT, claimed.endpoint)
                if give_up:
                    reason = f"{failures} failed attempts of {claimed.msg_id}; last: {error}"
                    await self._sql(DISABLE, False, now, reason[:ERROR_LENGTH], claimed.endpoint)
                    await self._sql(PAUSE, claimed.endpoint)
            await self._sql(
                ATTEMPT,
                claimed.delivery,
                claimed.endpoint,
                attempted_at,
                outcome.status,
                error,
                outcome.duration_ms,
                retry_at,
            )
        if give_up:
            log.warning(
                "webhook endpoint %d disabled after %d failed attempts (last: %s)",
                claimed.endpoint,
                failures,
                error,
            )


async def post(
    client: httpx.AsyncClient,
    claimed: Claimed,
    body: bytes,
    timeout: float,  # noqa: ASYNC109 (the setting, applied with asyncio.timeout below)
) -> Outcome:
    """One signed POST, bounded by ``timeout`` in total; its body is never read."""
    headers = signing.headers(claimed.secret, claimed.msg_id, int(time.time()), body)
    started = time.monotonic()
    status: int | None = None
    error = ""
    try:
        async with asyncio.timeout(timeout):
            async with client.stream("POST", claimed.url, content=body, headers=headers) as answer:
                status = answer.status_code
    except (TimeoutError, httpx.TimeoutException):
        error = f"no answer within {timeout:g} s"
    except httpx.HTTPError as failure:
        error = f"{type(failure).__name__}: {failure}"
    duration_ms = round((time.monotonic() - started) * 1000)
    if status is not None and not 200 <= status < 300:
        error = f"HTTP {status}" + (" (redirects are not followed)" if 300 <= status < 400 else "")
    return Outcome(status, error, duration_ms)


def _text(payload: Any) -> str:
    return payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
