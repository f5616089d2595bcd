"""Store responses exactly once, committed before anyone is told they are stored.

A submission is decided and written by ``plan_batch``, a generator that
names the database work it needs (``Step``) and receives the rows back; the
group-commit writer (``db.writer``) has it run for a whole batch of
concurrent submissions in one transaction, so one commit (one fsync) serves
many requests. The plan is written once, without I/O, and driven by the
synchronous SQLite store and the asynchronous PostgreSQL one alike.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from questionnaires import AnswerError, Questionnaire, validate_answers
from survey_app.db.cells import OVERALL, REASONS, REDACTED, CellInput, cell_counts
from survey_app.db.tables import Role
from survey_app.db.writer import Step
from survey_app.lib.clock import as_utc
from survey_app.lib.settings import DEFAULT_LOCALE
from survey_app.submissions.redact import redact
from survey_app.webhooks.outbox import Outbox, Written, plan_events

# Questions whose answers are free text are stored apart, in ``Comment``.
FREE_TEXT_KIND = "text"
# REDACTED: how many phone numbers, ID numbers, e-mails and dossier codes were taken
# out of the response's free text (``redact``), among its structured answers; absent
# when none.

# What the steps read, and the rows they write (``_write`` builds them in this order);
# the stores put in their engine's placeholders.
KEY_COLUMNS = "key_hash, role, agency, revoked"
INVITATION_COLUMNS = (
    "id, token, agency, service, channel, locale, questionnaire_id, expires_at, answered_at"
)
RESPONSE_COLUMNS = (
    "invitation, questionnaire_id, questionnaire_version, agency, service, channel, locale, "
    "submitted_at, overall, answers"
)
INSERT_REASON = "INSERT INTO response_reason (response, reason) VALUES ({0}, {1})"
INSERT_COMMENT = (
    "INSERT INTO comment (response, question, text, created_at) VALUES ({0}, {1}, {2}, {3})"
)


class Verdict(StrEnum):
    """What became of one submission; the API maps each to its status code."""

    stored = "stored"
    no_key = "no_key"  # unknown or revoked key: 401
    wrong_role = "wrong_role"  # a key that is not a portal key of an agency: 403
    unknown = "unknown"  # no such token, or a token of another agency: 404
    not_served = "not_served"  # the invitation's questionnaire is no longer served: 404
    answered = "answered"  # 409
    expired = "expired"  # 410
    invalid = "invalid"  # 400, with ``errors``


@dataclass(frozen=True)
class Submission:
    """One request to store answers.

    ``key_hash`` is the SHA-256 of the portal's API key; ``None`` for the
    citizen's own page, where the token in the path is the capability.
    """

    token: str
    answers: Mapping[str, Any]
    locale: str | None = None
    key_hash: str | None = None


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    submitted_at: dt.datetime | None = None
    response_id: int | None = None
    questionnaire_id: str | None = None
    questionnaire_version: int | None = None
    expires_at: dt.datetime | None = None
    errors: tuple[AnswerError, ...] = ()
    redacted: int = 0  # personal data replaced by markers in the stored free text


# What a batch comes to: an outcome per submission, or the error that stopped the batch.
Results = list[Outcome] | list[BaseException]


QuestionnaireOf = Callable[[str], Questionnaire | None]


@dataclass
class _Accepted:
    """A submission that passed every check, waiting for its claim and its rows."""

    index: int
    invitation: dict[str, Any]
    questionnaire: Questionnaire
    values: dict[str, object]
    locale: str
    extras: dict[str, object]
    free_text: list[tuple[str, str]]
    redacted: int
    response_id: int | None = None


def _check_key(key: dict[str, Any] | None) -> Verdict | None:
    if key is None or key["revoked"]:
        return Verdict.no_key
    if key["role"] != Role.portal.value or key["agency"] is None:
        return Verdict.wrong_role
    return None


def _split(
    questionnaire: Questionnaire, values: Mapping[str, object], locale: str
) -> tuple[dict[str, object], list[tuple[str, str]], int]:
    """Separate structured answers from free text (kept apart so it can be purged).

    Free text is stored only with its personal data replaced by markers in ``locale``
    (``redact``); the count of replacements goes among the structured answers.
    """
    extras: dict[str, object] = {}
    free_text: list[tuple[str, str]] = []
    redacted = 0
    for question in questionnaire.questions:
        if question.id not in values or question.id in (OVERALL, REASONS):
            continue
        value = values[question.id]
        if question.kind == FREE_TEXT_KIND:
            cleaned = redact(str(value), locale)
            free_text.append((question.id, cleaned.text))
            redacted += cleaned.removed
        else:
            extras[question.id] = list(value) if isinstance(value, tuple) else value
    if redacted:
        extras[REDACTED] = redacted
    return extras, free_text, redacted


def _judge(
    index: int,
    submission: Submission,
    keys: Mapping[str, dict[str, Any]],
    invitations: Mapping[str, dict[str, Any]],
    questionnaire_of: QuestionnaireOf,
    now: dt.datetime,
) -> Outcome | _Accepted:
    """Everything that can be decided before writing, in the order the API promises."""
    agency = None
    if submission.key_hash is not None:
        key = keys.get(submission.key_hash)
        refused = _check_key(key)
        if refused:
            return Outcome(refused)
        agency = key["agency"] if key else None
    invitation = invitations.get(submission.token)
    # A token of another agency is reported exactly like one that does not exist.
    if invitation is None or (agency is not None and invitation["agency"] != agency):
        return Outcome(Verdict.unknown)
    expires_at = as_utc(invitation["expires_at"])
    if invitation["answered_at"] is not None:
        return Outcome(Verdict.answered, expires_at=expires_at)
    if now >= expires_at:
        return Outcome(Verdict.expired, expires_at=expires_at)
    questionnaire = questionnaire_of(invitation["questionnaire_id"])
    if questionnaire is None:
        return Outcome(Verdict.not_served, expires_at=expires_at)
    clean, errors = validate_answers(questionnaire, submission.answers)
    if errors:
        return Outcome(Verdict.invalid, errors=tuple(errors))
    locale = submission.locale or invitation["locale"] or DEFAULT_LOCALE
    extras, free_text, redacted = _split(questionnaire, clean.values, locale)
    return _Accepted(
        index=index,
        invitation=invitation,
        questionnaire=questionnaire,
        # Only what the writer reads: the free text is kept redacted, in ``free_text``.
        values={k: clean.values[k] for k in (OVERALL, REASONS) if k in clean.values},
        locale=locale,
        extras=extras,
        free_text=free_text,
        redacted=redacted,
    )


def plan_batch(
    batch: list[Submission],
    now: dt.datetime,
    questionnaire_of: QuestionnaireOf,
    outbox: Outbox | None = None,
) -> Generator[Step, Any, list[Outcome]]:
    """Decide and write a batch inside the caller's transaction; one outcome per submission.

    With an ``outbox``, the webhook events of the stored responses are written too, in the
    same transaction (``webhooks.outbox``).

    A token submitted twice in one batch is stored once; the guarded claim
    (``answered_at IS NULL``) makes a submission racing in another process
    or transaction lose cleanly, and ``response.invitation`` is unique.
    """
    hashes = sorted({s.key_hash for s in batch if s.key_hash is not None})
    keys = {row["key_hash"]: row for row in (yield Step("keys", (hashes,)))} if hashes else {}
    tokens = sorted({s.token for s in batch})
    invitations = {row["token"]: row for row in (yield Step("invitations", (tokens,)))}
    outcomes: list[Outcome | None] = [None] * len(batch)
    accepted: dict[int, _Accepted] = {}  # by invitation id: the first submission wins
    for index, submission in enumerate(batch):
        judged = _judge(index, submission, keys, invitations, questionnaire_of, now)
        if isinstance(judged, Outcome):
            outcomes[index] = judged
        elif judged.invitation["id"] in accepted:
            outcomes[index] = Outcome(Verdict.answered)
        else:
            accepted[judged.invitation["id"]] = judged
    if accepted:
        claimed = set((yield Step("claim", (now, sorted(accepted)))))
        for invitation_id in [i for i in accepted if i not in claimed]:
            outcomes[accepted.pop(invitation_id).index] = Outcome(Verdict.answered)
    if accepted:
        yield from _write(list(accepted.values()), now)
        if outbox is not None:
            yield from plan_events(outbox, [_written(item) for item in accepted.values()], now)
    for item in accepted.values():
        outcomes[item.index] = Outcome(
            Verdict.stored,
            submitted_at=now,
            response_id=item.response_id,
            questionnaire_id=item.questionnaire.id,
            questionnaire_version=item.questionnaire.version,
            redacted=item.redacted,
        )
    return [outcome for outcome in outcomes if outcome is not None]


def _written(item: _Accepted) -> Written:
    assert item.response_id is not None
    return Written(
        response=item.response_id,
        invitation=item.invitation["id"],
        agency=item.invitation["agency"],
        service=item.invitation["service"],
        channel=item.invitation["channel"],
        locale=item.locale,
        questionnaire_id=item.questionnaire.id,
        questionnaire_version=item.questionnaire.version,
        overall=item.values.get(OVERALL),  # type: ignore[arg-type]
        reasons=tuple(item.values.get(REASONS) or ()),  # type: ignore[arg-type]
        answers=item.extras,
    )


def _write(items: list[_Accepted], now: dt.datetime) -> Generator[Step, Any, None]:
    responses = [
        (
            item.invitation["id"],
            item.questionnaire.id,
            item.questionnaire.version,
            item.invitation["agency"],
            item.invitation["service"],
            item.invitation["channel"],
            item.locale,
            now,
            item.values.get(OVERALL),
            json.dumps(item.extras, ensure_ascii=False),
        )
        for item in items
    ]
    ids = dict((yield Step("insert_responses", (responses,))))
    for item in items:
        item.response_id = ids[item.invitation["id"]]
    reasons = [
        (item.response_id, code) for item in items for code in item.values.get(REASONS) or ()
    ]
    if reasons:
        yield Step("insert_reasons", (reasons,))
    comments = [
        (item.response_id, qid, text, now) for item in items for qid, text in item.free_text
    ]
    if comments:
        yield Step("insert_comments", (comments,))
    cells = cell_counts(
        CellInput(
            submitted_at=now,
            agency=item.invitation["agency"],
            service=item.invitation["service"],
            channel=item.invitation["channel"],
            locale=item.locale,
            rating=item.values.get(OVERALL),  # type: ignore[arg-type]
            reasons=item.values.get(REASONS) or (),  # type: ignore[arg-type]
            questionnaire_id=item.questionnaire.id,
            answers={**item.extras, **item.values},
            ratings=item.questionnaire.ratings(),
        )
        for item in items
    )
    if cells:
        yield Step("upsert_cells", (cells,))
