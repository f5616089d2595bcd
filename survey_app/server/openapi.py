"""``/schema``: the OpenAPI document of the JSON API and its reference page, open to anyone."""

from __future__ import annotations

from litestar import Router
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin

from survey_app.auth.guards import PUBLIC


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Citizen satisfaction survey API",
        version="1.0.0",
        render_plugins=[ScalarRenderPlugin()],
        openapi_router=Router("/schema", route_handlers=[], opt=PUBLIC, include_in_schema=False),
    )
