"""Staff sessions for the dashboard: piccolo_api's session table, one cookie for /admin too.

Sessions are ``HashedSessions`` rows (the table stores the token's SHA-256), and
last ``SESSION_HOURS`` however they were opened: ``server.admin`` gives
piccolo_admin the same table and lifetime.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from litestar.connection import ASGIConnection
from piccolo.apps.user.tables import BaseUser

from survey_app.auth.sessions import HashedSessions
from survey_app.db.tables import Agency, Role, StaffRole
from survey_app.db.users import StaffUser

SESSION_COOKIE = "id"  # piccolo_api's name, so an admin login also opens the dashboard
SESSION_HOURS = 8
SESSION_LIFETIME = dt.timedelta(hours=SESSION_HOURS)


@dataclass(frozen=True)
class StaffMember:
    user_id: int
    username: str
    role: Role
    agency_id: int | None
    agency_code: str | None


async def member(user_id: int) -> StaffMember | None:
    """The staff member behind an active user account, with their role."""
    user = (
        await BaseUser.select(BaseUser.id, BaseUser.username, BaseUser.admin, BaseUser.active)
        .where(BaseUser.id == user_id)
        .first()
    )
    if user is None or not user["active"]:
        return None
    row = (
        await StaffRole.select(
            StaffRole.role,
            StaffRole.agency.id.as_alias("agency_id"),
            StaffRole.agency.code.as_alias("agency"),
        )
        .where(StaffRole.user == user_id)
        .first()
    )
    if row is None:
        if not user["admin"]:
            return None
        return StaffMember(user["id"], user["username"], Role.admin, None, None)
    return StaffMember(
        user["id"], user["username"], Role(row["role"]), row["agency_id"], row["agency"]
    )


async def from_request(connection: ASGIConnection) -> StaffMember | None:
    token = connection.cookies.get(SESSION_COOKIE)
    if not token or len(token) > 256:
        return None
    user_id = await HashedSessions.get_user_id(token)
    return await member(user_id) if user_id else None


async def log_in(username: str, password: str) -> str | None:
    """A new session token for valid credentials of a staff member, else None."""
    user_id = await StaffUser.login(username=username, password=password)
    if not user_id or await member(user_id) is None:
        return None
    now = dt.datetime.now()
    session = await HashedSessions.create_session(
        user_id=user_id,
        expiry_date=now + SESSION_LIFETIME,
        max_expiry_date=now + SESSION_LIFETIME,
    )
    return str(session.token)


async def log_out(token: str | None) -> None:
    if token:
        await HashedSessions.remove_session(token)


async def set_role(user_id: int, role: Role, agency_code: str | None) -> None:
    agency_id = None
    if agency_code:
        agency = await Agency.select(Agency.id).where(Agency.code == agency_code).first()
        if agency is None:
            raise ValueError(f"unknown agency {agency_code!r}")
        agency_id = agency["id"]
    if role is Role.analyst and agency_id is None:
        raise ValueError("an analyst is bound to one agency: give --agency")
    await StaffRole.delete().where(StaffRole.user == user_id)
    await StaffRole.insert(StaffRole(user=user_id, role=role.value, agency=agency_id))
