"""A questionnaire as immutable data: questions, options and declarative conditions."""

from __future__ import annotations

import hashlib
import json
import operator
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REASON_CODES: tuple[str, ...] = (
    "portal_error",
    "complex_procedure",
    "payment_error",
    "network_error",
    "device_error",
    "other",
)
QUESTION_KINDS = ("rating", "choice", "multi", "text")
COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
# Which condition operators make sense for the kind of the question they test.
OPS_BY_KIND: dict[str, tuple[str, ...]] = {
    "rating": (*COMPARISONS, "in"),
    "choice": ("==", "!=", "in"),
    "multi": ("contains",),
    "text": (),
}


@dataclass(frozen=True)
class Option:
    value: str
    label: str  # English msgid


@dataclass(frozen=True)
class Condition:
    """``show_if``: the question is asked only when this holds for the earlier answer."""

    question: str
    op: str
    value: Any

    def holds(self, answers: Mapping[str, object]) -> bool:
        """False when the question it depends on is unanswered."""
        if self.question not in answers:
            return False
        answer = answers[self.question]
        if self.op == "contains":
            return isinstance(answer, list | tuple) and self.value in answer
        if self.op == "in":
            return isinstance(self.value, list | tuple) and answer in self.value
        compare = COMPARISONS[self.op]
        try:
            return bool(compare(answer, self.value))
        except TypeError:
            return False


@dataclass(frozen=True)
class Question:
    id: str
    kind: str
    text: str
    required: bool = False
    hint: str | None = None
    options: tuple[Option, ...] = ()
    scale: int | None = None
    max_length: int | None = None
    show_if: Condition | None = None


@dataclass(frozen=True)
class Questionnaire:
    id: str
    version: int
    title: str
    intro: str | None
    questions: tuple[Question, ...]
    source: Path | None = None

    def question(self, qid: str) -> Question:
        for question in self.questions:
            if question.id == qid:
                return question
        raise KeyError(qid)

    def visible(self, answers: Mapping[str, object]) -> list[Question]:
        """Questions asked given ``answers``; answers to hidden questions do not count."""
        shown: list[Question] = []
        effective: dict[str, object] = {}
        for question in self.questions:
            if question.show_if is None or question.show_if.holds(effective):
                shown.append(question)
                if question.id in answers:
                    effective[question.id] = answers[question.id]
        return shown

    def msgids(self) -> list[tuple[str, str]]:
        """(location, msgid) of every translatable text."""
        found = [("title", self.title)]
        if self.intro:
            found.append(("intro", self.intro))
        for index, question in enumerate(self.questions):
            where = f"questions[{index}] ({question.id})"
            found.append((f"{where}.text", question.text))
            if question.hint:
                found.append((f"{where}.hint", question.hint))
            found.extend(
                (f"{where}.options[{i}].label", option.label)
                for i, option in enumerate(question.options)
            )
        return found

    def localized(self, gettext: Callable[[str], str]) -> dict[str, Any]:
        """The definition with texts through ``gettext``, as plain JSON-safe data."""
        return {
            "id": self.id,
            "version": self.version,
            "title": gettext(self.title),
            "intro": gettext(self.intro) if self.intro else None,
            "questions": [
                {
                    "id": q.id,
                    "kind": q.kind,
                    "text": gettext(q.text),
                    "hint": gettext(q.hint) if q.hint else None,
                    "required": q.required,
                    "options": [{"value": o.value, "label": gettext(o.label)} for o in q.options],
                    "scale": q.scale,
                    "max_length": q.max_length,
                    "show_if": asdict(q.show_if) if q.show_if else None,
                }
                for q in self.questions
            ],
        }

    def checksum(self) -> str:
        """Changes whenever anything a respondent sees or answers changes."""
        canonical = json.dumps(self.localized(str), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()
