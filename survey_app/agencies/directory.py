"""Agencies and services: the register every invitation and statistic refers to."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection
from dataclasses import dataclass

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


@dataclass(frozen=True)
class ServiceChoice:
    """A service of the calling agency and the questionnaires assigned along its line.

    ``assigned`` lists the service's own assignment, then its agency's, leaving
    out what is not set; the first one the server serves is used.
    """

    id: int
    assigned: tuple[str, ...]

    def questionnaire(self, served: Collection[str], default: str) -> str:
        return next((qid for qid in self.assigned if qid in served), default)


async def assign_questionnaire(
    questionnaire_id: str | None, *, agency_code: str | None = None, service_code: str | None = None
) -> None:
    """Assign a questionnaire to one agency or one service; None clears the assignment.

    New invitations follow it; those already issued keep the questionnaire they name.
    """
    if (agency_code is None) == (service_code is None):
        raise DirectoryError("name either an agency or a service")
    if agency_code is not None:
        if await agency_id(agency_code) is None:
            raise DirectoryError(f"unknown agency {agency_code!r}")
        await Agency.update({Agency.questionnaire_id: questionnaire_id}).where(
            Agency.code == agency_code
        )
        return
    if not await Service.exists().where(Service.code == service_code):
        raise DirectoryError(f"unknown service {service_code!r}")
    await Service.update({Service.questionnaire_id: questionnaire_id}).where(
        Service.code == service_code
    )


@dataclass(frozen=True)
class Assignments:
    """Who uses which questionnaire: agency and service codes by questionnaire id."""

    agencies: dict[str, tuple[str, ...]]
    services: dict[str, tuple[str, ...]]


async def assignments() -> Assignments:
    agencies: dict[str, list[str]] = {}
    services: dict[str, list[str]] = {}
    for table, found in ((Agency, agencies), (Service, services)):
        rows = (
            await table.select(table.code, table.questionnaire_id)
            .where(table.questionnaire_id.is_not_null())
            .order_by(table.code)
        )
        for row in rows:
            found.setdefault(row["questionnaire_id"], []).append(row["code"])
    return Assignments(
        agencies={qid: tuple(codes) for qid, codes in agencies.items()},
        services={qid: tuple(codes) for qid, codes in services.items()},
    )
