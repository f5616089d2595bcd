"""What the ``survey webhook`` commands do: register, list, enable, disable, replay, inspect;
and ``survey purge webhooks``.

Listings never include a secret: it is shown once, by ``add``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from survey_app.db.engine import write_transaction
from survey_app.db.tables import Agency, WebhookDelivery, WebhookEndpoint, WebhookEvent
from survey_app.lib.clock import utcnow
from survey_app.webhooks.outbox import EVENT_TYPES, parse_events
from survey_app.webhooks.signing import Sealer, new_secret

MAX_URL = 2000  # webhook_endpoint.url


class EndpointError(ValueError):
    """A refusal the operator can act on; its text says what is wrong."""


@dataclass(frozen=True)
class Added:
    id: int
    secret: str
    events: tuple[str, ...]


def check_url(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        raise EndpointError(f"{url!r}: the URL must start with https:// (or http://)")
    if not parts.hostname:
        raise EndpointError(f"{url!r}: the URL names no host")
    if parts.username or parts.password:
        raise EndpointError(f"{url!r}: put no user or password in the URL; messages are signed")
    if parts.fragment:
        raise EndpointError(f"{url!r}: a URL with a #fragment cannot be posted to")
    if len(url) > MAX_URL or any(c.isspace() for c in url.strip()):
        raise EndpointError(f"the URL must be at most {MAX_URL} characters, without spaces")
    try:
        parts.port  # noqa: B018 (parsing it is the check)
    except ValueError as error:
        raise EndpointError(f"{url!r}: {error}") from error
    return url.strip()


def check_events(text: str) -> tuple[str, ...]:
    events = tuple(dict.fromkeys(parse_events(text)))
    unknown = [e for e in events if e not in EVENT_TYPES]
    if unknown or not events:
        raise EndpointError(
            f"unknown event type {', '.join(unknown) or '(none)'}: "
            f"choose among {', '.join(EVENT_TYPES)}, comma-separated"
        )
    return events


async def add(
    agency_code: str, url: str, events: str, include_comments: bool, sealer: Sealer
) -> Added:
    """Register the endpoint; its secret is returned once and stored sealed."""
    url = check_url(url)
    chosen = check_events(events)
    agency = await Agency.select(Agency.id).where(Agency.code == agency_code).first()
    if agency is None:
        raise EndpointError(f"unknown agency {agency_code!r}")
    secret = new_secret()
    rows = await WebhookEndpoint.insert(
        WebhookEndpoint(
            agency=agency["id"],
            url=url,
            events=",".join(chosen),
            secret=sealer.seal(secret),
            include_comments=include_comments,
            created_at=utcnow(),
        )
    ).returning(WebhookEndpoint.id)
    return Added(rows[0]["id"], secret, chosen)


LIST = (
    "SELECT e.id AS id, a.code AS agency, e.url AS url, e.events AS events, e.enabled AS enabled, "
    "e.include_comments AS include_comments, e.consecutive_failures AS failures, "
    "e.disabled_reason AS disabled_reason, "
    "(SELECT count(*) FROM webhook_delivery d WHERE d.endpoint = e.id "
    "AND d.status <> 'delivered') AS waiting "
    "FROM webhook_endpoint e JOIN agency a ON a.id = e.agency ORDER BY e.id"
)


async def listing() -> list[dict[str, Any]]:
    return await WebhookEndpoint.raw(LIST)


async def _exists(endpoint: int) -> bool:
    return await WebhookEndpoint.exists().where(WebhookEndpoint.id == endpoint)


async def set_enabled(endpoint: int, enabled: bool) -> None:
    """Enabling resumes its queue at once (failure counts start afresh); disabling pauses it."""
    if not await _exists(endpoint):
        raise EndpointError(f"no webhook endpoint {endpoint}")
    now = utcnow()
    engine = WebhookEndpoint._meta.db
    async with write_transaction(engine):
        if enabled:
            await WebhookEndpoint.raw(
                "UPDATE webhook_endpoint SET enabled = {}, disabled_at = NULL, "
                "disabled_reason = '', consecutive_failures = 0 WHERE id = {}",
                True,
                endpoint,
            )
            await WebhookDelivery.raw(
                "UPDATE webhook_delivery SET status = 'pending', attempts = 0, "
                "next_attempt_at = {} WHERE endpoint = {} AND status = 'paused'",
                now,
                endpoint,
            )
        else:
            await WebhookEndpoint.raw(
                "UPDATE webhook_endpoint SET enabled = {}, disabled_at = {}, "
                "disabled_reason = 'disabled by an administrator' WHERE id = {} AND enabled",
                False,
                now,
                endpoint,
            )
            await WebhookDelivery.raw(
                "UPDATE webhook_delivery SET status = 'paused' "
                "WHERE endpoint = {} AND status = 'pending'",
                endpoint,
            )


# Every event of the endpoint's agency and types since a time, queued again for it: those
# it has a delivery of, delivered or not, and those it has none of (added later).
REQUEUE = (
    "UPDATE webhook_delivery SET status = {}, attempts = 0, next_attempt_at = {}, "
    "delivered_at = NULL WHERE endpoint = {} "
    "AND event IN (SELECT id FROM webhook_event WHERE created_at >= {})"
)
BACKFILL = (
    "INSERT INTO webhook_delivery (event, endpoint, status, attempts, next_attempt_at) "
    "SELECT ev.id, e.id, {}, 0, {} FROM webhook_event ev "
    "JOIN webhook_endpoint e ON e.agency = ev.agency "
    "AND (',' || e.events || ',') LIKE ('%,' || ev.type || ',%') "
    "WHERE e.id = {} AND ev.created_at >= {} AND NOT EXISTS "
    "(SELECT 1 FROM webhook_delivery d WHERE d.event = ev.id AND d.endpoint = e.id)"
)
QUEUED = (
    "SELECT count(*) AS n FROM webhook_delivery d JOIN webhook_event ev ON ev.id = d.event "
    "WHERE d.endpoint = {} AND ev.created_at >= {}"
)


async def replay(endpoint: int, since: dt.datetime | None) -> tuple[int, bool]:
    """Queue again every event since ``since`` (all when None) for ``endpoint``, with its
    original ``webhook-id``; how many, and whether the endpoint is enabled to send them."""
    row = await WebhookEndpoint.select(WebhookEndpoint.enabled).where(
        WebhookEndpoint.id == endpoint
    )
    if not row:
        raise EndpointError(f"no webhook endpoint {endpoint}")
    enabled = bool(row[0]["enabled"])
    start = since or dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    status = "pending" if enabled else "paused"
    now = utcnow()
    async with write_transaction(WebhookEndpoint._meta.db):
        await WebhookDelivery.raw(REQUEUE, status, now, endpoint, start)
        await WebhookDelivery.raw(BACKFILL, status, now, endpoint, start)
        counted = await WebhookDelivery.raw(QUEUED, endpoint, start)
    return counted[0]["n"], enabled


ATTEMPTS = (
    "SELECT t.attempted_at AS attempted_at, ev.msg_id AS msg_id, ev.type AS type, "
    "t.status_code AS status_code, t.error AS error, t.duration_ms AS duration_ms, "
    "t.retry_at AS retry_at FROM webhook_attempt t "
    "JOIN webhook_delivery d ON d.id = t.delivery JOIN webhook_event ev ON ev.id = d.event "
    "WHERE t.endpoint = {} ORDER BY t.id DESC LIMIT {}"
)


async def attempts(endpoint: int, limit: int) -> list[dict[str, Any]]:
    if not await _exists(endpoint):
        raise EndpointError(f"no webhook endpoint {endpoint}")
    return await WebhookEndpoint.raw(ATTEMPTS, endpoint, limit)


async def remove(endpoint: int) -> None:
    """Delete the endpoint with its queue and attempts (the events stay for other endpoints)."""
    if not await _exists(endpoint):
        raise EndpointError(f"no webhook endpoint {endpoint}")
    await WebhookEndpoint.delete().where(WebhookEndpoint.id == endpoint)


# Events delivered to every endpoint that had them queued (or to none left): nothing waits
# for them, and only a replay would read them again.
COUNT_SETTLED = (
    "SELECT count(*) AS n FROM webhook_event ev WHERE ev.created_at < {} AND NOT EXISTS "
    "(SELECT 1 FROM webhook_delivery d WHERE d.event = ev.id AND d.status <> 'delivered')"
)
PURGE_SETTLED = (
    "DELETE FROM webhook_event WHERE id IN (SELECT ev.id FROM webhook_event ev "
    "WHERE ev.created_at < {} AND NOT EXISTS (SELECT 1 FROM webhook_delivery d "
    "WHERE d.event = ev.id AND d.status <> 'delivered') ORDER BY ev.id LIMIT {}) RETURNING id"
)
PURGE_BATCH = 5000


async def purge(
    age: dt.timedelta, dry_run: bool, progress: Callable[[int], None] = lambda _: None
) -> tuple[int, dt.datetime]:
    """Delete events older than ``age`` once delivered, with their deliveries and attempts
    (foreign keys cascade); events still pending or paused stay whatever their age. Batches
    of ``PURGE_BATCH`` in their own transactions, so answers keep committing meanwhile."""
    cutoff = utcnow() - age
    if dry_run:
        rows = await WebhookEvent.raw(COUNT_SETTLED, cutoff)
        return rows[0]["n"], cutoff
    deleted = 0
    while True:
        async with write_transaction(WebhookEvent._meta.db):
            gone = await WebhookEvent.raw(PURGE_SETTLED, cutoff, PURGE_BATCH)
        deleted += len(gone)
        progress(len(gone))
        if len(gone) < PURGE_BATCH:
            return deleted, cutoff
