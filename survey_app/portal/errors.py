"""HTTP errors of the portal API that Litestar has no class for."""

from litestar.exceptions import ClientException
from litestar.status_codes import HTTP_409_CONFLICT, HTTP_410_GONE


class Conflict(ClientException):
    status_code = HTTP_409_CONFLICT


class Gone(ClientException):
    status_code = HTTP_410_GONE
