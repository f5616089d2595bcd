"""Loading and validating questionnaire files."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po

from questionnaires import (
    DEFAULT_DIRECTORY,
    REASON_CODES,
    QuestionnaireError,
    load_directory,
    load_file,
)

REPO = Path(__file__).resolve().parents[2]

GOOD = """\
id = "mini"
version = 2
title = "Mini"

[[questions]]
id = "overall"
kind = "rating"
text = "How was it?"
required = true
scale = 3
labels = ["Bad", "Fine", "Good"]

[[questions]]
id = "why"
kind = "choice"
text = "Why?"
show_if = { question = "overall", op = "<", value = 3 }
options = [{ value = "slow", label = "Slow" }, { value = "hard", label = "Hard" }]
"""


def write(tmp_path: Path, text: str, name: str = "q.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(QuestionnaireError) as caught:
        load_file(path)
    return [str(p) for p in caught.value.problems]


def test_default_questionnaire_is_the_contract():
    q = load_directory(DEFAULT_DIRECTORY, locales_dir=REPO / "locales")[
        "public-service-satisfaction"
    ]
    assert q.version == 1
    assert [(x.id, x.kind) for x in q.questions] == [
        ("overall", "rating"),
        ("reasons", "multi"),
        ("reason_other", "text"),
        ("comment", "text"),
    ]
    overall, reasons, other, comment = q.questions
    assert overall.required
    assert overall.scale == 5
    assert [o.value for o in overall.options] == ["1", "2", "3", "4", "5"]
    assert tuple(o.value for o in reasons.options) == REASON_CODES
    assert (reasons.show_if.question, reasons.show_if.op, reasons.show_if.value) == (
        "overall",
        "<=",
        3,
    )
    assert (other.show_if.op, other.show_if.value, other.max_length) == ("contains", "other", 200)
    assert comment.max_length == 1000
    assert not comment.required


def test_a_good_file_loads(tmp_path):
    q = load_file(write(tmp_path, GOOD))
    assert (q.id, q.version, q.questions[0].scale) == ("mini", 2, 3)


@pytest.mark.parametrize(
    ("replace", "by", "location", "reason"),
    [
        (
            'kind = "choice"',
            'kind = "slider"',
            'questions[1] (id "why").kind',
            "unknown question kind 'slider'",
        ),
        ('id = "why"', 'id = "overall"', 'questions[1] (id "overall").id', "duplicate question id"),
        (
            'question = "overall", op = "<"',
            'question = "overal", op = "<"',
            "show_if.question",
            "unknown question 'overal'",
        ),
        ('op = "<"', 'op = "contains"', "show_if.op", "cannot test a rating"),
        ('value = "hard"', 'value = "slow"', "options[1].value", "duplicate option value 'slow'"),
        ("version = 2", "version = 0", "version", "positive integer"),
        ("version = 2", 'version = "2"', "version", "positive integer"),
        ('id = "mini"', 'id = "Mini Survey"', "id", "slug"),
        (
            'labels = ["Bad", "Fine", "Good"]',
            'labels = ["Bad", "Good"]',
            "labels",
            "exactly 3 labels",
        ),
        ('title = "Mini"', "", "title", "missing"),
        ('text = "Why?"', 'text = ""', "text", "non-empty string"),
        ("required = true", "required = 1", "required", "true or false"),
        ('title = "Mini"', 'title = "Mini"\ncolour = "red"', "colour", "unknown field"),
    ],
)
def test_each_rule_reports_file_place_and_reason(tmp_path, replace, by, location, reason):
    assert replace in GOOD
    path = write(tmp_path, GOOD.replace(replace, by, 1))
    found = problems_of(path)
    assert any(p.startswith(f"{path}: ") and location in p and reason in p for p in found), found


def test_show_if_must_name_an_earlier_question(tmp_path):
    text = GOOD.replace(
        'show_if = { question = "overall", op = "<", value = 3 }',
        'show_if = { question = "why", op = "==", value = "slow" }',
    )
    assert any("unknown question 'why'" in p for p in problems_of(write(tmp_path, text)))


def test_reasons_question_must_carry_exactly_the_six_codes(tmp_path):
    text = GOOD.replace('id = "why"', 'id = "reasons"').replace('kind = "choice"', 'kind = "multi"')
    text = text.replace('op = "<", value = 3', 'op = "<=", value = 2')
    found = problems_of(write(tmp_path, text))
    assert any("missing reason codes: portal_error" in p for p in found), found
    assert any("unknown reason codes: slow, hard" in p for p in found), found


def test_all_problems_are_collected(tmp_path):
    text = GOOD.replace("version = 2", "version = -1").replace('kind = "choice"', 'kind = "radio"')
    found = problems_of(write(tmp_path, text))
    assert len(found) == 2
    assert any("version" in p for p in found)
    assert any("radio" in p for p in found)


def test_toml_syntax_error_gives_the_line(tmp_path):
    found = problems_of(write(tmp_path, GOOD.replace('title = "Mini"', "title = Mini")))
    assert len(found) == 1
    assert "line 3" in found[0]


def test_directory_reports_problems_of_every_file(tmp_path):
    write(tmp_path, GOOD.replace("version = 2", "version = 0"), "a.toml")
    write(tmp_path, GOOD.replace('kind = "choice"', 'kind = "x"'), "b.toml")
    with pytest.raises(QuestionnaireError) as caught:
        load_directory(tmp_path)
    files = {Path(p.path).name for p in caught.value.problems}
    assert files == {"a.toml", "b.toml"}


def test_same_id_twice_in_a_directory_is_refused(tmp_path):
    write(tmp_path, GOOD, "a.toml")
    write(tmp_path, GOOD.replace("version = 2", "version = 3"), "b.toml")
    with pytest.raises(QuestionnaireError, match="also defined in"):
        load_directory(tmp_path)


def catalog_dir(tmp_path: Path, translations: dict[str, dict[str, str]], fuzzy=()) -> Path:
    for locale, entries in translations.items():
        catalog = Catalog(locale=locale)
        for msgid, msgstr in entries.items():
            catalog.add(msgid, msgstr, flags=("fuzzy",) if msgid in fuzzy else ())
        target = tmp_path / "locales" / locale / "LC_MESSAGES"
        target.mkdir(parents=True)
        with (target / "messages.po").open("wb") as handle:
            write_po(handle, catalog)
    return tmp_path / "locales"


def test_texts_missing_or_fuzzy_in_a_catalog_are_reported(tmp_path):
    path = write(tmp_path, GOOD)
    msgids = [m for _, m in load_file(path).msgids()]
    full = {m: f"[{m}]" for m in msgids}
    partial = {m: s for m, s in full.items() if m != "Slow"}
    locales = catalog_dir(tmp_path, {"vi": partial, "en": full}, fuzzy=("Why?",))
    with pytest.raises(QuestionnaireError) as caught:
        load_file(path, locales_dir=locales, locales=("vi", "en"))
    found = [str(p) for p in caught.value.problems]
    assert any(
        "options[0].label" in p and "not translated in vi" in p and "'Slow'" in p for p in found
    )
    assert any(".text" in p and "fuzzy in en" in p and "'Why?'" in p for p in found)
    assert any(".text" in p and "fuzzy in vi" in p for p in found)
    assert len(found) == 3


def test_shipped_catalogs_translate_the_default_questionnaire():
    load_file(DEFAULT_DIRECTORY / "public-service-satisfaction.toml", locales_dir=REPO / "locales")
