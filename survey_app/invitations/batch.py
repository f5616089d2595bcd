"""Issue invitations in batches, inside the group-commit writer's transaction.

``POST /api/v1/invitations`` queues an ``Issue`` on the process's writer
(``db.writer``) and answers only once the batch that carries it committed.
``plan_issue`` decides and writes a whole batch, without I/O of its own, like
``submissions.plan``: one read of every transaction key of the batch, one
insert of the new ones, one count per statistics cell, so a batch of any
size costs a few statements and one commit.

Idempotency per (agency, transaction) is the unique ``transaction_key``:
within a batch the first request of a key creates the invitation and the
others get the same one; a writer of another process that committed the
same key first makes the insert skip it (``ON CONFLICT DO NOTHING``), and the
key is read again, so everyone gets the one stored token.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from survey_app.db.cells import InvitationKey
from survey_app.db.writer import Step
from survey_app.invitations.service import Issued, new_token
from survey_app.lib.clock import as_utc, local_day

# What ``issued`` reads and the rows ``insert_invitations`` writes, in this order.
ISSUED_COLUMNS = "transaction_key, token, expires_at, questionnaire_id"
INSERT_COLUMNS = (
    "token, transaction_key, agency, service, channel, locale, questionnaire_id, "
    "created_at, expires_at"
)


@dataclass(frozen=True)
class Issue:
    """A request for the invitation of one transaction; ``key`` is its ``transaction_key``."""

    key: str
    agency: int
    service: int
    channel: str
    locale: str | None
    questionnaire_id: str
    days: int


class NotIssued(RuntimeError):
    """A key the insert skipped that no committed row holds either (should not happen)."""


def _stored(row: dict[str, Any]) -> Issued:
    return Issued(
        token=row["token"],
        expires_at=as_utc(row["expires_at"]),
        questionnaire_id=row["questionnaire_id"],
        created=False,
    )


def plan_issue(batch: list[Issue], now: dt.datetime) -> Generator[Step, Any, list[Any]]:
    """An ``Issued`` per request, in order (201 for ``created``, else 200)."""
    keys = sorted({item.key for item in batch})
    found = {row["transaction_key"]: _stored(row) for row in (yield Step("issued", (keys,)))}
    new: dict[str, tuple] = {}
    for item in sorted(batch, key=lambda item: item.key):
        if item.key in found or item.key in new:
            continue
        expires_at = now + dt.timedelta(days=item.days)
        new[item.key] = (
            new_token(), item.key, item.agency, item.service, item.channel, item.locale,
            item.questionnaire_id, now, expires_at,
        )  # fmt: skip
    created: set[str] = set()
    if new:
        # Sorted by key: writers of two processes lock the keys they share in one order.
        created = set((yield Step("insert_invitations", (list(new.values()),))))
        lost = sorted(set(new) - created)
        if lost:  # another process's writer committed these keys since our read
            again = yield Step("issued", (lost,))
            found.update({row["transaction_key"]: _stored(row) for row in again})
        day = local_day(now)
        counts: Counter[InvitationKey] = Counter()
        for key in created:
            _, _, agency, service, channel, _, questionnaire_id, _, _ = new[key]
            counts[(day, agency, service, channel, questionnaire_id)] += 1
        if counts:
            yield Step("count_invitations", (counts,))
    results: list[Any] = []
    told: set[str] = set()  # keys whose 201 is given: the first request of each
    for item in batch:
        if item.key in created:
            token, *_, questionnaire_id, _, expires_at = new[item.key]
            first = item.key not in told
            told.add(item.key)
            results.append(Issued(token, expires_at, questionnaire_id, created=first))
        elif item.key in found:
            results.append(found[item.key])
        else:
            results.append(NotIssued(f"transaction key {item.key[:8]}… neither new nor stored"))
    return results
