"""Babel extractor for questionnaire files, registered as the ``questionnaire`` method.

``babel.cfg``: ``[questionnaire: questionnaires/**.toml]``. Each text (title,
intro, question text, hint, option and rating labels) becomes a message
whose comment names the questionnaire and the place in the file. A file
that does not validate stops the extraction with ``QuestionnaireError``.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Mapping
from typing import IO, Any

from questionnaires.loader import QuestionnaireError, parse


def extract_questionnaire(
    fileobj: IO[bytes],
    keywords: Mapping[str, Any] | Collection[str],
    comment_tags: Collection[str],
    options: Mapping[str, Any],
) -> Iterator[tuple[int, str | None, str, list[str]]]:
    """Yield ``(lineno, funcname, message, comments)`` for every text of the file."""
    raw = fileobj.read()
    source = raw.decode(options.get("encoding", "utf-8-sig")) if isinstance(raw, bytes) else raw
    name = getattr(fileobj, "name", "<questionnaire>")
    questionnaire, problems = parse(source, name)
    if questionnaire is None:
        raise QuestionnaireError(problems)
    lines = source.splitlines()
    previous = 0
    for location, msgid in questionnaire.msgids():
        previous = _line_of(msgid, lines, previous)
        comment = f"questionnaire {questionnaire.id} v{questionnaire.version}, {location}"
        yield previous + 1, None, msgid, [comment]


def _line_of(msgid: str, lines: list[str], start: int) -> int:
    """Index of the line holding ``msgid``, first at or after ``start``.

    tomllib gives no line numbers, so search the text from ``start`` on,
    then from the top of the file: as a basic string, as a literal string,
    then bare (first line of a multi-line string); ``start`` if not found.
    """
    needles = [json.dumps(msgid, ensure_ascii=False), f"'{msgid}'"]
    first_line = msgid.splitlines()[0] if msgid.strip() else msgid
    needles.append(first_line)
    for begin in (start, 0):
        for needle in needles:
            for number in range(begin, len(lines)):
                if needle in lines[number]:
                    return number
    return start
