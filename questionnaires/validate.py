"""The rules a questionnaire file must follow; every broken rule is collected, with its place."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from questionnaires.model import (
    CONDITION_OPS,
    OPS_BY_KIND,
    QUESTION_KINDS,
    REASON_CODES,
    Condition,
    Option,
    Question,
    Questionnaire,
    question_location,
)
from questionnaires.problems import Collector, quoted

SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
# Question ids and option values end up in form field names, CSS selectors and the database.
CODE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# Questions whose meaning the service and the statistics rely on.
OVERALL_ID, OVERALL_SCALE = "overall", 5
REASONS_ID = "reasons"
DEFAULT_SCALE, MAX_SCALE = 5, 11
MAX_TEXT_LENGTH = 10_000
TOP_KEYS = ("id", "version", "title", "intro", "questions")
QUESTION_KEYS = (
    "id", "kind", "text", "required", "hint", "options", "scale", "labels", "max_length", "show_if",
)  # fmt: skip
OPTION_KEYS = ("value", "label")
CONDITION_KEYS = ("question", "op", "value")


def build(data: dict[str, Any], path: Path | None, check: Collector) -> Questionnaire | None:
    check.unknown_keys(data, TOP_KEYS, "")
    qid = data.get("id")
    if qid is None:
        check.add("id", "missing")
    elif not isinstance(qid, str) or not SLUG.match(qid):
        check.add(
            "id", f"must be a slug (lower-case letters, digits, '-' and '_'), not {quoted(qid)}"
        )
    version = data.get("version")
    if version is None:
        check.add("version", "missing")
    elif not _int_between(version, 1, None):
        check.add("version", f"must be a positive integer, not {quoted(version)}")
    title = check.text(data, "title", "")
    intro = check.text(data, "intro", "", required=False)
    raw_questions = data.get("questions")
    if not isinstance(raw_questions, list) or not raw_questions:
        check.add("questions", "must be a non-empty list of [[questions]] tables")
        return None
    positions: dict[str, int] = {}
    for index, raw in enumerate(raw_questions):
        if isinstance(raw, dict) and isinstance(raw.get("id"), str):
            positions.setdefault(raw["id"], index)
    built: dict[str, Question] = {}
    questions: list[Question] = []
    for index, raw in enumerate(raw_questions):
        question = _question(raw, index, positions, built, check)
        if question is not None:
            built.setdefault(question.id, question)
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
    raw: Any,
    index: int,
    positions: dict[str, int],
    built: dict[str, Question],
    check: Collector,
) -> Question | None:
    """One question; None when it has a problem (every problem is reported)."""
    before = len(check.problems)
    if not isinstance(raw, dict):
        check.add(f"questions[{index}]", "must be a [[questions]] table")
        return None
    qid = raw.get("id")
    where = question_location(index, qid)
    if qid is None:
        check.add(f"{where}.id", "missing")
    elif not isinstance(qid, str) or not CODE.match(qid):
        check.add(
            f"{where}.id",
            f"must be lower-case letters, digits and '_', from a letter, not {quoted(qid)}",
        )
    elif positions[qid] != index:
        check.add(f"{where}.id", f"duplicate question id (also questions[{positions[qid]}])")
    check.unknown_keys(raw, QUESTION_KEYS, where)
    kind = raw.get("kind")
    if kind not in QUESTION_KINDS:
        expected = ", ".join(QUESTION_KINDS)
        reason = "missing" if kind is None else f"unknown question kind {quoted(kind)}"
        check.add(f"{where}.kind", f"{reason} (expected one of {expected})")
        kind = None
    text = check.text(raw, "text", where)
    hint = check.text(raw, "hint", where, required=False)
    required = raw.get("required", False)
    if not isinstance(required, bool):
        check.add(f"{where}.required", f"must be true or false, not {quoted(required)}")
    options = _options(raw, kind, where, check) if kind else ()
    max_length = raw.get("max_length")
    if kind == "text":
        if max_length is None:
            check.add(f"{where}.max_length", "missing (a text question needs a limit)")
        elif not _int_between(max_length, 1, MAX_TEXT_LENGTH):
            check.add(
                f"{where}.max_length",
                f"must be an integer from 1 to {MAX_TEXT_LENGTH}, not {quoted(max_length)}",
            )
    elif kind and max_length is not None:
        check.add(f"{where}.max_length", f"only text questions have max_length, not {kind}")
    if kind:
        _standard_question(qid, kind, options, where, check)
    show_if = _condition(raw.get("show_if"), index, where, positions, built, check)
    if len(check.problems) > before:
        return None
    return Question(
        id=qid,
        kind=kind,  # type: ignore[arg-type]
        text=text,  # type: ignore[arg-type]
        required=required,
        hint=hint,
        options=options,
        scale=len(options) if kind == "rating" else None,
        max_length=max_length if kind == "text" else None,
        show_if=show_if,
    )


def _standard_question(
    qid: object, kind: str, options: tuple[Option, ...], where: str, check: Collector
) -> None:
    """``overall`` and ``reasons`` are stored and analysed as such: hold them to the contract."""
    if qid == OVERALL_ID:
        if kind != "rating":
            check.add(f"{where}.kind", f'"overall" must be a rating question, not {kind}')
        elif options and len(options) != OVERALL_SCALE:
            check.add(
                f"{where}.scale",
                f'"overall" must be rated 1 to {OVERALL_SCALE} (statistics assume it), '
                f"not 1 to {len(options)}",
            )
    if qid == REASONS_ID:
        if kind != "multi":
            check.add(f"{where}.kind", f'"reasons" must be a multi question, not {kind}')
            return
        codes = [option.value for option in options]
        missing = [code for code in REASON_CODES if code not in codes]
        unknown = [code for code in codes if code not in REASON_CODES]
        if missing:
            check.add(f"{where}.options", f"missing reason codes: {', '.join(missing)}")
        if unknown:
            check.add(
                f"{where}.options",
                f"unknown reason codes: {', '.join(unknown)} "
                f"(the reason codes are {', '.join(REASON_CODES)})",
            )


def _int_between(value: object, low: int, high: int | None) -> bool:
    return (
        isinstance(value, int)
        and not isinstance(value, bool)
        and low <= value
        and (high is None or value <= high)
    )


def _options(raw: dict, kind: str, where: str, check: Collector) -> tuple[Option, ...]:
    if kind == "rating":
        return _rating_points(raw, where, check)
    for key in ("scale", "labels"):
        if key in raw:
            check.add(f"{where}.{key}", f"only rating questions have {key}, not {kind}")
    if kind == "text":
        if "options" in raw:
            check.add(f"{where}.options", "a text question has no options")
        return ()
    raw_options = raw.get("options")
    if raw_options is None:
        check.add(f"{where}.options", f"missing (a {kind} question needs at least 2 options)")
        return ()
    if not isinstance(raw_options, list) or len(raw_options) < 2:
        check.add(f"{where}.options", f"a {kind} question needs a list of at least 2 options")
        return ()
    options: list[Option] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(raw_options):
        place = f"{where}.options[{i}]"
        if not isinstance(item, dict):
            check.add(place, 'must be a table like { value = "code", label = "Text" }')
            continue
        check.unknown_keys(item, OPTION_KEYS, place)
        value = item.get("value")
        label = check.text(item, "label", place)
        if value is None:
            check.add(f"{place}.value", "missing")
            continue
        if not isinstance(value, str) or not CODE.match(value):
            check.add(
                f"{place}.value",
                f"must be a code (lower-case letters, digits and '_'), not {quoted(value)}",
            )
            continue
        if value in seen:
            check.add(
                f"{place}.value",
                f"duplicate option value {quoted(value)} (also options[{seen[value]}])",
            )
            continue
        seen[value] = i
        if label is not None:
            options.append(Option(value, label))
    return tuple(options)


def _rating_points(raw: dict, where: str, check: Collector) -> tuple[Option, ...]:
    if "options" in raw:
        check.add(f"{where}.options", "a rating has scale and labels, not options")
    scale, labels = raw.get("scale", DEFAULT_SCALE), raw.get("labels")
    if not _int_between(scale, 2, MAX_SCALE):
        check.add(
            f"{where}.scale", f"must be an integer from 2 to {MAX_SCALE}, not {quoted(scale)}"
        )
        return ()
    if not isinstance(labels, list) or len(labels) != scale:
        found = f"{len(labels)}" if isinstance(labels, list) else "none"
        check.add(f"{where}.labels", f"needs exactly {scale} labels, one per point ({found} given)")
        return ()
    points = [check.string(label, f"{where}.labels[{i}]") for i, label in enumerate(labels)]
    return tuple(Option(str(i + 1), label or "") for i, label in enumerate(points))


def _condition(
    raw: Any,
    index: int,
    where: str,
    positions: dict[str, int],
    built: dict[str, Question],
    check: Collector,
) -> Condition | None:
    if raw is None:
        return None
    place = f"{where}.show_if"
    if not isinstance(raw, dict):
        check.add(place, 'must be a table like { question = "overall", op = "<=", value = 3 }')
        return None
    check.unknown_keys(raw, CONDITION_KEYS, place)
    for key in CONDITION_KEYS:
        if key not in raw:
            check.add(f"{place}.{key}", "missing")
    target_id, op, value = raw.get("question"), raw.get("op"), raw.get("value")
    if op is not None and op not in CONDITION_OPS:
        check.add(
            f"{place}.op", f"unknown op {quoted(op)} (expected one of {', '.join(CONDITION_OPS)})"
        )
        op = None
    if target_id is None:
        return None
    if not isinstance(target_id, str) or target_id not in positions:
        check.add(f"{place}.question", f"unknown question {quoted(target_id)}")
        return None
    if positions[target_id] == index:
        check.add(f"{place}.question", "a question cannot depend on itself")
        return None
    if positions[target_id] > index:
        check.add(
            f"{place}.question",
            f"question {quoted(target_id)} comes later (questions[{positions[target_id]}]); "
            "a condition can only test an earlier question",
        )
        return None
    target = built.get(target_id)
    if target is None or op is None or "value" not in raw:
        return None  # the earlier question's own problems are reported already
    allowed = OPS_BY_KIND[target.kind]
    if op not in allowed:
        usable = f"use {', '.join(allowed)}" if allowed else "it cannot be tested"
        check.add(f"{place}.op", f"{quoted(op)} cannot test a {target.kind} question ({usable})")
        return None
    if op == "in":
        if not isinstance(value, list) or not value:
            check.add(
                f"{place}.value", f"'in' needs a non-empty list of values, not {quoted(value)}"
            )
            return None
        candidates = value
    else:
        candidates = [value]
    for candidate in candidates:
        if target.kind == "rating":
            scale = target.scale or 0
            if not _int_between(candidate, 1, scale):
                check.add(
                    f"{place}.value",
                    f"{quoted(candidate)} is not a point of the rating {quoted(target.id)} "
                    f"(an integer from 1 to {scale})",
                )
                return None
        elif candidate not in [o.value for o in target.options]:
            check.add(
                f"{place}.value",
                f"{quoted(candidate)} is not an option of {quoted(target.id)} "
                f"({', '.join(o.value for o in target.options)})",
            )
            return None
    return Condition(question=target.id, op=op, value=value)
