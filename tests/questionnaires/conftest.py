"""Temporary questionnaire files and gettext catalogs for the questionnaire tests."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po


@pytest.fixture
def write_toml(tmp_path: Path) -> Callable[..., Path]:
    def write(text: str, name: str = "q.toml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


@pytest.fixture
def make_catalogs(tmp_path: Path) -> Callable[..., Path]:
    """``make_catalogs({"vi": {msgid: msgstr}}, fuzzy={"vi": [...]})`` -> a locales dir."""

    def make(
        translations: dict[str, dict[str, str]], fuzzy: dict[str, Iterable[str]] | None = None
    ) -> Path:
        root = tmp_path / "locales"
        for locale, entries in translations.items():
            catalog = Catalog(locale=locale)
            flagged = set((fuzzy or {}).get(locale, ()))
            for msgid, msgstr in entries.items():
                catalog.add(msgid, msgstr, flags=("fuzzy",) if msgid in flagged else ())
            target = root / locale / "LC_MESSAGES"
            target.mkdir(parents=True)
            with (target / "messages.po").open("wb") as handle:
                write_po(handle, catalog)
        return root

    return make
