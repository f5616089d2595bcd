"""Bearer-key authentication for the portal API."""

from __future__ import annotations

from litestar import Request
from litestar.di import NamedDependency
from litestar.exceptions import PermissionDeniedException

from survey_app.apikeys import KeyHolder
from survey_app.bearer import key_with_role
from survey_app.storage.tables import Role

_portal = key_with_role(Role.portal, what="This endpoint")


async def portal_key(request: Request) -> KeyHolder:
    """Dependency: the portal key of one agency, or 401/403."""
    holder = await _portal(request)
    if holder.agency_id is None:
        raise PermissionDeniedException(detail="This portal key is not bound to an agency")
    return holder


# How handlers ask for the authenticated portal (dependency named ``holder``).
PortalHolder = NamedDependency[KeyHolder]
