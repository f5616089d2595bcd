"""Demo agencies and services, loaded idempotently, a questionnaire link to try and a
staff login to see the dashboard with."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from piccolo.apps.user.tables import BaseUser

from questionnaires import DEFAULT_QUESTIONNAIRE_ID
from survey_app.agencies import directory
from survey_app.auth import staff
from survey_app.db.tables import Agency, AgencyKind, Role, Service
from survey_app.invitations import service as invitations
from survey_app.invitations.service import TokenState
from survey_app.lib.settings import Settings

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
    ("MOH", AgencyKind.ministry, "Bộ Y tế", "Ministry of Health", "Kementerian Kesehatan"),
    ("MOJ", AgencyKind.ministry, "Bộ Tư pháp", "Ministry of Justice", "Kementerian Kehakiman"),
    ("MOT", AgencyKind.ministry, "Bộ Giao thông vận tải",
     "Ministry of Transport", "Kementerian Perhubungan"),
    ("GDT", AgencyKind.branch, "Tổng cục Thuế",
     "General Department of Taxation", "Direktorat Jenderal Pajak"),
    ("CT", AgencyKind.locality, "UBND Thành phố Cần Thơ",
     "Can Tho People's Committee", "Komite Rakyat Kota Can Tho"),
    ("QN", AgencyKind.locality, "UBND Tỉnh Quảng Ninh",
     "Quang Ninh People's Committee", "Komite Rakyat Provinsi Quang Ninh"),
    ("MOET", AgencyKind.ministry, "Bộ Giáo dục và Đào tạo",
     "Ministry of Education and Training", "Kementerian Pendidikan dan Pelatihan"),
    ("MOIT", AgencyKind.ministry, "Bộ Công Thương",
     "Ministry of Industry and Trade", "Kementerian Perindustrian dan Perdagangan"),
    ("MONRE", AgencyKind.ministry, "Bộ Tài nguyên và Môi trường",
     "Ministry of Natural Resources and Environment",
     "Kementerian Sumber Daya Alam dan Lingkungan"),
    ("MOLISA", AgencyKind.ministry, "Bộ Lao động - Thương binh và Xã hội",
     "Ministry of Labour, Invalids and Social Affairs", "Kementerian Tenaga Kerja dan Sosial"),
    ("MARD", AgencyKind.ministry, "Bộ Nông nghiệp và Phát triển nông thôn",
     "Ministry of Agriculture and Rural Development", "Kementerian Pertanian dan Pembangunan Desa"),
    ("MPI", AgencyKind.ministry, "Bộ Kế hoạch và Đầu tư",
     "Ministry of Planning and Investment", "Kementerian Perencanaan dan Investasi"),
    ("MOHA", AgencyKind.ministry, "Bộ Nội vụ",
     "Ministry of Home Affairs", "Kementerian Dalam Negeri"),
    ("MOC", AgencyKind.ministry, "Bộ Xây dựng",
     "Ministry of Construction", "Kementerian Konstruksi"),
    ("MOFA", AgencyKind.ministry, "Bộ Ngoại giao",
     "Ministry of Foreign Affairs", "Kementerian Luar Negeri"),
    ("SBV", AgencyKind.branch, "Ngân hàng Nhà nước Việt Nam",
     "State Bank of Vietnam", "Bank Negara Vietnam"),
    ("GDC", AgencyKind.branch, "Tổng cục Hải quan",
     "General Department of Customs", "Direktorat Jenderal Bea Cukai"),
    ("EVN", AgencyKind.branch, "Tập đoàn Điện lực Việt Nam",
     "Vietnam Electricity", "Perusahaan Listrik Vietnam"),
    ("HP", AgencyKind.locality, "UBND Thành phố Hải Phòng",
     "Hai Phong People's Committee", "Komite Rakyat Kota Hai Phong"),
    ("BD", AgencyKind.locality, "UBND Tỉnh Bình Dương",
     "Binh Duong People's Committee", "Komite Rakyat Provinsi Binh Duong"),
    ("TTH", AgencyKind.locality, "UBND Tỉnh Thừa Thiên Huế",
     "Thua Thien Hue People's Committee", "Komite Rakyat Provinsi Thua Thien Hue"),
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
    ("MOH-PRACTICE", "MOH", True, "Cấp chứng chỉ hành nghề khám bệnh, chữa bệnh",
     "Medical practice certificate", "Sertifikat praktik medis"),
    ("MOJ-CRIMINAL-RECORD", "MOJ", True, "Cấp phiếu lý lịch tư pháp",
     "Criminal record certificate", "Surat keterangan catatan kepolisian"),
    ("MOT-VEHICLE", "MOT", True, "Đăng kiểm phương tiện",
     "Vehicle inspection", "Uji kendaraan bermotor"),
    ("GDT-PERSONAL-TAX", "GDT", True, "Quyết toán thuế thu nhập cá nhân",
     "Personal income tax settlement", "Penyelesaian pajak penghasilan pribadi"),
    ("CT-LAND", "CT", True, "Cấp giấy chứng nhận quyền sử dụng đất",
     "Land use right certificate", "Sertifikat hak guna tanah"),
    ("QN-MARRIAGE", "QN", True, "Đăng ký kết hôn",
     "Marriage registration", "Pencatatan pernikahan"),
    ("MOET-DIPLOMA", "MOET", True, "Công nhận văn bằng do nước ngoài cấp",
     "Recognition of a foreign diploma", "Pengakuan ijazah luar negeri"),
    ("MOIT-CO", "MOIT", True, "Cấp giấy chứng nhận xuất xứ hàng hóa",
     "Certificate of origin", "Surat keterangan asal barang"),
    ("MONRE-ENV", "MONRE", False, "Cấp giấy phép môi trường",
     "Environmental permit", "Izin lingkungan"),
    ("MOLISA-WORK-PERMIT", "MOLISA", True, "Cấp giấy phép lao động cho người nước ngoài",
     "Work permit for foreigners", "Izin kerja untuk warga asing"),
    ("MARD-PLANT", "MARD", False, "Kiểm dịch thực vật", "Plant quarantine", "Karantina tumbuhan"),
    ("MPI-COMPANY", "MPI", True, "Đăng ký thành lập doanh nghiệp",
     "Company registration", "Pendaftaran perusahaan"),
    ("MOHA-RELIGION", "MOHA", False, "Đăng ký hoạt động tín ngưỡng",
     "Registration of religious activities", "Pendaftaran kegiatan keagamaan"),
    ("MOC-PRACTICE", "MOC", False, "Cấp chứng chỉ hành nghề xây dựng",
     "Construction practice certificate", "Sertifikat praktik konstruksi"),
    ("MOFA-LEGALISATION", "MOFA", True, "Hợp pháp hóa lãnh sự",
     "Consular legalisation", "Legalisasi konsuler"),
    ("SBV-FX", "SBV", False, "Đăng ký khoản vay nước ngoài",
     "Foreign loan registration", "Pendaftaran pinjaman luar negeri"),
    ("GDC-DECLARATION", "GDC", True, "Khai hải quan điện tử",
     "Electronic customs declaration", "Deklarasi pabean elektronik"),
    ("EVN-CONNECTION", "EVN", True, "Cấp điện mới từ lưới điện hạ áp",
     "New low-voltage electricity connection", "Sambungan listrik tegangan rendah baru"),
    ("HP-RESIDENCE", "HP", True, "Đăng ký tạm trú",
     "Temporary residence registration", "Pendaftaran tempat tinggal sementara"),
    ("BD-BUSINESS", "BD", True, "Đăng ký hộ kinh doanh",
     "Household business registration", "Pendaftaran usaha rumah tangga"),
    ("TTH-DEATH", "TTH", True, "Đăng ký khai tử", "Death registration", "Pencatatan kematian"),
]  # fmt: skip

DEMO_SERVICE = "HN-BIRTH"
# The provinces' one-stop sections and the ministries that settle dossiers rate each
# dossier on its criteria: half the demo's services.
DOSSIER_EVALUATION = "dossier-evaluation"
DOSSIER_AGENCIES = frozenset(
    {"HN", "HCM", "DN", "CT", "QN", "HP", "BD", "TTH", "MOJ", "MONRE", "MOC", "MOT", "MOIT", "MARD"}
)
DEMO_REF = "demo-link-{n}"
DEMO_USER = "demo"


@dataclass(frozen=True)
class DemoResult:
    agencies_added: int
    services_added: int
    agencies_total: int
    services_total: int
    base_url: str
    link: str
    # The demo login's password when this run created it; None when it existed already.
    password: str | None = None

    @property
    def dashboard(self) -> str:
        return f"{self.base_url}/dashboard"


async def load(settings: Settings) -> DemoResult:
    existing_agencies = {row["code"] for row in await Agency.select(Agency.code)}
    existing_services = {row["code"] for row in await Service.select(Service.code)}
    agencies_added = services_added = 0
    for code, kind, vi, en, id_ in AGENCIES:
        if code not in existing_agencies:
            await directory.add_agency(code, kind, vi, {"vi": vi, "en": en, "id": id_})
            if code in DOSSIER_AGENCIES:
                await directory.assign_questionnaire(DOSSIER_EVALUATION, agency_code=code)
            agencies_added += 1
    for code, agency, essential, vi, en, id_ in SERVICES:
        if code not in existing_services:
            await directory.add_service(
                code, agency, vi, {"vi": vi, "en": en, "id": id_}, essential
            )
            services_added += 1
    base_url = (settings.public_url or "http://127.0.0.1:8000").rstrip("/")
    token = await open_demo_invitation(settings)
    password = await demo_login()
    return DemoResult(
        agencies_added=agencies_added,
        services_added=services_added,
        agencies_total=await Agency.count(),
        services_total=await Service.count(),
        base_url=base_url,
        link=f"{base_url}/s/{token}",
        password=password,
    )


async def demo_login() -> str | None:
    """Create the demo's administrator on first run, with a random password that only
    this run knows (it is stored hashed); None when the login exists already."""
    if await BaseUser.exists().where(BaseUser.username == DEMO_USER):
        return None
    password = secrets.token_urlsafe(12)
    user = await BaseUser.create_user(
        username=DEMO_USER,
        password=password,
        email=f"{DEMO_USER}@staff.invalid",
        active=True,
        admin=True,
        superuser=True,
    )
    await staff.set_role(user.id, Role.admin, None)
    return password


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
