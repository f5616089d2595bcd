"""``show_if`` semantics, evaluated from data, never as code."""

from __future__ import annotations

import pytest

from questionnaires import Condition, load_directory, load_file
from tests.questionnaires.samples import MINI

Q = load_directory()["public-service-satisfaction"]


@pytest.mark.parametrize(
    ("condition", "answers", "expected"),
    [
        (Condition("overall", "<=", 3), {"overall": 3}, True),
        (Condition("overall", "<=", 3), {"overall": 1}, True),
        (Condition("overall", "<=", 3), {"overall": 4}, False),
        (Condition("overall", "<", 3), {"overall": 3}, False),
        (Condition("overall", ">", 3), {"overall": 4}, True),
        (Condition("overall", ">=", 3), {"overall": 2}, False),
        (Condition("overall", "==", 3), {"overall": 3}, True),
        (Condition("overall", "!=", 5), {"overall": 4}, True),
        (Condition("overall", "!=", 5), {"overall": 5}, False),
        (Condition("overall", "in", [1, 2]), {"overall": 2}, True),
        (Condition("overall", "in", [1, 2]), {"overall": 3}, False),
        (Condition("why", "==", "slow"), {"why": "slow"}, True),
        (Condition("why", "in", ["slow", "hard"]), {"why": "hard"}, True),
        (Condition("reasons", "contains", "other"), {"reasons": ("other",)}, True),
        (Condition("reasons", "contains", "other"), {"reasons": ["portal_error", "other"]}, True),
        (Condition("reasons", "contains", "other"), {"reasons": ("portal_error",)}, False),
        # Unanswered: never holds, not even for != (the question was not answered at all).
        (Condition("overall", "<=", 3), {}, False),
        (Condition("overall", "!=", 5), {}, False),
        (Condition("overall", "<=", 3), {"overall": None}, False),
        (Condition("reasons", "contains", "other"), {}, False),
        # Wrong types never match and never raise.
        (Condition("overall", "<=", 3), {"overall": "2"}, False),
        (Condition("overall", "<=", 3), {"overall": [1]}, False),
        (Condition("overall", "<=", 3), {"overall": True}, False),
        (Condition("overall", "==", 1), {"overall": True}, False),
        (Condition("overall", "in", [1, 2]), {"overall": True}, False),
        (Condition("overall", "!=", 1), {"overall": True}, True),
        (Condition("reasons", "contains", "other"), {"reasons": "other"}, False),
        (Condition("reasons", "contains", "other"), {"reasons": {"other": 1}}, False),
        (Condition("overall", "in", 2), {"overall": 2}, False),
        (Condition("overall", "~", 2), {"overall": 2}, False),
        # Values are data: a string that looks like code is just a string.
        (Condition("x", "==", "__import__('os')"), {"x": "__import__('os')"}, True),
        (Condition("x", "<=", "__import__('os').system('false')"), {"x": 1}, False),
    ],
)
def test_condition_holds(condition, answers, expected):
    assert condition.holds(answers) is expected


def ids(answers) -> list[str]:
    return [q.id for q in Q.visible(answers)]


def test_visibility_of_the_default_questionnaire():
    assert ids({}) == ["overall", "comment"]
    assert ids({"overall": 5}) == ["overall", "comment"]
    assert ids({"overall": 3}) == ["overall", "reasons", "comment"]
    assert ids({"overall": 2, "reasons": ("portal_error",)}) == ["overall", "reasons", "comment"]
    assert ids({"overall": 2, "reasons": ("other",)}) == [
        "overall",
        "reasons",
        "reason_other",
        "comment",
    ]


def test_visibility_chains_through_hidden_questions():
    # 'other' ticked but the rating hides the reasons: reason_other stays hidden too.
    assert ids({"overall": 5, "reasons": ("other",)}) == ["overall", "comment"]
    assert ids({"reasons": ("other",)}) == ["overall", "comment"]


def test_a_three_level_chain(tmp_path):
    path = tmp_path / "mini.toml"
    path.write_text(MINI)
    q = load_file(path)

    def shown(answers):
        return [x.id for x in q.visible(answers)]

    everything = {"ease": 1, "why": "slow", "extras": ("fee",), "note": "x"}
    assert shown(everything) == ["ease", "why", "extras", "note"]
    assert shown({**everything, "extras": ("queue",)}) == ["ease", "why", "extras"]
    assert shown({**everything, "why": "hard"}) == ["ease", "why"]
    assert shown({**everything, "ease": 3}) == ["ease"]
