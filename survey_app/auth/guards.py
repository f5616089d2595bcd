"""Who may call each route: Litestar guards, and routes denied unless they say otherwise.

Every route declares guards from this module or ``opt=PUBLIC``; ``create_app``
refuses to assemble an app with a route that declares neither
(``unguarded_routes``). A guard that admits a caller keeps who it is in the
connection's state, and handlers ask for it as the ``principal`` dependency.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote

from litestar import HttpMethod, Litestar, Request
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers import BaseRouteHandler, HTTPRouteHandler

from survey_app.auth import apikeys, staff
from survey_app.auth.apikeys import KeyHolder
from survey_app.auth.staff import StaffMember
from survey_app.db.tables import Role
from survey_app.lib.i18n import request_locale

CHALLENGE = {"WWW-Authenticate": "Bearer"}
STAFF_ROLES = (Role.admin, Role.analyst, Role.researcher)
# A route open to anyone says so: ``@get(..., opt=PUBLIC)``.
PUBLIC = {"public": True}
PRINCIPAL = "principal"

Guard = Callable[[ASGIConnection, BaseRouteHandler], Coroutine[Any, Any, None]]
Principal = KeyHolder | StaffMember


class LoginRequired(NotAuthorizedException):
    """A page for people, asked for without a staff session: they are sent to ``/login``."""

    def __init__(self, location: str) -> None:
        super().__init__(detail="Log in to see this page")
        self.location = location


def bearer_key(connection: ASGIConnection) -> str:
    """The key of ``Authorization: Bearer <key>``, or 401 when there is none."""
    key = apikeys.bearer_in_scope(connection.scope)
    if key is None:
        raise NotAuthorizedException(
            detail="Missing API key: send 'Authorization: Bearer <key>'", headers=CHALLENGE
        )
    return key


async def _holder(connection: ASGIConnection) -> KeyHolder:
    holder = await apikeys.authenticate(bearer_key(connection))
    if holder is None:
        raise NotAuthorizedException(detail="Unknown or revoked API key", headers=CHALLENGE)
    return holder


def _key_of(holder: KeyHolder, roles: tuple[Role, ...], what: str) -> KeyHolder:
    if holder.role not in roles:
        allowed = ", ".join(role.value for role in roles)
        raise PermissionDeniedException(detail=f"{what} needs a key with role {allowed}")
    return holder


def _admit(connection: ASGIConnection, principal: Principal) -> None:
    connection.state[PRINCIPAL] = principal


async def portal_key(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """The portal key of one agency (401 without a valid key, 403 for another role)."""
    holder = _key_of(await _holder(connection), (Role.portal,), "This endpoint")
    if holder.agency_id is None:
        raise PermissionDeniedException(detail="This portal key is not bound to an agency")
    _admit(connection, holder)


class _HandlerForGuards(HTTPRouteHandler):
    """A route handler whose guards are handed the handler itself.

    Litestar hands each guard a shallow copy of the route handler (all of its ~70
    attributes, about 60 µs a request: as much as the whole of ``/livez``) so that a guard
    cannot change the handler for later requests. The portal's hot paths have guards that
    read the connection only.
    """

    async def authorize_connection(self, connection: ASGIConnection) -> None:
        for guard in self.resolve_guards():
            await guard(connection, self)


def hot_post(path: str, **options: Any) -> HTTPRouteHandler:
    """``@post`` for the portal's hot paths (see ``_HandlerForGuards``)."""
    return _HandlerForGuards(path, http_method=HttpMethod.POST, **options)


async def portal_key_checked_in_batch(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """A well-formed bearer key; the submission writer checks it against the database.

    Answers are the hot path: the writer looks every key of a batch up in
    the batch's own transaction (one query for many requests), and refuses
    an unknown or non-portal key there with the same 401/403.
    """
    if not apikeys.plausible_key(bearer_key(connection)):
        raise NotAuthorizedException(detail="Unknown or revoked API key", headers=CHALLENGE)


def staff_or_key(*roles: Role, what: str) -> Guard:
    """A bearer key of ``roles`` or, without one, a staff session of ``roles``."""

    async def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
        if connection.headers.get("authorization"):
            _admit(connection, _key_of(await _holder(connection), roles, what))
            return
        member = await staff.from_request(connection)
        if member is None:
            raise NotAuthorizedException(
                detail="Log in, or send 'Authorization: Bearer <key>'", headers=CHALLENGE
            )
        if member.role not in roles:
            raise PermissionDeniedException(detail=f"{what} is not open to the role {member.role}")
        _admit(connection, member)

    return guard


def signed_in(*roles: Role, what: str) -> Guard:
    """A staff session of ``roles``, for pages: without one, off to ``/login`` and back."""

    async def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
        member = await staff.from_request(connection)
        if member is None:
            locale = request_locale(connection)
            raise LoginRequired(f"/login?lang={locale}&next={quote(str(connection.url.path))}")
        if member.role not in roles:
            # A session of another role (e.g. a staff role of "portal" set in /admin) sees nothing.
            raise PermissionDeniedException(detail=f"{what} is not open to the role {member.role}")
        _admit(connection, member)

    return guard


def current_principal(request: Request) -> Principal:
    """Dependency: whom the route's guard admitted."""
    principal = request.state.get(PRINCIPAL)
    if principal is None:
        raise RuntimeError(f"{request.url.path}: no guard of this route admits a principal")
    return principal


# How handlers ask for the caller (dependency named ``principal``): a ``Principal``.
# Typed Any: Litestar checks a dependency's type with msgspec, which refuses a union
# of two dataclasses.
PrincipalDep = NamedDependency[Any]


def _automatic_options(handler: BaseRouteHandler) -> bool:
    """Litestar's own ``OPTIONS`` answer for a path: the allowed methods, nothing else."""
    return getattr(handler, "http_methods", None) == {"OPTIONS"} and (
        handler.handler_name == "options_handler"
    )


def unguarded_routes(app: Litestar) -> list[str]:
    """``METHOD path`` of every route handler with neither a guard nor ``opt=PUBLIC``."""
    found = []
    for route in app.routes:
        handlers = getattr(route, "route_handlers", None) or [route.route_handler]  # type: ignore[attr-defined]
        for handler in handlers:
            if handler.resolve_guards() or handler.opt.get("public") or _automatic_options(handler):
                continue
            methods = ",".join(sorted(getattr(handler, "http_methods", None) or ["ASGI"]))
            found.append(f"{methods} {route.path}")
    return sorted(found)
