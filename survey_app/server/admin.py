"""``/admin``: piccolo_admin for staff, behind its own session login."""

from __future__ import annotations

from litestar import asgi
from litestar.handlers import ASGIRouteHandler
from litestar.types import Receive, Scope, Send
from piccolo.apps.user.tables import BaseUser
from piccolo_admin.endpoints import create_admin
from piccolo_api.session_auth.tables import SessionsBase

from survey_app.auth.guards import PUBLIC
from survey_app.db.tables import SURVEY_TABLES


def admin_handler(production: bool) -> ASGIRouteHandler:
    """Build the admin ASGI app once and mount it at ``/admin``."""
    admin_app = create_admin(
        tables=SURVEY_TABLES,
        auth_table=BaseUser,
        session_table=SessionsBase,
        site_name="Citizen satisfaction survey",
        production=production,
    )

    # piccolo_admin asks for its own login (admins only) before it shows anything.
    @asgi("/admin", is_mount=True, copy_scope=True, opt=PUBLIC)
    async def admin(scope: Scope, receive: Receive, send: Send) -> None:
        await admin_app(scope, receive, send)

    return admin
