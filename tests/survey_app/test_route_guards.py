"""Deny by default: every route declares who may call it, or says it is public.

The app's own route table is walked; a handler with neither a guard nor
``opt=PUBLIC`` fails here, and ``create_app`` refuses to build such an app.
"""

from __future__ import annotations

import httpx
import pytest
from litestar import Litestar, get

from survey_app.auth.guards import PUBLIC, unguarded_routes
from survey_app.lib.settings import Settings
from survey_app.server.app import create_app

# What is open to anyone, on purpose; any other route must carry a guard.
PUBLIC_PATHS = {
    "/livez",
    "/readyz",
    "/s/{token:str}",
    "/s/{token:str}/thanks",
    "/q/{questionnaire_id:str}/{version:int}/conditions.css",
    "/embed.js",
    "/login",
    "/logout",
    "/static/{file_path:path}",
    "/admin",  # piccolo_admin asks for its own (admin) login
    "/schema",
    "/schema/swagger",
    "/schema/swagger/{asset:str}",
    "/schema/openapi.json",
    "/schema/{path:str}",
    "/public",  # the published aggregates, for everyone
    "/public/data/{name:str}",
}


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> Litestar:
    var = tmp_path_factory.mktemp("guards")
    return create_app(Settings(database_url=f"sqlite:///{var / 'guards.sqlite'}", secret="x"))


def handlers(app: Litestar):
    for route in app.routes:
        for handler in getattr(route, "route_handlers", None) or [route.route_handler]:
            yield route.path, handler


def test_every_route_declares_a_guard_or_public(app):
    assert unguarded_routes(app) == []


def test_only_the_intended_routes_are_public(app):
    public = {path for path, handler in handlers(app) if handler.opt.get("public")}
    assert public == PUBLIC_PATHS


def test_staff_and_portal_routes_are_guarded(app):
    guarded = {path for path, handler in handlers(app) if handler.resolve_guards()}
    for path in (
        "/api/v1/invitations",
        "/api/v1/questionnaires/{questionnaire_id:str}",
        "/api/v1/responses",
        "/api/v1/stats/satisfaction",
        "/api/v1/stats/reasons",
        "/api/v1/stats/trend",
        "/api/v1/exports/responses.csv",
        "/api/v1/exports/dictionary.json",
        "/api/v1/exports/responses.parquet",
        "/api/v1/comments",
        "/api/v1/audit",
        "/dashboard",
        "/charts/{name:str}",
        "/metrics",
    ):
        assert path in guarded, path


def test_a_route_without_guard_or_public_is_found():
    @get("/forgotten")
    async def forgotten() -> str:
        return "anyone"

    @get("/open", opt=PUBLIC)
    async def open_route() -> str:
        return "anyone"

    app = Litestar(route_handlers=[forgotten, open_route], openapi_config=None)
    assert unguarded_routes(app) == ["GET /forgotten"]


def test_create_app_refuses_an_unguarded_route(app, monkeypatch):
    """The factory's own check, not only this test, keeps an unguarded route from shipping."""
    from survey_app.server import health

    @get("/livez-copy")
    async def unguarded() -> dict[str, str]:
        return {"status": "ok"}

    monkeypatch.setattr(health, "livez", unguarded)
    with pytest.raises(RuntimeError, match=r"GET /livez-copy"):
        create_app(app.state["ctx"].settings)


def test_guards_answer_before_anything_is_read(http):
    """No credentials: 401 from the guard, even when the body or filters are wrong too."""
    assert http.post("/api/v1/responses", content=b"{not json").status_code == 401
    assert http.get("/api/v1/stats/trend?period=fortnight").status_code == 401
    response = http.get("/dashboard", headers={"Accept": "text/html"})
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?")


def test_public_routes_answer_without_credentials(http: httpx.Client):
    assert http.get("/livez").status_code == 200
    document = http.get("/schema/openapi.json")
    assert document.status_code == 200
    # The reference pages are served, not documented as operations of the API.
    assert not [path for path in document.json()["paths"] if path.startswith("/schema")]
    assert http.get("/embed.js").status_code == 200
    assert http.get("/login").status_code == 200
