"""The Babel extractor finds every text of a questionnaire file."""

from __future__ import annotations

import io

from babel.messages.extract import extract, extract_from_dir

from questionnaires import DEFAULT_DIRECTORY, load_directory
from questionnaires.babel_extract import extract_questionnaire

Q = load_directory(DEFAULT_DIRECTORY)["public-service-satisfaction"]


def test_extractor_yields_every_text_with_its_line_and_place():
    source = (DEFAULT_DIRECTORY / "public-service-satisfaction.toml").read_bytes()
    found = list(extract_questionnaire(io.BytesIO(source), [], [], {}))
    assert [m for _, _, m, _ in found] == [m for _, m in Q.msgids()]
    lines = source.decode().splitlines()
    for lineno, _, message, comments in found:
        assert f'"{message}"' in lines[lineno - 1]
        assert comments[0].startswith("questionnaire public-service-satisfaction v1, ")


def test_registered_with_babel_by_name():
    source = (DEFAULT_DIRECTORY / "public-service-satisfaction.toml").read_bytes()
    messages = [m[1] for m in extract("questionnaire", io.BytesIO(source))]
    assert "Errors when paying online" in messages


def test_extract_from_dir_finds_all_texts():
    found = {
        message
        for _, _, message, _, _ in extract_from_dir(
            str(DEFAULT_DIRECTORY), method_map=[("**.toml", "questionnaire")]
        )
    }
    assert found == {m for _, m in Q.msgids()}
