"""``/admin``: piccolo_admin for admins, behind its own session login.

Its login goes through the same throttle as ``/login`` (``auth.throttle``) and
opens a session like ours: a ``HashedSessions`` row lasting
``staff.SESSION_LIFETIME``, for users with ``BaseUser.admin`` only (piccolo_admin
would otherwise hand any user a session cookie, which the dashboard accepts).
The comment table is not registered: piccolo_admin's "Export CSV" builds its
file in the browser without neutralising formulas, so free text is exported
through ``/api/v1/comments?format=csv``, linked from the admin's sidebar.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from http.cookies import CookieError, SimpleCookie
from typing import Any

from litestar import Litestar, asgi
from litestar.connection import ASGIConnection
from litestar.datastructures import Headers
from litestar.handlers import ASGIRouteHandler
from litestar.status_codes import (
    HTTP_401_UNAUTHORIZED,
    HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    HTTP_429_TOO_MANY_REQUESTS,
)
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from piccolo.apps.user.tables import BaseUser
from piccolo_admin.endpoints import TableConfig, create_admin
from piccolo_api.crud.endpoints import OrderBy, PiccoloCRUD, Validators
from starlette.exceptions import HTTPException
from starlette.requests import Request as StarletteRequest

from survey_app.auth import staff
from survey_app.auth.guards import PUBLIC
from survey_app.auth.sessions import HashedSessions
from survey_app.auth.throttle import Attempt, client_id, login_throttle, wait_message
from survey_app.db.tables import SURVEY_TABLES, Agency, AuditEntry, Comment
from survey_app.db.users import StaffUser
from survey_app.lib.frames import parse_origins
from survey_app.lib.i18n import request_locale


def _append_only(piccolo_crud: PiccoloCRUD, request: StarletteRequest) -> None:
    raise HTTPException(status_code=405, detail="The audit log is append-only")


# Admins read who read what; nobody changes it through the admin.
AUDIT = TableConfig(
    AuditEntry,
    order_by=[OrderBy(column=AuditEntry.id, ascending=False)],
    validators=Validators(
        post_single=[_append_only],
        put_single=[_append_only],
        patch_single=[_append_only],
        delete_single=[_append_only],
        delete_all=[_append_only],
    ),
    menu_group="Audit",
)


async def _origins_parse(piccolo_crud: PiccoloCRUD, request: StarletteRequest) -> None:
    """An agency's frame origins are checked when saved, as ``survey agency add`` does:
    a malformed one would otherwise only show up as a page that cannot be framed."""
    try:
        body = await request.json()
    except ValueError:
        return  # piccolo_admin answers a body that is not JSON itself
    origins = body.get("frame_origins") if isinstance(body, dict) else None
    if isinstance(origins, str):
        try:
            parse_origins(origins)
        except ValueError as error:
            raise HTTPException(status_code=400, detail=str(error)) from error


AGENCIES = TableConfig(
    Agency,
    validators=Validators(
        post_single=[_origins_parse], put_single=[_origins_parse], patch_single=[_origins_parse]
    ),
)
# Free text stays out of piccolo_admin (its listing, its API and its CSV export).
CONFIGURED = {AuditEntry: AUDIT, Agency: AGENCIES}
ADMIN_TABLES: list[Any] = [
    CONFIGURED.get(table, table) for table in SURVEY_TABLES if table is not Comment
]
COMMENTS_EXPORT = "/api/v1/comments?format=csv"
# piccolo_admin's login endpoint, below the mount; any path under it reaches the endpoint.
LOGIN_PREFIX = "/public/login"
MAX_LOGIN_BODY = 16 * 1024
# piccolo_admin's own answer to a wrong password, given as well to a non-admin.
LOGIN_FAILED = (HTTP_401_UNAUTHORIZED, {"detail": "Login failed"})


def admin_handler(production: bool) -> ASGIRouteHandler:
    """Build the admin ASGI app once and mount it at ``/admin``."""
    admin_app = create_admin(
        tables=ADMIN_TABLES,
        auth_table=StaffUser,  # its login hashes in threads, off the loop
        session_table=HashedSessions,
        session_expiry=staff.SESSION_LIFETIME,
        max_session_expiry=staff.SESSION_LIFETIME,
        site_name="Citizen satisfaction survey",
        production=production,
        sidebar_links={"Comments: CSV export (formula-safe)": COMMENTS_EXPORT},
    )

    # piccolo_admin asks for its own login (admins only) before it shows anything.
    @asgi("/admin", is_mount=True, copy_scope=True, opt=PUBLIC)
    async def admin(scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and _below_mount(scope).startswith(LOGIN_PREFIX)
        ):
            await throttled_login(admin_app, scope, receive, send)
            return
        await admin_app(scope, receive, send)

    return admin


def _below_mount(scope: Scope) -> str:
    path: str = scope["path"]
    return path.removeprefix("/admin") if path.startswith("/admin/") else path


async def throttled_login(admin_app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """piccolo_admin's login, counted by the login throttle and refused to non-admins."""
    body = await _read_body(receive)
    if body is None:
        await _send_json(send, HTTP_413_REQUEST_ENTITY_TOO_LARGE, {"detail": "Request too large"})
        return
    app = Litestar.from_scope(scope)
    connection: ASGIConnection[Any, Any, Any, Any] = ASGIConnection(scope)
    attempt = Attempt(client_id(connection), await _username(scope, body))
    throttle = login_throttle(app)
    wait_s = await throttle.begin(attempt)
    if wait_s is not None:
        message = wait_message(app.state["ctx"].catalogs, request_locale(connection), wait_s)
        await _send_json(
            send, HTTP_429_TOO_MANY_REQUESTS, {"detail": message}, {"Retry-After": str(wait_s)}
        )
        return

    messages: list[Message] = []

    async def keep(message: Message) -> None:
        messages.append(message)

    await admin_app(scope, _replay(body), keep)
    token = _session_cookie(messages)
    if token is not None:
        if await _is_admin(token):
            await throttle.succeeded(attempt)
        else:
            # piccolo_admin logs in any user; only admins may hold a session opened here.
            await HashedSessions.remove_session(token)
            await _send_json(send, *LOGIN_FAILED)
            return
    # Anything but a session stays counted: a wrong password, an unknown name, a bad request.
    for message in messages:
        await send(message)


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_LOGIN_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive  # type: ignore[return-value]


async def _username(scope: Scope, body: bytes) -> str:
    """The user name as piccolo_admin reads it (JSON, else a form); '' when there is none."""
    request = StarletteRequest(dict(scope), receive=_replay(body))
    try:
        try:
            data = await request.json()
        except ValueError:
            data = await request.form()
        value = data.get("username") if isinstance(data, Mapping) else None
    except Exception:  # an unreadable body: piccolo_admin refuses it; counted under ''
        return ""
    return value if isinstance(value, str) else ""


def _session_cookie(messages: list[Message]) -> str | None:
    """The session token piccolo_admin set in its answer, if it opened one."""
    start = next((m for m in messages if m["type"] == "http.response.start"), None)
    if start is None:
        return None
    for value in Headers(start.get("headers", [])).getall("set-cookie", []):
        cookie: SimpleCookie = SimpleCookie()
        try:
            cookie.load(value)
        except CookieError:
            continue
        morsel = cookie.get(staff.SESSION_COOKIE)
        if morsel is not None and morsel.value:
            return morsel.value
    return None


async def _is_admin(token: str) -> bool:
    user_id = await HashedSessions.get_user_id(token)
    if not user_id:
        return False
    user = (
        await BaseUser.select(BaseUser.admin, BaseUser.active).where(BaseUser.id == user_id).first()
    )
    return bool(user and user["admin"] and user["active"])


async def _send_json(
    send: Send, status: int, body: dict[str, str], headers: dict[str, str] | None = None
) -> None:
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(content)).encode()),
        *((name.lower().encode(), value.encode()) for name, value in (headers or {}).items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": content})
