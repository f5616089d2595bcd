"""Content security policies: the strict one, and the citizen page's, framable by its portals.

The strict policy allows only this origin's styles, scripts and images (plus
``data:`` for the empty favicon), no plugins, no ``<base>``, forms only to
this origin, and no framing. An agency registers the origins of its portals
(``frame_origins``) that may show its questionnaire in an iframe.
"""

from __future__ import annotations

import re

BASE_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "form-action 'self'; base-uri 'none'; object-src 'none'"
)
ORIGIN = re.compile(r"^https?://(\*\.)?[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d{1,5})?$")


def policy(frame_ancestors: str) -> str:
    return f"{BASE_POLICY}; frame-ancestors {frame_ancestors}"


def parse_origins(text: str) -> list[str]:
    """Origins from a space-separated list; ValueError names the first malformed one."""
    origins = []
    for origin in text.split():
        origin = origin.rstrip("/").lower()
        if not ORIGIN.match(origin):
            raise ValueError(
                f"{origin!r} is not an origin like https://portal.example.gov (no path, no quotes)"
            )
        origins.append(origin)
    return origins


def embedding_policy(frame_origins: str | None) -> str:
    """The citizen page: framable by this site and the agency's registered portals."""
    if frame_origins is None:
        # No invitation behind the page (unknown token): nothing to protect, any portal may show it.
        return policy("*")
    return policy(" ".join(["'self'", *parse_origins(frame_origins)]))
