"""What the JSON API declares in ``/schema/openapi.json`` beyond its success bodies.

Every error body is JSON ``{"status_code", "detail", "extra"?}`` (see
``server.errors``): a handler lists the exceptions it can answer in
``raises``, and Litestar documents those status codes with that body.
Request bodies refuse unknown fields (``forbid_unknown_fields``), which
Litestar does not carry into the schema by itself: ``StrictJSON`` says so.
Statistics answer JSON, or CSV/XLSX with ``format=``: ``DownloadOperation``
documents the three.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal, TypeAlias, TypeVar

from litestar.enums import RequestEncodingType
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    PermissionDeniedException,
    ServiceUnavailableException,
    TooManyRequestsException,
)
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Operation, Schema
from litestar.params import Body

from survey_app.lib.media import CSV, XLSX
from survey_app.lib.settings import SUPPORTED_LOCALES

T = TypeVar("T")

# The languages a request body may name (Literal of a tuple lists its items).
Locale = Literal[SUPPORTED_LOCALES]  # type: ignore[valid-type]

# What any API operation may answer besides its own outcomes: a missing, unknown or
# wrong-role key (401/403), a spent request budget (429), the database away (503).
API_ERRORS: list[type[HTTPException]] = [
    NotAuthorizedException,
    PermissionDeniedException,
    TooManyRequestsException,
    ServiceUnavailableException,
]
# Operations with a body also answer 413 when it exceeds Settings.max_body_bytes.
BODY_ERRORS: list[type[HTTPException]] = [*API_ERRORS, RequestEntityTooLarge]

# A JSON body whose unknown fields are refused with 400, and documented as such.
StrictJSON: TypeAlias = Annotated[
    T, Body(media_type=RequestEncodingType.JSON, schema_extra={"additionalProperties": False})
]


@dataclass
class DownloadOperation(Operation):
    """An operation whose 200 is JSON, or a CSV or XLSX file with ``format=csv|xlsx``."""

    def __post_init__(self) -> None:
        ok = (self.responses or {}).get("200")
        if isinstance(ok, OpenAPIResponse):
            ok.content = {
                **(ok.content or {}),
                CSV: OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING)),
                XLSX: OpenAPIMediaType(
                    schema=Schema(type=OpenAPIType.STRING, content_media_type=XLSX)
                ),
            }
