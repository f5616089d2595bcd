"""Read questionnaire files and validate them, reporting every problem with its place."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po

from questionnaires.model import (
    OPS_BY_KIND,
    QUESTION_KINDS,
    REASON_CODES,
    Condition,
    Option,
    Question,
    Questionnaire,
)

DEFAULT_DIRECTORY = Path(__file__).resolve().parent
DEFAULT_QUESTIONNAIRE_ID = "public-service-satisfaction"
DEFAULT_LOCALES = ("vi", "en", "id")
SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
QUESTION_ID = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
REASONS_ID = "reasons"
MAX_SCALE = 11
TOP_KEYS = {"id", "version", "title", "intro", "questions"}
QUESTION_KEYS = {
    "id", "kind", "text", "required", "hint", "options", "scale", "labels", "max_length", "show_if",
}  # fmt: skip


@dataclass(frozen=True)
class Problem:
    path: str
    location: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.location}: {self.reason}"


class QuestionnaireError(ValueError):
    """One or more questionnaire files do not validate; ``problems`` lists them all."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        heading = f"{count} problem{'s' if count != 1 else ''} in questionnaire files:"
        super().__init__("\n".join([heading, *(f"  {p}" for p in self.problems)]))


class _Collector:
    def __init__(self, path: str) -> None:
        self.path = path
        self.problems: list[Problem] = []

    def add(self, location: str, reason: str) -> None:
        self.problems.append(Problem(self.path, location, reason))

    def text(self, data: dict, key: str, where: str, *, required: bool = True) -> str | None:
        value = data.get(key)
        if value is None:
            if required:
                self.add(f"{where}.{key}" if where else key, "missing")
            return None
        if not isinstance(value, str) or not value.strip():
            self.add(f"{where}.{key}" if where else key, "must be a non-empty string")
            return None
        return value


def load_file(
    path: str | Path,
    *,
    locales_dir: Path | None = None,
    locales: Sequence[str] = DEFAULT_LOCALES,
) -> Questionnaire:
    """Read and validate one file; raise ``QuestionnaireError`` listing every problem."""
    questionnaire, problems = _load(Path(path), locales_dir, locales)
    if problems:
        raise QuestionnaireError(problems)
    assert questionnaire is not None
    return questionnaire


def load_directory(
    directory: str | Path = DEFAULT_DIRECTORY,
    *,
    locales_dir: Path | None = None,
    locales: Sequence[str] = DEFAULT_LOCALES,
) -> dict[str, Questionnaire]:
    """Every ``*.toml`` in ``directory`` by questionnaire id; problems of all files at once."""
    directory = Path(directory)
    problems: list[Problem] = []
    found: dict[str, Questionnaire] = {}
    files = sorted(directory.glob("*.toml"))
    if not files:
        raise QuestionnaireError([Problem(str(directory), "directory", "no *.toml files")])
    for path in files:
        questionnaire, file_problems = _load(path, locales_dir, locales)
        problems.extend(file_problems)
        if questionnaire is None:
            continue
        if questionnaire.id in found:
            other = found[questionnaire.id].source
            problems.append(
                Problem(
                    str(path),
                    "id",
                    f"questionnaire {questionnaire.id!r} is also defined in {other}; "
                    "keep one file per questionnaire (its version says which revision)",
                )
            )
            continue
        found[questionnaire.id] = questionnaire
    if problems:
        raise QuestionnaireError(problems)
    return found


def _load(
    path: Path, locales_dir: Path | None, locales: Sequence[str]
) -> tuple[Questionnaire | None, list[Problem]]:
    check = _Collector(str(path))
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        check.add("file", f"cannot be read ({error.strerror or error})")
        return None, check.problems
    except UnicodeDecodeError:
        check.add("file", "is not UTF-8 text")
        return None, check.problems
    except tomllib.TOMLDecodeError as error:
        check.add("TOML", str(error))
        return None, check.problems
    questionnaire = _build(data, path, check)
    if questionnaire is not None and locales_dir is not None and not check.problems:
        _check_translations(questionnaire, locales_dir, locales, check)
    return (None if check.problems else questionnaire), check.problems


def _build(data: dict[str, Any], path: Path, check: _Collector) -> Questionnaire | None:
    for key in sorted(set(data) - TOP_KEYS):
        check.add(key, f"unknown field (expected one of {', '.join(sorted(TOP_KEYS))})")
    qid = data.get("id")
    if not isinstance(qid, str) or not SLUG.match(qid):
        check.add("id", "must be a slug: lower-case letters, digits, '-' or '_'")
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        check.add("version", "must be a positive integer")
    title = check.text(data, "title", "")
    intro = check.text(data, "intro", "", required=False)
    raw_questions = data.get("questions")
    if not isinstance(raw_questions, list) or not raw_questions:
        check.add("questions", "must be a non-empty list of [[questions]] tables")
        return None
    questions: list[Question] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(raw_questions):
        question = _question(raw, index, seen, questions, check)
        if question is not None:
            questions.append(question)
    if check.problems:
        return None
    return Questionnaire(
        id=qid,  # type: ignore[arg-type]
        version=version,  # type: ignore[arg-type]
        title=title,  # type: ignore[arg-type]
        intro=intro,
        questions=tuple(questions),
        source=path,
    )


def _question(
    raw: Any, index: int, seen: dict[str, int], earlier: list[Question], check: _Collector
) -> Question | None:
    where = f"questions[{index}]"
    if not isinstance(raw, dict):
        check.add(where, "must be a table")
        return None
    qid = raw.get("id")
    if isinstance(qid, str) and QUESTION_ID.match(qid):
        where = f'questions[{index}] (id "{qid}")'
        if qid in seen:
            check.add(f"{where}.id", f"duplicate question id (also questions[{seen[qid]}])")
        seen.setdefault(qid, index)
    else:
        check.add(f"{where}.id", "must be lower-case letters, digits and '_', from a letter")
    for key in sorted(set(raw) - QUESTION_KEYS):
        check.add(f"{where}.{key}", "unknown field")
    kind = raw.get("kind")
    if kind not in QUESTION_KINDS:
        expected = ", ".join(QUESTION_KINDS)
        check.add(f"{where}.kind", f"unknown question kind {kind!r} (expected {expected})")
        return None
    text = check.text(raw, "text", where)
    hint = check.text(raw, "hint", where, required=False)
    required = raw.get("required", False)
    if not isinstance(required, bool):
        check.add(f"{where}.required", "must be true or false")
    options = _options(raw, kind, where, check)
    scale = None
    if kind == "rating":
        scale = len(options) if options else None
    max_length = raw.get("max_length")
    if kind == "text":
        if not _int_between(max_length, 1, 10_000):
            check.add(f"{where}.max_length", "a text question needs max_length from 1 to 10000")
    elif max_length is not None:
        check.add(f"{where}.max_length", f"only text questions have max_length, not {kind}")
    if qid == REASONS_ID and kind == "multi":
        codes = [option.value for option in options]
        missing = [code for code in REASON_CODES if code not in codes]
        unknown = [code for code in codes if code not in REASON_CODES]
        if missing:
            check.add(f"{where}.options", f"missing reason codes: {', '.join(missing)}")
        if unknown:
            check.add(f"{where}.options", f"unknown reason codes: {', '.join(unknown)}")
    show_if = _condition(raw.get("show_if"), where, earlier, check)
    if text is None:
        return None
    return Question(
        id=qid,
        kind=kind,
        text=text,
        required=required is True,
        hint=hint,
        options=options,
        scale=scale,
        max_length=max_length if kind == "text" else None,
        show_if=show_if,
    )


def _int_between(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _options(raw: dict, kind: str, where: str, check: _Collector) -> tuple[Option, ...]:
    if kind == "rating":
        if "options" in raw:
            check.add(f"{where}.options", "a rating has labels, not options")
        scale, labels = raw.get("scale", 5), raw.get("labels")
        if not _int_between(scale, 2, MAX_SCALE):
            check.add(f"{where}.scale", f"must be an integer from 2 to {MAX_SCALE}")
            return ()
        if not isinstance(labels, list) or len(labels) != scale:
            check.add(f"{where}.labels", f"needs exactly {scale} labels, one per point")
            return ()
        for i, label in enumerate(labels):
            if not isinstance(label, str) or not label.strip():
                check.add(f"{where}.labels[{i}]", "must be a non-empty string")
        return tuple(Option(str(i + 1), str(label)) for i, label in enumerate(labels))
    for key in ("scale", "labels"):
        if key in raw:
            check.add(f"{where}.{key}", f"only rating questions have {key}")
    if kind == "text":
        if "options" in raw:
            check.add(f"{where}.options", "a text question has no options")
        return ()
    raw_options = raw.get("options")
    if not isinstance(raw_options, list) or len(raw_options) < 2:
        check.add(f"{where}.options", f"a {kind} question needs a list of at least 2 options")
        return ()
    options: list[Option] = []
    values: set[str] = set()
    for i, item in enumerate(raw_options):
        place = f"{where}.options[{i}]"
        if not isinstance(item, dict):
            check.add(place, 'must be a table like { value = "code", label = "Text" }')
            continue
        value, label = item.get("value"), item.get("label")
        if not isinstance(value, str) or not QUESTION_ID.match(value):
            check.add(f"{place}.value", "must be a code: lower-case letters, digits and '_'")
            continue
        if value in values:
            check.add(f"{place}.value", f"duplicate option value {value!r}")
        values.add(value)
        if not isinstance(label, str) or not label.strip():
            check.add(f"{place}.label", "must be a non-empty string")
            continue
        options.append(Option(value, label))
    return tuple(options)


def _condition(
    raw: Any, where: str, earlier: list[Question], check: _Collector
) -> Condition | None:
    if raw is None:
        return None
    place = f"{where}.show_if"
    if not isinstance(raw, dict) or set(raw) != {"question", "op", "value"}:
        check.add(place, 'must be { question = "id", op = "<=", value = 3 }')
        return None
    target = next((q for q in earlier if q.id == raw["question"]), None)
    if target is None:
        check.add(
            f"{place}.question",
            f"unknown question {raw['question']!r} (it must be asked earlier in the file)",
        )
        return None
    op, value = raw["op"], raw["value"]
    if op not in OPS_BY_KIND[target.kind]:
        allowed = ", ".join(OPS_BY_KIND[target.kind]) or "none"
        check.add(f"{place}.op", f"{op!r} cannot test a {target.kind} question ({allowed})")
        return None
    option_values = [o.value for o in target.options]
    candidates = value if op == "in" else [value]
    if op == "in" and not isinstance(value, list):
        check.add(f"{place}.value", "'in' needs a list of values")
        return None
    for candidate in candidates:
        if target.kind == "rating":
            if isinstance(candidate, bool) or not isinstance(candidate, int):
                check.add(f"{place}.value", f"must be an integer for a rating, not {candidate!r}")
                return None
        elif str(candidate) not in option_values:
            check.add(f"{place}.value", f"{candidate!r} is not an option of {target.id!r}")
            return None
    return Condition(question=target.id, op=op, value=value)


def _check_translations(
    questionnaire: Questionnaire, locales_dir: Path, locales: Sequence[str], check: _Collector
) -> None:
    for locale in locales:
        po = locales_dir / locale / "LC_MESSAGES" / "messages.po"
        try:
            with po.open("rb") as handle:
                catalog = read_po(handle, locale=locale)
        except OSError:
            check.add(f"catalog {locale}", f"{po} cannot be read")
            continue
        for location, msgid in questionnaire.msgids():
            entry = catalog.get(msgid)
            if entry is None or not entry.string:
                check.add(location, f"text not translated in {locale}: {msgid!r}")
            elif entry.fuzzy:
                check.add(location, f"translation is fuzzy in {locale}: {msgid!r}")
