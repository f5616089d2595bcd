"""Staff login, the dashboard, its charts and session access to the statistics."""

from __future__ import annotations

import re

import pytest
from piccolo.apps.user.tables import BaseUser

from survey_app.auth import staff
from survey_app.db.tables import Role
from tests.survey_app.conftest import seed_statistics

PASSWORD = "a-long-Passw0rd"


async def _users() -> None:
    await BaseUser.delete().where(BaseUser.username.is_in(["ana", "rita"]))
    for name, role, agency in (("ana", Role.analyst, "MIC"), ("rita", Role.researcher, None)):
        user = await BaseUser.create_user(
            name, PASSWORD, email=f"{name}@staff.invalid", active=True
        )
        await staff.set_role(user.id, role, agency)


@pytest.fixture
def seeded(live):
    data = live.run(seed_statistics())
    live.run(_users())
    return data


def csrf(http, path="/login") -> str:
    page = http.get(path)
    return re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)


def log_in(http, username, password=PASSWORD, lang="en"):
    token = csrf(http, f"/login?lang={lang}")
    return http.post(
        f"/login?lang={lang}",
        data={"username": username, "password": password, "_csrf_token": token, "lang": lang},
    )


def test_dashboard_needs_a_login(http, seeded):
    answer = http.get("/dashboard?lang=en")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login?lang=en")
    assert http.get("/charts/trend.svg").status_code == 401
    assert http.get("/api/v1/stats/satisfaction").status_code == 401


def test_login_form_is_protected_against_csrf(http, seeded):
    http.get("/login")
    answer = http.post("/login", data={"username": "ana", "password": PASSWORD})
    assert answer.status_code == 403
    assert staff.SESSION_COOKIE not in answer.cookies


def test_wrong_password_is_refused_with_a_message(http, seeded):
    answer = log_in(http, "ana", "nope")
    assert answer.status_code == 400
    assert "Wrong user name or password." in answer.text


def test_analyst_sees_the_dashboard_in_english_and_vietnamese(http, seeded):
    answer = log_in(http, "ana")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/dashboard"
    page = http.get("/dashboard?lang=en")
    assert page.status_code == 200
    assert "National satisfaction" in page.text
    assert 'src="/charts/agencies.svg?lang=en"' in page.text
    assert "/charts/reasons.svg?agency=MIC" in page.text  # the analyst's own agency
    assert re.search(r"90 responses to \d+ invitations", page.text)
    assert all(
        re.search(r'<img [^>]*alt="[^"]{20,}"', img)
        for img in re.findall(r"<img [^>]+>", page.text)
    )
    vi = http.get("/dashboard?lang=vi")
    assert "Mức độ hài lòng toàn quốc" in vi.text
    other = http.get("/dashboard?agency=MOF&lang=en")
    assert "/charts/trend.svg?agency=MOF" in other.text


def test_charts_are_svg_or_png(http, seeded):
    log_in(http, "ana")
    for path, kind in (
        ("/charts/trend.svg?lang=vi", "image/svg+xml"),
        ("/charts/trend.svg?agency=MIC", "image/svg+xml"),
        ("/charts/agencies.png", "image/png"),
        ("/charts/reasons.svg?agency=MIC", "image/svg+xml"),
    ):
        answer = http.get(path)
        assert answer.status_code == 200, path
        assert answer.headers["content-type"].startswith(kind)
        assert b'id="nothing-to-draw"' not in answer.content, path
    assert http.get("/charts/pie.svg").status_code == 404
    # Nothing to draw: a chart that says so, never a broken image.
    empty = http.get("/charts/reasons.svg?agency=NOPE")
    assert empty.status_code == 200
    assert b'id="nothing-to-draw"' in empty.content


def test_session_roles_on_the_statistics_api(http, seeded):
    log_in(http, "ana")
    assert http.get("/api/v1/stats/satisfaction?format=csv").status_code == 200
    assert http.get("/api/v1/exports/responses.csv").status_code == 403
    http.cookies.clear()
    log_in(http, "rita")
    assert http.get("/api/v1/exports/responses.csv").status_code == 200


def test_logout_ends_the_session(http, seeded):
    log_in(http, "ana")
    token = csrf(http, "/dashboard")
    assert http.post("/logout", data={"_csrf_token": token}).status_code == 303
    assert http.get("/dashboard").status_code == 303


def test_login_never_redirects_to_another_site(http, seeded):
    token = csrf(http)
    answer = http.post(
        "/login",
        data={
            "username": "ana",
            "password": PASSWORD,
            "_csrf_token": token,
            "next": "//evil.example/",
        },
    )
    assert answer.headers["location"] == "/dashboard"


async def _another_agency(code: str, size: int) -> None:
    import datetime as dt

    from survey_app.agencies import directory
    from survey_app.db.bulk import Synthetic, insert_responses
    from survey_app.db.tables import AgencyKind

    agency_id = await directory.add_agency(code, AgencyKind.ministry, code, {})
    service_id = await directory.add_service(f"{code}-1", code, "S", {}, True)
    day = dt.datetime(2026, 2, 3, 10, tzinfo=dt.UTC)
    await insert_responses(
        [
            Synthetic(agency_id, service_id, "web", "vi", day, 5 if i % 3 else 2, ())
            for i in range(size)
        ]
    )


def test_league_and_funnel_charts_rank_published_agencies(http, live, seeded):
    live.run(_another_agency("BIG", 60))  # MIC, MOF and BIG published; TINY withheld
    assert log_in(http, "rita").status_code == 303
    page = http.get("/dashboard?lang=en").text
    assert "/charts/league.svg" in page
    assert "/charts/funnel.svg" in page
    table = page.split('<h2 id="agencies">')[1].split("</table>")[0]
    rows = re.findall(r'<th scope="row"><a href="/dashboard\?agency=(\w+)', table)
    assert rows[-1] == "TINY"  # withheld agencies last, the others by shrunken CSAT
    assert set(rows[:3]) == {"MIC", "MOF", "BIG"}
    for name in ("league.svg", "funnel.svg", "league.png"):
        answer = http.get(f"/charts/{name}?lang=vi")
        assert answer.status_code == 200, name
    league = http.get("/charts/league.svg?lang=en").text
    assert "MOF" in league
    assert "TINY" not in league
