"""The Babel extractor finds every text of a questionnaire file, with its line and place."""

from __future__ import annotations

import io

import pytest
from babel.messages.extract import extract, extract_from_dir, extract_from_file

from questionnaires import DEFAULT_DIRECTORY, QuestionnaireError, load_directory
from questionnaires.babel_extract import extract_questionnaire
from tests.questionnaires.samples import MINI

Q = load_directory()["public-service-satisfaction"]
DEFAULT_FILE = DEFAULT_DIRECTORY / "public-service-satisfaction.toml"


def test_extractor_yields_every_text_with_its_line_and_place():
    source = DEFAULT_FILE.read_bytes()
    found = list(extract_questionnaire(io.BytesIO(source), [], [], {}))
    assert [m for _, _, m, _ in found] == [m for _, m in Q.msgids()]
    lines = source.decode().splitlines()
    for (lineno, funcname, message, comments), (location, _) in zip(found, Q.msgids(), strict=True):
        assert f'"{message}"' in lines[lineno - 1]
        assert funcname is None
        assert comments == [f"questionnaire public-service-satisfaction v1, {location}"]
    assert found[0] == (
        7,
        None,
        "Rate this service",
        ["questionnaire public-service-satisfaction v1, title"],
    )


def test_registered_with_babel_by_name():
    messages = list(extract("questionnaire", io.BytesIO(DEFAULT_FILE.read_bytes())))
    texts = [m[1] for m in messages]
    assert "Errors when paying online" in texts
    assert len(texts) == len(Q.msgids())


def test_extract_from_file_with_a_method_map():
    found = extract_from_file("questionnaire", str(DEFAULT_FILE))
    assert {message for _, message, _, _ in found} == {m for _, m in Q.msgids()}


def test_extract_from_dir_finds_all_texts_of_the_default_questionnaire():
    every = list(
        extract_from_dir(str(DEFAULT_DIRECTORY), method_map=[("**.toml", "questionnaire")])
    )
    # Every shipped questionnaire is extracted; this test follows the default one.
    assert {filename for filename, *_ in every} >= {
        "public-service-satisfaction.toml",
        "dossier-evaluation.toml",
    }
    found = [entry for entry in every if entry[0] == "public-service-satisfaction.toml"]
    assert [message for _, _, message, _, _ in found] == [m for _, m in Q.msgids()]
    for *_, comments, _ in found:
        assert comments[0].startswith("questionnaire public-service-satisfaction v1, ")
    assert {m for _, _, m, _, _ in found} >= {
        "Very dissatisfied",
        "Very satisfied",
        "The procedure is too complicated; doing it in person is easier or faster",
        "Other reason",
        "Please describe the other reason",
    }


def test_lines_are_found_for_repeated_texts_and_other_string_forms():
    text = MINI.replace('label = "Queue"', "label = 'Slow'").replace(
        'labels = ["Hard", "So-so", "Easy"]', 'labels = [\n  "Hard",\n  "So-so",\n  "Easy",\n]'
    )
    lines = text.splitlines()
    found = list(extract_questionnaire(io.BytesIO(text.encode()), [], [], {}))
    by_place = {comments[0].split(", ", 1)[1]: lineno for lineno, _, _, comments in found}
    assert lines[by_place['questions[0] (id "ease").labels[1]'] - 1].strip() == '"So-so",'
    assert "label = 'Slow'" in lines[by_place['questions[2] (id "extras").options[0].label'] - 1]
    assert '"Slow"' in lines[by_place['questions[1] (id "why").options[0].label'] - 1]


def test_an_invalid_file_stops_the_extraction():
    bad = io.BytesIO(MINI.replace("version = 2", "version = 0").encode())
    bad.name = "bad.toml"
    with pytest.raises(QuestionnaireError, match=r"bad\.toml: version: must be a positive"):
        list(extract_questionnaire(bad, [], [], {}))
