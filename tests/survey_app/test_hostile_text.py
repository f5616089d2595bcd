"""Hostile free text, sent through the citizen form, is stored as written and shown inert.

Every page that displays citizens' free text is opened in real Chromium with a
``dialog`` listener: the questionnaire re-shown with an error (it gives the text
back in its fields) and the analyst's comments view (``/api/v1/comments``, JSON);
``/admin`` shows no comments at all. The dashboard shows no free text; it and the
login page are opened with hostile query parameters, which they reflect.

Spreadsheet formulas: CSV neutralization of a comment is tested in
``tests/survey_app/test_comments.py::test_formulas_are_inert_in_csv`` and CSV/XLSX of
the statistics in ``tests/survey_app/test_stats_api.py``; here the XLSX of comments
and the other formula prefixes (``+ - @``) and the ``reason_other`` question.
"""

from __future__ import annotations

import csv
import io
import re
from urllib.parse import quote

import openpyxl
import pytest
from piccolo.apps.user.tables import BaseUser

from survey_app.agencies import directory
from survey_app.auth import apikeys
from survey_app.db.tables import Comment, Role
from survey_app.statistics.render import FORMULA_PREFIXES
from tests.survey_app.conftest import invite
from tests.survey_app.test_browser import browser  # noqa: F401  (the module's Chromium)
from tests.survey_app.test_dashboard import PASSWORD, _users

PAYLOADS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(2)>',
    '=HYPERLINK("http://evil.example","x")',
    "javascript:alert(3)",
    "+cmd</textarea><svg onload=alert(4)>{{ 7*7 }}{% raw %}",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    '-1+1\n<b>Lỗi OTP</b> 😡 <a href="javascript:alert(5)">x</a>',
]
# Each payload once as a comment and once as the "other reason" (at most 200 characters).
SUBMISSIONS = [(PAYLOADS[i], PAYLOADS[(i + 3) % len(PAYLOADS)]) for i in range(len(PAYLOADS))]
EXPECTED = sorted(
    [("comment", c) for c, _ in SUBMISSIONS] + [("reason_other", o) for _, o in SUBMISSIONS]
)

# Elements a payload would have created had it been parsed as markup: event handlers or
# script URLs in attributes, inline scripts, an image of "x", an iframe document.
ACTIVE_MARKUP = """() => [...document.querySelectorAll("*")].filter(e =>
    [...e.attributes].some(a => a.name.startsWith("on")
        || (["src", "href", "srcdoc", "action", "formaction", "data"].includes(a.name)
            && /alert\\(|^\\s*javascript:/i.test(a.value)))
    || (e.tagName === "SCRIPT" && /alert\\(/.test(e.textContent))
    || (e.tagName === "IMG" && e.getAttribute("src") === "x")
    || e.tagName === "IFRAME"
).map(e => e.outerHTML.slice(0, 200))"""


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


class Watch:
    """A page with listeners: any dialog (alert) and any request a payload would make."""

    def __init__(self, page) -> None:
        self.page = page
        self.dialogs: list[str] = []
        self.requests: list[str] = []
        page.on("dialog", self._dialog)
        page.on("request", lambda r: self.requests.append(r.url))

    def _dialog(self, dialog) -> None:
        self.dialogs.append(f"{self.page.url}: {dialog.type} {dialog.message}")
        dialog.dismiss()

    def check_inert(self, what: str) -> str:
        """No markup from a payload exists on the page; returns the page's visible text."""
        self.page.wait_for_load_state("networkidle")
        assert self.page.evaluate(ACTIVE_MARKUP) == [], what
        return self.page.locator("body").inner_text()

    def assert_quiet(self) -> None:
        assert self.dialogs == []
        stray = [u for u in self.requests if u.endswith("/x") or "evil.example" in u]
        assert stray == []


def submit_in_browser(page, base: str, token: str, comment: str, other: str) -> None:
    page.goto(f"{base}/s/{token}?lang=en")
    page.locator('input[name="overall"][value="2"]').check()
    page.locator('input[name="reasons"][value="other"]').check()
    page.fill("#i-reason_other", other)
    page.fill("#i-comment", comment)
    page.locator("button[type=submit]").click()
    page.wait_for_url(f"**/s/{token}/thanks?lang=en")


@pytest.mark.slow  # drives Chromium
def test_hostile_text_is_stored_verbatim_and_shown_inert(
    browser,  # noqa: F811
    http,
    portal,
    live,
):
    live.run(_users())  # "ana", analyst of MIC
    live.run(BaseUser.delete().where(BaseUser.username == "root"))
    live.run(
        BaseUser.create_user("root", PASSWORD, admin=True, active=True, email="root@staff.invalid")
    )
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watch = Watch(page)

    # 1. The form given back with an error carries the text in its fields, as text.
    token = invite(http, portal, "T-error")["token"]
    page.goto(f"{live.url}/s/{token}?lang=en")
    breakout = '</textarea><script>alert(1)</script>"><img src=x onerror=alert(2)>{{ 7*7 }}'
    page.fill("#i-comment", breakout)
    page.locator("button[type=submit]").click()
    page.locator('[role="alert"]').wait_for()
    watch.check_inert("questionnaire with an error")
    assert page.locator("#i-comment").input_value() == breakout
    assert page.locator("textarea").count() == 2  # no textarea closed early, none added
    assert [s.get_attribute("src") for s in page.locator("script").all()] == ["/static/frame.js"]

    # 2. Through the citizen form in the browser; stored byte for byte.
    for i, (comment, other) in enumerate(SUBMISSIONS):
        token = invite(http, portal, f"T-{i}")["token"]
        submit_in_browser(page, live.url, token, comment, other)
    stored = live.run(Comment.select(Comment.question, Comment.text))
    assert sorted((r["question"], r["text"]) for r in stored) == EXPECTED
    assert all(isinstance(r["text"], str) for r in stored)

    # 3. The analyst's comments view: the JSON holds each text exactly, shown as text.
    page.goto(f"{live.url}/login?lang=en")
    page.fill("#username", "ana")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/dashboard")
    watch.check_inert("dashboard")
    answer = page.goto(f"{live.url}/api/v1/comments")
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.headers["x-content-type-options"] == "nosniff"
    watch.check_inert("comments view")
    body = answer.json()
    assert sorted((c["question"], c["text"]) for c in body["comments"]) == EXPECTED

    # 4. Reflected query parameters: the dashboard's agency and the login page's next.
    hostile = '"><script>alert(6)</script><img src=x onerror=alert(7)>'
    page.goto(f"{live.url}/dashboard?lang=en&agency={quote(hostile)}")
    watch.check_inert("dashboard with a hostile agency parameter")
    context.clear_cookies()
    page.goto(f"{live.url}/login?lang=en&next={quote(hostile)}")
    watch.check_inert("login page with a hostile next parameter")
    assert page.locator('input[name="next"]').input_value() == hostile

    # 5. /admin (piccolo_admin, a Vue page) no longer lists comments (its browser-side CSV
    # export would not neutralize formulas): opened as an admin, it shows none of them.
    page.fill("#username", "root")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/dashboard")
    page.goto(f"{live.url}/admin/")
    page.wait_for_load_state("networkidle")
    text = squash(watch.check_inert("admin"))
    for payload in PAYLOADS:
        assert squash(payload) not in text, payload
    context.close()
    live.run(BaseUser.delete().where(BaseUser.username == "root"))
    watch.assert_quiet()


def test_comment_exports_neutralize_formulas(http, portal, live):
    for i, (comment, other) in enumerate(SUBMISSIONS):
        token = invite(http, portal, f"T-{i}")["token"]
        form = {"overall": "2", "reasons": "other", "reason_other": other, "comment": comment}
        assert http.post(f"/s/{token}?lang=en", data=form).status_code == 303

    async def analyst_key() -> str:
        return await apikeys.create(Role.analyst, await directory.agency_id(portal.agency))

    headers = {"Authorization": f"Bearer {live.run(analyst_key())}"}
    expected = sorted((q, "'" + t if t.startswith(FORMULA_PREFIXES) else t) for q, t in EXPECTED)
    assert sum(t.startswith("'") for _, t in expected) == 8  # = + @ - each twice

    as_xlsx = http.get("/api/v1/comments", params={"format": "xlsx"}, headers=headers)
    assert as_xlsx.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(as_xlsx.content)).active
    rows = list(sheet.iter_rows())
    columns = [cell.value for cell in rows[0]]
    question, text = columns.index("question"), columns.index("text")
    cells = [row[text] for row in rows[1:]]
    assert [c.data_type for c in cells] == ["s"] * len(EXPECTED)  # no formula cell
    assert sorted((row[question].value, row[text].value) for row in rows[1:]) == expected

    as_csv = http.get("/api/v1/comments", params={"format": "csv"}, headers=headers)
    lines = list(csv.DictReader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert sorted((r["question"], r["text"]) for r in lines) == expected


@pytest.mark.parametrize(
    "text", ["<b>bold</b>", "<script>alert(1)</script>", '" onmouseover="alert(2)']
)
def test_translated_texts_are_escaped_in_templates(live, text):
    """Question and answer labels come from questionnaires/*.toml through gettext (``_()``).
    The app's gettext returns plain strings, so they are escaped like any other value;
    no template marks anything ``|safe``."""
    from survey_app.server.app import PACKAGE_DIR

    environment = live.app.template_engine.engine
    rendered = environment.from_string('<p title="{{ _(t) }}">{{ _(t, x=1) }}</p>').render(
        locale="en", t=text
    )
    assert "<b>" not in rendered
    assert "<script>" not in rendered
    assert '" on' not in rendered
    assert "&lt;" in rendered or "&#34;" in rendered
    templates = sorted((PACKAGE_DIR / "templates").glob("*.html"))
    assert templates
    for template in templates:
        source = template.read_text(encoding="utf-8")
        assert not re.search(r"\|\s*safe|autoescape\s+false|Markup", source), template.name
