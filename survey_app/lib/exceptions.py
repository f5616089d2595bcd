"""HTTP errors of the portal API that Litestar has no class for, and decoding failures."""

from litestar import Request, Response
from litestar.exceptions import ClientException
from litestar.status_codes import HTTP_400_BAD_REQUEST, HTTP_409_CONFLICT, HTTP_410_GONE


class Conflict(ClientException):
    status_code = HTTP_409_CONFLICT


class Gone(ClientException):
    status_code = HTTP_410_GONE


def too_deep(_: Request, __: RecursionError) -> Response:
    """A JSON body nested deeper than the decoder recurses (``[[[[...``): 400, not 500."""
    return Response(
        {"status_code": HTTP_400_BAD_REQUEST, "detail": "The JSON body is nested too deeply"},
        status_code=HTTP_400_BAD_REQUEST,
    )


# Handlers with a JSON body: errors raised while Litestar decodes it, before the handler runs.
JSON_BODY_ERRORS = {RecursionError: too_deep}
