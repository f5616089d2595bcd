"""Problems found in questionnaire files, and the error that carries them all."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass


def quoted(value: object) -> str:
    """A value as it would be written in the file: ``"overal"``, ``3``, ``["a", "b"]``."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


@dataclass(frozen=True)
class Problem:
    """One reason a file does not validate, and where."""

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


class Collector:
    """The problems of one file, and the texts found so far (for the translation check)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.problems: list[Problem] = []
        self.texts: list[tuple[str, str]] = []

    def add(self, location: str, reason: str) -> None:
        self.problems.append(Problem(self.path, location, reason))

    def text(self, data: dict, key: str, where: str, *, required: bool = True) -> str | None:
        place = f"{where}.{key}" if where else key
        value = data.get(key)
        if value is None:
            if required:
                self.add(place, "missing")
            return None
        return self.string(value, place)

    def string(self, value: object, place: str) -> str | None:
        if not isinstance(value, str) or not value.strip():
            self.add(place, f"must be a non-empty string, not {quoted(value)}")
            return None
        self.texts.append((place, value))
        return value

    def unknown_keys(self, data: dict, allowed: Sequence[str], where: str) -> None:
        for key in sorted(set(data) - set(allowed), key=str):
            place = f"{where}.{key}" if where else str(key)
            self.add(place, f"unknown field (expected {', '.join(allowed)})")
