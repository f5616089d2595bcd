"""Render a statistics result as JSON, CSV or XLSX (a file download with a sensible name)."""

from __future__ import annotations

import datetime as dt
import gzip
import io
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd
from litestar import Response
from litestar.exceptions import ValidationException
from litestar.serialization import encode_json

from analysis.results import json_safe
from survey_app.lib.media import CSV, XLSX

FORMATS = ("json", "csv", "xlsx")
JSON = "application/json"
# As the app's compression middleware: bodies this large are worth compressing. Level 6
# compresses JSON within a few per cent of level 9 in a fraction of the time.
GZIP_MIN_BYTES = 512
GZIP_LEVEL = 6
# Spreadsheets execute cells starting with these; a leading apostrophe keeps them text.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def check_format(value: str) -> str:
    if value not in FORMATS:
        raise ValidationException(
            detail=f"format must be one of {', '.join(FORMATS)}, not {value!r}"
        )
    return value


def neutralize(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for column in out.columns:
        if not pd.api.types.is_numeric_dtype(out[column]):
            out[column] = [
                f"'{v}" if isinstance(v, str) and v.startswith(FORMULA_PREFIXES) else v
                for v in out[column]
            ]
    return out


@dataclass(frozen=True)
class Rendered:
    """A rendered answer as plain bytes, so a worker process can hand it back (pickled)."""

    body: bytes
    media_type: str = JSON
    headers: tuple[tuple[str, str], ...] = ()
    gzipped: bool = False

    def response(self, **headers: str) -> Response[bytes]:
        extra = {"Content-Encoding": "gzip", "Vary": "Accept-Encoding"} if self.gzipped else {}
        return Response(
            self.body,
            media_type=self.media_type,
            headers={**dict(self.headers), **extra, **headers},
        )


def compressed(gzip_it: bool, compute: Callable[..., Rendered], *args: Any) -> Rendered:
    """``compute(*args)``, its body gzipped when ``gzip_it`` and large enough to gain: in
    the worker, so a large answer is not compressed on the loop (at level 9) afterwards."""
    rendered = compute(*args)
    if not gzip_it or len(rendered.body) < GZIP_MIN_BYTES:
        return rendered
    body = gzip.compress(rendered.body, compresslevel=GZIP_LEVEL, mtime=0)
    return replace(rendered, body=body, gzipped=True)


def render_bytes(fmt: str, name: str, body: dict[str, Any], frame: pd.DataFrame) -> Rendered:
    """JSON ``body`` as is, or ``frame`` as a CSV/XLSX download named ``name-<date>.<ext>``."""
    if fmt == "json":
        return Rendered(encode_json(json_safe(body)))
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d")
    filename = f"{name}-{stamp}.{fmt}"
    headers = (("Content-Disposition", f'attachment; filename="{filename}"'),)
    safe = neutralize(frame)
    if fmt == "csv":
        # A byte-order mark lets spreadsheet programs read UTF-8 (Vietnamese) correctly.
        text = "\ufeff" + safe.to_csv(index=False)
        # Litestar adds "; charset=utf-8" to text/* types itself.
        return Rendered(text.encode(), CSV, headers)
    buffer = io.BytesIO()
    safe.to_excel(buffer, index=False, sheet_name=name[:31])
    return Rendered(buffer.getvalue(), XLSX, headers)


def render(fmt: str, name: str, body: dict[str, Any], frame: pd.DataFrame) -> Response[Any]:
    """``render_bytes`` as a response, for answers computed on the loop."""
    return render_bytes(fmt, name, body, frame).response()
