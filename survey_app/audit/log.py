"""Audit entries: record a read, finish a streamed one, list them, purge them by age.

The only code that writes ``AuditEntry``, and it appends: ``record`` inserts one entry
per read, before any row leaves the server (a read that cannot be recorded is not
answered); ``finish`` sets the row count of a streamed export once, from empty, when its
last rows are sent, so an entry whose count stays empty is a download that stopped
before its end. Nothing changes or deletes an entry but ``purge``, for entries older than
the retention period (``SURVEY_AUDIT_DAYS``, 400 days by default).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection

from survey_app.auth.guards import Principal
from survey_app.auth.staff import StaffMember
from survey_app.db.tables import Actor, AuditEntry
from survey_app.lib.clock import as_utc, utcnow

AUDIT_DAYS_VARIABLE = "SURVEY_AUDIT_DAYS"
DEFAULT_AUDIT_DAYS = 400


def retention_days(environ: Mapping[str, str] | None = None) -> int:
    """How many days entries are kept: ``SURVEY_AUDIT_DAYS``, else 400.

    Read when asked (by ``survey purge audit``), never at import; ValueError names a
    value that is not a whole number of days of at least one.
    """
    env = os.environ if environ is None else environ
    text = env.get(AUDIT_DAYS_VARIABLE, "").strip()
    if not text:
        return DEFAULT_AUDIT_DAYS
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{AUDIT_DAYS_VARIABLE} must be a whole number of days >= 1, not {text!r}")
    return int(text)


def route_of(connection: ASGIConnection) -> str:
    """The route that answers a request, as the route table names it (``/api/v1/comments``)."""
    return connection.scope.get("path_template") or connection.url.path  # type: ignore[return-value]


async def record(
    principal: Principal,
    route: str,
    fmt: str,
    filters: Mapping[str, object],
    rows: int | None,
) -> int:
    """Append an entry for a read by ``principal``; ``rows`` None: to be set by ``finish``."""
    if isinstance(principal, StaffMember):
        who: dict[str, Any] = {
            "actor": Actor.user.value,
            "user_id": principal.user_id,
            "username": principal.username,
        }
    else:
        who = {"actor": Actor.key.value, "key_id": principal.key_id}
    entry = AuditEntry(
        read_at=utcnow(),
        role=principal.role.value,
        agency_code=principal.agency_code,
        route=route,
        format=fmt,
        filters=dict(filters),
        row_count=rows,
        **who,
    )
    await entry.save()
    return entry.id


async def finish(entry_id: int, rows: int) -> None:
    """Set the row count of a streamed read, once: an entry already counted stays as it is."""
    await AuditEntry.update({AuditEntry.row_count: rows}).where(
        (AuditEntry.id == entry_id) & AuditEntry.row_count.is_null()
    )


@dataclass(frozen=True)
class AuditQuery:
    """Which entries to list: UTC days ``date_from`` to ``date_to`` (both included), a staff
    login's username, an API key's id, a route; None means any."""

    date_from: dt.date | None = None
    date_to: dt.date | None = None
    user: str | None = None
    key: int | None = None
    route: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "from": self.date_from.isoformat() if self.date_from else None,
            "to": self.date_to.isoformat() if self.date_to else None,
            "user": self.user,
            "key": self.key,
            "route": self.route,
        }


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


async def entries(query: AuditQuery, limit: int) -> list[dict[str, Any]]:
    """Entries matching ``query``, newest first, at most ``limit``; ``read_at`` in UTC."""
    conditions = []
    if query.date_from is not None:
        conditions.append(AuditEntry.read_at >= _midnight(query.date_from))
    if query.date_to is not None:
        conditions.append(AuditEntry.read_at < _midnight(query.date_to + dt.timedelta(days=1)))
    if query.user is not None:
        conditions.append(AuditEntry.username == query.user)
    if query.key is not None:
        conditions.append(AuditEntry.key_id == query.key)
    if query.route is not None:
        conditions.append(AuditEntry.route == query.route)
    select = AuditEntry.select().order_by(AuditEntry.id, ascending=False).limit(limit)
    if conditions:
        select = select.where(*conditions)
    rows = await select.output(load_json=True)
    return [{**row, "read_at": as_utc(row["read_at"])} for row in rows]


async def purge(older_than: dt.timedelta, *, dry_run: bool = False) -> tuple[int, dt.datetime]:
    """Delete the entries read more than ``older_than`` ago (only count them with
    ``dry_run``): how many, and the cut-off time."""
    cutoff = utcnow() - older_than
    old = AuditEntry.read_at < cutoff
    count = await AuditEntry.count().where(old)
    if count and not dry_run:
        await AuditEntry.delete().where(old)
    return count, cutoff
