"""Content security policies: the strict one, and the citizen page's, framable by its portals.

The strict policy allows only this origin's styles, scripts and images (plus
``data:`` for the empty favicon), no plugins, no ``<base>``, forms only to
this origin, and no framing. An agency registers the origins of its portals
(``frame_origins``) that may show its questionnaire in an iframe.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache

log = logging.getLogger("survey")

BASE_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "form-action 'self'; base-uri 'none'; object-src 'none'"
)
ORIGIN = re.compile(r"https?://(\*\.)?[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d{1,5})?")


def policy(frame_ancestors: str) -> str:
    return f"{BASE_POLICY}; frame-ancestors {frame_ancestors}"


def parse_origins(text: str) -> list[str]:
    """Origins from a space-separated list; ValueError names the first malformed one."""
    origins = []
    for origin in text.split():
        origin = origin.rstrip("/").lower()
        if not ORIGIN.fullmatch(origin):
            raise ValueError(
                f"{origin!r} is not an origin like https://portal.example.gov (no path, no quotes)"
            )
        origins.append(origin)
    return origins


def embedding_policy(frame_origins: str | None, agency: str = "") -> str:
    """The citizen page: framable by this site and the agency's registered portals.

    A stored list that does not parse (``/admin`` saves any text) frames by this
    site only, and is logged once per process without its content.
    """
    if frame_origins is None:
        # No invitation behind the page (unknown token): nothing to protect, any portal may show it.
        return policy("*")
    return policy(" ".join(["'self'", *_stored_origins(frame_origins, agency)]))


@lru_cache(maxsize=256)
def _stored_origins(frame_origins: str, agency: str) -> tuple[str, ...]:
    try:
        return tuple(parse_origins(frame_origins))
    except ValueError:
        # The value may hold anything an admin pasted (a URL with a password, a token):
        # say where it is and how to fix it, never what it is.
        log.warning(
            "agency %r: stored frame_origins is not a list of origins like "
            "https://portal.example.gov; its questionnaire may be framed by this site only "
            "until it is corrected in /admin",
            agency,
        )
        return ()
