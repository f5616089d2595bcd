"""XLSForm conversion: what maps to what, and every refusal with its sheet, row and reason.

Workbooks are built in ``tmp_path`` with openpyxl; row 1 of each sheet is its header,
so the first question is row 2.
"""

from __future__ import annotations

import runpy
from collections.abc import Sequence
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from questionnaires import load_file
from questionnaires.babel_extract import extract_questionnaire
from questionnaires.loader import DEFAULT_DIRECTORY, parse
from questionnaires.model import Condition
from questionnaires.xlsform import DEFAULT_MAX_LENGTH, XLSFormError, convert

SAMPLES = DEFAULT_DIRECTORY / "samples"
SAMPLE = SAMPLES / "service-feedback.xlsx"
LANGUAGES = ("English (en)", "Vietnamese (vi)", "Indonesian (id)")
SURVEY = [
    "type",
    "name",
    *(f"label::{language}" for language in LANGUAGES),
    *(f"hint::{language}" for language in LANGUAGES),
    "required",
    "relevant",
    "constraint",
]
CHOICES = ["list_name", "name", *(f"label::{language}" for language in LANGUAGES)]
SETTINGS = [
    [*(f"form_title::{language}" for language in LANGUAGES), "default_language"],
    ["Title", "vi:Title", "id:Title", "English (en)"],
]
# Names as numbers, the way a spreadsheet stores a typed 1.
RATING3 = [["r3", n, f"Point {n}", f"vi:Point {n}", f"id:Point {n}"] for n in (1, 2, 3)]
AB = [["ab", v, v.upper(), f"vi:{v.upper()}", f"id:{v.upper()}"] for v in ("a", "b")]


def q(kind, name, text, *, hint="", required="", relevant="", constraint="", vi=None, id_=None):
    """A survey row in the SURVEY layout; vi and id labels default to 'vi:'/'id:' + text."""
    hints = (hint, f"vi:{hint}", f"id:{hint}") if hint else ("", "", "")
    vi = f"vi:{text}" if vi is None else vi
    id_ = f"id:{text}" if id_ is None else id_
    return [kind, name, text, vi, id_, *hints, required, relevant, constraint]


def build(
    tmp_path: Path,
    survey: list[list],
    choices: Sequence[list] = (),
    *,
    survey_header: list = SURVEY,
    choices_header: list = CHOICES,
    settings: list[list] | None = SETTINGS,
    name: str = "form.xlsx",
) -> Path:
    workbook = Workbook()
    workbook.remove(workbook.active)
    sheets = {"survey": [survey_header, *survey], "choices": [choices_header, *choices]}
    if settings is not None:
        sheets["settings"] = settings
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append([None if cell == "" else cell for cell in row])
    path = tmp_path / name
    workbook.save(path)
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(XLSFormError) as caught:
        convert(path, "form", 1)
    found = [str(problem) for problem in caught.value.problems]
    assert all(problem in str(caught.value) for problem in found)  # the message is the report
    return found


def refused(
    tmp_path: Path, survey: list[list], choices: Sequence[list] = (), **kwargs
) -> list[str]:
    return problems(build(tmp_path, survey, choices, **kwargs))


# -- the shipped sample --------------------------------------------------------------------


def test_sample_converts_question_by_question():
    converted = convert(SAMPLE, "service-feedback", 1)
    form = converted.questionnaire
    assert (form.id, form.version, form.title) == (
        "service-feedback",
        1,
        "Tell us about your visit",
    )
    assert [(x.id, x.kind, x.required) for x in form.questions] == [
        ("overall", "rating", True),
        ("waiting", "rating", True),
        ("problems", "multi", False),
        ("problem_other", "text", False),
        ("channel", "choice", True),
        ("online_idea", "text", False),
    ]
    overall, waiting, issues, other, channel, idea = form.questions
    assert overall.scale == 5
    assert overall.options[0].label == "Very dissatisfied"
    assert [o.label for o in waiting.options] == ["1", "2", "3", "4", "5"]
    assert [o.value for o in issues.options] == ["queue", "documents", "staff", "other"]
    assert issues.hint == "Choose all that apply."
    assert issues.show_if == Condition("overall", "<=", 3)
    assert (other.max_length, other.show_if) == (300, Condition("problems", "contains", "other"))
    assert [o.value for o in channel.options] == ["counter", "online", "post"]
    assert (idea.max_length, idea.show_if) == (
        DEFAULT_MAX_LENGTH,
        Condition("channel", "==", "online"),
    )
    assert converted.notes == (
        "sheet 'survey', row 2: metadata 'start' skipped",
        "sheet 'survey', row 3: metadata 'end' skipped",
    )
    vi = converted.translations["vi"]
    assert vi["What went wrong?"] == "Điều gì chưa tốt?"
    assert converted.translations["id"]["By post"] == "Melalui pos"
    assert converted.translations["en"]["By post"] == "By post"
    assert vi["3"] == "3"  # the integer rating's points are their numbers, in every language


def test_sample_toml_is_what_the_loader_reads(tmp_path, make_catalogs):
    converted = convert(SAMPLE, "service-feedback", 1)
    again, found = parse(converted.toml, "service-feedback.toml")
    assert found == []
    assert again.checksum() == converted.questionnaire.checksum()
    msgids = {msgid for _, msgid in converted.questionnaire.msgids()}
    for texts in converted.translations.values():
        assert set(texts) == msgids
    path = tmp_path / "service-feedback.toml"
    path.write_text(converted.toml, encoding="utf-8")
    locales = make_catalogs({k: dict(v) for k, v in converted.translations.items()})
    assert load_file(path, locales_dir=locales).checksum() == converted.questionnaire.checksum()
    with path.open("rb") as handle:
        extracted = [m for _, _, m, _ in extract_questionnaire(handle, {}, [], {})]
    assert extracted == [msgid for _, msgid in converted.questionnaire.msgids()]


def test_sample_is_what_its_script_writes(tmp_path):
    script = runpy.run_path(str(SAMPLES / "make_sample_xlsform.py"))
    fresh = script["write"](tmp_path / "fresh.xlsx")
    shipped, written = load_workbook(SAMPLE), load_workbook(fresh)
    assert shipped.sheetnames == written.sheetnames == ["survey", "choices", "settings"]
    for title in shipped.sheetnames:
        assert list(shipped[title].values) == list(written[title].values), title


def test_samples_are_not_served():
    assert not list(SAMPLES.glob("*.toml"))


# -- mapping ---------------------------------------------------------------------------------


def test_select_one_over_1_to_n_is_a_rating_labelled_in_value_order(tmp_path):
    shuffled = [RATING3[2], RATING3[0], RATING3[1]]
    path = build(tmp_path, [q("select_one r3", "ease", "Ease")], shuffled)
    (ease,) = convert(path, "form", 1).questionnaire.questions
    assert (ease.kind, ease.scale) == ("rating", 3)
    assert [(o.value, o.label) for o in ease.options] == [
        ("1", "Point 1"),
        ("2", "Point 2"),
        ("3", "Point 3"),
    ]


def test_selects_map_to_choice_and_multi_with_their_options(tmp_path):
    survey = [q("select_one ab", "pick", "Pick"), q("select_multiple ab", "many", "Many")]
    path = build(tmp_path, survey, AB)
    converted = convert(path, "form", 1)
    pick, many = converted.questionnaire.questions
    assert (pick.kind, many.kind) == ("choice", "multi")
    assert [(o.value, o.label) for o in pick.options] == [("a", "A"), ("b", "B")]
    assert pick.options == many.options
    assert converted.translations["vi"]["A"] == "vi:A"


def test_select_with_a_space_is_read_too(tmp_path):
    path = build(tmp_path, [q("select one ab", "pick", "Pick")], AB)
    assert convert(path, "form", 1).questionnaire.questions[0].kind == "choice"


@pytest.mark.parametrize(
    ("constraint", "scale"),
    [
        (". >= 1 and . <= 5", 5),
        (".>=1 and .<=3", 3),
        (". > 0 and . < 8", 7),
        (". <= 10 and . >= 1", 10),
    ],
)
def test_integer_constrained_to_1_n_is_a_rating_labelled_with_numbers(tmp_path, constraint, scale):
    path = build(tmp_path, [q("integer", "wait", "Wait", constraint=constraint)])
    converted = convert(path, "form", 1)
    (wait,) = converted.questionnaire.questions
    assert (wait.kind, wait.scale) == ("rating", scale)
    assert [o.label for o in wait.options] == [str(n) for n in range(1, scale + 1)]
    assert converted.translations["id"][str(scale)] == str(scale)


@pytest.mark.parametrize(
    ("constraint", "limit"),
    [("", DEFAULT_MAX_LENGTH), ("string-length(.) <= 200", 200), ("string-length( . ) < 51", 50)],
)
def test_text_keeps_its_length_limit(tmp_path, constraint, limit):
    path = build(tmp_path, [q("text", "note", "Note", constraint=constraint)])
    (note,) = convert(path, "form", 1).questionnaire.questions
    assert (note.kind, note.max_length) == ("text", limit)


@pytest.mark.parametrize(
    ("cell", "required"),
    [("yes", True), ("TRUE()", True), ("true", True), (True, True), ("no", False), ("", False)],
)
def test_required(tmp_path, cell, required):
    path = build(tmp_path, [q("text", "note", "Note", required=cell)])
    assert convert(path, "form", 1).questionnaire.questions[0].required is required


@pytest.mark.parametrize(
    ("relevant", "condition"),
    [
        ("${r} <= 2", ("r", "<=", 2)),
        ("${r}=2", ("r", "==", 2)),
        ("${r} == 2", ("r", "==", 2)),
        ("${r} != 2", ("r", "!=", 2)),
        ("${r} < 3", ("r", "<", 3)),
        ("${r} > '1'", ("r", ">", 1)),
        ("${ r } >= 2", ("r", ">=", 2)),
        ("${c} = 'a'", ("c", "==", "a")),
        ('${c} != "b"', ("c", "!=", "b")),
        ("selected(${c}, 'a')", ("c", "==", "a")),
        ("selected( ${m} , 'b' )", ("m", "contains", "b")),
        ("selected(${r}, '2')", ("r", "==", 2)),
    ],
)
def test_relevant_becomes_show_if(tmp_path, relevant, condition):
    survey = [
        q("select_one r3", "r", "R"),
        q("select_one ab", "c", "C"),
        q("select_multiple ab", "m", "M"),
        q("text", "why", "Why", relevant=relevant),
    ]
    path = build(tmp_path, survey, [*RATING3, *AB])
    why = convert(path, "form", 1).questionnaire.question("why")
    assert why.show_if == Condition(*condition)


def test_plain_label_is_english_without_default_language(tmp_path):
    header = ["type", "name", "label", "label::Vietnamese (vi)", "label::Indonesian (id)", "hint"]
    row = ["text", "note", "Note", "Ghi chú", "Catatan", ""]
    settings = [["form_title", "form_title::Vietnamese (vi)", "form_title::Indonesian (id)"]]
    settings.append(["Title", "Tiêu đề", "Judul"])
    path = build(tmp_path, [row], survey_header=header, settings=settings)
    converted = convert(path, "form", 1)
    assert converted.questionnaire.questions[0].text == "Note"
    assert converted.questionnaire.title == "Title"
    assert converted.translations["vi"] == {"Title": "Tiêu đề", "Note": "Ghi chú"}


@pytest.mark.parametrize("default", ["Vietnamese (vi)", "vi"])
def test_plain_label_is_the_default_language(tmp_path, default):
    header = ["type", "name", "label", "label::English (en)", "label::Indonesian (id)"]
    settings = [[*SETTINGS[0][:3], "default_language"], [*SETTINGS[1][:3], default]]
    path = build(
        tmp_path,
        [["text", "note", "Ghi chú", "Note", "Catatan"]],
        survey_header=header,
        settings=settings,
    )
    converted = convert(path, "form", 1)
    assert converted.questionnaire.questions[0].text == "Note"
    assert converted.translations["vi"]["Note"] == "Ghi chú"


def test_hint_title_and_shared_texts(tmp_path):
    other = [["ab", "a", "Other", "vi:Other", "id:Other"], ["ab", "b", "B", "vi:B", "id:B"]]
    other += [["cd", "c", "C", "vi:C", "id:C"], ["cd", "d", "Other", "vi:Other", "id:Other"]]
    survey = [
        q("select_one ab", "pick", "Pick", hint="One only"),
        q("select_one cd", "pick2", "Pick again"),
    ]
    converted = convert(build(tmp_path, survey, other), "form", 1)
    pick = converted.questionnaire.questions[0]
    assert pick.hint == "One only"
    assert converted.translations["id"]["One only"] == "id:One only"
    assert converted.translations["vi"]["Title"] == "vi:Title"
    assert converted.translations["vi"]["Other"] == "vi:Other"


def test_metadata_disabled_blank_rows_and_presentation_columns_are_read_past(tmp_path):
    header = [*SURVEY, "appearance", "constraint_message::English (en)", "disabled"]
    survey = [
        [*q("start", "start", "", vi="", id_=""), "", "", ""],
        [*q("deviceid", "device", "", vi="", id_=""), "", "", ""],
        [""] * len(header),
        [*q("text", "note", "Note"), "multiline", "Too long", ""],
        [*q("calculate", "sum", "Sum"), "", "", "yes"],
    ]
    converted = convert(build(tmp_path, survey, survey_header=header), "form", 1)
    assert [x.id for x in converted.questionnaire.questions] == ["note"]
    assert converted.notes == (
        "sheet 'survey', row 2: metadata 'start' skipped",
        "sheet 'survey', row 3: metadata 'deviceid' skipped",
        "sheet 'survey', row 6: disabled, skipped",
    )


def test_sheet_names_ignore_case(tmp_path):
    path = build(tmp_path, [q("text", "note", "Note")])
    workbook = load_workbook(path)
    for title, new in (("survey", "Survey"), ("settings", "SETTINGS")):
        workbook[title].title = "renaming"  # openpyxl would make "Survey" "Survey1"
        workbook["renaming"].title = new
    workbook.save(path)
    assert convert(path, "form", 1).questionnaire.questions[0].id == "note"


# -- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("begin group", "groups cannot be mapped (a questionnaire is one flat list of questions)"),
        ("end_group", "groups cannot be mapped (a questionnaire is one flat list of questions)"),
        (
            "begin repeat",
            "repeats cannot be mapped (a questionnaire is one flat list of questions)",
        ),
        ("note", "type 'note' cannot be mapped (supported: select_one, select_multiple, integer"),
        ("calculate", "type 'calculate' cannot be mapped"),
        ("decimal", "type 'decimal' cannot be mapped"),
        ("date", "type 'date' cannot be mapped"),
        ("select_one_from_file x.csv", "type 'select_one_from_file x.csv' cannot be mapped"),
        ("integer extra", "type 'integer extra' cannot be mapped"),
        ("select_one ab or_other", "or_other cannot be mapped (add an 'other' choice and a text"),
        ("select_multiple", "type 'select_multiple' needs one choice list name"),
        ("select_one nope", "unknown choice list 'nope'"),
    ],
)
def test_types_that_cannot_be_mapped(tmp_path, kind, reason):
    found = refused(tmp_path, [q("text", "ok", "OK"), q(kind, "x", "X")], AB)
    assert len(found) == 1
    assert found[0].startswith(f"sheet 'survey', row 3: {reason}")


def test_a_row_without_type(tmp_path):
    assert refused(tmp_path, [q("", "x", "X")]) == ["sheet 'survey', row 2: no type"]


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("default", "a"),
        ("choice_filter", "${x} = 'a'"),
        ("read_only", "yes"),
        ("calculation", "1 + 1"),
        ("media::image::English (en)", "a.png"),
        ("image", "a.png"),
    ],
)
def test_columns_that_cannot_be_mapped(tmp_path, column, value):
    found = refused(tmp_path, [[*q("text", "x", "X"), value]], survey_header=[*SURVEY, column])
    assert found == [f"sheet 'survey', row 2: column '{column}' cannot be mapped"]


def test_an_unmappable_column_left_empty_is_fine(tmp_path):
    path = build(tmp_path, [[*q("text", "x", "X"), ""]], survey_header=[*SURVEY, "default"])
    assert convert(path, "form", 1).questionnaire.questions[0].id == "x"


def test_media_in_choices(tmp_path):
    choices = [[*AB[0], "a.png"], [*AB[1], ""]]
    found = refused(
        tmp_path, [q("select_one ab", "x", "X")], choices, choices_header=[*CHOICES, "image"]
    )
    assert found == ["sheet 'choices', row 2: column 'image' cannot be mapped"]


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("label::French (fr)", "column 'label::French (fr)': language 'French (fr)' is not one of"),
        ("hint::Vietnamese", "column 'hint::Vietnamese': language 'Vietnamese' names no code"),
        ("label::Tiếng Việt (vi)", "columns 'label::Vietnamese (vi)' and 'label::Tiếng Việt (vi)'"),
        ("label", "columns 'label::English (en)' and 'label' both give the en label"),
    ],
)
def test_language_columns_that_cannot_be_mapped(tmp_path, header, reason):
    found = refused(tmp_path, [[*q("text", "x", "X"), "?"]], survey_header=[*SURVEY, header])
    assert len(found) == 1
    assert found[0].startswith(f"sheet 'survey', row 1: {reason}")


def test_default_language_not_shipped(tmp_path):
    settings = [[*SETTINGS[0][:3], "default_language"], [*SETTINGS[1][:3], "French (fr)"]]
    found = refused(tmp_path, [q("text", "x", "X")], settings=settings)
    assert found == [
        "sheet 'settings', row 2: default_language: language 'French (fr)' is not one of vi, en, id"
    ]


def test_a_shipped_language_without_a_column_is_reported_once(tmp_path):
    header = [column for column in SURVEY if "Indonesian" not in column]
    keep = [i for i, column in enumerate(SURVEY) if "Indonesian" not in column]
    rows = [[q("text", x, x.upper())[i] for i in keep] for x in ("a", "b")]
    found = refused(tmp_path, rows, survey_header=header)
    assert found == ["sheet 'survey', row 1: no label column for id (label::Indonesian (id))"]


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (q("text", "x", "X", vi=""), "label has no vi translation"),
        (q("text", "x", "X", vi="", id_=""), "label has no vi, id translation"),
        (q("text", "x", "", vi="Ghi chú"), "label has no English text (English texts are msgids)"),
        (q("text", "x", "", vi="", id_=""), "no label"),
        (q("text", "x", "Hello ${name}"), "label (en) shows an answer with ${...}"),
        (
            q("text", "x", "X")[:5] + ["Hint", "", "Petunjuk"] + [""] * 3,
            "hint has no vi translation",
        ),
        (
            q("text", "x", "X")[:5] + ["", "Gợi ý", "Petunjuk"] + [""] * 3,
            "hint has no English text (English texts are msgids)",
        ),
    ],
)
def test_texts_need_english_and_every_shipped_language(tmp_path, row, reason):
    assert refused(tmp_path, [row]) == [f"sheet 'survey', row 2: {reason}"]


def test_a_text_has_one_translation_per_language(tmp_path):
    survey = [q("text", "x", "Same"), q("text", "y", "Same", vi="Khác")]
    assert refused(tmp_path, survey) == [
        "sheet 'survey', row 3: 'Same' is translated vi 'Khác' here but 'vi:Same' in sheet "
        "'survey', row 2 (one translation per text and language)"
    ]


@pytest.mark.parametrize(
    ("relevant", "reason"),
    [
        ("${a} <= 3 and ${a} >= 1", "relevant '${a} <= 3 and ${a} >= 1' cannot be mapped"),
        ("not(selected(${m}, 'a'))", "relevant 'not(selected(${m}, 'a'))' cannot be mapped"),
        ("${a} <= ${b}", "relevant '${a} <= ${b}' cannot be mapped"),
        (
            "count-selected(${m}) > 1",
            "relevant 'count-selected(${m}) > 1' cannot be mapped (only ${q} <= 3 style "
            "comparisons and selected(${q}, 'x'))",
        ),
        ("${m} = 'a'", "relevant: test a select_multiple with selected(${m}, 'x')"),
        ("${start} != ''", "relevant tests ${start}, not a question"),
        ("${nobody} = 2", 'relevant: unknown question "nobody"'),
        ("${later} = 'a'", 'relevant: question "later" comes later'),
        ("${a} = 'z'", 'relevant: "z" is not an option of "a" (a, b)'),
        ("${r} <= 4", 'relevant: 4 is not a point of the rating "r"'),
        ("${a} <= 'a'", 'relevant: "<=" cannot test a choice question (use ==, !=, in)'),
        ("${t} = 'x'", 'relevant: "==" cannot test a text question (it cannot be tested)'),
    ],
)
def test_relevant_that_cannot_be_mapped(tmp_path, relevant, reason):
    survey = [
        q("start", "start", "", vi="", id_=""),
        q("select_one r3", "r", "R"),
        q("select_one ab", "a", "A?"),
        q("select_multiple ab", "m", "M"),
        q("text", "t", "T"),
        q("text", "why", "Why", relevant=relevant),
        q("select_one ab", "later", "Later"),
    ]
    found = refused(tmp_path, survey, [*RATING3, *AB])
    assert len(found) == 1
    assert found[0].startswith(f"sheet 'survey', row 7: {reason}")


@pytest.mark.parametrize(
    "constraint",
    [
        "",
        ". >= 0 and . <= 10",
        ". <= 5",
        ". >= 1 and . <= 1",
        ". >= 2 and . <= 5",
        "regex(., '^1$')",
    ],
)
def test_integer_without_a_1_n_constraint(tmp_path, constraint):
    found = refused(tmp_path, [q("integer", "n", "N", constraint=constraint)])
    assert found == [
        "sheet 'survey', row 2: an integer maps to a rating only when constrained to 1..N, like "
        f"'. >= 1 and . <= 5' (constraint: '{constraint}')"
    ]


def test_integer_scale_too_long(tmp_path):
    found = refused(tmp_path, [q("integer", "n", "N", constraint=". >= 1 and . <= 12")])
    assert found == ["sheet 'survey', row 2: choices: must be an integer from 2 to 11, not 12"]


@pytest.mark.parametrize(
    ("constraint", "reason"),
    [
        (
            "regex(., '^[0-9]+$')",
            "constraint 'regex(., '^[0-9]+$')' cannot be mapped (a text takes",
        ),
        ("string-length(.) <= 20000", "a text's length limit must be 1 to 10000"),
        ("string-length(.) < 1", "a text's length limit must be 1 to 10000"),
    ],
)
def test_text_constraints_that_cannot_be_mapped(tmp_path, constraint, reason):
    found = refused(tmp_path, [q("text", "t", "T", constraint=constraint)])
    assert len(found) == 1
    assert found[0].startswith(f"sheet 'survey', row 2: {reason}")


def test_constraint_on_a_select(tmp_path):
    row = q("select_multiple ab", "m", "M", constraint="count-selected(.) <= 1")
    assert refused(tmp_path, [row], AB) == [
        "sheet 'survey', row 2: constraint on a select_multiple cannot be mapped"
    ]


def test_required_expression(tmp_path):
    assert refused(tmp_path, [q("text", "t", "T", required="${x} = 1")]) == [
        "sheet 'survey', row 2: required must be yes or no, not '${x} = 1'"
    ]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        (
            "Overall-Rating",
            "name 'Overall-Rating' must be lower-case letters, digits and '_', from",
        ),
        ("1st", "name '1st' must be lower-case letters"),
        ("", "no name"),
        ("first", "name 'first' is also used in row 2"),
    ],
)
def test_names_that_cannot_be_mapped(tmp_path, name, reason):
    found = refused(tmp_path, [q("text", "first", "First"), q("text", name, "Second")])
    assert len(found) == 1
    assert found[0].startswith(f"sheet 'survey', row 3: {reason}")


def test_choice_rows(tmp_path):
    choices = [
        ["ab", "Yes", "Yes", "Có", "Ya"],
        ["ab", "no", "No", "Không", "Tidak"],
        ["ab", "no", "Nope", "Không", "Tidak"],
        ["ab", "maybe", "Maybe", "", "Mungkin"],
        ["unused", "Bad Name", "", "", ""],
    ]
    assert refused(tmp_path, [q("select_one ab", "x", "X")], choices) == [
        "sheet 'choices', row 2: choice name 'Yes' must be lower-case letters, digits and '_', "
        "from a letter",
        "sheet 'choices', row 4: choice name 'no' is also in row 3",
        "sheet 'choices', row 5: label has no vi translation",
    ]


def test_numbered_choices_are_not_codes_for_a_select_multiple(tmp_path):
    found = refused(tmp_path, [q("select_multiple r3", "m", "M")], RATING3)
    assert found == [
        f"sheet 'choices', row {row}: choice name '{row - 1}' must be lower-case letters, "
        "digits and '_', from a letter"
        for row in (2, 3, 4)
    ]


def test_the_loaders_rules_come_back_with_their_row(tmp_path):
    choices = [*AB, ["one", "only", "Only", "vi:Only", "id:Only"]]
    survey = [
        q("select_one ab", "overall", "Overall"),
        q("select_one one", "single", "Single"),
        q("select_multiple ab", "reasons", "Reasons"),
    ]
    assert refused(tmp_path, survey, choices) == [
        "sheet 'survey', row 2: type: \"overall\" must be a rating question, not choice",
        "sheet 'survey', row 3: choices: a choice question needs a list of at least 2 options",
        "sheet 'survey', row 4: choices: missing reason codes: portal_error, complex_procedure, "
        "payment_error, network_error, device_error, other",
        "sheet 'survey', row 4: choices: unknown reason codes: a, b (the reason codes are "
        "portal_error, complex_procedure, payment_error, network_error, device_error, other)",
    ]


def test_settings_and_title(tmp_path):
    assert refused(tmp_path, [q("text", "t", "T")], settings=None) == [
        "sheet 'settings': missing (its form_title is the questionnaire's title)"
    ]
    no_vi = [["form_title", "form_title::Indonesian (id)"], ["Title", "Judul"]]
    assert refused(tmp_path, [q("text", "t", "T")], settings=no_vi) == [
        "sheet 'settings', row 1: no form_title column for vi (form_title::Vietnamese (vi))"
    ]
    no_title = [["form_id", "form_title::Vietnamese (vi)"], ["form", ""]]
    assert refused(tmp_path, [q("text", "t", "T")], settings=no_title)[-1] == (
        "sheet 'settings', row 2: no form_title"
    )


def test_missing_sheets_and_columns(tmp_path):
    workbook = Workbook()
    workbook.active.title = "settings"
    workbook.active.append(SETTINGS[0])
    workbook.active.append(SETTINGS[1])
    workbook.save(tmp_path / "empty.xlsx")
    assert problems(tmp_path / "empty.xlsx") == ["sheet 'survey': missing"]
    header = [column for column in SURVEY if column not in ("type", "name")]
    assert refused(tmp_path, [q("text", "t", "T")[2:]], survey_header=header) == [
        "sheet 'survey', row 1: no 'type' column",
        "sheet 'survey', row 1: no 'name' column",
    ]


def test_a_form_without_questions(tmp_path):
    found = refused(tmp_path, [q("start", "start", "", vi="", id_="")])
    assert found == ["sheet 'survey': no question to import"]


def test_not_a_workbook(tmp_path):
    path = tmp_path / "form.xlsx"
    path.write_text("type,name\ntext,t\n")
    (found,) = problems(path)
    assert found.startswith(f"{path} cannot be read as an .xlsx workbook (")


def test_every_problem_at_once(tmp_path):
    survey = [q("begin group", "g", "G"), q("text", "t", "T", vi=""), q("integer", "n", "N")]
    with pytest.raises(XLSFormError) as caught:
        convert(build(tmp_path, survey), "form", 1)
    assert str(caught.value).splitlines() == [
        f"3 problems in the XLSForm {tmp_path / 'form.xlsx'}:",
        "  sheet 'survey', row 2: groups cannot be mapped (a questionnaire is one flat list of "
        "questions)",
        "  sheet 'survey', row 3: label has no vi translation",
        "  sheet 'survey', row 4: an integer maps to a rating only when constrained to 1..N, like "
        "'. >= 1 and . <= 5' (constraint: '')",
    ]
