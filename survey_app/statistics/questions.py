"""Which question a statistic is about, and whose responses it may pool.

Every statistic is about one question (``question=``, default ``overall`` for
ratings and ``reasons`` for choices) of one questionnaire (``questionnaire=``)
or of every questionnaire that asks it the same way. Responses to different
questionnaires are pooled only when the question has the same id, kind and
options in each: a 1-5 rating is not a 1-7 one, and a reason list with other
codes is another question. ``resolve`` decides that, or refuses with a message
that names the question and what is wrong with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from questionnaires import Question, Questionnaire

OVERALL = "overall"
REASONS = "reasons"
RATING_KINDS = ("rating",)
CHOICE_KINDS = ("choice", "multi")
DEFAULTS = {RATING_KINDS: OVERALL, CHOICE_KINDS: REASONS}


class QuestionError(ValueError):
    """A questionnaire or question a statistic cannot be about; the message says why."""


@dataclass(frozen=True)
class Scope:
    """One question and the questionnaires whose answers to it are counted together.

    ``questionnaires`` is None when the statistic may read the tables that pool
    every questionnaire (the default question, asked the same way everywhere).
    """

    question: str
    kind: str
    questionnaires: tuple[str, ...] | None
    method: str

    @property
    def pooled_tables(self) -> bool:
        return self.questionnaires is None

    def to_dict(self) -> dict[str, object]:
        return {
            "question": self.question,
            "kind": self.kind,
            "questionnaires": list(self.questionnaires) if self.questionnaires else "all",
        }


def _signature(question: Question) -> tuple[str, tuple[str, ...]]:
    return question.kind, tuple(option.value for option in question.options)


def _asks(questionnaire: Questionnaire, qid: str) -> Question | None:
    try:
        return questionnaire.question(qid)
    except KeyError:
        return None


def _kind_error(question: Question, where: str, kinds: tuple[str, ...]) -> QuestionError:
    wanted = " or ".join(kinds)
    return QuestionError(
        f"question {question.id!r} of {where} is a {question.kind} question; "
        f"this statistic needs a {wanted} question"
    )


def _listing(questionnaire: Questionnaire, kinds: tuple[str, ...]) -> str:
    fitting = [q.id for q in questionnaire.questions if q.kind in kinds]
    return ", ".join(fitting) if fitting else "none"


def resolve(
    questionnaires: Mapping[str, Questionnaire],
    default_questionnaire: str,
    questionnaire: str | None,
    question: str | None,
    kinds: tuple[str, ...],
) -> Scope:
    """The scope of a statistic over ``question`` (of one of ``kinds``)."""
    qid = question or DEFAULTS[kinds]
    if questionnaire is not None:
        chosen = questionnaires.get(questionnaire)
        if chosen is None:
            known = ", ".join(sorted(questionnaires))
            raise QuestionError(f"unknown questionnaire {questionnaire!r}: use one of {known}")
        asked = _asks(chosen, qid)
        if asked is None:
            raise QuestionError(
                f"questionnaire {questionnaire!r} has no question {qid!r}; "
                f"its {' or '.join(kinds)} questions: {_listing(chosen, kinds)}"
            )
        if asked.kind not in kinds:
            raise _kind_error(asked, f"questionnaire {questionnaire!r}", kinds)
        return Scope(
            qid,
            asked.kind,
            (questionnaire,),
            f"Question {qid!r} of questionnaire {questionnaire!r} only.",
        )
    asking = {key: q for key, q in sorted(questionnaires.items()) if _asks(q, qid) is not None}
    if not asking:
        raise QuestionError(
            f"no questionnaire has a question {qid!r}; name one with questionnaire= "
            f"(known: {', '.join(sorted(questionnaires))})"
        )
    reference_id = default_questionnaire if default_questionnaire in asking else next(iter(asking))
    reference = asking[reference_id].question(qid)
    if reference.kind not in kinds:
        raise _kind_error(reference, f"questionnaire {reference_id!r}", kinds)
    same = tuple(
        key for key, q in asking.items() if _signature(q.question(qid)) == _signature(reference)
    )
    differ = [key for key in asking if key not in same]
    pooled = f"Question {qid!r} pooled over the questionnaires that ask it with the same "
    pooled += f"kind and options: {', '.join(same)}."
    if differ:
        pooled += f" Not pooled, as their {qid!r} differs: {', '.join(differ)}."
    everywhere = not differ and qid == DEFAULTS[kinds]
    return Scope(qid, reference.kind, None if everywhere else same, pooled)
