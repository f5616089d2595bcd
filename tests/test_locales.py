"""Every user-facing string is translated in every shipped locale.

The messages are extracted afresh from the sources (Python, templates and
questionnaire files, exactly as ``make messages`` does), so a new string
fails this test until each catalog translates it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from survey_app.lib.settings import SUPPORTED_LOCALES

REPO = Path(__file__).resolve().parent.parent


def source_messages() -> dict[str, str]:
    with (REPO / "babel.cfg").open() as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    found: dict[str, str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(REPO),
        method_map,
        options_map,
        keywords={**DEFAULT_KEYWORDS, "N_": None},
    ):
        # A plural message is one catalog entry, keyed by its singular.
        msgid = message if isinstance(message, str) else message[0]
        if msgid:
            found.setdefault(msgid, f"{filename}:{lineno}")
    return found


@pytest.fixture(scope="module")
def messages() -> dict[str, str]:
    found = source_messages()
    assert len(found) > 40  # the extraction itself works
    return found


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_every_message_is_translated(messages, locale):
    with (REPO / "locales" / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    problems = []
    for msgid, where in sorted(messages.items()):
        entry = catalog.get(msgid)
        if entry is None:
            problems.append(f"{where}: not in the {locale} catalog: {msgid!r}")
        elif entry.fuzzy or not entry.string or not all(entry.string):
            problems.append(f"{where}: untranslated or fuzzy in {locale}: {msgid!r}")
    for entry, errors in catalog.check():
        problems.extend(f"{locale}: {entry.id!r}: {error}" for error in errors)
    assert not problems, "\n".join(problems)


def test_translations_differ_from_english_where_they_should(messages):
    """A catalog filled with English by mistake would pass the test above."""
    for locale in ("vi", "id"):
        with (REPO / "locales" / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
            catalog = read_po(handle, locale=locale)
        same = [m.id for m in catalog if m.id and m.id == m.string]
        assert len(same) <= len(catalog) // 10, (locale, same)
