"""Disclosure control on every output, over real HTTP and the command line.

Agency TINY has 6 responses; an analyst of another agency tries the attacks of
issue 13: narrow filters down to a handful of citizens, totals minus the visible
rows, two periods, and the dashboard, its charts and ``survey report``.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter

import pytest

from tests.conftest import survey_command
from tests.survey_app.conftest import SIZES, seed_statistics
from tests.survey_app.test_cli import env_for
from tests.survey_app.test_dashboard import log_in, seeded  # noqa: F401 (fixture)

FIGURES = ("satisfied", "total", "csat", "ci_low", "ci_high", "count", "share", "mean_rating")


@pytest.fixture
def stats_seeded(live):
    return live.run(seed_statistics())


def auth(data, role="analyst"):
    return {"Authorization": f"Bearer {data['keys'][role]}"}


def no_figures(rows) -> None:
    for row in rows:
        assert row["suppressed"] in (True, "True"), row
        for name in FIGURES:
            assert row.get(name) in (None, ""), (name, row)


def test_a_narrow_filter_shows_no_one(http, stats_seeded):
    for agency, size in (("TINY", SIZES["TINY"]),):
        assert size < 10
        for path in ("satisfaction", "reasons", "trend"):
            body = http.get(
                f"/api/v1/stats/{path}", params={"agency": agency}, headers=auth(stats_seeded)
            ).json()
            assert body["n_responses"] == 0, path
            rows = body.get("groups") or body.get("cells") or body.get("periods")
            assert rows, path
            no_figures(rows)
            as_csv = http.get(
                f"/api/v1/stats/{path}",
                params={"agency": agency, "format": "csv"},
                headers=auth(stats_seeded),
            )
            no_figures(csv.DictReader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
        body = http.get(
            "/api/v1/stats/satisfaction", params={"agency": agency}, headers=auth(stats_seeded)
        ).json()
        official = body["overall"].pop("official_rate")
        assert set(body["overall"].values()) == {None}
        assert official["rate"] is None
        assert official["transactions"] == 0
        trend = http.get(
            "/api/v1/stats/trend", params={"agency": agency}, headers=auth(stats_seeded)
        ).json()
        assert trend["trend_test"]["odds_ratio"] is None
        assert trend["last_change"]["diff"] is None


def test_one_day_and_channel_reveals_nobody(http, stats_seeded):
    per_day = Counter(
        (r.submitted_at.date().isoformat(), channel) for _, channel, r in stats_seeded["records"]
    )
    (day, channel), n = min(per_day.items(), key=lambda item: item[1])
    assert n < 10
    body = http.get(
        "/api/v1/stats/satisfaction",
        params={"from": day, "to": day, "channel": channel, "group_by": "service"},
        headers=auth(stats_seeded),
    ).json()
    assert body["n_responses"] == 0
    no_figures(body["groups"])


def test_totals_minus_visible_rows_leave_ten_or_nothing(http, stats_seeded):
    national = http.get("/api/v1/stats/trend", headers=auth(stats_seeded)).json()
    assert national["n_responses"] == sum(SIZES.values())  # no month is small
    by_agency = http.get("/api/v1/stats/satisfaction", headers=auth(stats_seeded)).json()
    shown = [g for g in by_agency["groups"] if not g["suppressed"]]
    assert by_agency["overall"]["total"] == sum(g["total"] for g in shown)
    left = national["n_responses"] - by_agency["overall"]["total"]
    assert left == 0 or left >= 10
    assert left == SIZES["TINY"] + SIZES["MIC"]
    # Each visible difference is from the other visible agencies only.
    for group in shown:
        rest = [g for g in shown if g is not group]
        if not rest:
            assert group["diff"] is None
            continue
        rest_rate = sum(g["satisfied"] for g in rest) / sum(g["total"] for g in rest)
        assert group["diff"] == pytest.approx(group["csat"] - rest_rate)


def test_two_periods_of_a_small_agency_compared_show_nothing(http, stats_seeded):
    body = http.get(
        "/api/v1/stats/trend",
        params={"compare": "TINY,MOF", "period": "month"},
        headers=auth(stats_seeded),
    ).json()
    no_figures(body["series"]["TINY"]["periods"])
    assert body["series"]["TINY"]["last_change"]["diff"] is None
    assert [p["suppressed"] for p in body["series"]["MOF"]["periods"]] == [False] * 3


def test_dashboard_and_charts_withhold_the_small_agency(http, seeded):  # noqa: F811
    assert log_in(http, "ana").status_code == 303
    page = http.get("/dashboard?agency=TINY&lang=en").text
    assert "withheld" in page
    assert f"{SIZES['TINY']} responses" not in page
    for chart in ("reasons", "trend"):
        # A chart that says there is nothing to draw, not TINY's figures.
        answer = http.get(f"/charts/{chart}.svg?agency=TINY")
        assert answer.status_code == 200
        assert b'id="nothing-to-draw"' in answer.content, chart
    overview = http.get("/dashboard?agency=MOF&lang=en").text
    national = overview.split('id="national"')[1].split("</section>")[0]
    # The national figure covers published agencies only, and says so.
    assert f"from {SIZES['MOF']} responses" in national


@pytest.mark.slow
def test_survey_report_applies_the_same_rule(live, stats_seeded):
    env = env_for(live)
    done = survey_command("report", "satisfaction", "--format", "json", env=env)
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    suppressed = {g["group"]: g["suppressed"] for g in body["groups"]}
    assert suppressed == {"MIC": True, "MOF": False, "TINY": True}
    assert body["overall"]["total"] == SIZES["MOF"]
    # The report carries the nonresponse figures too (every seeded invitation answered).
    mof = next(g for g in body["groups"] if g["group"] == "MOF")
    assert mof["invitations"] == SIZES["MOF"]
    assert mof["response_rate"] == 1
    assert mof["csat_weighted"] == pytest.approx(mof["csat"])
    assert next(g for g in body["groups"] if g["group"] == "TINY")["invitations"] is None
    done = survey_command("report", "trend", "--agency", "TINY", "--format", "csv", env=env)
    assert done.returncode == 0, done.stderr
    no_figures(csv.DictReader(io.StringIO(done.stdout)))
