"""Write the sample XLSForm ``service-feedback.xlsx`` (next to this file, or to the path given).

    .venv/bin/python questionnaires/samples/make_sample_xlsform.py [OUT.xlsx]

An XLSForm as ODK or KoboToolbox authors write one, in Vietnamese, English
and Indonesian, using everything ``survey questionnaire import-xlsform``
maps: metadata rows (skipped), a select_one over 1..5 (a rating), an integer
constrained to 1..5 (a rating labelled 1..5), a select_multiple shown when
``${overall} <= 3``, a select_one, and texts shown on ``selected(...)`` and
``${channel} = '...'``. Some texts are the shipped catalogs' own msgids, with
the same translations. The rows are plain data: edit them here, run the
script, and commit both files.
"""

from __future__ import annotations

import sys
from pathlib import Path

LANGUAGES = ("English (en)", "Vietnamese (vi)", "Indonesian (id)")
SATISFACTION = [
    ("1", "Very dissatisfied", "Rất không hài lòng", "Sangat tidak puas"),
    ("2", "Dissatisfied", "Không hài lòng", "Tidak puas"),
    ("3", "Neither satisfied nor dissatisfied", "Bình thường", "Biasa saja"),
    ("4", "Satisfied", "Hài lòng", "Puas"),
    ("5", "Very satisfied", "Rất hài lòng", "Sangat puas"),
]
NO_PERSONAL_DATA = (
    "Optional. Please do not write your name, ID number or phone number.",
    "Không bắt buộc. Vui lòng không ghi họ tên, số định danh hay số điện thoại.",
    "Opsional. Mohon jangan menulis nama, nomor identitas, atau nomor telepon Anda.",
)
NO_HINT = ("", "", "")

SURVEY_HEADER = [
    "type",
    "name",
    *(f"label::{language}" for language in LANGUAGES),
    *(f"hint::{language}" for language in LANGUAGES),
    "required",
    "relevant",
    "constraint",
    "appearance",
]
# type, name, labels (en, vi, id), hints (en, vi, id), required, relevant, constraint, appearance
SURVEY = [
    ("start", "start", ("", "", ""), NO_HINT, "", "", "", ""),
    ("end", "end", ("", "", ""), NO_HINT, "", "", "", ""),
    (
        "select_one satisfaction",
        "overall",
        (
            "Overall, how satisfied are you with the service you received today?",
            "Nhìn chung, ông/bà có hài lòng với dịch vụ nhận được hôm nay không?",
            "Secara keseluruhan, seberapa puas Anda dengan layanan yang Anda terima hari ini?",
        ),
        NO_HINT,
        "yes",
        "",
        "",
        "likert",
    ),
    (
        "integer",
        "waiting",
        (
            "How short was your wait, from 1 (very long) to 5 (very short)?",
            "Thời gian chờ của ông/bà ngắn đến mức nào, từ 1 (rất lâu) đến 5 (rất nhanh)?",
            "Seberapa singkat waktu tunggu Anda, dari 1 (sangat lama) sampai 5 (sangat singkat)?",
        ),
        NO_HINT,
        "yes",
        "",
        ". >= 1 and . <= 5",
        "",
    ),
    (
        "select_multiple problems",
        "problems",
        ("What went wrong?", "Điều gì chưa tốt?", "Apa yang kurang baik?"),
        ("Choose all that apply.", "Chọn tất cả các ý phù hợp.", "Pilih semua yang sesuai."),
        "",
        "${overall} <= 3",
        "",
        "",
    ),
    (
        "text",
        "problem_other",
        (
            "Please describe what else went wrong",
            "Xin mô tả điều chưa tốt khác",
            "Mohon jelaskan hal lain yang kurang baik",
        ),
        NO_HINT,
        "",
        "selected(${problems}, 'other')",
        "string-length(.) <= 300",
        "multiline",
    ),
    (
        "select_one channel",
        "channel",
        (
            "How did you submit your application?",
            "Ông/bà đã nộp hồ sơ bằng cách nào?",
            "Bagaimana Anda mengajukan permohonan?",
        ),
        NO_HINT,
        "yes",
        "",
        "",
        "",
    ),
    (
        "text",
        "online_idea",
        (
            "What would make the online service better?",
            "Điều gì sẽ giúp dịch vụ trực tuyến tốt hơn?",
            "Apa yang dapat membuat layanan daring lebih baik?",
        ),
        NO_PERSONAL_DATA,
        "",
        "${channel} = 'online'",
        "",
        "multiline",
    ),
]

CHOICES_HEADER = ["list_name", "name", *(f"label::{language}" for language in LANGUAGES)]
CHOICES = [
    *(("satisfaction", name, *labels) for name, *labels in SATISFACTION),
    (
        "problems",
        "queue",
        "Long wait at the counter",
        "Phải chờ lâu tại quầy",
        "Antrean lama di loket",
    ),
    (
        "problems",
        "documents",
        "The list of required documents was unclear",
        "Danh mục giấy tờ cần nộp chưa rõ ràng",
        "Daftar dokumen yang diperlukan tidak jelas",
    ),
    (
        "problems",
        "staff",
        "Staff were not helpful",
        "Cán bộ chưa nhiệt tình hỗ trợ",
        "Petugas kurang membantu",
    ),
    ("problems", "other", "Other reason", "Lý do khác", "Alasan lain"),
    (
        "channel",
        "counter",
        "At the one-stop counter",
        "Tại bộ phận một cửa",
        "Di loket layanan terpadu",
    ),
    (
        "channel",
        "online",
        "Online, on the public service portal",
        "Trực tuyến, trên Cổng dịch vụ công",
        "Secara daring, di portal layanan publik",
    ),
    ("channel", "post", "By post", "Qua bưu chính", "Melalui pos"),
]

SETTINGS_HEADER = [
    *(f"form_title::{language}" for language in LANGUAGES),
    "form_id",
    "version",
    "default_language",
]
SETTINGS = [
    (
        "Tell us about your visit",
        "Hãy cho chúng tôi biết về lần làm thủ tục của ông/bà",
        "Ceritakan kepada kami tentang kunjungan Anda",
        "service_feedback",
        "2026120101",
        "English (en)",
    )
]


def sheets() -> dict[str, list[list[str]]]:
    """Each sheet's rows, header first, as they are written."""
    survey = [
        [kind, name, *labels, *hints, required, relevant, constraint, appearance]
        for kind, name, labels, hints, required, relevant, constraint, appearance in SURVEY
    ]
    return {
        "survey": [SURVEY_HEADER, *survey],
        "choices": [CHOICES_HEADER, *map(list, CHOICES)],
        "settings": [SETTINGS_HEADER, *map(list, SETTINGS)],
    }


def write(path: Path) -> Path:
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets().items():
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append([cell or None for cell in row])
    workbook.save(path)
    return path


if __name__ == "__main__":
    out = (
        Path(sys.argv[1])
        if len(sys.argv) > 1
        else Path(__file__).with_name("service-feedback.xlsx")
    )
    print(write(out))
