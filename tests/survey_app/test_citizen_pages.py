"""The citizen pages over real HTTP: a plain form that works with JavaScript off."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from babel.dates import format_date

from survey_app.db.tables import Agency, Comment, Invitation, Response, ResponseReason
from survey_app.lib.clock import local_day
from tests.survey_app.conftest import invite

TITLES = {
    "vi": "Đánh giá dịch vụ này",
    "en": "Rate this service",
    "id": "Nilai layanan ini",
}


@pytest.fixture
def token(http, portal) -> str:
    return invite(http, portal)["token"]


def test_page_in_each_language(http, token):
    for lang, title in TITLES.items():
        page = http.get(f"/s/{token}", params={"lang": lang})
        assert page.status_code == 200
        assert f'<html lang="{lang}">' in page.text
        assert title in page.text
        assert "Dịch vụ MIC-1" in page.text or "MIC-1" in page.text


def test_language_from_cookie_then_accept_language_then_vietnamese(http, token):
    assert '<html lang="vi">' in http.get(f"/s/{token}").text
    page = http.get(f"/s/{token}", headers={"Accept-Language": "id-ID,id;q=0.9,en;q=0.8"})
    assert '<html lang="id">' in page.text
    chosen = http.get(f"/s/{token}", params={"lang": "en"})
    assert chosen.cookies.get("lang") == "en"
    page = http.get(f"/s/{token}", headers={"Accept-Language": "id", "Cookie": "lang=en"})
    assert '<html lang="en">' in page.text


def test_language_switcher_links_every_language(http, token):
    page = http.get(f"/s/{token}").text
    for lang in ("vi", "en", "id"):
        # Relative to the page's own address, so in a frame too it stays on this token.
        assert f'href="?lang={lang}"' in page


def test_blank_pages_are_shared_and_show_the_names_of_the_moment(http, portal, live):
    """A blank page holds no token (its form posts to its own address), so one rendering
    serves every citizen of a service; the agency's current names must still show."""
    first, second = (invite(http, portal, ref)["token"] for ref in ("T-A", "T-B"))
    pages = [http.get(f"/s/{token}?lang=en") for token in (first, second)]
    assert pages[0].content == pages[1].content
    assert first not in pages[0].text
    assert 'action="?lang=en"' in pages[0].text
    plain = http.get(f"/s/{first}?lang=en", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.text == pages[0].text
    assert pages[0].headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in pages[0].headers["vary"]
    live.run(Agency.update({Agency.names: {"en": "Renamed Ministry"}}).where(Agency.code == "MIC"))
    assert "Renamed Ministry" in http.get(f"/s/{first}?lang=en").text
    assert "Renamed Ministry" not in http.get(f"/s/{first}?lang=vi").text


def test_form_post_stores_and_redirects_to_thanks(http, token, live):
    sent = http.post(
        f"/s/{token}?lang=en",
        data={
            "lang": "en",
            "overall": "3",
            "reasons": ["complex_procedure", "other"],
            "reason_other": "Queue number never came",
            "comment": "",
        },
    )
    assert sent.status_code == 303
    assert sent.headers["location"] == f"/s/{token}/thanks?lang=en"
    thanks = http.get(sent.headers["location"])
    assert thanks.status_code == 200
    assert "Thank you!" in thanks.text
    stored = live.run(Response.select())
    assert [(r["overall"], r["locale"]) for r in stored] == [(3, "en")]
    assert {r["reason"] for r in live.run(ResponseReason.select())} == {
        "complex_procedure",
        "other",
    }
    assert [c["question"] for c in live.run(Comment.select())] == ["reason_other"]


def test_second_post_gets_the_already_answered_page(http, token, live):
    assert http.post(f"/s/{token}", data={"overall": "5"}).status_code == 303
    again = http.post(f"/s/{token}?lang=en", data={"overall": "1", "lang": "en"})
    assert again.status_code == 409
    assert "Already answered" in again.text
    assert http.get(f"/s/{token}?lang=en").status_code == 409
    assert live.run(Response.count()) == 1


def test_error_rerenders_with_message_and_kept_values(http, token, live):
    page = http.post(
        f"/s/{token}?lang=en",
        data={"lang": "en", "comment": "Giữ lại <b>văn bản</b> này"},
    )
    assert page.status_code == 400
    assert 'role="alert"' in page.text
    assert 'id="e-overall"' in page.text
    # The comment comes back, escaped, so the citizen does not type it again.
    assert "Giữ lại &lt;b&gt;văn bản&lt;/b&gt; này" in page.text
    assert live.run(Response.count()) == 0


def test_error_keeps_the_chosen_rating_and_reasons(http, token):
    page = http.post(
        f"/s/{token}?lang=en",
        data={"lang": "en", "overall": "2", "reasons": ["payment_error"], "comment": "x" * 1001},
    )
    assert page.status_code == 400
    assert re.search(r'name="overall" value="2" checked', page.text)
    assert re.search(r'name="reasons" value="payment_error" checked', page.text)
    assert 'id="e-comment"' in page.text
    assert "at most 1,000 characters (now 1,001)" in page.text
    vi = http.post(
        f"/s/{token}?lang=vi", data={"lang": "vi", "overall": "5", "comment": "x" * 1001}
    )
    assert "1.000" in vi.text  # Vietnamese groups thousands with a dot


def test_unknown_token_gets_a_localized_404_page(http, live):
    page = http.get("/s/does-not-exist?lang=en")
    assert page.status_code == 404
    assert "text/html" in page.headers["content-type"]
    assert "Survey not found" in page.text
    http.cookies.clear()  # the first request remembered the choice of English
    vi = http.get("/s/does-not-exist")
    assert '<html lang="vi">' in vi.text
    assert "Survey not found" not in vi.text


def test_expired_token_gets_a_410_page(http, token, live):
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    live.run(Invitation.update({Invitation.expires_at: past}).where(Invitation.token == token))
    page = http.get(f"/s/{token}?lang=en")
    assert page.status_code == 410
    assert "This survey has closed" in page.text
    # The day it ended in the citizen's (the service's) local time, not in UTC.
    day = local_day(past)
    assert f"ended on {format_date(day, 'long', locale='en')}" in page.text
    vi = http.get(f"/s/{token}?lang=vi")
    assert format_date(day, "long", locale="vi") in vi.text
    assert http.post(f"/s/{token}?lang=en", data={"overall": "4"}).status_code == 410
    assert live.run(Response.count()) == 0


def test_post_from_another_origin_is_refused(http, token, live):
    page = http.post(
        f"/s/{token}", data={"overall": "4"}, headers={"Origin": "https://evil.example"}
    )
    assert page.status_code == 403
    assert live.run(Response.count()) == 0


def test_garbage_form_fields_never_cause_a_500(http, token):
    for data in (
        {"overall": "abc"},
        {"overall": ["1", "2"]},
        {"overall": "99999999999999999999999"},
        {"reasons": "x" * 500},
        {"unknown": "1", "overall": "4\x00"},
    ):
        page = http.post(f"/s/{token}", data=data)
        assert page.status_code == 400, (data, page.status_code)


def test_page_weight_is_within_budget_with_nothing_from_another_origin(http, token):
    headers = {"Accept-Encoding": "gzip"}
    page = http.get(f"/s/{token}", headers=headers)
    html = page.text
    assets = re.findall(r'(?:href|src)="(/[^"]+\.(?:css|js))"', html)
    assert "/static/survey.css" in assets
    total = page.num_bytes_downloaded  # what crossed the wire, compressed where offered
    for asset in assets:
        fetched = http.get(asset, headers=headers)
        assert fetched.status_code == 200, asset
        total += fetched.num_bytes_downloaded
    assert total <= 30 * 1024
    assert not re.search(r'(?:href|src)="(?:https?:)?//', html)


def test_embed_script_and_frame_script_are_served(http):
    script = http.get("/embed.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert "data-survey-url" in script.text
    assert http.get("/static/frame.js").status_code == 200


def test_conditions_css_hides_reasons_until_a_low_rating(http, token):
    page = http.get(f"/s/{token}").text
    href = re.search(r'href="(/q/[^"]+\.css)"', page).group(1)
    css = http.get(href).text
    assert 'form:has([name="overall"][value="4"]:checked) #q-reasons' in css
    assert 'form:has([name="overall"][value="3"]:checked) #q-reasons' not in css
    assert 'form:not(:has([name="reasons"][value="other"]:checked)) #q-reason_other' in css


def test_security_headers_and_frame_ancestors_of_the_agency(http, token, live):
    from survey_app.db.tables import Agency

    live.run(Agency.update({Agency.frame_origins: "https://dichvucong.example.gov"}, force=True))
    page = http.get(f"/s/{token}")
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors 'self' https://dichvucong.example.gov" in csp
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "same-origin"
    assert "x-frame-options" not in page.headers  # framing is governed by frame-ancestors
    login = http.get("/login")
    assert "frame-ancestors 'none'" in login.headers["content-security-policy"]
    assert login.headers["x-frame-options"] == "DENY"
    api = http.get("/livez")
    assert api.headers["x-content-type-options"] == "nosniff"
