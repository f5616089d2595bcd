"""Personal data typed into free text never reaches the database, on SQLite and PostgreSQL.

A comment with a phone number, a CCCD and an e-mail goes in through the portal API and
through the citizen form; then the whole database (every row of every table, and on
SQLite the bytes of the file and its write-ahead log) and the comments export are
searched for them.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path

import pytest

from survey_app.agencies import directory
from survey_app.auth import apikeys
from survey_app.db.tables import Comment, Response, Role
from survey_app.submissions.redact import MARKERS, Kind
from tests.survey_app.conftest import invite

PHONE, CCCD, EMAIL = "0913 579 246", "038201009876", "le.thi.hoa1987@gmail.com"
PHONE_2, NIK = "+84 28 3829 7531", "3174051234567890"
# Each original as typed, and its digits alone: neither may be stored.
ORIGINALS = [PHONE, PHONE.replace(" ", ""), CCCD, EMAIL, "le.thi.hoa1987", "38297531", NIK]


async def _all_rows() -> str:
    """Every row of every table, as text."""
    if Comment._meta.db.engine_type == "sqlite":
        names = await Comment.raw("SELECT name FROM sqlite_master WHERE type = 'table'")
        rows = [await Comment.raw(f'SELECT * FROM "{n["name"]}"') for n in names]
        return repr(rows)
    names = await Comment.raw(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
    )
    rows = [
        await Comment.raw(f'SELECT row_to_json(t)::text AS row FROM "{n["table_name"]}" t')
        for n in names
    ]
    return repr(rows)


def _stored_bytes(database_url: str) -> bytes:
    """The SQLite file and its write-ahead log, as bytes (b"" on PostgreSQL).

    Read by another process: closing a descriptor of the database file here would drop
    every POSIX lock this process (the live server) holds on it, and the next process to
    open the database could then check-point and reset the log under the server's feet
    (https://sqlite.org/howtocorrupt.html, 2.2)."""
    if not database_url.startswith("sqlite"):
        return b""
    path = Path(database_url.removeprefix("sqlite:///"))
    files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-journal")]
    present = [str(f) for f in files if f.exists()]
    return subprocess.run(["cat", *present], capture_output=True, check=True).stdout


def _admin_key(live) -> str:
    async def make() -> str:
        return await apikeys.create(Role.admin, await directory.agency_id("MIC"))

    return live.run(make())


@pytest.fixture
def submitted(http, portal, live) -> dict[str, int]:
    """One response through the API (in English), one through the form (in Vietnamese)."""
    api_token = invite(http, portal, "REDACT-API")["token"]
    body = {
        "token": api_token,
        "locale": "en",
        "answers": {
            "overall": 2,
            "reasons": ["other"],
            "reason_other": f"Nobody answered {PHONE_2}",
            "comment": f"Call {PHONE}, my CCCD is {CCCD}, mail {EMAIL}. NIK {NIK}",
        },
    }
    stored = http.post("/api/v1/responses", json=body, headers=portal.auth)
    assert stored.status_code == 201, stored.text
    form_token = invite(http, portal, "REDACT-FORM")["token"]
    sent = http.post(
        f"/s/{form_token}?lang=vi",
        data={
            "lang": "vi",
            "overall": "1",
            "reasons": ["other"],
            "reason_other": f"Gọi {PHONE} không ai nghe",
            "comment": f"CCCD {CCCD}, email {EMAIL}, ngày 12.03.2026 phí 1.500.000 đ",
        },
    )
    assert sent.status_code == 303, sent.text
    return {"en": 5, "vi": 3}  # what each response had removed


def test_originals_are_stored_nowhere(submitted, live):
    everything = live.run(_all_rows())
    raw = _stored_bytes(live.settings.database_url)
    for original in ORIGINALS:
        assert original.encode() not in raw, original
        assert original not in everything, original


def test_markers_and_counts_are_stored(submitted, live):
    comments = {
        (c["locale"], c["question"]): c["text"]
        for c in live.run(
            Comment.select(Comment.response.locale.as_alias("locale"), Comment.all_columns())
        )
    }
    en, vi = MARKERS["en"], MARKERS["vi"]
    assert comments[("en", "comment")] == (
        f"Call {en[Kind.phone]}, my CCCD is {en[Kind.id_number]}, mail {en[Kind.email]}. "
        f"NIK {en[Kind.id_number]}"
    )
    assert comments[("en", "reason_other")] == f"Nobody answered {en[Kind.phone]}"
    assert comments[("vi", "reason_other")] == f"Gọi {vi[Kind.phone]} không ai nghe"
    # Dates and amounts stay.
    assert comments[("vi", "comment")] == (
        f"CCCD {vi[Kind.id_number]}, email {vi[Kind.email]}, ngày 12.03.2026 phí 1.500.000 đ"
    )
    counts = {
        r["locale"]: json.loads(r["answers"]) if isinstance(r["answers"], str) else r["answers"]
        for r in live.run(Response.select(Response.locale, Response.answers))
    }
    assert {locale: answers.get("redacted") for locale, answers in counts.items()} == submitted


def test_comments_export_has_markers_only(submitted, http, live):
    headers = {"Authorization": f"Bearer {_admin_key(live)}"}
    as_json = http.get("/api/v1/comments", headers=headers)
    assert as_json.status_code == 200, as_json.text
    as_csv = http.get("/api/v1/comments", params={"format": "csv"}, headers=headers)
    assert as_csv.status_code == 200, as_csv.text
    texts = [c["text"] for c in as_json.json()["comments"]]
    rows = list(csv.DictReader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert len(texts) == len(rows) == 4
    for original in ORIGINALS:
        assert original not in as_json.text
        assert original not in as_csv.content.decode("utf-8-sig")
    joined = " ".join(texts)
    for locale in ("en", "vi"):
        for kind in (Kind.phone, Kind.id_number, Kind.email):
            assert MARKERS[locale][kind] in joined, (locale, kind)
