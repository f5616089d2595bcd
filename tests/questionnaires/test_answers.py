"""Answer validation: strict types, conditions applied, never an exception."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from questionnaires import DEFAULT_DIRECTORY, answers_from_form, load_directory, validate_answers

Q = load_directory(DEFAULT_DIRECTORY)["public-service-satisfaction"]


def errors_of(answers) -> dict[str, str]:
    return {e.question: e.text() for e in validate_answers(Q, answers)[1]}


def test_a_full_low_rating_answer():
    clean, errors = validate_answers(
        Q,
        {
            "overall": 2,
            "reasons": ["other", "portal_error", "other"],
            "reason_other": "  Hàng đợi quá lâu ",
            "comment": "",
        },
    )
    assert errors == []
    assert clean.values == {
        "overall": 2,
        "reasons": ("portal_error", "other"),
        "reason_other": "Hàng đợi quá lâu",
    }


def test_answers_to_hidden_questions_are_dropped():
    clean, errors = validate_answers(
        Q, {"overall": 4, "reasons": ["other"], "reason_other": "x", "comment": "ok"}
    )
    assert errors == []
    assert clean.values == {"overall": 4, "comment": "ok"}


def test_reason_other_needs_other_ticked():
    clean, _ = validate_answers(Q, {"overall": 1, "reasons": ["portal_error"], "reason_other": "x"})
    assert "reason_other" not in clean.values


@pytest.mark.parametrize(
    ("answers", "question", "fragment"),
    [
        ({}, "overall", "required"),
        ({"overall": 0}, "overall", "from 1 to 5"),
        ({"overall": 6}, "overall", "from 1 to 5"),
        ({"overall": True}, "overall", "from 1 to 5"),
        ({"overall": "3"}, "overall", "from 1 to 5"),
        ({"overall": 2.0}, "overall", "from 1 to 5"),
        ({"overall": 2, "reasons": "portal_error"}, "reasons", "options given"),
        ({"overall": 2, "reasons": ["bogus"]}, "reasons", "options given"),
        ({"overall": 2, "reasons": [1]}, "reasons", "options given"),
        ({"overall": 5, "comment": "x" * 1001}, "comment", "at most 1000 characters (now 1001)"),
        ({"overall": 5, "comment": 12}, "comment", "as text"),
        ({"overall": 5, "comment": "bell\x07"}, "comment", "not allowed"),
        ({"overall": 5, "age": 40}, "age", "no such question"),
    ],
)
def test_each_rule(answers, question, fragment):
    assert fragment in errors_of(answers).get(question, ""), errors_of(answers)


def test_length_counts_characters_not_bytes():
    assert errors_of({"overall": 5, "comment": "ệ" * 1000}) == {}


def test_answers_must_be_a_mapping():
    assert "answers" in errors_of(["overall", 5])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
keys = st.sampled_from(["overall", "reasons", "reason_other", "comment", "x"]) | st.text(
    max_size=10
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(keys, json_values, max_size=6) | json_values)
def test_arbitrary_json_never_raises_and_errors_name_a_question(answers):
    clean, errors = validate_answers(Q, answers)
    assert all(e.question for e in errors)
    for e in errors:
        e.text()  # placeholders always filled
    if not errors:
        assert 1 <= clean.values["overall"] <= 5


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(keys, st.lists(st.text(max_size=12), max_size=3), max_size=6))
def test_arbitrary_form_posts_never_raise(form):
    answers = answers_from_form(Q, form)
    validate_answers(Q, answers)


def test_form_values_are_typed_like_json():
    form = {"overall": ["2"], "reasons": ["portal_error", "other"], "comment": [""], "x": ["1"]}
    assert answers_from_form(Q, form) == {"overall": 2, "reasons": ["portal_error", "other"]}
    assert answers_from_form(Q, {"overall": ["1", "5"]}) == {"overall": ["1", "5"]}
    assert "overall" in errors_of(answers_from_form(Q, {"overall": ["1", "5"]}))
    assert answers_from_form(Q, {"overall": ["٣"]}) == {"overall": "٣"}
