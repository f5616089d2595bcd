"""Check answers against a questionnaire: strict on types, since portals send JSON.

``validate_answers`` returns the typed answers to the questions actually
asked and an ``AnswerError`` per problem; ``answers_from_form`` turns an
HTML form post into the same shape as a JSON ``answers`` object. Error
messages are English msgids marked with ``N_`` (extract with ``-k N_``);
the web layer translates them with their ``params``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from questionnaires.model import Question, Questionnaire


def N_(message: str) -> str:
    """Mark ``message`` for extraction; the web layer translates it for the citizen."""
    return message


# Control characters a citizen may type: newline and tab (CR is folded into newline first).
ALLOWED_CONTROL = frozenset("\n\t")
REFUSED_CATEGORIES = frozenset(("Cc", "Cs"))  # control characters; lone surrogates from JSON
MAX_ERROR_KEY = 64


@dataclass(frozen=True)
class AnswerError:
    """One problem with the answer to ``question`` (or ``"answers"`` for the whole object)."""

    question: str
    message: str  # English msgid with %(name)s placeholders
    params: Mapping[str, object] = field(default_factory=dict)

    def text(self) -> str:
        """The English message with its placeholders filled (for logs and tests)."""
        return self.message % dict(self.params) if self.params else self.message


@dataclass(frozen=True)
class CleanAnswers:
    """Typed answers to the visible questions: rating -> int, choice -> str,
    multi -> tuple of option values in option order, text -> stripped str.
    Unanswered questions are absent."""

    values: dict[str, object]


def validate_answers(
    q: Questionnaire, answers: Mapping[str, object]
) -> tuple[CleanAnswers, list[AnswerError]]:
    """The typed answers to the questions asked, and every problem found.

    Questions are taken in order; one whose ``show_if`` does not hold, given
    the valid answers to the questions shown before it, is not asked, and
    its answer is dropped without an error: a citizen with JavaScript off
    may tick reasons, then pick five stars.
    """
    if not isinstance(answers, Mapping):
        return CleanAnswers({}), [AnswerError("answers", N_("Answers must be an object."))]
    errors: list[AnswerError] = []
    known = {question.id for question in q.questions}
    for key in answers:
        if key not in known:
            name = (key if isinstance(key, str) else repr(key))[:MAX_ERROR_KEY] or "(empty)"
            errors.append(AnswerError(name, N_("There is no such question.")))
    clean: dict[str, object] = {}
    for question in q.questions:
        if question.show_if is not None and not question.show_if.holds(clean):
            continue
        value, error = _check(question, answers.get(question.id))
        if error is not None:
            errors.append(error)
        elif value is not None:
            clean[question.id] = value
        elif question.required:
            errors.append(AnswerError(question.id, N_("This question is required.")))
    return CleanAnswers(clean), errors


def _check(question: Question, value: Any) -> tuple[object | None, AnswerError | None]:
    """(typed value, or None when unanswered; error)."""
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
        if not isinstance(value, list | tuple) or not all(v in values for v in value):
            # ``in`` on a list of str compares with ==: safe for any JSON value.
            return None, AnswerError(qid, N_("Choose from the options given."))
        if len(set(value)) != len(value):
            return None, AnswerError(qid, N_("Choose each option only once."))
        if not value:
            return None, None
        return tuple(v for v in values if v in value), None
    if not isinstance(value, str):
        return None, AnswerError(qid, N_("Write your answer as text."))
    text = value.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        return None, None
    limit = question.max_length or 0
    if len(text) > limit:
        message = N_("Please use at most %(limit)s characters (now %(length)s).")
        return None, AnswerError(qid, message, {"limit": limit, "length": len(text)})
    if any(
        unicodedata.category(c) in REFUSED_CATEGORIES and c not in ALLOWED_CONTROL for c in text
    ):
        return None, AnswerError(qid, N_("The text contains characters that are not allowed."))
    return text, None


def _small_number(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 3


def answers_from_form(q: Questionnaire, form: Mapping[str, list[str]]) -> dict[str, object]:
    """Answers from an HTML form post, typed as the JSON API would send them.

    Empty fields are unanswered. Values that cannot be typed are passed on
    as they are, so that ``validate_answers`` reports them; a field sent
    twice for a single-valued question becomes a list, which validation
    refuses. Fields that are not questions are ignored.
    """
    answers: dict[str, object] = {}
    for question in q.questions:
        sent = form.get(question.id)
        if isinstance(sent, str):
            sent = [sent]
        raw = [v for v in sent or () if v != ""]
        if not raw:
            continue
        if question.kind == "multi" or len(raw) > 1:
            answers[question.id] = raw
        elif question.kind == "rating" and _small_number(raw[0]):
            answers[question.id] = int(raw[0])
        else:
            answers[question.id] = raw[0]
    return answers
