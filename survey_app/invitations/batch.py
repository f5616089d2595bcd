"""Issue invitations in batches, inside the group-commit writer's transaction.

``POST /api/v1/invitations`` queues an ``Issue`` on the process's writer
(``db.writer``) and answers only once the batch that carries it committed.
``plan_issue`` decides and writes a whole batch, without I/O of its own, like
``submissions.plan``: one read of the batch's API keys, one of its services,
one of its transaction keys, one insert of the new ones, one count per
statistics cell, so a batch of any size costs a few statements and one
commit, and a request costs no query of its own.

Idempotency per (agency, transaction) is the unique ``transaction_key``:
within a batch the first request of a key creates the invitation and the
others get the same one; a writer of another process that committed the
same key first makes the insert skip it (``ON CONFLICT DO NOTHING``), and the
key is read again, so everyone gets the one stored token.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable, Generator
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

# What the steps read (each store ends the statement with its engine's "in this list"),
# and the rows ``insert_invitations`` writes, in this order.
HOLDERS = (
    "SELECT k.key_hash, k.role, k.agency, k.revoked, a.code AS agency_code "
    "FROM api_key k LEFT JOIN agency a ON a.id = k.agency WHERE k.key_hash"
)
SERVICES = (
    "SELECT s.id, s.code, s.agency, s.questionnaire_id, a.questionnaire_id AS "
    "agency_questionnaire_id FROM service s JOIN agency a ON a.id = s.agency WHERE s.code"
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
    if row is None or row["revoked"]:
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
    choice = ServiceChoice(id=service["id"], assigned=tuple(q for q in assigned if q))
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
    """Check every request's key and service: two queries for the whole batch."""
    hashes = sorted({item.key_hash for item in batch})
    holders = {row["key_hash"]: row for row in (yield Step("holders", (hashes,)))}
    agencies = [_holder(holders.get(item.key_hash)) for item in batch]
    codes = sorted(
        {i.service for i, a in zip(batch, agencies, strict=True) if isinstance(a, tuple)}
    )
    services = {row["code"]: row for row in (yield Step("services", (codes,)))} if codes else {}
    judged: list[Refused | _Wanted] = []
    for item, agency in zip(batch, agencies, strict=True):
        if isinstance(agency, Refused):
            judged.append(agency)
            continue
        agency_id, agency_code = agency
        service = services.get(item.service)
        if service is None or service["agency"] != agency_id:
            judged.append(Refused(Refusal.unknown_service, agency_code))
            continue
        key = transaction_key(item.secret, agency_code, item.transaction_ref)
        judged.append(_Wanted(key, agency_id, service["id"], _questionnaire(service, item, served)))
    return judged


def plan_issue(
    batch: list[Issue], now: dt.datetime, served: Callable[[str], object | None]
) -> Generator[Step, Any, list[Any]]:
    """An ``Issued`` (201 when ``created``, else 200) or a ``Refused`` per request, in order.

    ``served`` gives None for a questionnaire this server does not serve.
    """
    judged = yield from _judge(batch, served)
    wanted = [(item, w) for item, w in zip(batch, judged, strict=True) if isinstance(w, _Wanted)]
    keys = sorted({w.key for _, w in wanted})
    issued = (yield Step("issued", (keys,))) if keys else []
    found = {row["transaction_key"]: _stored(row) for row in issued}
    new: dict[str, tuple] = {}
    for item, w in sorted(wanted, key=lambda pair: pair[1].key):
        if w.key in found or w.key in new:
            continue
        expires_at = now + dt.timedelta(days=item.days)
        new[w.key] = (
            new_token(), w.key, w.agency, w.service, item.channel, item.locale,
            w.questionnaire_id, now, expires_at,
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
