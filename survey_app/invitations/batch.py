"""Issue invitations in batches, inside the group-commit writer's transaction.

``POST /api/v1/invitations`` queues an ``Issue`` on the process's writer
(``db.writer``) and answers only once the batch that carries it committed.
``plan_issue`` decides and writes a whole batch, without I/O of its own, like
``submissions.plan``: one read of the batch's API keys and services, one
insert of its invitations, one count per statistics cell, so a batch of any
size costs a few statements and one commit, and a request costs no query of
its own.

Idempotency per (agency, transaction) is the unique ``transaction_key``:
within a batch the first request of a key creates the invitation and the
others get the same one; a writer of another process that committed the
same key first makes the insert skip it (``ON CONFLICT DO NOTHING``), as does
an invitation issued before; the keys skipped are then read, so everyone
gets the one stored token.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable, Collection, Generator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from survey_app.agencies.directory import ServiceChoice
from survey_app.db.cells import InvitationKey
from survey_app.db.tables import Role
from survey_app.db.writer import Step
from survey_app.invitations.service import Issued, new_token, transaction_key
from survey_app.lib.clock import as_utc, local_day

log = logging.getLogger("survey.invitations")

# The stores' statements. ``CHECKS``: each (key hash, service code) pair of the batch,
# ``{pairs}`` in the engine's way, with the key's holder and the service, or NULLs where
# none is. ``ISSUED``: the store ends it with its engine's "in this list". Rows of
# ``insert_invitations`` hold ``INSERT_COLUMNS`` in this order.
CHECKS = (
    "WITH r(key_hash, code) AS ({pairs}) "
    "SELECT r.key_hash, r.code, k.role, k.agency, k.revoked, ka.code AS agency_code, "
    "s.id AS service_id, s.agency AS service_agency, s.questionnaire_id, "
    "sa.questionnaire_id AS agency_questionnaire_id FROM r "
    "LEFT JOIN api_key k ON k.key_hash = r.key_hash LEFT JOIN agency ka ON ka.id = k.agency "
    "LEFT JOIN service s ON s.code = r.code LEFT JOIN agency sa ON sa.id = s.agency"
)
ISSUED = (
    "SELECT transaction_key, token, expires_at, questionnaire_id FROM invitation "
    "WHERE transaction_key"
)
INSERT_COLUMNS = (
    "token, transaction_key, agency, service, channel, locale, questionnaire_id, "
    "created_at, expires_at"
)


@dataclass(frozen=True)
class Issue:
    """A request for the invitation of one transaction, as the portal sent it.

    ``key_hash`` is the SHA-256 of the portal's API key; ``service`` a service
    code. The reference and the secret never show in a log (``repr``).
    """

    key_hash: str
    service: str
    channel: str
    locale: str | None
    days: int
    default_questionnaire: str
    transaction_ref: str = field(repr=False)
    secret: str = field(repr=False)


class Refusal(StrEnum):
    """Why an invitation was not issued; the API maps each to its status code."""

    no_key = "no_key"  # unknown or revoked key: 401
    wrong_role = "wrong_role"  # not a portal key: 403
    unbound = "unbound"  # a portal key of no agency: 403
    unknown_service = "unknown_service"  # not a service of the key's agency: 400


@dataclass(frozen=True)
class Refused:
    reason: Refusal
    agency_code: str = ""


class NotIssued(RuntimeError):
    """A key the insert skipped that no committed row holds either (should not happen)."""


@dataclass(frozen=True)
class _Wanted:
    """An accepted request: the row it would insert."""

    key: str
    agency: int
    service: int
    questionnaire_id: str


def _stored(row: dict[str, Any]) -> Issued:
    return Issued(
        token=row["token"],
        expires_at=as_utc(row["expires_at"]),
        questionnaire_id=row["questionnaire_id"],
        created=False,
    )


def _holder(row: dict[str, Any] | None) -> Refused | tuple[int, str]:
    """The key's agency (id, code), or why it may not issue invitations."""
    if row is None or row["role"] is None or row["revoked"]:
        return Refused(Refusal.no_key)
    if row["role"] != Role.portal.value:
        return Refused(Refusal.wrong_role)
    if row["agency"] is None:
        return Refused(Refusal.unbound)
    return row["agency"], row["agency_code"]


def _questionnaire(
    service: dict[str, Any], item: Issue, served: Callable[[str], object | None]
) -> str:
    """The service's questionnaire, else its agency's, else the default: the first served."""
    assigned = (service["questionnaire_id"], service["agency_questionnaire_id"])
    choice = ServiceChoice(id=service["service_id"], assigned=tuple(q for q in assigned if q))
    chosen = next((q for q in choice.assigned if served(q) is not None), None)
    if choice.assigned and chosen != choice.assigned[0]:
        log.warning(
            "service %s is assigned questionnaire %r, which this server does not serve; using %r",
            item.service,
            choice.assigned[0],
            chosen or item.default_questionnaire,
        )
    return chosen or item.default_questionnaire


def _judge(
    batch: list[Issue], served: Callable[[str], object | None]
) -> Generator[Step, Any, list[Refused | _Wanted]]:
    """Check every request's key and service: one query for the whole batch."""
    pairs = sorted({(item.key_hash, item.service) for item in batch})
    checked = {(row["key_hash"], row["code"]): row for row in (yield Step("checks", (pairs,)))}
    judged: list[Refused | _Wanted] = []
    for item in batch:
        row = checked.get((item.key_hash, item.service))
        agency = _holder(row)
        if isinstance(agency, Refused):
            judged.append(agency)
            continue
        assert row is not None
        agency_id, agency_code = agency
        if row["service_id"] is None or row["service_agency"] != agency_id:
            judged.append(Refused(Refusal.unknown_service, agency_code))
            continue
        key = transaction_key(item.secret, agency_code, item.transaction_ref)
        questionnaire_id = _questionnaire(row, item, served)
        judged.append(_Wanted(key, agency_id, row["service_id"], questionnaire_id))
    return judged


def counts(rows: list[tuple], created: Collection[str], day: dt.date) -> Counter[InvitationKey]:
    """What the ``rows`` of ``insert_invitations`` that were ``created`` add to the cells."""
    counted: Counter[InvitationKey] = Counter()
    for _, key, agency, service, channel, _, questionnaire_id, _, _ in rows:
        if key in created:
            counted[(day, agency, service, channel, questionnaire_id)] += 1
    return counted


def plan_issue(
    batch: list[Issue], now: dt.datetime, served: Callable[[str], object | None]
) -> Generator[Step, Any, list[Any]]:
    """An ``Issued`` (201 when ``created``, else 200) or a ``Refused`` per request, in order.

    ``served`` gives None for a questionnaire this server does not serve.
    """
    judged = yield from _judge(batch, served)
    wanted = [(item, w) for item, w in zip(batch, judged, strict=True) if isinstance(w, _Wanted)]
    new: dict[str, tuple] = {}
    for item, w in sorted(wanted, key=lambda pair: pair[1].key):
        if w.key not in new:
            expires_at = now + dt.timedelta(days=item.days)
            new[w.key] = (
                new_token(), w.key, w.agency, w.service, item.channel, item.locale,
                w.questionnaire_id, now, expires_at,
            )  # fmt: skip
    # Sorted by key: writers of two processes lock the keys they share in one order.
    # The store counts what it inserted in the cells of ``day`` (``counts``).
    rows = list(new.values())
    created = set((yield Step("insert_invitations", (rows, local_day(now))))) if new else set()
    # Skipped: issued before, or by another process's writer that committed it since.
    stored = sorted(set(new) - created)
    issued = (yield Step("issued", (stored,))) if stored else []
    found = {row["transaction_key"]: _stored(row) for row in issued}
    results: list[Any] = []
    told: set[str] = set()  # keys whose 201 is given: the first request of each
    for w in judged:
        if isinstance(w, Refused):
            results.append(w)
        elif w.key in created:
            token, *_, questionnaire_id, _, expires_at = new[w.key]
            results.append(Issued(token, expires_at, questionnaire_id, created=w.key not in told))
            told.add(w.key)
        elif w.key in found:
            results.append(found[w.key])
        else:
            results.append(NotIssued(f"transaction key {w.key[:8]}… neither new nor stored"))
    return results
