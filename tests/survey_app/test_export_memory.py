"""The microdata export streams: its memory does not grow with the number of rows."""

from __future__ import annotations

import datetime as dt
import tracemalloc

from survey_app.agencies import directory
from survey_app.auth import apikeys
from survey_app.db.bulk import Synthetic, insert_responses
from survey_app.db.tables import AgencyKind, Role

SMALL, LARGE = 4_000, 32_000


async def _fill(count: int, agency: str) -> None:
    agency_id = await directory.add_agency(agency, AgencyKind.ministry, agency, {})
    service_id = await directory.add_service(f"{agency}-S", agency, "S", {}, False)
    day = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    await insert_responses(
        [
            Synthetic(
                agency_id,
                service_id,
                "web",
                "vi",
                day,
                1 + i % 5,
                ("portal_error",) if i % 5 < 3 else (),
            )
            for i in range(count)
        ]
    )


def peak_while_exporting(http, key: str, agency: str) -> tuple[int, int]:
    """(rows, peak traced bytes) while downloading the export and throwing it away."""
    rows = 0
    tracemalloc.start()
    try:
        with http.stream(
            "GET",
            "/api/v1/exports/responses.csv",
            params={"agency": agency},
            headers={"Authorization": f"Bearer {key}"},
        ) as answer:
            assert answer.status_code == 200
            for chunk in answer.iter_bytes():
                rows += chunk.count(b"\n")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return rows - 1, peak


def test_export_memory_is_flat(http, live):
    live.run(_fill(SMALL, "SMALL"))
    live.run(_fill(LARGE, "LARGE"))
    key = live.run(apikeys.create(Role.researcher, None))
    small_rows, small_peak = peak_while_exporting(http, key, "SMALL")
    large_rows, large_peak = peak_while_exporting(http, key, "LARGE")
    assert (small_rows, large_rows) == (SMALL, LARGE)
    # Eight times the rows; a buffered export would need about eight times the memory.
    assert large_peak < 2 * small_peak, (small_peak, large_peak)
