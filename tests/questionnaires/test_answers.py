"""Answer validation: strict types, conditions applied, never an exception."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from questionnaires import (
    AnswerError,
    CleanAnswers,
    answers_from_form,
    load_directory,
    load_file,
    validate_answers,
)
from questionnaires import answers as answers_module
from tests.questionnaires.samples import MINI

Q = load_directory()["public-service-satisfaction"]


def errors_of(answers, q=Q) -> dict[str, str]:
    return {e.question: e.text() for e in validate_answers(q, answers)[1]}


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    path = tmp_path_factory.mktemp("mini") / "mini.toml"
    path.write_text(MINI)
    return load_file(path)


def test_a_full_low_rating_answer():
    clean, errors = validate_answers(
        Q,
        {
            "overall": 2,
            "reasons": ["other", "portal_error"],
            "reason_other": "  Hàng đợi quá lâu ",
            "comment": "",
        },
    )
    assert errors == []
    assert isinstance(clean, CleanAnswers)
    assert clean.values == {
        "overall": 2,
        "reasons": ("portal_error", "other"),  # option order
        "reason_other": "Hàng đợi quá lâu",  # stripped
    }  # the empty comment is unanswered


def test_the_smallest_valid_answer():
    assert validate_answers(Q, {"overall": 5}) == (CleanAnswers({"overall": 5}), [])


def test_answers_to_hidden_questions_are_dropped_not_refused():
    clean, errors = validate_answers(
        Q, {"overall": 4, "reasons": ["other"], "reason_other": "x", "comment": "ok"}
    )
    assert errors == []
    assert clean.values == {"overall": 4, "comment": "ok"}


def test_invalid_answers_to_hidden_questions_are_dropped_too():
    clean, errors = validate_answers(
        Q, {"overall": 5, "reasons": "portal_error", "reason_other": 12}
    )
    assert (clean.values, errors) == ({"overall": 5}, [])


def test_reason_other_needs_other_ticked():
    clean, errors = validate_answers(
        Q, {"overall": 1, "reasons": ["portal_error"], "reason_other": "x"}
    )
    assert errors == []
    assert clean.values == {"overall": 1, "reasons": ("portal_error",)}


def test_an_invalid_answer_hides_what_depends_on_it():
    # overall is wrong, so whether reasons are asked is unknown: only overall is reported.
    assert errors_of({"overall": 9, "reasons": ["bogus"]}) == {
        "overall": "Choose a rating from 1 to 5."
    }


@pytest.mark.parametrize(
    ("answers", "question", "message"),
    [
        ({}, "overall", "This question is required."),
        ({"overall": None}, "overall", "This question is required."),
        ({"overall": 0}, "overall", "Choose a rating from 1 to 5."),
        ({"overall": 6}, "overall", "Choose a rating from 1 to 5."),
        ({"overall": -1}, "overall", "Choose a rating from 1 to 5."),
        ({"overall": True}, "overall", "Choose a rating from 1 to 5."),
        ({"overall": "3"}, "overall", "Choose a rating from 1 to 5."),
        ({"overall": 2.0}, "overall", "Choose a rating from 1 to 5."),
        ({"overall": [5]}, "overall", "Choose a rating from 1 to 5."),
        ({"overall": 2, "reasons": "portal_error"}, "reasons", "Choose from the options given."),
        ({"overall": 2, "reasons": ["bogus"]}, "reasons", "Choose from the options given."),
        ({"overall": 2, "reasons": [1]}, "reasons", "Choose from the options given."),
        ({"overall": 2, "reasons": [["other"]]}, "reasons", "Choose from the options given."),
        ({"overall": 2, "reasons": {"other": True}}, "reasons", "Choose from the options given."),
        (
            {"overall": 2, "reasons": ["other", "other"]},
            "reasons",
            "Choose each option only once.",
        ),
        (
            {"overall": 2, "reasons": ["other"], "reason_other": "x" * 201},
            "reason_other",
            "Please use at most 200 characters (now 201).",
        ),
        (
            {"overall": 5, "comment": "x" * 1001},
            "comment",
            "Please use at most 1000 characters (now 1001).",
        ),
        ({"overall": 5, "comment": 12}, "comment", "Write your answer as text."),
        ({"overall": 5, "comment": ["a"]}, "comment", "Write your answer as text."),
        ({"overall": 5, "comment": "bell\x07"}, "comment", "not allowed."),
        ({"overall": 5, "comment": "nul\x00"}, "comment", "not allowed."),
        ({"overall": 5, "comment": "esc\x1b[31m"}, "comment", "not allowed."),
        ({"overall": 5, "comment": "c1\x85."}, "comment", "not allowed."),
        ({"overall": 5, "comment": "del\x7f"}, "comment", "not allowed."),
        ({"overall": 5, "comment": "lone \ud800"}, "comment", "not allowed."),
        ({"overall": 5, "age": 40}, "age", "There is no such question."),
        ({"overall": 5, "": 1}, "(empty)", "There is no such question."),
    ],
)
def test_each_rule(answers, question, message):
    found = errors_of(answers)
    assert message in found.get(question, ""), found
    assert len(found) == 1, found


def test_choice_answers(mini):
    assert validate_answers(mini, {"ease": 1, "why": "slow"})[0].values == {
        "ease": 1,
        "why": "slow",
    }
    for wrong in ("fast", 1, ["slow"], "Slow"):
        assert errors_of({"ease": 1, "why": wrong}, mini) == {"why": "Choose one of the options."}


def test_a_rating_of_another_scale(mini):
    assert errors_of({"ease": 4}, mini) == {"ease": "Choose a rating from 1 to 3."}
    (error,) = validate_answers(mini, {"ease": 4})[1]
    assert error == AnswerError(
        "ease", "Choose a rating from %(low)s to %(high)s.", {"low": 1, "high": 3}
    )


def test_empty_answers_are_unanswered(mini):
    clean, errors = validate_answers(
        mini, {"ease": 1, "why": "slow", "extras": [], "note": "   \n "}
    )
    assert (clean.values, errors) == ({"ease": 1, "why": "slow"}, [])


def test_a_tuple_is_accepted_for_a_multi_question(mini):
    answers = {"ease": 1, "why": "slow", "extras": ("fee", "queue"), "note": "hi"}
    assert validate_answers(mini, answers)[0].values == {**answers, "extras": ("queue", "fee")}


def test_length_counts_characters_not_bytes():
    assert errors_of({"overall": 5, "comment": "ệ" * 1000}) == {}
    assert "comment" in errors_of({"overall": 5, "comment": "ệ" * 1001})


def test_newlines_and_tabs_are_allowed_and_form_line_breaks_are_normalised():
    clean, errors = validate_answers(Q, {"overall": 5, "comment": "a\r\nb\tc\rd"})
    assert errors == []
    assert clean.values["comment"] == "a\nb\tc\nd"
    # A textarea sends CRLF: 500 lines of "x" fit in 1,000 characters.
    assert errors_of({"overall": 5, "comment": "x\r\n" * 500}) == {}


def test_answers_must_be_a_mapping():
    for wrong in (["overall", 5], "overall=5", 5, None):
        clean, errors = validate_answers(Q, wrong)  # type: ignore[arg-type]
        assert clean.values == {}
        assert errors == [AnswerError("answers", "Answers must be an object.")]


def test_every_message_is_marked_for_extraction():
    """Each AnswerError message in the module is an ``N_("...")`` literal."""
    tree = ast.parse(Path(answers_module.__file__).read_text(encoding="utf-8"))
    marked = [
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "N_"
        and isinstance(node.args[0], ast.Constant)
    ]
    assert len(marked) >= 9
    assert answers_module.N_("x") == "x"
    for message in marked:
        assert message == message.strip()
        assert message.endswith(".")


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
keys = st.sampled_from(["overall", "reasons", "reason_other", "comment", "x"]) | st.text(
    max_size=10
)
plausible = st.fixed_dictionaries(
    {},
    optional={
        "overall": st.integers(-1, 7) | json_values,
        "reasons": st.lists(st.sampled_from([*Q.question("reasons").options, None]).map(
            lambda o: o.value if o else "bogus"
        ), max_size=7) | json_values,
        "reason_other": st.text(max_size=210) | json_values,
        "comment": st.text(max_size=1010) | json_values,
    },
)  # fmt: skip


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plausible | st.dictionaries(keys, json_values, max_size=6) | json_values)
def test_arbitrary_json_never_raises_and_errors_name_a_question(answers):
    clean, errors = validate_answers(Q, answers)
    known = {q.id for q in Q.questions}
    for error in errors:
        assert isinstance(error.question, str)
        assert error.question
        assert error.question in {"answers", "(empty)"} | known or error.question in answers
        error.text()  # placeholders always filled
    for qid, value in clean.values.items():
        assert qid in {q.id for q in Q.visible(clean.values)}
        assert not (isinstance(value, float) and math.isnan(value))
    if not errors:
        assert 1 <= clean.values["overall"] <= 5
        if clean.values["overall"] > 3:
            assert set(clean.values) <= {"overall", "comment"}


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(keys, st.lists(st.text(max_size=12), max_size=3), max_size=6))
def test_arbitrary_form_posts_never_raise(form):
    answers = answers_from_form(Q, form)
    assert set(answers) <= {q.id for q in Q.questions}
    validate_answers(Q, answers)


def test_form_values_are_typed_like_json():
    form = {"overall": ["2"], "reasons": ["portal_error", "other"], "comment": [""], "x": ["1"]}
    assert answers_from_form(Q, form) == {"overall": 2, "reasons": ["portal_error", "other"]}
    assert answers_from_form(Q, {"reasons": ["other"]}) == {"reasons": ["other"]}
    assert answers_from_form(Q, {"overall": ["5"], "comment": ["Tốt"]}) == {
        "overall": 5,
        "comment": "Tốt",
    }
    # A value that does not parse is passed on, so that validation reports it.
    assert answers_from_form(Q, {"overall": ["٣"]}) == {"overall": "٣"}
    assert answers_from_form(Q, {"overall": ["five"]}) == {"overall": "five"}
    assert "overall" in errors_of(answers_from_form(Q, {"overall": ["five"]}))
    # Twice for a single-valued question: a list, which validation refuses.
    assert answers_from_form(Q, {"overall": ["1", "5"]}) == {"overall": ["1", "5"]}
    assert "overall" in errors_of(answers_from_form(Q, {"overall": ["1", "5"]}))


def test_a_form_post_with_javascript_off():
    """Reasons ticked, then five stars: the reasons are dropped, the response is fine."""
    form = {"overall": ["5"], "reasons": ["other"], "reason_other": ["slow"], "comment": [""]}
    assert validate_answers(Q, answers_from_form(Q, form)) == (
        CleanAnswers({"overall": 5}),
        [],
    )
