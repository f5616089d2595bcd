"""``/api/v1/exports/responses.parquet``: the CSV export's rows, typed, in row groups,
with the data dictionary in the file; on SQLite and PostgreSQL over real HTTP."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from survey_app.agencies import directory
from survey_app.auth import apikeys
from survey_app.db.bulk import Synthetic, insert_responses
from survey_app.db.tables import AgencyKind, AuditEntry, Role
from survey_app.statistics import parquet_export

ROWS = 730


async def _fill() -> str:
    agency_id = await directory.add_agency("PQ", AgencyKind.ministry, "PQ", {})
    service_id = await directory.add_service("PQ-S", "PQ", "S", {}, False)
    start = dt.datetime(2026, 5, 1, 3, tzinfo=dt.UTC)
    await insert_responses(
        [
            Synthetic(
                agency_id,
                service_id,
                ("web", "mobile", "counter")[i % 3],
                ("vi", "en", "id")[i % 3],
                start + dt.timedelta(hours=7 * i),
                1 + i % 5,
                ("portal_error", "other") if i % 5 < 2 else (),
            )
            for i in range(ROWS)
        ]
    )
    return await apikeys.create(Role.researcher, None, "parquet test")


@pytest.fixture
def researcher(live) -> str:
    return live.run(_fill())


def _csv(http, key: str) -> list[dict[str, str]]:
    answer = http.get("/api/v1/exports/responses.csv", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200
    return list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))


def test_parquet_holds_the_csv_rows_typed_in_row_groups(
    http, live, researcher, monkeypatch
) -> None:
    monkeypatch.setattr(parquet_export, "ROW_GROUP", 100)
    answer = http.get(
        "/api/v1/exports/responses.parquet", headers={"Authorization": f"Bearer {researcher}"}
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/vnd.apache.parquet"
    file = pq.ParquetFile(io.BytesIO(answer.content))
    assert file.metadata.num_rows == ROWS
    assert file.metadata.num_row_groups == -(-ROWS // 100)  # streamed a group at a time
    table = file.read()
    assert table.schema.field("date").type == pa.date32()
    assert table.schema.field("rating").type == pa.int32()
    assert table.schema.field("reason_portal_error").type == pa.int8()

    rows = _csv(http, researcher)
    assert len(rows) == ROWS
    records = table.to_pylist()
    for from_csv, from_parquet in zip(rows, records, strict=True):
        assert from_csv["date"] == from_parquet["date"].isoformat()
        assert int(from_csv["rating"]) == from_parquet["rating"]
        assert int(from_csv["reason_other"]) == from_parquet["reason_other"]
        for name in ("agency", "service", "channel", "locale", "questionnaire_id"):
            assert from_csv[name] == from_parquet[name]


def test_the_dictionary_travels_in_the_schema(http, researcher) -> None:
    headers = {"Authorization": f"Bearer {researcher}"}
    dictionary = http.get("/api/v1/exports/dictionary.json", headers=headers).json()
    answer = http.get("/api/v1/exports/responses.parquet", headers=headers)
    schema = pq.read_schema(io.BytesIO(answer.content))
    assert json.loads(schema.metadata[b"dictionary"])["columns"] == dictionary["columns"]
    rating = json.loads(schema.field("rating").metadata[b"dictionary"])
    assert rating["codes"]["5"]["vi"]  # every label in every language
    assert set(rating["codes"]["1"]) == {"vi", "en", "id"}
    assert schema.field("rating").metadata[b"description"]


def test_parquet_exports_are_audited_and_guarded(http, live, researcher) -> None:
    url = "/api/v1/exports/responses.parquet"
    analyst = live.run(apikeys.create(Role.analyst, None, "analyst"))
    assert http.get(url, headers={"Authorization": f"Bearer {analyst}"}).status_code == 403
    assert http.get(url).status_code == 401
    answer = http.get(url + "?agency=PQ", headers={"Authorization": f"Bearer {researcher}"})
    assert answer.status_code == 200
    entry = live.run(AuditEntry.select().order_by(AuditEntry.id, ascending=False).first())
    assert entry["format"] == "parquet"
    assert entry["row_count"] == ROWS
    filters = entry["filters"]
    assert (json.loads(filters) if isinstance(filters, str) else filters)["agency"] == "PQ"
    empty = http.get(url + "?agency=NONE", headers={"Authorization": f"Bearer {researcher}"})
    assert empty.status_code == 200
    assert pq.ParquetFile(io.BytesIO(empty.content)).metadata.num_rows == 0
