"""Which events a batch of stored responses makes, decided inside the writer's transaction.

An agency pays for webhooks only once it has an endpoint: the writer's store keeps the
register of endpoints (``EndpointRegister``) for ``register_cache_seconds`` (the setting the
API keys use, 5 s by default) and writes no event for a response of an agency without one,
so an endpoint added by ``survey webhook add`` receives the events of responses stored from
at most that long after the command returned. For the others, one set-based insert per batch
writes the events (``webhook_event``, one per response and subscribed type, unique) and their
deliveries (``webhook_delivery``, one per subscribed endpoint, joined in SQL so that an
endpoint removed meanwhile is simply skipped), in the response's own transaction.

Endpoints that are disabled still get their deliveries queued (``paused``, which the delivery
loop never reads): enabling one delivers what it missed. The payload carries codes, ratings,
time and an opaque invitation id, never the token, the transaction reference or free text
(``delivery`` adds the redacted comments, read at posting time, for endpoints that opted in;
``survey purge comments`` thus covers them).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Generator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from survey_app.db.cells import REDACTED
from survey_app.db.writer import Step
from survey_app.lib.settings import Settings

CREATED = "response.created"
DISSATISFIED = "response.dissatisfied"
EVENT_TYPES = (CREATED, DISSATISFIED)
MSG_PREFIX = "msg_"
INVITATION_PREFIX = "inv_"
# Answers only the service reads (how much personal data ``redact`` removed).
INTERNAL_ANSWERS = frozenset({REDACTED})

# Every endpoint with its agency's code and the codes of that agency's services.
REGISTER = (
    "SELECT e.agency AS agency, a.code AS agency_code, e.events AS events, "
    "s.id AS service, s.code AS service_code "
    "FROM webhook_endpoint e JOIN agency a ON a.id = e.agency "
    "LEFT JOIN service s ON s.agency = e.agency"
)
EVENT_COLUMNS = "msg_id, type, agency, response, payload, created_at"
# The deliveries of the events just written: one per endpoint of the event's agency whose
# comma-separated ``events`` names its type. ``{events}`` is a table of the new events' ids.
FAN_OUT = (
    "INSERT INTO webhook_delivery (event, endpoint, status, attempts, next_attempt_at) "
    "SELECT ev.id, e.id, CASE WHEN e.enabled THEN 'pending' ELSE 'paused' END, 0, "
    "ev.created_at FROM {events} ev "
    "JOIN webhook_endpoint e ON e.agency = ev.agency "
    "AND (',' || e.events || ',') LIKE ('%,' || ev.type || ',%')"
)


@dataclass(frozen=True)
class Subscriptions:
    """The agencies with endpoints, the event types they want, their services' codes."""

    types: Mapping[int, frozenset[str]] = field(default_factory=dict)
    agencies: Mapping[int, str] = field(default_factory=dict)  # id -> code
    services: Mapping[int, str] = field(default_factory=dict)  # id -> code

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, Any]]) -> Subscriptions:
        types: dict[int, set[str]] = {}
        agencies: dict[int, str] = {}
        services: dict[int, str] = {}
        for row in rows:
            types.setdefault(row["agency"], set()).update(parse_events(row["events"]))
            agencies[row["agency"]] = row["agency_code"]
            if row["service"] is not None:
                services[row["service"]] = row["service_code"]
        return cls({a: frozenset(t) for a, t in types.items()}, agencies, services)


def parse_events(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


class EndpointRegister:
    """One store's copy of the ``Subscriptions``, read again once ``seconds`` have passed."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._value: Subscriptions | None = None
        self._expires = 0.0
        self._lock = threading.Lock()

    def fresh(self) -> Subscriptions | None:
        with self._lock:
            return self._value if time.monotonic() < self._expires else None

    def keep(self, rows: Iterable[Mapping[str, Any]]) -> Subscriptions:
        value = Subscriptions.from_rows(rows)
        with self._lock:
            self._value, self._expires = value, time.monotonic() + self.seconds
        return value


@dataclass(frozen=True)
class Outbox:
    """What the writer needs to write events: the key of the opaque invitation ids, the
    dissatisfied threshold, and how long the endpoint register may be kept."""

    key: bytes = field(repr=False)
    dissatisfied_max: int = 2
    register_seconds: float = 5.0

    @classmethod
    def from_settings(cls, settings: Settings) -> Outbox:
        key = hashlib.sha256(f"webhook-invitation:{settings.secret}".encode()).digest()
        return cls(key, settings.dissatisfied_max, settings.register_cache_seconds)

    def invitation_id(self, invitation: int) -> str:
        """A stable id of the invitation that reveals neither its token (a capability) nor
        its transaction reference: a keyed hash of its row id under the server secret."""
        digest = hmac.new(self.key, str(invitation).encode(), hashlib.sha256).digest()
        return INVITATION_PREFIX + base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")

    def register(self) -> EndpointRegister:
        return EndpointRegister(self.register_seconds)


@dataclass(frozen=True)
class Written:
    """A response the batch stored, as far as its events tell."""

    response: int
    invitation: int
    agency: int
    service: int
    channel: str
    locale: str
    questionnaire_id: str
    questionnaire_version: int
    overall: int | None
    reasons: tuple[str, ...]
    answers: Mapping[str, object]


def plan_events(
    outbox: Outbox, written: list[Written], now: dt.datetime
) -> Generator[Step, Any, int]:
    """Write the events (and their deliveries) of ``written``; how many events."""
    subscriptions: Subscriptions = yield Step("webhook_register", (False,))
    wanted = [w for w in written if w.agency in subscriptions.types]
    if not wanted:
        return 0
    if any(w.service not in subscriptions.services for w in wanted):
        # A service added since the register was read: read it again, in this transaction.
        subscriptions = yield Step("webhook_register", (True,))
    rows = [
        row
        for w in wanted
        for row in event_rows(outbox, subscriptions, w, now)
        if w.service in subscriptions.services
    ]
    if rows:
        yield Step("insert_events", (rows,))
    return len(rows)


def event_rows(
    outbox: Outbox, subscriptions: Subscriptions, w: Written, now: dt.datetime
) -> list[tuple[str, str, int, int, str, dt.datetime]]:
    types = subscriptions.types.get(w.agency, frozenset())
    made = []
    for kind in EVENT_TYPES:
        if kind not in types:
            continue
        if kind == DISSATISFIED and (w.overall is None or w.overall > outbox.dissatisfied_max):
            continue
        payload = {
            "type": kind,
            "timestamp": iso(now),
            "data": {
                "invitation": outbox.invitation_id(w.invitation),
                "agency": subscriptions.agencies[w.agency],
                "service": subscriptions.services[w.service],
                "channel": w.channel,
                "locale": w.locale,
                "questionnaire": {"id": w.questionnaire_id, "version": w.questionnaire_version},
                "submitted_at": iso(now),
                "overall": w.overall,
                "reasons": sorted(w.reasons),
                "answers": {k: v for k, v in w.answers.items() if k not in INTERNAL_ANSWERS},
            },
        }
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        made.append((new_msg_id(), kind, w.agency, w.response, body, now))
    return made


def new_msg_id() -> str:
    return MSG_PREFIX + secrets.token_urlsafe(18)


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
