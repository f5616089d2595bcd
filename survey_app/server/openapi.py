"""``/schema``: the OpenAPI document of the JSON API and its reference page, open to anyone.

The reference page is Swagger UI, served from this origin (its assets come
with the ``swagger-ui-py`` package), so it needs no third party and runs under
the strict Content-Security-Policy: no inline script, no inline style, no CDN.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from html import escape
from pathlib import Path
from typing import Any

from litestar import Request, Response, Router, get
from litestar.exceptions import NotFoundException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.params import FromPath

from survey_app.auth.guards import PUBLIC

SCHEMA_PATH = "/schema"
PAGE_PATH = "/swagger"
ASSETS_PATH = f"{SCHEMA_PATH}{PAGE_PATH}"
# What the page may load from the package (nothing else of it is served), and the media type.
PACKAGE_ASSETS = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
    "LICENSE": "text/plain",
}
# Starts Swagger UI on the page's container: an external script, as the CSP allows no other.
INIT_JS = b"""\
"use strict";
window.addEventListener("DOMContentLoaded", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    domNode: root,
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  });
});
"""
CACHE = {"Cache-Control": "public, max-age=86400"}


class SelfHostedSwagger(OpenAPIRenderPlugin):
    """Swagger UI whose page, scripts and styles all come from this origin."""

    def __init__(self) -> None:
        super().__init__(path=PAGE_PATH)

    def render(self, request: Request, openapi_schema: dict[str, Any]) -> bytes:
        title = escape(str(openapi_schema["info"]["title"]))
        spec_url = escape(self.get_openapi_json_route(request))
        return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{ASSETS_PATH}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{spec_url}"></div>
<script src="{ASSETS_PATH}/swagger-ui-bundle.js"></script>
<script src="{ASSETS_PATH}/init.js"></script>
</body>
</html>
""".encode()

    def receive_router(self, router: Router) -> None:
        router.register(swagger_asset)


@cache
def package_asset(name: str) -> bytes:
    """A file of the ``swagger_ui`` package's static folder, read once."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the swagger-ui-py package is missing: pip install swagger-ui-py")
    return (Path(spec.submodule_search_locations[0]) / "static" / name).read_bytes()


@get(f"{PAGE_PATH}/{{asset:str}}", include_in_schema=False, sync_to_thread=False)
def swagger_asset(asset: FromPath[str]) -> Response[bytes]:
    if asset == "init.js":
        return Response(INIT_JS, media_type="text/javascript", headers=CACHE)
    if asset not in PACKAGE_ASSETS:
        raise NotFoundException(detail="No such file")
    return Response(package_asset(asset), media_type=PACKAGE_ASSETS[asset], headers=CACHE)


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Citizen satisfaction survey API",
        version="1.0.0",
        path=SCHEMA_PATH,
        render_plugins=[SelfHostedSwagger()],
        openapi_router=Router(SCHEMA_PATH, route_handlers=[], opt=PUBLIC, include_in_schema=False),
    )
