"""Mutated questionnaire files: the loader reports ``QuestionnaireError``, never crashes.

Hypothesis starts from the shipped TOML file and deletes, retypes and renames
its keys, adds unknown ones, flips bytes, or writes random bytes and invalid
UTF-8. Whatever comes in, ``load_file`` (structure and translations) and
``survey questionnaire check FILE`` either accept the file or list its
problems with their place; a ``KeyError``, ``TypeError``, ``RecursionError``
or any other exception is a bug.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import tomllib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from questionnaires import DEFAULT_DIRECTORY, Questionnaire, QuestionnaireError, load_file
from questionnaires.loader import parse
from survey_app.cli.questionnaire import questionnaire as questionnaire_cli
from survey_app.lib.settings import SUPPORTED_LOCALES, Settings

SHIPPED = sorted(DEFAULT_DIRECTORY.glob("*.toml"))
LOCALES_DIR = Settings().locales_dir
FUZZ = settings(
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def toml_value(value: Any) -> str:
    """``value`` as an inline TOML value (tables inline, so any nesting can be written)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        items = (f"{json.dumps(str(key))} = {toml_value(item)}" for key, item in value.items())
        return "{ " + ", ".join(items) + " }"
    raise TypeError(type(value))


def to_toml(document: dict[str, Any]) -> str:
    return "".join(f"{json.dumps(key)} = {toml_value(value)}\n" for key, value in document.items())


SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(["overall", "reasons", "rating", "multi", "text", "choice", "<=", "in"])
    | st.datetimes(timezones=st.just(dt.UTC))
    | st.dates()
)
# What TOML can hold (no null: a None drops the key instead).
VALUES = st.recursive(
    SCALARS.filter(lambda v: v is not None),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


def places(node: Any, path: tuple = ()) -> list[tuple]:
    """Every key/index path in a parsed document."""
    found = [path] if path else []
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(places(value, (*path, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(places(value, (*path, index)))
    return found


@st.composite
def mutated_documents(draw) -> dict[str, Any]:
    """A shipped questionnaire with a few keys deleted, retyped, renamed or added."""
    document = tomllib.loads(draw(st.sampled_from(SHIPPED)).read_text(encoding="utf-8"))
    for _ in range(draw(st.integers(1, 4))):
        spots = places(document)
        if not spots:
            break
        path = draw(st.sampled_from(spots))
        parent = document
        for step in path[:-1]:
            parent = parent[step]
        last = path[-1]
        action = draw(st.sampled_from(["delete", "retype", "rename", "add"]))
        if action == "delete":
            del parent[last]
        elif action == "retype":
            parent[last] = draw(VALUES)
        elif action == "rename" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=12))] = parent.pop(last)
        elif isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=12))] = draw(VALUES)
        else:
            parent.append(draw(VALUES))
    return document


@st.composite
def mangled_bytes(draw) -> bytes:
    """The shipped file with bytes flipped, cut or inserted (invalid UTF-8 included)."""
    data = bytearray(draw(st.sampled_from(SHIPPED)).read_bytes())
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif action == "cut":
            del data[at : at + draw(st.integers(1, 200))]
        else:
            data[at:at] = draw(
                st.binary(max_size=8)
                | st.sampled_from([b"\xff", b"\xc3(", b"\xed\xa0\x80", b"\x00", b"[[", b'"'])
            )
    return bytes(data)


RAW_BYTES = st.binary(max_size=300) | st.text(max_size=300).map(
    lambda text: text.encode("utf-8", "surrogatepass")
)


def load_or_refuse(path: Path) -> Questionnaire | None:
    """The loader's two allowed outcomes: a questionnaire, or its own error with problems."""
    refused: QuestionnaireError | None = None
    try:
        return load_file(path, locales_dir=LOCALES_DIR, locales=SUPPORTED_LOCALES)
    except QuestionnaireError as error:
        refused = error
    assert refused.problems, "a QuestionnaireError lists at least one problem"
    assert all(str(problem).startswith(f"{path}: ") for problem in refused.problems)
    return None


def test_the_shipped_files_load():
    """The starting point of the mutations is valid, so the refusals below mean something."""
    assert SHIPPED
    for path in SHIPPED:
        assert isinstance(load_or_refuse(path), Questionnaire)


@FUZZ
@given(document=mutated_documents())
def test_mutated_documents_are_loaded_or_refused(tmp_path_factory, document):
    path = tmp_path_factory.mktemp("mutated") / "q.toml"
    path.write_text(to_toml(document), encoding="utf-8")
    load_or_refuse(path)


@FUZZ
@given(data=mangled_bytes() | RAW_BYTES)
def test_mangled_bytes_are_loaded_or_refused(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("mangled") / "q.toml"
    path.write_bytes(data)
    load_or_refuse(path)


@FUZZ
@given(source=st.text(max_size=400))
def test_any_text_is_parsed_or_refused(source):
    """``parse`` on text (lone surrogates included), as the Babel extractor calls it."""
    questionnaire, problems = parse(source, "q.toml")
    assert (questionnaire is None) == bool(problems)


@pytest.mark.parametrize(
    "text",
    [
        "id = " + "[" * 100_000 + "]" * 100_000,
        "id = " + "{a = " * 5_000 + "1" + "}" * 5_000,
        "[[questions]]\n" + "show_if = " + "[" * 2_000 + "]" * 2_000,
    ],
    ids=["arrays", "tables", "in-a-question"],
)
def test_deep_nesting_is_a_problem_not_a_crash(tmp_path, text):
    """tomllib recurses per level: a deep file raised RecursionError out of the loader."""
    path = tmp_path / "deep.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(QuestionnaireError, match=r"TOML syntax: .*nested too deeply"):
        load_file(path)


@settings(FUZZ, max_examples=25)
@given(document=mutated_documents(), data=mangled_bytes())
def test_check_command_reports_instead_of_crashing(tmp_path_factory, document, data):
    folder = tmp_path_factory.mktemp("check")
    (folder / "a.toml").write_text(to_toml(document), encoding="utf-8")
    (folder / "b.toml").write_bytes(data)
    result = CliRunner().invoke(
        questionnaire_cli, ["check", str(folder / "a.toml"), str(folder / "b.toml")]
    )
    assert result.exit_code in (0, 1), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    invalid = result.stderr.count("ERROR ")
    assert (result.exit_code == 1) == (invalid > 0), result.output
