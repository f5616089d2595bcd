"""Check answers against a questionnaire: strict on types, since portals send JSON."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from questionnaires.model import Question, Questionnaire


def N_(message: str) -> str:
    """Mark ``message`` for extraction; the web layer translates it for the citizen."""
    return message


ALLOWED_CONTROL = {"\n", "\t", "\r"}


@dataclass(frozen=True)
class AnswerError:
    question: str
    message: str  # English msgid with %(name)s placeholders
    params: Mapping[str, object] = field(default_factory=dict)

    def text(self) -> str:
        return self.message % self.params if self.params else self.message


@dataclass(frozen=True)
class CleanAnswers:
    values: dict[str, object]


def validate_answers(
    q: Questionnaire, answers: Mapping[str, object]
) -> tuple[CleanAnswers, list[AnswerError]]:
    """The typed answers to the questions asked, and every problem found.

    Answers to questions whose ``show_if`` does not hold are dropped, not
    refused: a citizen with JavaScript off may tick reasons, then pick five stars.
    """
    if not isinstance(answers, Mapping):
        return CleanAnswers({}), [AnswerError("answers", N_("Answers must be an object."))]
    errors: list[AnswerError] = []
    known = {question.id for question in q.questions}
    for key in answers:
        if key not in known:
            errors.append(AnswerError(str(key)[:64] or "(empty)", N_("There is no such question.")))
    typed: dict[str, object] = {}
    for question in q.questions:
        if question.id in answers:
            value, error = _check(question, answers[question.id])
            if error:
                errors.append(error)
            elif value is not None:
                typed[question.id] = value
    clean: dict[str, object] = {}
    for question in q.visible(typed):
        if question.id in typed:
            clean[question.id] = typed[question.id]
        elif question.required and not any(e.question == question.id for e in errors):
            errors.append(AnswerError(question.id, N_("This question is required.")))
    return CleanAnswers(clean), errors


def _check(question: Question, value: Any) -> tuple[object | None, AnswerError | None]:
    """(typed value or None when unanswered, error)."""
    qid = question.id
    if value is None:
        return None, None
    if question.kind == "rating":
        high = question.scale or len(question.options)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
            message = N_("Choose a rating from %(low)s to %(high)s.")
            return None, AnswerError(qid, message, {"low": 1, "high": high})
        return value, None
    values = [option.value for option in question.options]
    if question.kind == "choice":
        if not isinstance(value, str) or value not in values:
            return None, AnswerError(qid, N_("Choose one of the options."))
        return value, None
    if question.kind == "multi":
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            return None, AnswerError(qid, N_("Choose from the options given."))
        unknown = [v for v in value if v not in values]
        if unknown:
            return None, AnswerError(qid, N_("Choose from the options given."))
        if not value:
            return None, None
        return tuple(v for v in values if v in value), None
    if not isinstance(value, str):
        return None, AnswerError(qid, N_("Write your answer as text."))
    text = value.strip()
    if not text:
        return None, None
    limit = question.max_length or 0
    if len(text) > limit:
        message = N_("Please use at most %(limit)s characters (now %(length)s).")
        return None, AnswerError(qid, message, {"limit": limit, "length": len(text)})
    if any(unicodedata.category(c) == "Cc" and c not in ALLOWED_CONTROL for c in text):
        return None, AnswerError(qid, N_("The text contains characters that are not allowed."))
    return text, None


def _small_number(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 3


def answers_from_form(q: Questionnaire, form: Mapping[str, list[str]]) -> dict[str, object]:
    """Answers from an HTML form post, typed as the JSON API would send them.

    Values that cannot be typed are passed on as they are, so that
    ``validate_answers`` reports them; a field sent twice for a single-valued
    question becomes a list, which validation refuses.
    """
    answers: dict[str, object] = {}
    for question in q.questions:
        raw = [v for v in form.get(question.id, []) if v != ""]
        if not raw:
            continue
        if question.kind == "multi" or len(raw) > 1:
            answers[question.id] = raw
        elif question.kind == "rating" and _small_number(raw[0]):
            answers[question.id] = int(raw[0])
        else:
            answers[question.id] = raw[0]
    return answers
