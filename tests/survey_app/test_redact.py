"""Personal data in free text is replaced before it is stored (``submissions.redact``).

A table of what citizens write in Vietnamese, English and Indonesian: each positive
comes out with exactly the markers shown, each negative unchanged.
"""

from __future__ import annotations

import time

import pytest

from survey_app.lib.settings import SUPPORTED_LOCALES
from survey_app.submissions.redact import MARKERS, Kind, redact

VI_ID, VI_PHONE, VI_MAIL, VI_FILE = (MARKERS["vi"][k] for k in Kind)
EN_ID, EN_PHONE, EN_MAIL, EN_FILE = (MARKERS["en"][k] for k in Kind)
ID_ID, ID_PHONE, ID_MAIL, ID_FILE = (MARKERS["id"][k] for k in Kind)

POSITIVES = [
    # Vietnamese mobiles and landlines, however grouped.
    ("vi", "Gọi tôi số 0912 345 678 nhé", f"Gọi tôi số {VI_PHONE} nhé"),
    ("vi", "SĐT: 0912.345.678.", f"SĐT: {VI_PHONE}."),
    ("vi", "sdt 0912-345-678, cảm ơn", f"sdt {VI_PHONE}, cảm ơn"),
    ("vi", "Liên hệ 0987654321 hoặc 0912345678", f"Liên hệ {VI_PHONE} hoặc {VI_PHONE}"),
    ("vi", "Zalo +84 912-345-678 ạ", f"Zalo {VI_PHONE} ạ"),
    ("vi", "ĐT (+84) 912 345 678", f"ĐT {VI_PHONE}"),
    ("vi", "gọi +84912345678 giúp", f"gọi {VI_PHONE} giúp"),
    ("vi", "Tổng đài (028) 3829 1234 không ai nghe", f"Tổng đài {VI_PHONE} không ai nghe"),
    ("vi", "Số bàn 024.3826.1234", f"Số bàn {VI_PHONE}"),
    ("vi", "SĐT0912345678", f"SĐT{VI_PHONE}"),
    ("vi", "ngày 12.03.2026 gọi 0912 345 678", f"ngày 12.03.2026 gọi {VI_PHONE}"),
    ("vi", "gọi 0912 345 678 12.03.2026 mới được", f"gọi {VI_PHONE} 12.03.2026 mới được"),
    ("vi", "năm 2026 0912345678", f"năm 2026 {VI_PHONE}"),
    ("vi", "0912.345.678-0987.654.321", f"{VI_PHONE}-{VI_PHONE}"),
    # Identity numbers: 12-digit CCCD, 9-digit CMND.
    ("vi", "CCCD của tôi là 001203012345", f"CCCD của tôi là {VI_ID}"),
    ("vi", "căn cước 079 203 001 234 bị sai", f"căn cước {VI_ID} bị sai"),
    ("vi", "số định danh 001.203.012.345", f"số định danh {VI_ID}"),
    ("vi", "CMND 012345678 hết hạn", f"CMND {VI_ID} hết hạn"),
    ("vi", "CMND: 145.678.901", f"CMND: {VI_ID}"),
    # E-mail addresses and dossier codes.
    ("vi", "Gửi về nguyen.van.an@gmail.com giúp em", f"Gửi về {VI_MAIL} giúp em"),
    ("vi", "mail: tran_thi-b+hs@dichvucong.gov.vn.", f"mail: {VI_MAIL}."),
    ("vi", "Hồ sơ 000.00.00.H00-240101-0001 chưa xử lý", f"Hồ sơ {VI_FILE} chưa xử lý"),
    ("vi", "mã hồ sơ 000.00.31.H29-230915-0007", f"mã hồ sơ {VI_FILE}"),
    ("vi", "hồ sơ h29.16-240312-0042 trễ hạn", f"hồ sơ {VI_FILE} trễ hạn"),
    # English.
    ("en", "Please call me on +84 28 3829 1234.", f"Please call me on {EN_PHONE}."),
    ("en", "My ID is 079203001234 and it was rejected", f"My ID is {EN_ID} and it was rejected"),
    ("en", "Email me at john.smith@example.com", f"Email me at {EN_MAIL}"),
    ("en", "Phone 0912 345 678, email a.b@c.vn", f"Phone {EN_PHONE}, email {EN_MAIL}"),
    ("en", "Application 000.00.31.H29-230915-0007 is late", f"Application {EN_FILE} is late"),
    # Indonesian.
    ("id", "Hubungi saya di 0812-3456-7890", f"Hubungi saya di {ID_PHONE}"),
    ("id", "nomor HP 081234567890 ya", f"nomor HP {ID_PHONE} ya"),
    ("id", "WA +62 812 3456 7890", f"WA {ID_PHONE}"),
    ("id", "telp +6281234567890", f"telp {ID_PHONE}"),
    ("id", "kantor (021) 5550 1234", f"kantor {ID_PHONE}"),
    ("id", "NIK saya 3174051234560001", f"NIK saya {ID_ID}"),
    ("id", "NIK 3174 0512 3456 0001 tidak terbaca", f"NIK {ID_ID} tidak terbaca"),
    ("id", "email budi.santoso@yahoo.co.id", f"email {ID_MAIL}"),
    ("id", "0812 3456 7890 dan budi@mail.id", f"{ID_PHONE} dan {ID_MAIL}"),
]

NEGATIVES = [
    ("vi", "Chậm quá, chờ 3 tiếng"),
    ("vi", "Nộp ngày 12/03/2026, hẹn 2026-03-12, trả 12.03.2026"),
    ("vi", "Lệ phí 1.500.000 đ mà vẫn lỗi"),
    ("vi", "Phí 1,500,000 VND quá cao"),
    ("vi", "Mất 200k tiền phí"),
    ("vi", "Thanh toán 12.500.000.000 đồng tiền sử dụng đất"),
    ("vi", "Chuyển 150000000 đồng rồi"),
    ("vi", "Giá trị hợp đồng 150.000.000"),
    ("vi", "Thủ tục 1.001234.000.00.00.H12 khó hiểu"),
    ("vi", "Mã thủ tục 1.001234"),
    ("vi", "Mở cửa 08:30 đến 17h00"),
    ("vi", "Chỉ 50% hồ sơ đúng hạn"),
    ("vi", "Nhà số 12 ngõ 34 phố Huế"),
    ("vi", "Năm 2025 tốt hơn năm 2024"),
    ("vi", "Quyết định số 1234/QĐ-UBND ngày 5/3"),
    ("vi", "Nghị định 123/2024/NĐ-CP"),
    ("vi", "Tầng 3, phòng 301, quầy số 5"),
    ("vi", "Đã thử các năm 2019 2020 2021 2022"),
    ("vi", "Chờ 10-15 phút, số thứ tự 105"),
    ("vi", "Đánh giá 4.5 sao"),
    ("en", "Waited from 2020-2024 for a reply"),
    ("en", "The fee was $150,000,000? No, 150.000 VND"),
    ("en", "Chrome 120.0.6099.109 shows a blank page"),
    ("en", "Email is not working @support"),
    ("en", "Call centre was busy at 9:45am on 3 March"),
    ("id", "Biaya Rp 1.250.000,00 terlalu mahal"),
    ("id", "Bayar Rp150.000.000 untuk sertifikat"),
    ("id", "Kode pos 12345, RT 03 RW 07"),
    ("id", "Antre 2 jam, nomor antrean 87"),
    ("id", "KTP saya hilang 2 kali"),
]


@pytest.mark.parametrize(("locale", "text", "expected"), POSITIVES)
def test_personal_data_is_replaced(locale, text, expected):
    done = redact(text, locale)
    assert done.text == expected
    assert done.removed == expected.count("[")
    assert redact(done.text, locale) == type(done)(done.text, 0)  # markers are not re-read


@pytest.mark.parametrize(("locale", "text"), NEGATIVES)
def test_ordinary_text_is_kept(locale, text):
    assert redact(text, locale).text == text
    assert redact(text, locale).removed == 0


def test_tables_are_large_enough():
    assert len(POSITIVES) >= 25
    assert len(NEGATIVES) >= 25
    assert {locale for locale, *_ in POSITIVES} == set(SUPPORTED_LOCALES)


def test_every_supported_locale_has_every_marker():
    for locale in SUPPORTED_LOCALES:
        assert set(MARKERS[locale]) == set(Kind), locale
        for marker in MARKERS[locale].values():
            assert marker.startswith("[")
            assert marker.endswith("]")
            assert not any(c.isdigit() for c in marker)
            assert "@" not in marker


def test_a_12_digit_indonesian_mobile_is_a_phone_in_indonesian_and_an_id_elsewhere():
    assert redact("0812 3456 7890", "id").text == ID_PHONE
    assert redact("0812 3456 7890", "vi").text == VI_ID


def test_unknown_locale_falls_back_to_vietnamese():
    assert redact("0912345678", "fr").text == VI_PHONE


def test_long_hostile_text_is_handled_in_linear_time():
    # 72,000 characters built to make a backtracking pattern or a search over every
    # stretch of digit groups quadratic: well under a second when linear, minutes if not.
    text = "1 " * 20_000 + "0912 345 678 " + "12.03.2026 " * 2_000 + "a@" * 5_000
    began = time.perf_counter()
    done = redact(text, "vi")
    assert time.perf_counter() - began < 5
    assert done.removed == 1
    assert VI_PHONE in done.text
