"""Loading and validating questionnaire files: every problem, with file, place and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from questionnaires import (
    DEFAULT_DIRECTORY,
    DEFAULT_QUESTIONNAIRE_ID,
    REASON_CODES,
    Problem,
    QuestionnaireError,
    load_directory,
    load_file,
)
from tests.questionnaires.samples import MINI

REPO = Path(__file__).resolve().parents[2]
DEFAULT_FILE = DEFAULT_DIRECTORY / "public-service-satisfaction.toml"
REASONS = """
[[questions]]
id = "reasons"
kind = "multi"
text = "Reasons"
options = [
    { value = "portal_error", label = "A" },
    { value = "complex_procedure", label = "B" },
    { value = "payment_error", label = "C" },
    { value = "network_error", label = "D" },
    { value = "device_error", label = "E" },
    { value = "other", label = "F" },
]
"""


def problems_of(path: Path, **kwargs) -> list[str]:
    with pytest.raises(QuestionnaireError) as caught:
        load_file(path, **kwargs)
    found = [str(p) for p in caught.value.problems]
    text = str(caught.value)
    assert all(p in text for p in found)  # the message is the full report
    return found


def test_default_questionnaire_is_the_contract():
    q = load_directory()[DEFAULT_QUESTIONNAIRE_ID]
    assert (q.id, q.version, q.source) == ("public-service-satisfaction", 1, DEFAULT_FILE)
    assert [(x.id, x.kind) for x in q.questions] == [
        ("overall", "rating"),
        ("reasons", "multi"),
        ("reason_other", "text"),
        ("comment", "text"),
    ]
    overall, reasons, other, comment = q.questions
    assert (overall.required, overall.scale, overall.show_if) == (True, 5, None)
    assert [(o.value, o.label) for o in overall.options] == [
        ("1", "Very dissatisfied"),
        ("2", "Dissatisfied"),
        ("3", "Neither satisfied nor dissatisfied"),
        ("4", "Satisfied"),
        ("5", "Very satisfied"),
    ]
    assert [(o.value, o.label) for o in reasons.options] == [
        ("portal_error", "Errors in the public service portal"),
        (
            "complex_procedure",
            "The procedure is too complicated; doing it in person is easier or faster",
        ),
        ("payment_error", "Errors when paying online"),
        ("network_error", "Problems with my own network connection"),
        ("device_error", "Problems with my own device"),
        ("other", "Other reason"),
    ]
    assert tuple(o.value for o in reasons.options) == REASON_CODES
    assert (reasons.show_if.question, reasons.show_if.op, reasons.show_if.value) == (
        "overall",
        "<=",
        3,
    )
    assert not reasons.required
    assert (other.show_if.question, other.show_if.op, other.show_if.value) == (
        "reasons",
        "contains",
        "other",
    )
    assert other.max_length == 200
    assert (comment.max_length, comment.required, comment.show_if) == (1000, False, None)


def test_a_good_file_loads(write_toml):
    q = load_file(write_toml(MINI))
    assert (q.id, q.version, q.title, q.intro) == ("mini", 2, "Mini", None)
    ease, why, _, note = q.questions
    assert (ease.scale, [o.value for o in ease.options]) == (3, ["1", "2", "3"])
    assert (why.kind, why.options[1].label, why.scale) == ("choice", "Confusing", None)
    assert (note.max_length, note.hint, note.options) == (5, "Optional.", ())


def test_rating_scale_defaults_to_five(write_toml):
    text = MINI.replace("scale = 3\n", "").replace(
        'labels = ["Hard", "So-so", "Easy"]', 'labels = ["1", "2", "3", "4", "5"]'
    )
    assert load_file(write_toml(text)).questions[0].scale == 5


WHY = 'questions[1] (id "why")'
EASE = 'questions[0] (id "ease")'
NOTE = 'questions[3] (id "note")'
RULES = [
    # (replace, by, location, reason)
    ('title = "Mini"', "title = Mini", "TOML syntax", "line 3"),
    ('id = "mini"', "", "id", "missing"),
    ('id = "mini"', 'id = "Mini Survey"', "id", 'must be a slug'),
    ('id = "mini"', "id = 7", "id", "must be a slug"),
    ("version = 2", "", "version", "missing"),
    ("version = 2", "version = 0", "version", "must be a positive integer, not 0"),
    ("version = 2", "version = -1", "version", "must be a positive integer"),
    ("version = 2", 'version = "2"', "version", 'must be a positive integer, not "2"'),
    ("version = 2", "version = 1.5", "version", "must be a positive integer"),
    ("version = 2", "version = true", "version", "must be a positive integer"),
    ('title = "Mini"', "", "title", "missing"),
    ('title = "Mini"', "title = 3", "title", "must be a non-empty string, not 3"),
    ('title = "Mini"', 'title = "Mini"\ncolour = "red"', "colour", "unknown field"),
    ('text = "Why?"', 'text = ""', f"{WHY}.text", "must be a non-empty string"),
    ('text = "Why?"', "", f"{WHY}.text", "missing"),
    ('hint = "Optional."', "hint = []", f"{NOTE}.hint", "must be a non-empty string"),
    ("required = true", "required = 1", f"{EASE}.required", "must be true or false"),
    ('text = "Why?"', 'text = "Why?"\ncolor = 1', f"{WHY}.color", "unknown field"),
    ('kind = "choice"', 'kind = "slider"', f"{WHY}.kind", 'unknown question kind "slider"'),
    ('kind = "choice"', "", f"{WHY}.kind", "missing"),
    ('id = "why"', 'id = "ease"', 'questions[1] (id "ease").id', "duplicate question id"),
    ('id = "why"', 'id = "Why"', "questions[1] (id \"Why\").id", "must be lower-case"),
    (
        'value = "hard"',
        'value = "slow"',
        f"{WHY}.options[1].value",
        'duplicate option value "slow" (also options[0])',
    ),
    ('value = "hard"', 'value = "Hard!"', f"{WHY}.options[1].value", "must be a code"),
    ('label = "Slow"', 'label = ""', f"{WHY}.options[0].label", "must be a non-empty string"),
    (
        'options = [{ value = "slow", label = "Slow" }, { value = "hard", label = "Confusing" }]',
        'options = [{ value = "slow", label = "Slow" }]',
        f"{WHY}.options",
        "at least 2 options",
    ),
    (
        'options = [{ value = "slow", label = "Slow" }, { value = "hard", label = "Confusing" }]',
        'options = ["slow", "hard"]',
        f"{WHY}.options[0]",
        "must be a table",
    ),
    (
        'labels = ["Hard", "So-so", "Easy"]',
        'labels = ["Hard", "Easy"]',
        f"{EASE}.labels",
        "needs exactly 3 labels, one per point (2 given)",
    ),
    ("scale = 3", "scale = 1", f"{EASE}.scale", "must be an integer from 2 to 11, not 1"),
    ("max_length = 5", "", f"{NOTE}.max_length", "missing"),
    ("max_length = 5", "max_length = 0", f"{NOTE}.max_length", "from 1 to 10000"),
    ('text = "Why?"', 'text = "Why?"\nmax_length = 3', f"{WHY}.max_length", "only text"),
    ('text = "Why?"', 'text = "Why?"\nscale = 3', f"{WHY}.scale", "only rating"),
    (
        'question = "ease", op = "<"',
        'question = "eas", op = "<"',
        f"{WHY}.show_if.question",
        'unknown question "eas"',
    ),
    (
        'question = "ease", op = "<", value = 3',
        'question = "note", op = "==", value = "x"',
        f"{WHY}.show_if.question",
        'question "note" comes later (questions[3]); a condition can only test an earlier',
    ),
    (
        'question = "ease", op = "<", value = 3',
        'question = "why", op = "==", value = "slow"',
        f"{WHY}.show_if.question",
        "cannot depend on itself",
    ),
    ('op = "<"', 'op = "=~"', f"{WHY}.show_if.op", 'unknown op "=~"'),
    ('op = "<"', 'op = "contains"', f"{WHY}.show_if.op", '"contains" cannot test a rating'),
    ('op = "=="', 'op = ">="', 'questions[2] (id "extras").show_if.op', "cannot test a choice"),
    ('op = "contains"', 'op = "=="', f"{NOTE}.show_if.op", "cannot test a multi"),
    ('op = "<", value = 3', 'op = "in", value = 2', f"{WHY}.show_if.value", "needs a non-empty"),
    ('op = "<", value = 3', 'op = "<", value = "3"', f"{WHY}.show_if.value", '"3" is not a point'),
    ('op = "<", value = 3', 'op = "<", value = 9', f"{WHY}.show_if.value", "from 1 to 3"),
    (
        'value = "fee" }',
        'value = "tax" }',
        f"{NOTE}.show_if.value",
        '"tax" is not an option of "extras" (queue, fee)',
    ),
    (', value = 3 }', " }", f"{WHY}.show_if.value", "missing"),
    (
        '{ question = "ease", op = "<", value = 3 }',
        '{ question = "ease", op = "<", value = 3, when = 1 }',
        f"{WHY}.show_if.when",
        "unknown field",
    ),
    ("{ question = \"ease\", op = \"<\", value = 3 }", '"ease < 3"', f"{WHY}.show_if", "a table"),
]  # fmt: skip


@pytest.mark.parametrize(("replace", "by", "location", "reason"), RULES)
def test_each_rule_reports_file_place_and_reason(write_toml, replace, by, location, reason):
    assert replace in MINI
    path = write_toml(MINI.replace(replace, by, 1))
    found = problems_of(path)
    prefix = f"{path}: {location}: "
    assert any(p.startswith(prefix) and reason in p for p in found), (prefix, reason, found)


def test_the_report_reads_as_the_issue_shows(write_toml):
    path = write_toml(MINI.replace('question = "ease", op = "<"', 'question = "eas", op = "<"'))
    with pytest.raises(QuestionnaireError) as caught:
        load_file(path)
    assert str(caught.value).splitlines() == [
        "1 problem in questionnaire files:",
        f'  {path}: questions[1] (id "why").show_if.question: unknown question "eas"',
    ]
    assert caught.value.problems == [
        Problem(str(path), 'questions[1] (id "why").show_if.question', 'unknown question "eas"')
    ]
    assert isinstance(caught.value, ValueError)


def test_reasons_must_carry_exactly_the_six_codes(write_toml):
    good = MINI + REASONS
    assert load_file(write_toml(good)).question("reasons").options[5].value == "other"
    text = good.replace('"device_error"', '"phone_error"').replace(
        '{ value = "other", label = "F" },\n', ""
    )
    found = problems_of(path := write_toml(text))
    where = f'{path}: questions[4] (id "reasons").options: '
    assert f"{where}missing reason codes: device_error, other" in found
    assert any(p.startswith(f"{where}unknown reason codes: phone_error") for p in found), found


def test_reasons_must_be_a_multi_question(write_toml):
    text = MINI + REASONS.replace('kind = "multi"', 'kind = "choice"')
    found = problems_of(write_toml(text))
    assert any('(id "reasons").kind: "reasons" must be a multi question' in p for p in found)


def test_overall_must_be_a_five_point_rating(write_toml):
    three_points = MINI.replace('"ease"', '"overall"')
    found = problems_of(write_toml(three_points))
    assert found[0].endswith(
        'questions[0] (id "overall").scale: "overall" must be rated 1 to 5 '
        "(statistics assume it), not 1 to 3"
    )
    as_choice = MINI + REASONS.replace('"reasons"', '"overall"')
    found = problems_of(write_toml(as_choice))
    assert any('(id "overall").kind: "overall" must be a rating question' in p for p in found)


def test_all_problems_of_a_file_are_collected(write_toml):
    text = (
        MINI.replace("version = 2", "version = -1")
        .replace('kind = "choice"', 'kind = "radio"')
        .replace('text = "Why?"', "text = 5")
        .replace('value = "queue"', 'value = "fee"')
        .replace('op = "contains"', 'op = "has"')
    )
    found = problems_of(path := write_toml(text))
    expected = [
        "version: must be a positive integer",
        f'{WHY}.kind: unknown question kind "radio"',
        f"{WHY}.text: must be a non-empty string, not 5",
        'questions[2] (id "extras").options[1].value: duplicate option value "fee"',
        f'{NOTE}.show_if.op: unknown op "has"',
    ]
    assert len(found) == len(expected), found
    for fragment in expected:
        assert any(p.startswith(f"{path}: {fragment}") for p in found), (fragment, found)


def test_a_broken_question_does_not_make_its_dependents_fail_twice(write_toml):
    found = problems_of(write_toml(MINI.replace('kind = "choice"', 'kind = "radio"')))
    assert len(found) == 1, found  # not also 'unknown question "why"' for extras


def test_toml_syntax_error_gives_the_line(write_toml):
    found = problems_of(path := write_toml(MINI.replace('title = "Mini"', "title = Mini")))
    assert len(found) == 1
    assert found[0].startswith(f"{path}: TOML syntax: ")
    assert "line 3" in found[0]


def test_unreadable_and_non_utf8_files(tmp_path):
    assert "cannot be read" in problems_of(tmp_path / "absent.toml")[0]
    latin = tmp_path / "latin.toml"
    latin.write_bytes(MINI.replace("Mini", "Encuesta señal").encode("latin-1"))
    assert problems_of(latin) == [f"{latin}: file: is not UTF-8 text"]


def test_a_byte_order_mark_is_tolerated(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + MINI.encode())
    assert load_file(path).id == "mini"


# --- directories ----------------------------------------------------------------------


def test_directory_reports_problems_of_every_file(write_toml, tmp_path):
    write_toml(MINI.replace("version = 2", "version = 0"), "a.toml")
    write_toml(MINI.replace('kind = "choice"', 'kind = "x"'), "b.toml")
    write_toml(MINI.replace('id = "mini"', 'id = "fine"'), "c.toml")
    (tmp_path / "notes.txt").write_text("not a questionnaire")
    with pytest.raises(QuestionnaireError) as caught:
        load_directory(tmp_path)
    assert {Path(p.path).name for p in caught.value.problems} == {"a.toml", "b.toml"}
    assert str(caught.value).startswith("2 problems in questionnaire files:")


def test_same_id_and_version_twice_is_refused(write_toml, tmp_path):
    write_toml(MINI, "a.toml")
    write_toml(MINI.replace('title = "Mini"', 'title = "Changed"'), "b.toml")
    with pytest.raises(QuestionnaireError) as caught:
        load_directory(tmp_path)
    (problem,) = caught.value.problems
    assert problem.path.endswith("b.toml")
    assert problem.location == "version"
    assert 'questionnaire "mini" version 2 is also defined in' in problem.reason
    assert "a.toml" in problem.reason


def test_the_highest_version_of_an_id_is_served(write_toml, tmp_path):
    write_toml(MINI.replace("version = 2", "version = 10"), "mini-v10.toml")
    write_toml(MINI, "mini-v2.toml")
    write_toml(MINI.replace('id = "mini"', 'id = "other"'), "other.toml")
    found = load_directory(tmp_path)
    assert sorted(found) == ["mini", "other"]
    assert found["mini"].version == 10
    assert found["mini"].source == tmp_path / "mini-v10.toml"


def test_an_empty_or_missing_directory_is_a_problem(tmp_path):
    with pytest.raises(QuestionnaireError, match=r"directory: no \*\.toml files"):
        load_directory(tmp_path)
    with pytest.raises(QuestionnaireError, match="directory: not found"):
        load_directory(tmp_path / "nowhere")


# --- translations ---------------------------------------------------------------------


def all_texts(path: Path) -> list[str]:
    return [m for _, m in load_file(path).msgids()]


def test_complete_catalogs_pass_and_none_skips_the_check(write_toml, make_catalogs):
    path = write_toml(MINI)
    texts = all_texts(path)
    locales = make_catalogs(
        {
            "vi": {m: f"vi {m}" for m in texts},
            "en": {m: m for m in texts},
            "id": {m: f"id {m}" for m in texts},
        }
    )
    assert load_file(path, locales_dir=locales).id == "mini"
    assert load_file(path, locales_dir=None).id == "mini"


def test_missing_empty_and_fuzzy_texts_are_reported(write_toml, make_catalogs):
    path = write_toml(MINI)
    full = {m: f"[{m}]" for m in all_texts(path)}
    locales = make_catalogs(
        {
            "vi": {**{m: s for m, s in full.items() if m != "Slow"}},
            "en": {**full, "So-so": ""},
            "id": full,
        },
        fuzzy={"id": ["Why?"]},
    )
    found = problems_of(path, locales_dir=locales)
    assert found == [
        f'{path}: {WHY}.options[0].label: text "Slow" is missing from the vi catalog',
        f'{path}: {EASE}.labels[1]: text "So-so" has no en translation',
        f'{path}: {WHY}.text: text "Why?" is fuzzy in the id catalog',
    ]


def test_only_the_requested_locales_are_checked(write_toml, make_catalogs):
    path = write_toml(MINI)
    locales = make_catalogs({"vi": {m: m for m in all_texts(path)}})
    assert load_file(path, locales_dir=locales, locales=("vi",)).id == "mini"
    found = problems_of(path, locales_dir=locales)
    assert len(found) == 2
    assert found[0].startswith(f"{path}: catalog en: ")
    assert "messages.po cannot be read" in found[0]


def test_translations_are_checked_even_when_the_structure_is_broken(write_toml, make_catalogs):
    path = write_toml(MINI.replace("version = 2", "version = 0"))
    locales = make_catalogs({"vi": {}})
    found = problems_of(path, locales_dir=locales, locales=("vi",))
    assert found[0] == f"{path}: version: must be a positive integer, not 0"
    assert f'{path}: title: text "Mini" is missing from the vi catalog' in found
    assert len(found) == 1 + len(all_texts(write_toml(MINI, "good.toml")))


def test_a_malformed_catalog_is_reported(write_toml, tmp_path):
    path = write_toml(MINI)
    po = tmp_path / "locales" / "vi" / "LC_MESSAGES" / "messages.po"
    po.parent.mkdir(parents=True)
    po.write_text('msgid "Mini"\nmsgstr "x"\nthis is not po\n')
    found = problems_of(path, locales_dir=tmp_path / "locales", locales=("vi",))
    assert len(found) == 1
    assert found[0].startswith(f"{path}: catalog vi: ")
    assert "not a valid catalog" in found[0]


def test_shipped_catalogs_translate_the_default_questionnaire():
    q = load_file(DEFAULT_FILE, locales_dir=REPO / "locales")
    assert q.id == DEFAULT_QUESTIONNAIRE_ID
