"""The translation check: every text of a questionnaire in every shipped catalog."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import PoFileError, read_po

from questionnaires.problems import Collector, quoted


class Catalogs:
    """The shipped ``.po`` catalogs, read once per load; None skips the translation check."""

    def __init__(self, locales_dir: Path | None, locales: Sequence[str]) -> None:
        self.locales_dir = locales_dir
        self.locales = tuple(locales)
        self._read: dict[str, Catalog | str] = {}

    def _catalog(self, locale: str) -> Catalog | str:
        """The catalog, or why it cannot be used."""
        if locale not in self._read:
            assert self.locales_dir is not None
            po = self.locales_dir / locale / "LC_MESSAGES" / "messages.po"
            try:
                with po.open("rb") as handle:
                    self._read[locale] = read_po(handle, locale=locale, abort_invalid=True)
            except OSError as error:
                self._read[locale] = f"{po} cannot be read ({error.strerror or error})"
            except (PoFileError, ValueError) as error:
                self._read[locale] = f"{po} is not a valid catalog ({error})"
        return self._read[locale]

    def check(self, check: Collector) -> None:
        if self.locales_dir is None or not check.texts:
            return
        for locale in self.locales:
            catalog = self._catalog(locale)
            if isinstance(catalog, str):
                check.add(f"catalog {locale}", catalog)
                continue
            for location, msgid in check.texts:
                entry = catalog.get(msgid)
                if entry is None:
                    check.add(
                        location, f"text {quoted(msgid)} is missing from the {locale} catalog"
                    )
                elif not entry.string or (
                    isinstance(entry.string, tuple | list) and not all(entry.string)
                ):
                    check.add(location, f"text {quoted(msgid)} has no {locale} translation")
                elif entry.fuzzy:
                    check.add(location, f"text {quoted(msgid)} is fuzzy in the {locale} catalog")
