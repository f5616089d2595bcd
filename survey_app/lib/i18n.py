"""Gettext catalogs, locale negotiation (per request) and locale-aware formatting.

Catalogs are loaded once per app from ``locales/<lang>/LC_MESSAGES/messages.mo``.
Templates receive the request's locale as the ``locale`` variable and the
gettext callables read it from the render context, so one request's
language can never leak into another's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal, format_percent
from babel.support import Translations
from jinja2 import Environment, pass_context
from jinja2.runtime import Context
from litestar import Request
from litestar.datastructures import Cookie

from survey_app.lib.settings import DEFAULT_LOCALE, SUPPORTED_LOCALES

DOMAIN = "messages"
LANGUAGE_NAMES = {"vi": "Tiếng Việt", "en": "English", "id": "Bahasa Indonesia"}
LANG_COOKIE = "lang"
LANG_COOKIE_AGE = 365 * 24 * 3600


def N_(message: str) -> str:
    """Mark ``message`` for extraction; it is translated later, where the locale is known."""
    return message


class CatalogError(RuntimeError):
    """A shipped catalog is missing or was not compiled."""


class Catalogs:
    """The compiled translations of every supported locale, loaded once."""

    def __init__(self, locales_dir: Path, locales: Sequence[str] = SUPPORTED_LOCALES) -> None:
        self.locales = tuple(locales)
        self._translations: dict[str, Translations] = {}
        for locale in self.locales:
            mo = locales_dir / locale / "LC_MESSAGES" / f"{DOMAIN}.mo"
            if not mo.is_file():
                raise CatalogError(
                    f"compiled catalog {mo} is missing: run "
                    f"`pybabel compile -d {locales_dir} -D {DOMAIN}` (make does it for you)"
                )
            with mo.open("rb") as handle:
                self._translations[locale] = Translations(handle, domain=DOMAIN)

    def get(self, locale: str) -> Translations:
        return self._translations.get(locale) or self._translations[DEFAULT_LOCALE]

    def gettext(self, locale: str, message: str, **params: object) -> str:
        text = self.get(locale).gettext(message)
        return text % params if params else text

    def install(self, env: Environment) -> None:
        """Give a Jinja environment per-render gettext and formatting helpers."""

        @pass_context
        def gettext(context: Context, message: str, **params: object) -> str:
            return self.gettext(context.get("locale", DEFAULT_LOCALE), message, **params)

        @pass_context
        def ngettext(context: Context, singular: str, plural: str, n: int, **params: object) -> str:
            translations = self.get(context.get("locale", DEFAULT_LOCALE))
            return translations.ngettext(singular, plural, n) % {"num": n, **params}

        env.add_extension("jinja2.ext.i18n")
        env.globals.update(_=gettext, gettext=gettext, ngettext=ngettext)
        env.filters.update(
            date=pass_context(lambda c, v: format_date(v, "long", locale=c.get("locale"))),
            datetime=pass_context(
                lambda c, v: format_datetime(v, "medium", locale=c.get("locale"))
            ),
            number=pass_context(lambda c, v: format_decimal(v, locale=c.get("locale"))),
            percent=pass_context(lambda c, v: format_percent(v, locale=c.get("locale"))),
        )


def parse_accept_language(header: str | None) -> list[str]:
    """Language tags of an ``Accept-Language`` header, most preferred first."""
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip()
        if not tag or tag == "*":
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            weighted.append((-quality, position, tag))
    return [tag for _, _, tag in sorted(weighted)]


def supported(value: str | None, locales: Iterable[str] = SUPPORTED_LOCALES) -> str | None:
    """``value`` if it names a supported locale (``en-US`` counts as ``en``), else None."""
    if not value:
        return None
    try:
        language = Locale.parse(value.strip(), sep="-" if "-" in value else "_").language
    except (ValueError, UnknownLocaleError):
        return None
    return language if language in tuple(locales) else None


def negotiate(query: str | None, cookie: str | None, accept_language: str | None) -> str:
    """``?lang=``, then the cookie, then ``Accept-Language``, then ``vi``."""
    for candidate in (query, cookie, *parse_accept_language(accept_language)):
        locale = supported(candidate)
        if locale:
            return locale
    return DEFAULT_LOCALE


def request_locale(request: Request, explicit: str | None = None) -> str:
    return negotiate(
        explicit or request.query_params.get("lang"),
        request.cookies.get(LANG_COOKIE),
        request.headers.get("accept-language"),
    )


def language_links(path: str) -> list[tuple[str, str, str]]:
    return [(code, LANGUAGE_NAMES[code], f"{path}?lang={code}") for code in SUPPORTED_LOCALES]


def lang_cookies(request: Request, locale: str) -> list[Cookie]:
    """Remember an explicit choice; harmless where third-party cookies are blocked."""
    if supported(request.query_params.get("lang")) and request.cookies.get(LANG_COOKIE) != locale:
        return [Cookie(key=LANG_COOKIE, value=locale, max_age=LANG_COOKIE_AGE, samesite="lax")]
    return []
