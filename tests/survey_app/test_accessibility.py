"""WCAG 2.0/2.1 A and AA, checked by axe-core in headless Chromium, on every page people see.

axe-core comes from the npm registry (``package.json`` at the repository root,
``npm ci``). The pages carry a strict Content-Security-Policy (``script-src
'self'``), so the audit runs in a browser context with ``bypass_csp=True``: it
lets the test add axe's script, and changes nothing else about the page.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from survey_app.db.tables import Invitation
from tests.survey_app.conftest import invite
from tests.survey_app.test_browser import browser  # noqa: F401  (the module's Chromium)
from tests.survey_app.test_dashboard import PASSWORD, _users

pytestmark = pytest.mark.slow  # every test drives Chromium

REPO = Path(__file__).resolve().parents[2]
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
LANGUAGES = ("vi", "en", "id")
WIDTHS = (320, 1280)


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE.is_file():
        message = f"axe-core not found at {AXE} (run `npm ci` at the repository root)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message + "; accessibility tests skipped")
    return AXE.read_text(encoding="utf-8")


class Auditor:
    """Runs axe on the current page and keeps every violation, labelled with the page state."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.found: list[str] = []
        self.audited: list[str] = []

    def __call__(self, page, state: str) -> None:
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            page.add_script_tag(content=self.source)
        result = page.evaluate(
            """async (tags) => {
                const result = await axe.run(document, {
                    runOnly: {type: "tag", values: tags},
                    resultTypes: ["violations"],
                });
                return {
                    passed: result.passes.map(p => p.id),
                    violations: result.violations.map(v => ({
                        id: v.id, impact: v.impact, help: v.help,
                        nodes: v.nodes.map(n => n.target.join(" ") + "  " + n.failureSummary),
                    })),
                };
            }""",
            WCAG_TAGS,
        )
        # The audit looked at the page: its language and its text's contrast were checked.
        assert {"html-has-lang", "color-contrast"} <= set(result["passed"]), state
        violations = result["violations"]
        self.audited.append(state)
        for v in violations:
            nodes = "\n      ".join(v["nodes"])
            self.found.append(f"{state}: {v['id']} ({v['impact']}) {v['help']}\n      {nodes}")

    def assert_clean(self, expected_audits: int) -> None:
        # Each state was really audited (an audit that silently did not run would pass).
        assert len(self.audited) == expected_audits, self.audited
        assert not self.found, "axe found WCAG 2.1 A/AA violations:\n" + "\n".join(self.found)


# What axe cannot see: the focus indicator's contrast against what surrounds it (WCAG 2.1
# 1.4.11 asks 3:1 for the visual information that identifies a state, focus included).
FOCUS_RING = """() => {
    const active = document.activeElement;
    if (!active || active === document.body) return null;
    const ring = active.closest("label.opt") || active;
    const rgb = c => (c.match(/[\\d.]+/g) || []).map(Number);
    const lum = c => {
        const [r, g, b] = rgb(c).slice(0, 3).map(v => {
            v /= 255;
            return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
        });
        return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    let around = ring.parentElement, background = "rgb(255, 255, 255)";
    for (; around; around = around.parentElement) {
        const c = getComputedStyle(around).backgroundColor;
        if (rgb(c).length === 3 || rgb(c)[3] > 0) { background = c; break; }
    }
    const style = getComputedStyle(ring);
    const [hi, lo] = [lum(style.outlineColor), lum(background)].sort((a, b) => b - a);
    return {
        what: active.tagName + " " + (active.name || active.textContent.trim()).slice(0, 30),
        style: style.outlineStyle,
        width: parseFloat(style.outlineWidth),
        contrast: (hi + 0.05) / (lo + 0.05),
    };
}"""


def walk_focus(page, steps: int, on_focus=None) -> tuple[list[str], list[str]]:
    """Tab through the page; each focused element's ring must be solid, >= 2px, >= 3:1."""
    seen: list[str] = []
    problems: list[str] = []
    for _ in range(steps):
        page.keyboard.press("Tab")
        ring = page.evaluate(FOCUS_RING)
        if ring is None:
            break
        seen.append(ring["what"])
        if ring["style"] != "solid" or ring["width"] < 2 or ring["contrast"] < 3:
            problems.append(f"{ring}")
        if on_focus:
            on_focus(page)
    return seen, problems


@pytest.fixture
def audit(axe_source) -> Auditor:
    return Auditor(axe_source)


def new_page(browser, width: int):  # noqa: F811
    context = browser.new_context(bypass_csp=True, viewport={"width": width, "height": 800})
    return context, context.new_page()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_questionnaire_meets_wcag_21_aa(browser, audit, http, portal, live, lang):  # noqa: F811
    token = invite(http, portal)["token"]
    url = f"{live.url}/s/{token}?lang={lang}"
    for width in WIDTHS:
        context, page = new_page(browser, width)
        page.goto(url)
        assert page.locator("html").get_attribute("lang") == lang
        title = page.title()
        audit(page, f"{lang} {width}px questionnaire")
        # A low rating reveals the reasons, and "other" its text field.
        page.locator('input[name="overall"][value="2"]').check()
        page.locator('input[name="reasons"][value="other"]').check()
        assert page.locator("#q-reasons").is_visible()
        assert page.locator("#i-reason_other").is_visible()
        audit(page, f"{lang} {width}px low rating, reasons revealed")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        # Sent empty: the page comes back with the error summary and the field's error.
        page.goto(url)
        page.locator("button[type=submit]").click()
        page.locator('[role="alert"]').wait_for()
        assert page.locator("#e-overall").is_visible()
        # The summary's link names its question (WCAG 2.4.4: several errors read alike).
        legend = page.locator("#q-overall legend").inner_text().rstrip(" *")
        assert legend in page.locator('#errors a[href="#q-overall"]').inner_text()
        # The title says so too: a screen reader hears it first on the reloaded page.
        assert page.title() != title
        assert title in page.title()
        audit(page, f"{lang} {width}px validation error")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        context.close()
    audit.assert_clean(expected_audits=3 * len(WIDTHS))


def test_focus_is_visible_with_enough_contrast(browser, http, portal, live):  # noqa: F811
    token = invite(http, portal)["token"]
    context, page = new_page(browser, 320)
    page.goto(f"{live.url}/s/{token}?lang=en")

    def answer_low(page) -> None:
        # By keyboard, as a citizen would: rating 2 reveals the reasons, "other" its field.
        active = page.evaluate("[document.activeElement.name, document.activeElement.value]")
        if active == ["overall", "1"]:
            page.keyboard.press("Space")
            page.keyboard.press("ArrowDown")
        elif active == ["reasons", "portal_error"]:
            page.locator('input[name="reasons"][value="other"]').focus()
            page.keyboard.press("Space")

    seen, problems = walk_focus(page, 20, answer_low)
    context.close()
    assert any(s.startswith("A ") for s in seen), seen  # language links
    for field in ("overall", "reasons", "reason_other", "comment", "Send"):
        assert any(field in s for s in seen), (field, seen)
    assert problems == []


def test_message_pages_meet_wcag_21_aa(browser, audit, http, portal, live):  # noqa: F811
    answered = invite(http, portal, "T-answered")["token"]
    expired = invite(http, portal, "T-expired")["token"]
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    live.run(Invitation.update({Invitation.expires_at: past}).where(Invitation.token == expired))
    context, page = new_page(browser, 320)
    page.goto(f"{live.url}/s/{answered}?lang=en")
    page.locator('input[name="overall"][value="5"]').check()
    page.locator("button[type=submit]").click()
    page.wait_for_url(f"**/s/{answered}/thanks?lang=en")
    audit(page, "thank-you page")
    for state, url, lang in (
        ("answered", f"/s/{answered}?lang=vi", "vi"),
        ("expired", f"/s/{expired}?lang=id", "id"),
        ("unknown", "/s/no-such-token?lang=en", "en"),
    ):
        answer = page.goto(live.url + url)
        assert answer.status in (404, 409, 410), (state, answer.status)
        assert page.locator("html").get_attribute("lang") == lang
        audit(page, f"{state} token page ({lang})")
    context.close()
    audit.assert_clean(expected_audits=4)


def test_staff_pages_meet_wcag_21_aa(browser, audit, live):  # noqa: F811
    from tests.survey_app.conftest import seed_statistics

    live.run(seed_statistics())
    live.run(_users())
    context, page = new_page(browser, 1280)
    page.goto(f"{live.url}/dashboard?lang=vi")
    page.wait_for_url("**/login**")
    audit(page, "login page (vi)")
    page.fill("#username", "ana")
    page.fill("#password", "wrong-password")
    page.click("button[type=submit]")
    page.locator('[role="alert"]').wait_for()
    audit(page, "login page with an error (vi)")
    page.fill("#username", "ana")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/dashboard")
    for lang, width in (("vi", 1280), ("en", 320)):
        page.set_viewport_size({"width": width, "height": 800})
        page.goto(f"{live.url}/dashboard?lang={lang}")
        page.wait_for_load_state("networkidle")
        # The analyst's own agency is selected: its reasons table is on the page too.
        assert page.locator("#selected").count() == 1
        assert page.locator("tbody tr").count() > 3
        audit(page, f"dashboard ({lang}, {width}px)")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
    seen, problems = walk_focus(page, 60)
    assert {"SELECT agency", "BUTTON Log out"} <= set(seen), seen
    assert problems == []
    context.close()
    audit.assert_clean(expected_audits=4)


def test_public_page_meets_wcag_21_aa(browser, audit, live):  # noqa: F811
    """/public in every language, on a desk and on a phone, with figures to show."""
    from survey_app.demo import fixtures
    from survey_app.demo import synthetic as demo

    live.run(fixtures.load(live.settings))
    live.run(demo.synthesize(1500, 9, seed=3))
    context, page = new_page(browser, 1280)
    for lang, width in (("vi", 1280), ("en", 320), ("id", 320)):
        page.set_viewport_size({"width": width, "height": 800})
        answer = page.goto(f"{live.url}/public?lang={lang}")
        assert answer.status == 200
        assert page.locator("html").get_attribute("lang") == lang
        assert page.locator("tbody tr").count() > 20
        audit(page, f"public page ({lang}, {width}px)")
        # Wide tables scroll in their own focusable regions; the page itself does not.
        assert page.evaluate("document.documentElement.scrollWidth") <= width
    seen, problems = walk_focus(page, 20)
    assert problems == []
    assert len(seen) >= 5
    context.close()
    audit.assert_clean(expected_audits=3)


def test_dashboard_filters_and_drill_down_in_chromium(browser, audit, live, tmp_path):  # noqa: F811
    """Log in, apply each filter through the form, drill down agency -> service; every
    step keeps the view in the URL, passes axe, and is photographed at 1280 and 320 px."""
    from survey_app.demo import fixtures
    from survey_app.demo import synthetic as demo

    live.run(fixtures.load(live.settings))
    live.run(demo.synthesize(2000, 12, seed=9))
    live.run(_users())
    context, page = new_page(browser, 1280)
    page.goto(f"{live.url}/login?lang=en")
    page.fill("#username", "rita")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/dashboard**")
    steps = (
        ("#f-last", "6", "last=6"),
        ("#f-channel", "web", "channel=web"),
        ("#f-questionnaire", "dossier-evaluation", "questionnaire=dossier-evaluation"),
    )
    for selector, value, expected in steps:
        page.select_option(selector, value)
        page.click(".filters button[type=submit]")
        page.wait_for_url(f"**{expected}**")
    page.check("#f-essential")
    page.click(".filters button[type=submit]")
    page.wait_for_url("**essential=true**")
    for _, _, expected in steps:
        assert expected in page.url  # each filter stays as the next one is applied
    page.wait_for_load_state("networkidle")
    audit(page, "dashboard with every filter (en, 1280px)")
    # Drill down: an agency from the table, then one of its services.
    page.click("#agencies + div tbody tr th a >> nth=0")
    page.wait_for_load_state("networkidle")
    assert "agency=" in page.url
    assert "channel=web" in page.url
    page.click("caption#services ~ tbody th a >> nth=0")
    page.wait_for_url("**service=**")
    page.wait_for_load_state("networkidle")
    assert "›" in page.locator("#selected").inner_text()
    for width in (1280, 320):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(tmp_path / f"dashboard-{width}.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        broken = page.evaluate(
            "[...document.images].filter(i => i.complete && i.naturalWidth === 0).length"
        )
        assert broken == 0
    audit(page, "one service of one agency (en, 320px)")
    context.close()
    audit.assert_clean(expected_audits=2)
