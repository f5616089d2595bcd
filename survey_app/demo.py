"""Demo agencies and services, loaded idempotently, and a questionnaire link to try."""

from __future__ import annotations

from dataclasses import dataclass

from questionnaires import DEFAULT_QUESTIONNAIRE_ID
from survey_app import directory, invitations
from survey_app.invitations import TokenState
from survey_app.settings import Settings
from survey_app.storage.tables import Agency, AgencyKind, Service

# (code, kind, Vietnamese name, English name, Indonesian name)
AGENCIES = [
    ("MIC", AgencyKind.ministry, "Bộ Thông tin và Truyền thông",
     "Ministry of Information and Communications", "Kementerian Informasi dan Komunikasi"),
    ("MPS", AgencyKind.ministry, "Bộ Công an",
     "Ministry of Public Security", "Kementerian Keamanan Publik"),
    ("MOF", AgencyKind.ministry, "Bộ Tài chính", "Ministry of Finance", "Kementerian Keuangan"),
    ("VSS", AgencyKind.branch, "Bảo hiểm xã hội Việt Nam",
     "Vietnam Social Security", "Jaminan Sosial Vietnam"),
    ("HN", AgencyKind.locality, "UBND Thành phố Hà Nội",
     "Hanoi People's Committee", "Komite Rakyat Kota Hanoi"),
    ("HCM", AgencyKind.locality, "UBND Thành phố Hồ Chí Minh",
     "Ho Chi Minh City People's Committee", "Komite Rakyat Kota Ho Chi Minh"),
    ("DN", AgencyKind.locality, "UBND Thành phố Đà Nẵng",
     "Da Nang People's Committee", "Komite Rakyat Kota Da Nang"),
]  # fmt: skip

# (code, agency, essential, Vietnamese name, English name, Indonesian name)
SERVICES = [
    ("MIC-PRESS-LICENCE", "MIC", False, "Cấp giấy phép xuất bản bản tin",
     "Licence to publish a newsletter", "Izin penerbitan buletin"),
    ("MPS-PASSPORT", "MPS", True, "Cấp hộ chiếu phổ thông",
     "Issue of an ordinary passport", "Penerbitan paspor biasa"),
    ("MPS-RESIDENCE", "MPS", True, "Đăng ký thường trú",
     "Permanent residence registration", "Pendaftaran tempat tinggal tetap"),
    ("MOF-TAX-DECLARATION", "MOF", True, "Khai thuế điện tử",
     "Electronic tax declaration", "Pelaporan pajak elektronik"),
    ("VSS-HEALTH-CARD", "VSS", True, "Cấp lại thẻ bảo hiểm y tế",
     "Reissue of a health insurance card", "Penerbitan ulang kartu asuransi kesehatan"),
    ("HN-BIRTH", "HN", True, "Đăng ký khai sinh",
     "Birth registration", "Pencatatan kelahiran"),
    ("HN-DRIVING-LICENCE", "HN", True, "Cấp đổi giấy phép lái xe",
     "Driving licence renewal", "Perpanjangan surat izin mengemudi"),
    ("HCM-BUSINESS", "HCM", True, "Đăng ký hộ kinh doanh",
     "Household business registration", "Pendaftaran usaha rumah tangga"),
    ("DN-CONSTRUCTION", "DN", False, "Cấp giấy phép xây dựng",
     "Construction permit", "Izin mendirikan bangunan"),
]  # fmt: skip

DEMO_SERVICE = "HN-BIRTH"
DEMO_REF = "demo-link-{n}"


@dataclass(frozen=True)
class DemoResult:
    agencies_added: int
    services_added: int
    agencies_total: int
    services_total: int
    base_url: str
    link: str


async def load(settings: Settings) -> DemoResult:
    existing_agencies = {row["code"] for row in await Agency.select(Agency.code)}
    existing_services = {row["code"] for row in await Service.select(Service.code)}
    agencies_added = services_added = 0
    for code, kind, vi, en, id_ in AGENCIES:
        if code not in existing_agencies:
            await directory.add_agency(code, kind, vi, {"vi": vi, "en": en, "id": id_})
            agencies_added += 1
    for code, agency, essential, vi, en, id_ in SERVICES:
        if code not in existing_services:
            await directory.add_service(
                code, agency, vi, {"vi": vi, "en": en, "id": id_}, essential
            )
            services_added += 1
    base_url = (settings.public_url or "http://127.0.0.1:8000").rstrip("/")
    token = await open_demo_invitation(settings)
    return DemoResult(
        agencies_added=agencies_added,
        services_added=services_added,
        agencies_total=await Agency.count(),
        services_total=await Service.count(),
        base_url=base_url,
        link=f"{base_url}/s/{token}",
    )


async def open_demo_invitation(settings: Settings) -> str:
    """The first demo invitation still open, issuing the next one when all are used."""
    service = (
        await Service.select(
            Service.id,
            Service.agency.id.as_alias("agency_id"),
            Service.agency.code.as_alias("agency_code"),
        )
        .where(Service.code == DEMO_SERVICE)
        .first()
    )
    assert service is not None
    n = 1
    while True:
        issued = await invitations.issue(
            secret=settings.secret,
            agency_id=service["agency_id"],
            agency_code=service["agency_code"],
            service_id=service["id"],
            channel="web",
            locale=None,
            questionnaire_id=DEFAULT_QUESTIONNAIRE_ID,
            transaction_ref=DEMO_REF.format(n=n),
            days=settings.invitation_days,
        )
        found = await invitations.find(issued.token)
        if found is not None and found.state() is TokenState.open:
            return issued.token
        n += 1
