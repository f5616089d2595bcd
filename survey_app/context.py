"""What every request handler may need, assembled once by the app factory."""

from __future__ import annotations

from dataclasses import dataclass

from litestar.di import NamedDependency
from piccolo.engine.base import Engine

from questionnaires import Questionnaire
from survey_app.i18n import Catalogs
from survey_app.settings import Settings
from survey_app.submissions import Writer


@dataclass(frozen=True)
class AppContext:
    settings: Settings
    engine: Engine
    questionnaires: dict[str, Questionnaire]
    catalogs: Catalogs
    default_questionnaire: str
    condition_css: dict[str, str]
    writer: Writer

    def questionnaire(self, questionnaire_id: str) -> Questionnaire | None:
        return self.questionnaires.get(questionnaire_id)


# How handlers ask for it: injected by name (``ctx``), provided by the app factory.
Ctx = NamedDependency[AppContext]
