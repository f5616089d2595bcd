"""The questionnaire value: lookup, translatable texts, localized definition, checksum."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from questionnaires import DEFAULT_DIRECTORY, load_directory, load_file

Q = load_directory()["public-service-satisfaction"]
DEFAULT_FILE = DEFAULT_DIRECTORY / "public-service-satisfaction.toml"


def test_question_lookup():
    assert Q.question("reasons").kind == "multi"
    with pytest.raises(KeyError):
        Q.question("age")


def test_values_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Q.version = 2  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        Q.questions[0].options[0].label = "x"  # type: ignore[misc]


def test_msgids_name_every_text_with_its_place():
    found = dict(Q.msgids())
    assert found["title"] == Q.title
    assert found["intro"] == Q.intro
    assert found['questions[0] (id "overall").text'] == Q.questions[0].text
    assert found['questions[0] (id "overall").labels[4]'] == "Very satisfied"
    assert found['questions[1] (id "reasons").hint'] == "Choose all that apply."
    assert found['questions[1] (id "reasons").options[5].label'] == "Other reason"
    assert found['questions[3] (id "comment").hint'].startswith("Optional.")
    # title, intro; 4 question texts; 2 hints; 5 rating labels; 6 reasons
    assert len(Q.msgids()) == 2 + 4 + 2 + 5 + 6


def test_localized_definition_is_json_safe_and_translated():
    definition = Q.localized(lambda text: f"<{text}>")
    assert json.loads(json.dumps(definition)) == definition
    assert set(definition) == {"id", "version", "title", "intro", "questions"}
    assert (definition["id"], definition["version"]) == ("public-service-satisfaction", 1)
    assert definition["title"] == "<Rate this service>"
    overall, reasons, other, comment = definition["questions"]
    assert set(overall) == {
        "id", "kind", "text", "hint", "required", "options", "scale", "max_length", "show_if",
    }  # fmt: skip
    assert overall["options"][0] == {"value": "1", "label": "<Very dissatisfied>"}
    assert (overall["scale"], overall["required"], overall["show_if"]) == (5, True, None)
    assert reasons["show_if"] == {"question": "overall", "op": "<=", "value": 3}
    assert reasons["options"][0] == {
        "value": "portal_error",
        "label": "<Errors in the public service portal>",
    }
    assert other["show_if"] == {"question": "reasons", "op": "contains", "value": "other"}
    assert (other["options"], other["max_length"], other["hint"]) == ([], 200, None)
    assert comment["max_length"] == 1000


def test_checksum_follows_content_not_place(tmp_path):
    text = DEFAULT_FILE.read_text(encoding="utf-8")
    copy = tmp_path / "copy.toml"
    copy.write_text(text, encoding="utf-8")
    assert load_file(copy).checksum() == Q.checksum()
    assert len(Q.checksum()) == 64
    changed = tmp_path / "changed.toml"
    changed.write_text(text.replace("max_length = 200", "max_length = 300"), encoding="utf-8")
    assert load_file(changed).checksum() != Q.checksum()
    relabelled = tmp_path / "relabelled.toml"
    relabelled.write_text(text.replace('"Other reason"', '"Another reason"'), encoding="utf-8")
    assert load_file(relabelled).checksum() != Q.checksum()


def test_the_package_imports_no_web_framework_or_service():
    """Dependency direction: survey_app -> questionnaires, never the reverse."""
    code = (
        "import sys, questionnaires, questionnaires.babel_extract\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'survey_app', 'litestar', 'piccolo', 'piccolo_api', 'jinja2', 'uvicorn'})\n"
        "print(','.join(bad))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.stdout.strip() == ""
