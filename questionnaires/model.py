"""A questionnaire as immutable data: questions, options and declarative conditions.

Main classes: ``Questionnaire`` (id, version, questions), ``Question``,
``Option`` and ``Condition`` (a ``show_if``, evaluated from data with a fixed
table of operators, never with ``eval``).
"""

from __future__ import annotations

import hashlib
import json
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
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
CONDITION_OPS = (*COMPARISONS, "in", "contains")
# Which condition operators make sense for the kind of the question they test.
OPS_BY_KIND: dict[str, tuple[str, ...]] = {
    "rating": (*COMPARISONS, "in"),
    "choice": ("==", "!=", "in"),
    "multi": ("contains",),
    "text": (),
}


def _same(a: object, b: object) -> bool:
    """Equality that keeps ``True`` apart from ``1`` (JSON booleans are not ratings)."""
    return isinstance(a, bool) == isinstance(b, bool) and a == b


@dataclass(frozen=True)
class Option:
    """One answer a citizen can pick; for a rating, one point of the scale."""

    value: str  # the stored code, e.g. "portal_error", or "1".."N" for a rating
    label: str  # English msgid


@dataclass(frozen=True)
class Condition:
    """``show_if``: the question is asked only when this holds for an earlier answer."""

    question: str
    op: str
    value: Any

    def holds(self, answers: Mapping[str, object]) -> bool:
        """Whether the condition is met; False when the question it tests is unanswered."""
        if self.question not in answers:
            return False
        answer = answers[self.question]
        if answer is None:
            return False
        if self.op == "contains":
            return isinstance(answer, list | tuple) and any(_same(a, self.value) for a in answer)
        if self.op == "in":
            return isinstance(self.value, list | tuple) and any(
                _same(answer, v) for v in self.value
            )
        if self.op == "==":
            return _same(answer, self.value)
        if self.op == "!=":
            return not _same(answer, self.value)
        compare = COMPARISONS.get(self.op)
        if compare is None or isinstance(answer, bool) or isinstance(self.value, bool):
            return False
        try:
            return bool(compare(answer, self.value))
        except TypeError:
            return False

    def to_dict(self) -> dict[str, Any]:
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        return {"question": self.question, "op": self.op, "value": value}


@dataclass(frozen=True)
class Question:
    """One question; which fields matter depends on ``kind``."""

    id: str
    kind: str  # one of QUESTION_KINDS
    text: str  # English msgid
    required: bool = False
    hint: str | None = None  # English msgid
    options: tuple[Option, ...] = ()  # choice/multi; rating: one per point, values "1".."N"
    scale: int | None = None  # rating: N
    max_length: int | None = None  # text: at most this many characters
    show_if: Condition | None = None


@dataclass(frozen=True)
class Questionnaire:
    """A versioned questionnaire; every stored response records ``id`` and ``version``."""

    id: str
    version: int
    title: str  # English msgid
    intro: str | None  # English msgid
    questions: tuple[Question, ...]
    source: Path | None = None  # the file it was read from; not part of the checksum

    def question(self, qid: str) -> Question:
        """The question with id ``qid``; ``KeyError`` when there is none."""
        for question in self.questions:
            if question.id == qid:
                return question
        raise KeyError(qid)

    def ratings(self) -> tuple[str, ...]:
        """The ids of its rating questions, in order."""
        return tuple(q.id for q in self.questions if q.kind == "rating")

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
        """(location, msgid) of every translatable text, in file order."""
        found = [("title", self.title)]
        if self.intro:
            found.append(("intro", self.intro))
        for index, question in enumerate(self.questions):
            where = question_location(index, question.id)
            found.append((f"{where}.text", question.text))
            if question.hint:
                found.append((f"{where}.hint", question.hint))
            # A rating's points are written as `labels` in the file, choices as `options`.
            field = "labels" if question.kind == "rating" else "options"
            suffix = "" if question.kind == "rating" else ".label"
            found.extend(
                (f"{where}.{field}[{i}]{suffix}", option.label)
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
                    "show_if": q.show_if.to_dict() if q.show_if else None,
                }
                for q in self.questions
            ],
        }

    def checksum(self) -> str:
        """sha256 of the canonical definition: changes whenever anything asked changes."""
        # Keep this serialisation stable: stored checksums of served versions depend on it.
        canonical = json.dumps(self.localized(str), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def question_location(index: int, qid: object) -> str:
    """``questions[2] (id "reasons")``: where a question is, for people reading a report."""
    if isinstance(qid, str) and qid:
        return f"questions[{index}] (id {json.dumps(qid, ensure_ascii=False)})"
    return f"questions[{index}]"
