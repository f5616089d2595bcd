"""What one batch of the writer holds: submissions and invitations, planned together.

Both stores drive ``plan_jobs`` inside their one transaction. Invitations
are issued first: a token is known to nobody before its 201, so no
submission of the same batch can depend on one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Generator
from typing import Any

from survey_app.db.writer import Step
from survey_app.invitations.batch import Issue, plan_issue
from survey_app.submissions.plan import QuestionnaireOf, Submission, plan_batch
from survey_app.webhooks.outbox import Outbox


def plan_jobs(
    batch: list[object],
    now: dt.datetime,
    questionnaire_of: QuestionnaireOf,
    outbox: Outbox | None = None,
) -> Generator[Step, Any, list[Any]]:
    """A result per job, in the batch's order; a job of no known kind gets a TypeError.

    ``outbox``: write the webhook events of the responses stored (``webhooks.outbox``)."""
    results: list[Any] = [TypeError(f"not a writer job: {type(job).__name__}") for job in batch]
    issues = [(i, job) for i, job in enumerate(batch) if isinstance(job, Issue)]
    if issues:
        issued = yield from plan_issue([job for _, job in issues], now, questionnaire_of)
        for (i, _), result in zip(issues, issued, strict=True):
            results[i] = result
    submissions = [(i, job) for i, job in enumerate(batch) if isinstance(job, Submission)]
    if submissions:
        outcomes = yield from plan_batch(
            [job for _, job in submissions], now, questionnaire_of, outbox
        )
        for (i, _), outcome in zip(submissions, outcomes, strict=True):
            results[i] = outcome
    return results
