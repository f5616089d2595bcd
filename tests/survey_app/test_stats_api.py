"""Statistics API and microdata export over real HTTP, on both engines.

The numbers each endpoint returns are checked against the analysis functions
run on counts computed here, in Python, from the very records inserted.
"""

from __future__ import annotations

import csv
import io
from collections import Counter

import openpyxl
import pandas as pd
import pytest

import analysis
from tests.survey_app.conftest import REASONS, SIZES, seed_statistics


@pytest.fixture
def seeded(live):
    return live.run(seed_statistics())


def auth(seeded, role="researcher"):
    return {"Authorization": f"Bearer {seeded['keys'][role]}"}


def expected_satisfaction(records, keep=lambda a, c, r: True):
    rows = {}
    for agency, channel, r in records:
        if keep(agency, channel, r):
            s, t, total = rows.get(agency, (0, 0, 0))
            rows[agency] = (s + (r.overall >= 4), t + 1, total + r.overall)
    return pd.DataFrame(
        [
            {"group": g, "satisfied": s, "total": t, "rating_sum": rs}
            for g, (s, t, rs) in sorted(rows.items())
        ]
    )


def test_satisfaction_json_matches_analysis(http, seeded):
    answer = http.get("/api/v1/stats/satisfaction", headers=auth(seeded))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    expected = analysis.suppress(
        analysis.compare_satisfaction(expected_satisfaction(seeded["records"]))
    )
    got = {g["group"]: g for g in body["groups"]}
    # TINY's 6 responses are withheld, and MIC (the smallest other) with them: a
    # national total minus MOF alone would otherwise give TINY's figures away.
    assert {g: row["suppressed"] for g, row in got.items()} == {
        "MIC": True,
        "MOF": False,
        "TINY": True,
    }
    assert body["n_responses"] == SIZES["MOF"]
    assert body["disclosure"] == {"min_count": 10, "withheld_rows": 2}
    assert body["filters"]["group_by"] == "agency"
    assert "generated_at" in body
    assert any("Holm" in m for m in body["method"])
    assert any(m.startswith("disclosure control") for m in body["method"])
    for row in expected.groups.itertuples():
        if row.suppressed:
            assert got[row.group]["csat"] is None
            assert got[row.group]["total"] is None
            continue
        assert got[row.group]["csat"] == pytest.approx(row.csat)
        assert got[row.group]["ci_low"] == pytest.approx(row.ci_low)
        assert got[row.group]["mean_rating"] == pytest.approx(row.mean_rating)
        assert got[row.group]["significant"] == row.significant
        assert got[row.group]["target_status"] == row.target_status
    assert body["overall"]["csat"] == pytest.approx(expected.overall.csat)
    assert body["overall"]["total"] == SIZES["MOF"]


def test_satisfaction_csv_and_xlsx_parse_back(http, seeded):
    expected = analysis.compare_satisfaction(
        expected_satisfaction(seeded["records"])
    ).groups.set_index("group")
    as_csv = http.get("/api/v1/stats/satisfaction", params={"format": "csv"}, headers=auth(seeded))
    assert as_csv.status_code == 200
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert 'filename="satisfaction-' in as_csv.headers["content-disposition"]
    rows = {r["group"]: r for r in csv.DictReader(io.StringIO(as_csv.content.decode("utf-8-sig")))}
    assert float(rows["MOF"]["csat"]) == pytest.approx(expected.loc["MOF", "csat"])
    assert rows["MOF"]["target_status"] == expected.loc["MOF", "target_status"]
    assert rows["TINY"]["csat"] == ""
    assert rows["TINY"]["suppressed"] == "True"
    as_xlsx = http.get(
        "/api/v1/stats/satisfaction", params={"format": "xlsx"}, headers=auth(seeded)
    )
    assert as_xlsx.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(as_xlsx.content)).active
    header = [c.value for c in sheet[1]]
    values = {
        r[0]: dict(zip(header, r, strict=True))
        for r in sheet.iter_rows(min_row=2, values_only=True)
    }
    assert values["MOF"]["csat"] == pytest.approx(expected.loc["MOF", "csat"])
    assert values["TINY"]["csat"] is None
    assert values["MIC"]["csat"] is None  # complementary suppression


def test_reasons_match_analysis_multi_select(http, seeded):
    body = http.get("/api/v1/stats/reasons", headers=auth(seeded)).json()
    mentions, people = Counter(), Counter()
    for agency, _, r in seeded["records"]:
        for code in r.reasons:
            mentions[(agency, code)] += 1
        people[agency] += bool(r.reasons)
    table = pd.DataFrame([{"group": g, "reason": c, "count": n} for (g, c), n in mentions.items()])
    published = analysis.suppress(analysis.reason_breakdown(table, respondents=dict(people)))
    expected = published.cells.set_index(["group", "reason"])
    got = {(c["group"], c["reason"]): c for c in body["cells"]}
    assert body["n_responses"] == sum(published.respondents.values())
    assert people["TINY"] < 10
    assert {c["group"] for c in body["cells"] if c["suppressed"]} >= {"TINY"}
    for (group, reason), row in expected.iterrows():
        cell = got[(group, reason)]
        if row["suppressed"]:
            assert cell["suppressed"] is True
            assert cell["share"] is None
        else:
            assert cell["share"] == pytest.approx(row["share"])
            if pd.isna(row["p_adjusted"]):
                assert cell["p_adjusted"] is None
            else:
                assert cell["p_adjusted"] == pytest.approx(row["p_adjusted"])


def test_trend_national_and_compared(http, seeded):
    body = http.get("/api/v1/stats/trend", params={"period": "month"}, headers=auth(seeded)).json()
    months = Counter()
    satisfied = Counter()
    for _, _, r in seeded["records"]:
        key = r.submitted_at.strftime("%Y-%m")
        months[key] += 1
        satisfied[key] += r.overall >= 4
    table = pd.DataFrame(
        [{"period": m, "satisfied": satisfied[m], "total": months[m]} for m in sorted(months)]
    )
    expected = analysis.trend(table)
    assert [p["period"] for p in body["periods"]] == ["2026-01", "2026-02", "2026-03"]
    assert [p["csat"] for p in body["periods"]] == pytest.approx(list(expected.periods["csat"]))
    assert body["trend_test"]["odds_ratio"] == pytest.approx(expected.trend_test.odds_ratio)
    quarter = http.get(
        "/api/v1/stats/trend", params={"period": "quarter"}, headers=auth(seeded)
    ).json()
    assert [p["period"] for p in quarter["periods"]] == ["2026-Q1"]
    compared = http.get(
        "/api/v1/stats/trend", params={"compare": "MIC,MOF"}, headers=auth(seeded)
    ).json()
    assert set(compared["series"]) == {"MIC", "MOF"}
    assert compared["comparison"]["df"] == 1
    assert 0 <= compared["comparison"]["p_value"] <= 1


def test_league_ranks_by_shrunken_csat(http, seeded):
    rows = {}
    for _, channel, r in seeded["records"]:
        s, t = rows.get(channel, (0, 0))
        rows[channel] = (s + (r.overall >= 4), t + 1)
    table = pd.DataFrame(
        [{"group": c, "satisfied": s, "total": t} for c, (s, t) in sorted(rows.items())]
    )
    expected = analysis.shrink_satisfaction(table).groups.set_index("group")
    ranks = analysis.rank_intervals(table).groups.set_index("group")
    body = http.get(
        "/api/v1/stats/league", params={"group_by": "channel"}, headers=auth(seeded)
    ).json()
    got = body["groups"]
    assert [g["shrunken"] for g in got] == sorted((g["shrunken"] for g in got), reverse=True)
    for group in got:
        assert group["shrunken"] == pytest.approx(expected.loc[group["group"], "shrunken"])
        assert group["ci_low"] == pytest.approx(expected.loc[group["group"], "ci_low"])
        assert group["rank_high"] == ranks.loc[group["group"], "rank_high"]
    assert body["prior"]["alpha"] > 0
    assert any("shrunken" in m for m in body["method"])
    # By agency only MOF is published (TINY and MIC withheld): no league of one.
    alone = http.get("/api/v1/stats/league", headers=auth(seeded)).json()
    assert alone["groups"] == []
    assert "at least two published groups" in alone["method"][-1]


def test_filters_narrow_the_counts(http, seeded):
    body = http.get(
        "/api/v1/stats/satisfaction",
        params={"channel": "mobile", "from": "2026-02-01", "to": "2026-02-28"},
        headers=auth(seeded),
    ).json()
    keep = lambda a, c, r: c == "mobile" and r.submitted_at.month == 2  # noqa: E731
    expected = analysis.suppress(
        analysis.compare_satisfaction(expected_satisfaction(seeded["records"], keep))
    )
    assert body["n_responses"] == (expected.overall.total or 0)
    assert body["filters"]["channel"] == "mobile"
    one = http.get(
        "/api/v1/stats/satisfaction", params={"agency": "MOF"}, headers=auth(seeded)
    ).json()
    assert [g["group"] for g in one["groups"]] == ["MOF"]
    assert one["n_responses"] == SIZES["MOF"]


@pytest.mark.parametrize(
    ("path", "params", "fragment"),
    [
        ("/api/v1/stats/satisfaction", {"group_by": "planet"}, "group_by"),
        ("/api/v1/stats/satisfaction", {"format": "pdf"}, "format"),
        ("/api/v1/stats/satisfaction", {"from": "2026-13-01"}, "'from'"),
        ("/api/v1/stats/satisfaction", {"from": "2026-03-01", "to": "2026-01-01"}, "after"),
        ("/api/v1/stats/satisfaction", {"channel": "fax"}, "channel"),
        ("/api/v1/stats/reasons", {"essential": "maybe"}, "essential"),
        ("/api/v1/stats/trend", {"period": "year"}, "period"),
    ],
)
def test_bad_parameters_are_400_with_a_reason(http, seeded, path, params, fragment):
    answer = http.get(path, params=params, headers=auth(seeded))
    assert answer.status_code == 400
    assert fragment in answer.json()["detail"]


@pytest.mark.parametrize(
    ("role", "stats", "microdata"),
    [
        (None, 401, 401),
        ("portal", 403, 403),
        ("analyst", 200, 403),
        ("researcher", 200, 200),
        ("admin", 200, 200),
    ],
)
def test_who_may_see_what(http, seeded, role, stats, microdata):
    headers = auth(seeded, role) if role else {}
    assert http.get("/api/v1/stats/satisfaction", headers=headers).status_code == stats
    assert http.get("/api/v1/stats/reasons", headers=headers).status_code == stats
    assert http.get("/api/v1/exports/responses.csv", headers=headers).status_code == microdata
    assert http.get("/api/v1/exports/dictionary.json", headers=headers).status_code == microdata


def test_microdata_export_rows_and_reason_columns(http, seeded):
    answer = http.get("/api/v1/exports/responses.csv", headers=auth(seeded))
    assert answer.status_code == 200
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert len(rows) == sum(SIZES.values())
    assert {"agency", "service", "channel", "locale", "date", "rating"} <= set(rows[0])
    assert not {"comment", "transaction_key", "token", "id"} & set(rows[0])
    for code in REASONS:
        expected = sum(code in r.reasons for _, _, r in seeded["records"])
        assert sum(int(row[f"reason_{code}"]) for row in rows) == expected
    assert all(len(row["date"]) == 10 for row in rows)
    only = http.get(
        "/api/v1/exports/responses.csv", params={"agency": "TINY"}, headers=auth(seeded)
    )
    assert len(only.content.decode("utf-8-sig").strip().splitlines()) == 1 + SIZES["TINY"]


def test_dictionary_lists_every_column_with_labels(http, seeded):
    body = http.get("/api/v1/exports/dictionary.json", headers=auth(seeded)).json()
    names = [c["name"] for c in body["columns"]]
    export = http.get("/api/v1/exports/responses.csv", headers=auth(seeded)).content.decode(
        "utf-8-sig"
    )
    assert names == export.splitlines()[0].split(",")
    payment = next(c for c in body["columns"] if c["name"] == "reason_payment_error")
    assert payment["labels"]["en"] == "Errors when paying online"
    assert payment["labels"]["vi"] == "Lỗi khi thanh toán trực tuyến"


@pytest.mark.parametrize(
    ("path", "params", "key", "column"),
    [
        ("/api/v1/stats/reasons", {}, ("group", "reason"), "share"),
        ("/api/v1/stats/trend", {"period": "month"}, ("period",), "csat"),
        ("/api/v1/stats/satisfaction", {"group_by": "channel"}, ("group",), "csat"),
    ],
)
def test_csv_and_xlsx_carry_the_json_values(http, seeded, path, params, key, column):
    body = http.get(path, params=params, headers=auth(seeded)).json()
    rows = body.get("cells") or body.get("periods") or body.get("groups")
    expected = {tuple(r[k] for k in key): r[column] for r in rows}
    as_csv = http.get(path, params={**params, "format": "csv"}, headers=auth(seeded))
    parsed = list(csv.DictReader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    got = {tuple(r[k] for k in key): (float(r[column]) if r[column] else None) for r in parsed}
    assert got.keys() == expected.keys()
    for k, value in expected.items():
        assert got[k] == pytest.approx(value, nan_ok=True) if value is not None else got[k] is None
    as_xlsx = http.get(path, params={**params, "format": "xlsx"}, headers=auth(seeded))
    sheet = openpyxl.load_workbook(io.BytesIO(as_xlsx.content)).active
    header = [c.value for c in sheet[1]]
    for values in sheet.iter_rows(min_row=2, values_only=True):
        row = dict(zip(header, values, strict=True))
        value = expected[tuple(row[k] for k in key)]
        assert row[column] == (pytest.approx(value) if value is not None else None)


async def _unanswered(agency: str, channel: str, count: int) -> None:
    """``count`` invitations nobody answered, issued through the bulk loader (which counts
    them in the invitation cells, as issuing one by one does)."""
    import datetime as dt

    import numpy as np

    from survey_app.agencies import directory
    from survey_app.db.bulk import Columns, Unanswered, insert_columns

    agency_id = await directory.agency_id(agency)
    service = await directory.service_of_agency(agency_id, f"{agency}-1")
    when_us = int(dt.datetime(2026, 2, 10, 9, tzinfo=dt.UTC).timestamp()) * 1_000_000
    nobody = Unanswered(
        agency=[agency_id] * count,
        service=[service] * count,
        channel=[channel] * count,
        locale=["vi"] * count,
        created_us=np.full(count, when_us, dtype=np.int64),
    )
    empty = np.zeros(0, dtype=np.int64)
    none = Columns([], [], [], [], empty, [], [], unanswered=nobody)
    await insert_columns([none])


def test_response_rates_and_post_stratified_csat(http, live, seeded):
    live.run(_unanswered("MOF", "mobile", 270))
    cells = Counter()
    for agency, channel, r in seeded["records"]:
        if agency == "MOF":
            cells[channel, "n"] += 1
            cells[channel, "x"] += r.overall >= 4
    invited = {"web": cells["web", "n"], "mobile": cells["mobile", "n"] + 270}
    # Post-stratified CSAT by hand: each channel's CSAT weighted by its share of the
    # invitations (Lohr, Sampling, ch. 4 post-stratification).
    weighted = sum(
        invited[c] / sum(invited.values()) * cells[c, "x"] / cells[c, "n"] for c in invited
    )
    body = http.get(
        "/api/v1/stats/satisfaction",
        params={"min_response_rate": 0.2},
        headers=auth(seeded),
    ).json()
    mof = next(g for g in body["groups"] if g["group"] == "MOF")
    assert mof["invitations"] == SIZES["MOF"] + 270
    assert mof["response_rate"] == pytest.approx(SIZES["MOF"] / (SIZES["MOF"] + 270))
    assert mof["csat_weighted"] == pytest.approx(weighted)
    assert mof["csat_weighted"] != pytest.approx(mof["csat"])
    assert mof["deff"] > 1
    assert mof["ci_low_weighted"] < mof["csat_weighted"] < mof["ci_high_weighted"]
    rates = {c["channel"]: c for c in body["response_cells"] if c["group"] == "MOF"}
    assert rates["mobile"]["response_rate"] == pytest.approx(
        cells["mobile", "n"] / invited["mobile"]
    )
    assert rates["mobile"]["low_response"] is True
    assert rates["web"]["low_response"] is False
    # Withheld agencies get no response figures either.
    tiny = next(g for g in body["groups"] if g["group"] == "TINY")
    assert tiny["invitations"] is None
    assert tiny["csat_weighted"] is None
    assert not any(c["group"] == "TINY" for c in body["response_cells"])
    bad = http.get(
        "/api/v1/stats/satisfaction", params={"min_response_rate": 2}, headers=auth(seeded)
    )
    assert bad.status_code == 400


def test_official_rate_counts_every_transaction(http, live, seeded):
    """The government's indicator: (transactions - rated 2 or lower) / transactions, with
    unanswered invitations as transactions; beside CSAT and the response rate."""
    live.run(_unanswered("MOF", "web", 80))
    low = sum(1 for agency, _, r in seeded["records"] if agency == "MOF" and r.overall <= 2)
    transactions = SIZES["MOF"] + 80
    body = http.get("/api/v1/stats/satisfaction", headers=auth(seeded)).json()
    mof = next(g for g in body["groups"] if g["group"] == "MOF")
    assert mof["transactions"] == transactions
    assert mof["dissatisfied"] == low
    assert mof["official_rate"] == pytest.approx((transactions - low) / transactions)
    assert mof["official_rate"] > mof["csat"]  # nonrespondents count as not dissatisfied
    # Overall: the published agencies only (MOF), with the threshold stated.
    assert body["overall"]["official_rate"] == {
        "rate": pytest.approx((transactions - low) / transactions),
        "transactions": transactions,
        "dissatisfied": low,
        "threshold": 2,
    }
    assert any(m.startswith("official rate") and "2 or lower" in m for m in body["method"])
    as_csv = http.get("/api/v1/stats/satisfaction", params={"format": "csv"}, headers=auth(seeded))
    rows = {r["group"]: r for r in csv.DictReader(io.StringIO(as_csv.content.decode("utf-8-sig")))}
    assert float(rows["MOF"]["official_rate"]) == pytest.approx(mof["official_rate"])
    assert rows["TINY"]["official_rate"] == ""
