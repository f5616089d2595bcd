"""Babel extractor for questionnaire files (registered as the ``questionnaire`` method)."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from typing import IO, Any

from questionnaires.loader import QuestionnaireError, _build, _Collector


def extract_questionnaire(
    fileobj: IO[bytes], keywords: Any, comment_tags: Any, options: dict[str, Any]
) -> Iterator[tuple[int, str | None, str, list[str]]]:
    """Yield ``(lineno, funcname, message, comments)`` for every text of the file."""
    source = fileobj.read().decode("utf-8")
    data = tomllib.loads(source)
    check = _Collector(getattr(fileobj, "name", "<questionnaire>"))
    questionnaire = _build(data, None, check)  # type: ignore[arg-type]
    if questionnaire is None:
        raise QuestionnaireError(check.problems)
    lines = source.splitlines()
    line_index = 0
    for location, msgid in questionnaire.msgids():
        quoted = json.dumps(msgid, ensure_ascii=False)
        # tomllib gives no line numbers: find the string, scanning forward from the last hit.
        for number in range(line_index, len(lines)):
            if quoted in lines[number]:
                line_index = number
                break
        yield (
            line_index + 1,
            None,
            msgid,
            [f"questionnaire {questionnaire.id} v{questionnaire.version}, {location}"],
        )
