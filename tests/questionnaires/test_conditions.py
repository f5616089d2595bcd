"""``show_if`` semantics, evaluated from data, never as code."""

from __future__ import annotations

import pytest

from questionnaires import DEFAULT_DIRECTORY, Condition, load_directory

Q = load_directory(DEFAULT_DIRECTORY)["public-service-satisfaction"]


@pytest.mark.parametrize(
    ("condition", "answers", "expected"),
    [
        (Condition("overall", "<=", 3), {"overall": 3}, True),
        (Condition("overall", "<=", 3), {"overall": 4}, False),
        (Condition("overall", "<=", 3), {}, False),
        (Condition("overall", "<=", 3), {"overall": "2"}, False),
        (Condition("overall", "in", [1, 2]), {"overall": 2}, True),
        (Condition("overall", "!=", 5), {"overall": 4}, True),
        (Condition("reasons", "contains", "other"), {"reasons": ("other",)}, True),
        (Condition("reasons", "contains", "other"), {"reasons": "other"}, False),
        (Condition("x", "==", "__import__('os')"), {"x": "__import__('os')"}, True),
    ],
)
def test_condition_holds(condition, answers, expected):
    assert condition.holds(answers) is expected


def ids(answers) -> list[str]:
    return [q.id for q in Q.visible(answers)]


def test_visibility_chains_through_hidden_questions():
    assert ids({}) == ["overall", "comment"]
    assert ids({"overall": 2}) == ["overall", "reasons", "comment"]
    assert ids({"overall": 2, "reasons": ("other",)}) == [
        "overall",
        "reasons",
        "reason_other",
        "comment",
    ]
    # 'other' ticked but the rating hides the reasons: reason_other stays hidden too.
    assert ids({"overall": 5, "reasons": ("other",)}) == ["overall", "comment"]
