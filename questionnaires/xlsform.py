"""Convert an XLSForm workbook (ODK, KoboToolbox) into a questionnaire file and its texts.

``convert(path, questionnaire_id, version)`` reads the ``survey``, ``choices``
and ``settings`` sheets and returns a ``Conversion``: the questionnaire (as
the loader reads it back), its TOML text and the sheet's translations. What
cannot be mapped raises ``XLSFormError``, listing every ``XLSFormProblem`` as
``sheet 'survey', row 7: reason``. Nothing is written here.

Mapping: ``select_one L`` -> choice, or a rating when the names of list L
are exactly 1..N (its labels become the point labels); ``select_multiple L``
-> multi; ``integer`` constrained to 1..N -> a rating whose points are
labelled with their numbers; ``text`` -> text (``string-length(.) <= N``
gives max_length, else ``DEFAULT_MAX_LENGTH``); ``relevant`` of the forms
``${q} <= 3`` and ``selected(${q}, 'x')`` -> ``show_if``. The English label is
the msgid; the settings' ``form_title`` is the title. Metadata rows (start,
end, deviceid, ...) and disabled rows are skipped.
"""

from __future__ import annotations

import dataclasses
import json
import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from questionnaires.loader import DEFAULT_LOCALES, parse
from questionnaires.model import Questionnaire
from questionnaires.validate import CODE, MAX_TEXT_LENGTH

SOURCE = "en"  # English texts are the msgids
LANGUAGE_NAMES = {"vi": "Vietnamese", "en": "English", "id": "Indonesian"}
DEFAULT_MAX_LENGTH = 1000  # a text question without a string-length constraint
METADATA = frozenset((
    "start", "end", "today", "deviceid", "subscriberid", "simserial", "phonenumber", "username",
    "email", "audit", "imei", "start-geopoint", "background-audio",
))  # fmt: skip
SUPPORTED = "select_one, select_multiple, integer constrained to 1..N, text"
SURVEY_COLUMNS = ("type", "name", "label", "hint", "required", "relevant", "constraint", "disabled")
# Presentation only, or messages the service writes itself: read past, never an error.
IGNORED_COLUMNS = (
    "appearance", "constraint_message", "required_message", "guidance_hint",
    "jr:constraintmsg", "jr:requiredmsg",
)  # fmt: skip
TRANSLATED = ("label", "hint", "form_title", *IGNORED_COLUMNS)
MEDIA = ("image", "big-image", "audio", "video")
GROUP_TYPES = {"begin", "end", "begin_group", "end_group", "begin_repeat", "end_repeat"}
YES = {"yes", "true", "true()", "1"}
NO = {"", "no", "false", "false()", "0"}
QUESTION_KEYS = (
    "id", "kind", "text", "required", "hint", "scale", "labels", "max_length", "show_if", "options",
)  # fmt: skip

_LANGUAGE = re.compile(r"^(?P<name>.*?)\s*\((?P<code>[^()]*)\)\s*$")
_NAME = r"\$\{\s*([^{}\s]+)\s*\}"
_QUOTED = r"""'[^']*'|"[^"]*\""""
_COMPARE = re.compile(rf"^\s*{_NAME}\s*(<=|>=|!=|==|=|<|>)\s*(-?\d+(?:\.\d+)?|{_QUOTED})\s*$")
_SELECTED = re.compile(rf"^\s*selected\s*\(\s*{_NAME}\s*,\s*({_QUOTED})\s*\)\s*$")
_BOUND = r"\.\s*(>=|>|<=|<)\s*(\d+)"
_RANGE = re.compile(rf"^\s*{_BOUND}\s+and\s+{_BOUND}\s*$")
_LENGTH = re.compile(r"^\s*string-length\s*\(\s*\.\s*\)\s*(<=|<)\s*(\d+)\s*$")
_QUESTION_PLACE = re.compile(r"^questions\[(\d+)\](?: \(id [^)]*\))?\.?(?P<field>[a-z_]*)")
# The loader's field names, in the sheet's words.
_COLUMN_OF = {
    "id": "name", "kind": "type", "text": "label", "options": "choices", "scale": "choices",
    "labels": "choices", "max_length": "constraint", "show_if": "relevant",
}  # fmt: skip

Rows = list[tuple[int, tuple[Any, ...]]]


@dataclass(frozen=True)
class XLSFormProblem:
    """One thing the workbook asks for that a questionnaire cannot hold, and where."""

    sheet: str | None  # "survey", "choices", "settings"; None: the workbook or the arguments
    row: int | None  # the spreadsheet's row number (1 is the header); None: the whole sheet
    reason: str

    def __str__(self) -> str:
        if self.sheet is None:
            return self.reason
        if self.row is None:
            return f"sheet '{self.sheet}': {self.reason}"
        return f"sheet '{self.sheet}', row {self.row}: {self.reason}"


class XLSFormError(ValueError):
    """The workbook cannot be converted; ``problems`` lists every reason."""

    def __init__(self, path: str | Path, problems: Sequence[XLSFormProblem]) -> None:
        self.path = str(path)
        self.problems = list(dict.fromkeys(problems))
        count = len(self.problems)
        heading = f"{count} problem{'s' if count != 1 else ''} in the XLSForm {self.path}:"
        super().__init__("\n".join([heading, *(f"  {p}" for p in self.problems)]))


@dataclass(frozen=True)
class Conversion:
    """A converted XLSForm.

    Attributes
    ----------
    questionnaire:
        The questionnaire as the loader reads ``toml`` back (``source`` is None).
    toml:
        The questionnaire file's text.
    translations:
        ``{locale: {msgid: msgstr}}``: every text of the questionnaire in every
        locale (English maps each msgid to itself).
    notes:
        What was read past without being an error (metadata and disabled rows).
    """

    questionnaire: Questionnaire
    toml: str
    translations: Mapping[str, Mapping[str, str]]
    notes: tuple[str, ...] = ()


def convert(
    path: str | Path,
    questionnaire_id: str,
    version: int,
    *,
    locales: Sequence[str] = DEFAULT_LOCALES,
) -> Conversion:
    """Read the workbook at ``path``; raise ``XLSFormError`` listing every problem."""
    path = Path(path)
    work = _Converter(locales)
    raw = _read(path)
    if isinstance(raw, XLSFormProblem):
        raise XLSFormError(path, [raw])
    work.default(raw.get("settings", []))
    title = work.title(work.sheet("settings", raw["settings"]) if "settings" in raw else None)
    if "survey" not in raw:
        work.refuse("survey", None, "missing")
        raise XLSFormError(path, work.problems)
    choices = work.sheet("choices", raw["choices"]) if "choices" in raw else None
    questions, rows = _Survey(work, work.sheet("survey", raw["survey"]), choices).questions()
    if not questions and not work.problems:
        work.refuse("survey", None, "no question to import")
    if work.problems:
        raise XLSFormError(path, work.problems)
    data = {"id": questionnaire_id, "version": version, "title": title, "questions": questions}
    toml = to_toml(data, f"the XLSForm {path.name}", rows)
    questionnaire, problems = parse(toml, f"{questionnaire_id}.toml")
    if questionnaire is None:
        for problem in problems:
            work.refuse(*_sheet_place(problem.location, problem.reason, rows, work.settings_row))
        raise XLSFormError(path, work.problems)
    used = {msgid for _, msgid in questionnaire.msgids()}
    translations = {
        locale: {msgid: text for msgid, text in texts.items() if msgid in used}
        for locale, texts in work.translations.items()
    }
    questionnaire = dataclasses.replace(questionnaire, source=None)
    return Conversion(questionnaire, toml, translations, tuple(work.notes))


def _read(path: Path) -> dict[str, Rows] | XLSFormProblem:
    """Every sheet's rows by lower-case sheet name, numbered as the spreadsheet shows them."""
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = load_workbook(path, data_only=True)
    # SyntaxError: the XML parsers' errors (ElementTree's ParseError, lxml's) derive from it.
    except (
        OSError,
        zipfile.BadZipFile,
        InvalidFileException,
        KeyError,
        ValueError,
        SyntaxError,
    ) as e:
        return XLSFormProblem(None, None, f"{path} cannot be read as an .xlsx workbook ({e})")
    try:
        sheets: dict[str, Rows] = {}
        for sheet in workbook.worksheets:
            rows = list(enumerate(sheet.iter_rows(values_only=True), start=1))
            sheets.setdefault(sheet.title.strip().lower(), rows)
        return sheets
    finally:
        workbook.close()


def _text(value: object) -> str:
    """A cell as text: numbers without a spurious ``.0``, surrounding blanks removed."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _language(text: str, locales: Sequence[str]) -> tuple[str | None, str]:
    """``English (en)`` (or ``en``, or ``English``) -> ("en", ""); else (None, why not)."""
    match = _LANGUAGE.match(text)
    code = match["code"].strip() if match else text.strip()
    if not match and code.lower() == "english":
        code = SOURCE
    if not match and code not in locales:
        return None, f"language '{text}' names no code; write it like English (en)"
    if code not in locales:
        return None, f"language '{text}' is not one of {', '.join(locales)}"
    return code, ""


@dataclass
class _Sheet:
    name: str
    plain: dict[str, int]  # column -> index
    texts: dict[str, dict[str, int]]  # translated column -> {locale: index}
    others: list[tuple[str, int]]  # columns that hold nothing a questionnaire can
    rows: Rows

    def value(self, row: tuple[Any, ...], column: str) -> str:
        index = self.plain.get(column)
        return _text(row[index]) if index is not None and index < len(row) else ""

    def translated(self, row: tuple[Any, ...], column: str) -> dict[str, str]:
        cells = {locale: row[i] for locale, i in self.texts.get(column, {}).items() if i < len(row)}
        return {locale: text for locale, cell in cells.items() if (text := _text(cell))}

    def unmapped(self, number: int, row: tuple[Any, ...]) -> list[XLSFormProblem]:
        return [
            XLSFormProblem(self.name, number, f"column '{column}' cannot be mapped")
            for column, index in self.others
            if index < len(row) and _text(row[index])
        ]


class _Converter:
    """The problems, notes and texts found so far, and the sheets' columns."""

    def __init__(self, locales: Sequence[str]) -> None:
        self.locales = tuple(dict.fromkeys((*locales, SOURCE)))
        self.problems: list[XLSFormProblem] = []
        self.notes: list[str] = []
        self.translations: dict[str, dict[str, str]] = {locale: {} for locale in self.locales}
        self.first_seen: dict[str, tuple[str, int]] = {}
        self.no_column: set[tuple[str, str, str]] = set()  # (sheet, column, locale) reported
        self.default_language = SOURCE
        self.settings_row = 2

    def refuse(self, sheet: str | None, row: int | None, reason: str) -> None:
        self.problems.append(XLSFormProblem(sheet, row, reason))

    def default(self, rows: Rows) -> None:
        """Which language a plain ``label`` column holds: default_language, else English."""
        header = [_text(cell).lower() for cell in rows[0][1]] if rows else []
        data = [(n, row) for n, row in rows[1:] if any(map(_text, row))]
        if "default_language" not in header or not data:
            return
        number, row = data[0]
        index = header.index("default_language")
        language = _text(row[index]) if index < len(row) else ""
        if language:
            code, why = _language(language, self.locales)
            if code is None:
                self.refuse("settings", number, f"default_language: {why}")
            else:
                self.default_language = code

    def sheet(self, name: str, rows: Rows) -> _Sheet:
        """The header's columns (refusing languages it cannot map) and the non-empty rows."""
        header = rows[0][1] if rows else ()
        sheet = _Sheet(name, {}, {}, [], [(n, r) for n, r in rows[1:] if any(map(_text, r))])
        for index, cell in enumerate(header):
            raw = _text(cell)
            base, _, language = raw.partition("::")
            base = base.strip().lower()
            if base == "media":
                base, _, language = language.partition("::")
                base = base.strip().lower()
            base = "list_name" if base == "list name" else base
            if not raw:
                continue
            if base in MEDIA or (language and base not in TRANSLATED):
                sheet.others.append((raw, index))
            elif base not in TRANSLATED:
                sheet.plain.setdefault(base, index)
            else:
                code, why = (
                    _language(language, self.locales) if language else (self.default_language, "")
                )
                columns = sheet.texts.setdefault(base, {})
                if code is None:
                    self.refuse(name, 1, f"column '{raw}': {why}")
                elif code in columns:
                    first = _text(header[columns[code]])
                    self.refuse(
                        name, 1, f"columns '{first}' and '{raw}' both give the {code} {base}"
                    )
                else:
                    columns[code] = index
        return sheet

    def need_languages(self, sheet: _Sheet, column: str) -> None:
        """One header problem per shipped locale without a ``column`` column."""
        for code in self.locales:
            if (
                code not in sheet.texts.get(column, {})
                and (key := (sheet.name, column, code)) not in self.no_column
            ):
                self.no_column.add(key)
                name = LANGUAGE_NAMES.get(code, code)
                self.refuse(
                    sheet.name, 1, f"no {column} column for {code} ({column}::{name} ({code}))"
                )

    def text(
        self, sheet: str, row: int, column: str, found: dict[str, str], *, required: bool = True
    ) -> str | None:
        """The msgid of a translated cell, its translations recorded; None if incomplete."""
        if not found:
            if required:
                self.refuse(sheet, row, f"no {column}")
            return None
        for locale, value in found.items():
            if "${" in value:
                self.refuse(sheet, row, f"{column} ({locale}) shows an answer with ${{...}}")
                return None
        if SOURCE not in found:
            self.refuse(sheet, row, f"{column} has no English text (English texts are msgids)")
            return None
        missing = [
            locale
            for locale in self.locales
            if locale not in found and (sheet, column, locale) not in self.no_column
        ]
        if missing:
            self.refuse(sheet, row, f"{column} has no {', '.join(missing)} translation")
        if len(found) < len(self.locales):
            return None
        return self.add(sheet, row, found[SOURCE], found)

    def add(self, sheet: str, row: int, msgid: str, found: Mapping[str, str]) -> str | None:
        """Record ``msgid``'s translations; refuse a second, different translation of it."""
        clashes = [
            f"{locale} '{found[locale]}' here but '{known}'"
            for locale in self.locales
            if (known := self.translations[locale].get(msgid)) not in (None, found[locale])
        ]
        if clashes:
            where, line = self.first_seen[msgid]
            self.refuse(
                sheet,
                row,
                f"'{msgid}' is translated {'; '.join(clashes)} in sheet '{where}', row {line} "
                "(one translation per text and language)",
            )
            return None
        self.first_seen.setdefault(msgid, (sheet, row))
        for locale in self.locales:
            self.translations[locale][msgid] = found[locale]
        return msgid

    def title(self, sheet: _Sheet | None) -> str | None:
        if sheet is None or not sheet.rows:
            self.refuse("settings", None, "missing (its form_title is the questionnaire's title)")
            return None
        self.settings_row, row = sheet.rows[0]
        self.need_languages(sheet, "form_title")
        return self.text(
            "settings", self.settings_row, "form_title", sheet.translated(row, "form_title")
        )


def _sheet_place(
    location: str, reason: str, rows: list[int], settings_row: int
) -> tuple[str | None, int | None, str]:
    """A loader problem in the sheet's words: which row, which column."""
    match = _QUESTION_PLACE.match(location)
    if match and int(match[1]) < len(rows):
        column = _COLUMN_OF.get(match["field"], match["field"] or "row")
        return "survey", rows[int(match[1])], f"{column}: {reason}"
    if location == "title":
        return "settings", settings_row, f"form_title: {reason}"
    return None, None, f"questionnaire {location}: {reason}"


class _Survey:
    """The survey sheet, row by row, into the loader's question tables."""

    def __init__(self, work: _Converter, sheet: _Sheet, choices: _Sheet | None) -> None:
        self.work, self.sheet, self.choices = work, sheet, choices
        self.lists: dict[str, Rows] = {}
        if choices is not None:
            for number, row in choices.rows:
                self.lists.setdefault(choices.value(row, "list_name"), []).append((number, row))
        self.checked: set[tuple[str, bool]] = set()  # (list, as a rating) checked already
        self.kinds: dict[str, tuple[str, int]] = {}  # earlier question name -> (kind, row)
        self.skipped: set[str] = set()
        known = (*SURVEY_COLUMNS, *IGNORED_COLUMNS)
        sheet.others += [(column, i) for column, i in sheet.plain.items() if column not in known]

    def questions(self) -> tuple[list[dict[str, Any]], list[int]]:
        """The question tables, and the sheet row of each."""
        for column in ("type", "name"):
            if column not in self.sheet.plain:
                self.work.refuse("survey", 1, f"no '{column}' column")
        self.work.need_languages(self.sheet, "label")
        if "type" not in self.sheet.plain:
            return [], []
        built: list[dict[str, Any]] = []
        rows: list[int] = []
        for number, row in self.sheet.rows:
            question = self.question(number, row)
            if question is not None:
                built.append({key: question[key] for key in QUESTION_KEYS if key in question})
                rows.append(number)
        return built, rows

    def question(self, number: int, row: tuple[Any, ...]) -> dict[str, Any] | None:
        sheet, work = self.sheet, self.work
        words = sheet.value(row, "type").split()
        if words[:1] == ["select"] and words[1:2] in (["one"], ["multiple"]):
            words = [f"select_{words[1]}", *words[2:]]
        kind, name = (words[0].lower() if words else ""), sheet.value(row, "name")
        if sheet.value(row, "disabled").lower() in YES:
            work.notes.append(f"sheet 'survey', row {number}: disabled, skipped")
            return None
        if kind in METADATA and len(words) == 1:
            work.notes.append(f"sheet 'survey', row {number}: metadata '{kind}' skipped")
            self.skipped.add(name)
            return None
        if reason := _type_problem(kind, words):
            work.refuse("survey", number, reason)
            return None
        before = len(work.problems)
        work.problems.extend(sheet.unmapped(number, row))
        if not name:
            work.refuse("survey", number, "no name")
        elif not CODE.match(name):
            work.refuse(
                "survey",
                number,
                f"name '{name}' must be lower-case letters, digits and '_', from a letter",
            )
        elif name in self.kinds:
            work.refuse(
                "survey", number, f"name '{name}' is also used in row {self.kinds[name][1]}"
            )
        question: dict[str, Any] = {
            "id": name,
            "text": work.text("survey", number, "label", sheet.translated(row, "label")),
            "hint": work.text(
                "survey", number, "hint", sheet.translated(row, "hint"), required=False
            ),
        }
        required = sheet.value(row, "required").lower()
        if required not in YES | NO:
            work.refuse("survey", number, f"required must be yes or no, not '{required}'")
        if required in YES:
            question["required"] = True
        constraint = sheet.value(row, "constraint")
        if kind.startswith("select"):
            self.select(number, kind, words[1], question)
            if constraint:
                work.refuse("survey", number, f"constraint on a {kind} cannot be mapped")
        elif kind == "integer":
            self.integer(number, constraint, question)
        else:
            self.text(number, constraint, question)
        if relevant := sheet.value(row, "relevant"):
            question["show_if"] = self.condition(number, relevant)
        if len(work.problems) > before:
            return None
        self.kinds[name] = (question["kind"], number)
        return {key: value for key, value in question.items() if value is not None}

    def select(self, number: int, kind: str, list_name: str, question: dict[str, Any]) -> None:
        work, choices = self.work, self.choices
        if choices is None or list_name not in self.lists:
            work.refuse("survey", number, f"unknown choice list '{list_name}'")
            return
        work.need_languages(choices, "label")
        entries = [(n, choices.value(row, "name"), row) for n, row in self.lists[list_name]]
        scale = len(entries)
        rating = kind == "select_one" and sorted(n for _, n, _ in entries) == sorted(
            str(point) for point in range(1, scale + 1)
        )
        check = (list_name, rating) not in self.checked
        self.checked.add((list_name, rating))
        seen: dict[str, int] = {}
        options = []
        for row, name, cells in entries:
            label = work.text("choices", row, "label", choices.translated(cells, "label"))
            if check:
                work.problems.extend(choices.unmapped(row, cells))
            if check and name in seen:
                work.refuse("choices", row, f"choice name '{name}' is also in row {seen[name]}")
            elif check and not rating and not CODE.match(name):
                work.refuse(
                    "choices",
                    row,
                    f"choice name '{name}' must be lower-case letters, digits "
                    "and '_', from a letter",
                )
            seen.setdefault(name, row)
            options.append((name, label))
        if rating:
            labels = [label for _, label in sorted(options, key=lambda option: int(option[0]))]
            question.update(kind="rating", scale=scale, labels=labels)
        else:
            question["kind"] = "choice" if kind == "select_one" else "multi"
            question["options"] = [{"value": value, "label": label} for value, label in options]

    def integer(self, number: int, constraint: str, question: dict[str, Any]) -> None:
        """A rating whose points are labelled with their numbers: the sheet names none."""
        match = _RANGE.match(constraint)
        bounds = {}
        for op, value in (match.groups()[:2], match.groups()[2:]) if match else ():
            bounds["low" if op.startswith(">") else "high"] = int(value) + (op == ">") - (op == "<")
        if len(bounds) != 2 or bounds["low"] != 1 or bounds["high"] < 2:
            self.work.refuse(
                "survey",
                number,
                "an integer maps to a rating only when constrained to 1..N, like "
                f"'. >= 1 and . <= 5' (constraint: '{constraint}')",
            )
            return
        labels = [str(point) for point in range(1, bounds["high"] + 1)]
        for label in labels:
            self.work.add("survey", number, label, dict.fromkeys(self.work.locales, label))
        question.update(kind="rating", scale=len(labels), labels=labels)

    def text(self, number: int, constraint: str, question: dict[str, Any]) -> None:
        question.update(kind="text", max_length=DEFAULT_MAX_LENGTH)
        if not constraint:
            return
        match = _LENGTH.match(constraint)
        if match is None:
            self.work.refuse(
                "survey",
                number,
                f"constraint '{constraint}' cannot be mapped (a text takes "
                "'string-length(.) <= N' only)",
            )
            return
        limit = int(match[2]) - (match[1] == "<")
        if not 1 <= limit <= MAX_TEXT_LENGTH:
            self.work.refuse(
                "survey", number, f"a text's length limit must be 1 to {MAX_TEXT_LENGTH}"
            )
        question["max_length"] = limit

    def condition(self, number: int, relevant: str) -> dict[str, Any] | None:
        """``show_if`` for ``${q} <= 3`` (any of = == != < <= > >=) or ``selected(${q}, 'x')``."""
        compare, selected = _COMPARE.match(relevant), _SELECTED.match(relevant)
        if compare:
            target, op, literal = compare.groups()
        elif selected:
            (target, literal), op = selected.groups(), "selected"
        else:
            self.work.refuse(
                "survey",
                number,
                f"relevant '{relevant}' cannot be mapped (only ${{q}} <= 3 "
                "style comparisons and selected(${q}, 'x'))",
            )
            return None
        if target in self.skipped:
            self.work.refuse("survey", number, f"relevant tests ${{{target}}}, not a question")
            return None
        kind = self.kinds.get(target, ("", 0))[0]
        value: Any = literal[1:-1] if literal[0] in "'\"" else _number(literal)
        if kind == "rating" and isinstance(value, str) and re.fullmatch(r"-?\d+", value):
            value = int(value)
        elif kind in ("choice", "multi"):
            value = _text(value)
        if kind == "multi" and op != "selected":
            self.work.refuse(
                "survey",
                number,
                f"relevant: test a select_multiple with selected(${{{target}}}, 'x')",
            )
            return None
        if op == "selected":
            op = "contains" if kind == "multi" else "=="
        return {"question": target, "op": "==" if op == "=" else op, "value": value}


def _type_problem(kind: str, words: list[str]) -> str | None:
    """Why a row's type cannot be mapped, or None."""
    if not kind:
        return "no type"
    if kind in GROUP_TYPES:
        what = "repeats" if any("repeat" in word for word in words) else "groups"
        return f"{what} cannot be mapped (a questionnaire is one flat list of questions)"
    if kind in ("select_one", "select_multiple") and len(words) != 2:
        if "or_other" in words:
            return "or_other cannot be mapped (add an 'other' choice and a text question)"
        return f"type '{' '.join(words)}' needs one choice list name"
    if kind not in ("select_one", "select_multiple", "integer", "text") or (
        kind in ("integer", "text") and len(words) > 1
    ):
        return f"type '{' '.join(words)}' cannot be mapped (supported: {SUPPORTED})"
    return None


def _number(text: str) -> int | float:
    value = float(text)
    return int(value) if value.is_integer() else value


# -- the TOML file ----------------------------------------------------------------------------


def _toml(value: object) -> str:
    """A TOML value: strings as basic strings (JSON's escapes are TOML escapes)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(map(_toml, value)) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{key} = {_toml(v)}" for key, v in value.items()) + " }"
    raise TypeError(f"no TOML for {value!r}")


def to_toml(data: Mapping[str, Any], origin: str, rows: Sequence[int] = ()) -> str:
    """The questionnaire file for ``data`` (the loader's fields), laid out like the shipped ones.

    ``rows``: the survey sheet's row of each question, noted above it.
    """
    lines = [
        f"# Imported from {' '.join(origin.split())}",
        "# by `survey questionnaire import-xlsform`.",
        "# Texts are English gettext msgids; their translations live in locales/.",
        "# Changing anything here means a new `version`: every response records the",
        "# version it answered, and start-up refuses a served version whose content changed.",
    ]
    lines.extend(f"{key} = {_toml(data[key])}" for key in ("id", "version", "title"))
    for index, question in enumerate(data["questions"]):
        lines.append("")
        if index < len(rows):
            lines.append(f"# survey row {rows[index]}")
        lines.append("[[questions]]")
        for key, value in question.items():
            if key == "options":
                lines.append("options = [")
                lines.extend(f"    {_toml(option)}," for option in value)
                lines.append("]")
            else:
                lines.append(f"{key} = {_toml(value)}")
    return "\n".join(lines) + "\n"
