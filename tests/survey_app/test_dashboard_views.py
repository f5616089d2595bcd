"""The dashboard a ministry decides from, on the demo's data: filters kept in the URL,
agency -> service drill-down, the signals panel, and every chart and data link of every
demo agency answering 200 in every language (SQLite and PostgreSQL)."""

from __future__ import annotations

import html
import re

import pytest

from survey_app.demo import fixtures
from survey_app.demo import synthetic as demo
from survey_app.lib.settings import SUPPORTED_LOCALES
from tests.survey_app.test_dashboard import PASSWORD, _users, log_in

SRC = re.compile(r'<img src="([^"]+)"')
DATA = re.compile(r'<a href="(/api/v1/[^"]+)"')


@pytest.fixture
def demo_site(live, http):
    live.run(fixtures.load(live.settings))
    live.run(demo.synthesize(2500, 12, seed=5))
    live.run(_users())
    assert log_in(http, "rita", PASSWORD).status_code == 303  # a researcher: every agency
    return http


def links(page: str) -> tuple[list[str], list[str]]:
    return (
        [html.unescape(u) for u in SRC.findall(page)],
        [html.unescape(u) for u in DATA.findall(page)],
    )


@pytest.mark.slow
def test_every_chart_and_data_link_of_every_demo_agency_answers(demo_site) -> None:
    http = demo_site
    checked: set[str] = set()
    for index, (code, *_names) in enumerate(fixtures.AGENCIES):
        # Charts in every language for a third of the agencies, in one for the rest.
        langs = SUPPORTED_LOCALES if index % 3 == 0 else (SUPPORTED_LOCALES[index % 3],)
        for lang in langs:
            page = http.get(f"/dashboard?agency={code}&lang={lang}")
            assert page.status_code == 200, (code, lang)
            charts, data = links(page.text)
            assert f"agency={code}" in " ".join(charts)
            for url in charts + data:
                if url in checked:
                    continue
                answer = http.get(url)
                assert answer.status_code == 200, (code, lang, url, answer.text[:200])
                checked.add(url)
    assert len(checked) > 3 * len(fixtures.AGENCIES)


def test_filters_stay_in_the_url_and_reach_every_chart_and_link(demo_site) -> None:
    http = demo_site
    page = http.get("/dashboard?agency=HN&last=6&channel=web&essential=true&lang=en")
    assert page.status_code == 200
    charts, data = links(page.text)
    assert charts
    for url in charts:
        assert "last=6" in url
        assert "channel=web" in url
        assert "essential=true" in url
    for url in data:
        assert "from=" in url  # last=6 becomes the first day of the period
        assert "channel=web" in url
    assert 'value="6" selected' in page.text
    for bad in ("last=5", "channel=fax", "from=2026-13-01", "questionnaire=x%00y"):
        assert http.get(f"/dashboard?{bad}&lang=en").status_code == 400, bad


def test_drill_down_agency_to_service(demo_site) -> None:
    http = demo_site
    page = http.get("/dashboard?agency=HN&lang=en").text
    services = page.split('<caption id="services">')[1].split("</table>")[0]
    found = re.findall(r'href="(/dashboard\?[^"]*service=([\w.-]+)[^"]*)"', services)
    assert {code for _, code in found} == {"HN-BIRTH", "HN-DRIVING-LICENCE"}
    url, code = found[0]
    detail = http.get(html.unescape(url)).text
    heading = detail.split('<h2 id="selected">')[1].split("</h2>")[0]
    assert "›" in heading  # agency › service
    charts, data = links(detail)
    assert any(f"service={code}" in u for u in charts)
    assert any(f"service={code}" in u for u in data)
    assert "All services of this agency" in detail


def test_signals_link_to_their_agency(demo_site) -> None:
    page = demo_site.get("/dashboard?lang=en").text
    panel = page.split('<h2 id="signals">')[1].split("</section>")[0]
    agencies = re.findall(r'href="/dashboard\?agency=(\w+)', panel)
    assert agencies, panel[:500]
    assert set(agencies) <= {code for code, *_ in fixtures.AGENCIES}


def test_key_drivers_rank_the_criteria_of_a_multi_criteria_questionnaire(demo_site) -> None:
    page = demo_site.get("/dashboard?questionnaire=dossier-evaluation&last=12&lang=en").text
    assert '<caption id="drivers">' in page
    table = page.split('<caption id="drivers">')[1].split("</table>")[0]
    assert table.count("<tr>") >= 6  # the header and one row per criterion
    assert "/api/v1/stats/drivers?" in page
