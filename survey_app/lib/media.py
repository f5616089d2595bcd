"""The media types the service answers with besides JSON and HTML, and the encoding."""

from collections.abc import Iterable

CSV = "text/csv"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SVG = "image/svg+xml"
PNG = "image/png"
PARQUET = "application/vnd.apache.parquet"

_ACCEPT_ENCODING = b"accept-encoding"
_GZIP = b"gzip"


def accepts_gzip(raw_headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """Whether the client's ASGI headers (names in lower case) accept gzip."""
    return any(name == _ACCEPT_ENCODING and _GZIP in value.lower() for name, value in raw_headers)
