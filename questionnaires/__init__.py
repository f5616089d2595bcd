"""Questionnaires as data files: the model, the validating loader and answer checks.

The web service (``survey_app``) depends on this package, never the reverse.
"""

from questionnaires.answers import (
    AnswerError,
    CleanAnswers,
    answers_from_form,
    validate_answers,
)
from questionnaires.loader import (
    DEFAULT_DIRECTORY,
    DEFAULT_QUESTIONNAIRE_ID,
    Problem,
    QuestionnaireError,
    load_directory,
    load_file,
)
from questionnaires.model import (
    QUESTION_KINDS,
    REASON_CODES,
    Condition,
    Option,
    Question,
    Questionnaire,
)

__all__ = [
    "DEFAULT_DIRECTORY",
    "DEFAULT_QUESTIONNAIRE_ID",
    "QUESTION_KINDS",
    "REASON_CODES",
    "AnswerError",
    "CleanAnswers",
    "Condition",
    "Option",
    "Problem",
    "Question",
    "Questionnaire",
    "QuestionnaireError",
    "answers_from_form",
    "load_directory",
    "load_file",
    "validate_answers",
]
