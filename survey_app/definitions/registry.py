"""Record each questionnaire version served, and refuse a file changed under the same version."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from questionnaires import Questionnaire
from survey_app.db.engine import UNIQUE_VIOLATIONS
from survey_app.db.tables import QuestionnaireVersion


class QuestionnaireChanged(RuntimeError):
    pass


async def register_questionnaires(questionnaires: Iterable[Questionnaire]) -> None:
    for questionnaire in questionnaires:
        key = f"{questionnaire.id}@{questionnaire.version}"
        checksum = questionnaire.checksum()
        row = (
            await QuestionnaireVersion.select(QuestionnaireVersion.checksum)
            .where(QuestionnaireVersion.key == key)
            .first()
        )
        if row is None:
            try:
                await QuestionnaireVersion.insert(
                    QuestionnaireVersion(
                        key=key,
                        questionnaire_id=questionnaire.id,
                        version=questionnaire.version,
                        checksum=checksum,
                        definition=questionnaire.localized(str),
                        registered_at=dt.datetime.now(dt.UTC),
                    )
                )
            except UNIQUE_VIOLATIONS:
                # Another worker registered it first; compare with what it stored.
                row = (
                    await QuestionnaireVersion.select(QuestionnaireVersion.checksum)
                    .where(QuestionnaireVersion.key == key)
                    .first()
                )
        if row is not None and row["checksum"] != checksum:
            source = questionnaire.source or questionnaire.id
            raise QuestionnaireChanged(
                f"{source}: questionnaire {key} differs from the version already served "
                "(responses refer to it); give the changed questionnaire a new version number"
            )
