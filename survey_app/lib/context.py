"""What every request handler may need, assembled once by the app factory.

The submission writer is not here: it belongs to ``submissions``, which
provides it to its handlers as the ``writer`` dependency.
"""

from __future__ import annotations

from dataclasses import dataclass

from litestar.di import NamedDependency
from piccolo.engine.base import Engine

from questionnaires import Questionnaire
from survey_app.lib.i18n import Catalogs
from survey_app.lib.settings import Settings


@dataclass(frozen=True)
class AppContext:
    settings: Settings
    engine: Engine
    questionnaires: dict[str, Questionnaire]
    catalogs: Catalogs
    default_questionnaire: str
    condition_css: dict[str, str]

    def questionnaire(self, questionnaire_id: str) -> Questionnaire | None:
        return self.questionnaires.get(questionnaire_id)


# How handlers ask for it: injected by name (``ctx``), provided by the app factory.
Ctx = NamedDependency[AppContext]
