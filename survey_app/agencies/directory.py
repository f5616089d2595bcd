"""Agencies and services: the register every invitation and statistic refers to."""

from __future__ import annotations

import datetime as dt
import re

from survey_app.db.engine import UNIQUE_VIOLATIONS
from survey_app.db.tables import Agency, AgencyKind, Service
from survey_app.lib.frames import parse_origins

CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class DirectoryError(ValueError):
    """A code is malformed, taken or unknown."""


def check_code(code: str, what: str, max_length: int) -> None:
    if not CODE_PATTERN.match(code) or len(code) > max_length:
        raise DirectoryError(
            f"invalid {what} code {code!r}: use letters, digits, '.', '_' or '-', "
            f"at most {max_length} characters"
        )


async def add_agency(
    code: str, kind: AgencyKind, name: str, names: dict[str, str], frame_origins: str = ""
) -> int:
    check_code(code, "agency", 32)
    try:
        origins = " ".join(parse_origins(frame_origins))
    except ValueError as error:
        raise DirectoryError(str(error)) from error
    if not name.strip():
        raise DirectoryError("an agency needs a name")
    try:
        rows = await Agency.insert(
            Agency(
                code=code,
                kind=kind.value,
                name=name.strip(),
                names=names,
                created_at=dt.datetime.now(dt.UTC),
                frame_origins=origins,
            )
        ).returning(Agency.id)
    except UNIQUE_VIOLATIONS as error:
        raise DirectoryError(f"agency {code!r} already exists") from error
    return rows[0]["id"]


async def add_service(
    code: str, agency_code: str, name: str, names: dict[str, str], essential: bool
) -> int:
    check_code(code, "service", 64)
    if not name.strip():
        raise DirectoryError("a service needs a name")
    agency = await Agency.select(Agency.id).where(Agency.code == agency_code).first()
    if agency is None:
        raise DirectoryError(
            f"unknown agency {agency_code!r}: add it first with `survey agency add`"
        )
    try:
        rows = await Service.insert(
            Service(
                code=code,
                agency=agency["id"],
                name=name.strip(),
                names=names,
                essential=essential,
                created_at=dt.datetime.now(dt.UTC),
            )
        ).returning(Service.id)
    except UNIQUE_VIOLATIONS as error:
        raise DirectoryError(f"service {code!r} already exists") from error
    return rows[0]["id"]


async def agency_id(code: str) -> int | None:
    row = await Agency.select(Agency.id).where(Agency.code == code).first()
    return row["id"] if row else None


async def service_of_agency(agency_id: int, service_code: str) -> int | None:
    row = (
        await Service.select(Service.id)
        .where((Service.code == service_code) & (Service.agency == agency_id))
        .first()
    )
    return row["id"] if row else None
