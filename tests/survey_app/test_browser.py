"""The questionnaire in real headless Chromium: phone width, keyboard only, JavaScript off,
and embedded in a page of another origin."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from survey_app.db.tables import Agency, Response, ResponseReason
from tests.survey_app.conftest import invite

pytestmark = pytest.mark.slow  # every test drives Chromium

CHROMIUM = os.environ.get("SURVEY_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not shutil.which(CHROMIUM):
        message = f"Chromium not found at {CHROMIUM} (Debian package chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message + "; browser tests skipped")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def test_keyboard_only_without_javascript_at_320px(browser, http, portal, live):
    token = invite(http, portal)["token"]
    context = browser.new_context(java_script_enabled=False, viewport={"width": 320, "height": 640})
    page = context.new_page()
    page.goto(f"{live.url}/s/{token}?lang=en")
    reasons = page.locator("#q-reasons")
    assert not reasons.is_visible()  # asked only after a low rating
    page.keyboard.press("Tab")  # language links come first
    for _ in range(10):
        if page.evaluate("document.activeElement.name") == "overall":
            break
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.name") == "overall"
    page.keyboard.press("Space")  # selects rating 1
    page.keyboard.press("ArrowDown")  # rating 2
    assert page.locator('input[name="overall"][value="2"]').is_checked()
    assert reasons.is_visible()
    assert not page.locator("#q-reason_other").is_visible()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.value") == "portal_error"
    page.keyboard.press("Space")
    page.locator('input[name="reasons"][value="other"]').focus()
    page.keyboard.press("Space")
    assert page.locator("#q-reason_other").is_visible()
    page.keyboard.press("Tab")
    page.keyboard.type("Mã OTP không đến")
    page.locator("button[type=submit]").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/s/{token}/thanks?lang=en")
    assert "Thank you!" in page.content()
    context.close()
    assert live.run(Response.count()) == 1
    assert {r["reason"] for r in live.run(ResponseReason.select())} == {"portal_error", "other"}


def test_no_horizontal_scroll_at_320px_in_any_language(browser, http, portal, live):
    token = invite(http, portal)["token"]
    context = browser.new_context(viewport={"width": 320, "height": 640})
    page = context.new_page()
    for lang in ("vi", "en", "id"):
        page.goto(f"{live.url}/s/{token}?lang={lang}")
        page.locator('input[name="overall"][value="1"]').check()
        assert page.evaluate("document.documentElement.scrollWidth") <= 320, lang
    context.close()


def test_error_is_announced_next_to_the_field(browser, http, portal, live):
    token = invite(http, portal)["token"]
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{live.url}/s/{token}?lang=id")
    page.locator("button[type=submit]").click()
    summary = page.locator('[role="alert"]')
    assert summary.is_visible()
    described = page.locator("#q-overall").get_attribute("aria-describedby")
    assert "e-overall" in described
    assert page.locator("#e-overall").is_visible()
    context.close()


@pytest.fixture
def portal_site(live) -> Iterator[str]:
    """A page on another origin (another port) that embeds the questionnaire."""
    pages: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path, b"not found")
            self.send_response(200 if self.path in pages else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    site = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()
    site.pages = pages  # type: ignore[attr-defined]
    yield site
    site.shutdown()
    site.server_close()


def test_embed_snippet_on_another_origin_resizes_to_content(
    browser, http, portal, live, portal_site
):
    token = invite(http, portal)["token"]
    portal_site.pages["/done"] = (
        "<!doctype html><html><body><h1>Hồ sơ đã nộp</h1>"
        f'<div data-survey-url="{live.url}/s/{token}?lang=vi"></div>'
        f'<script src="{live.url}/embed.js"></script></body></html>'
    ).encode()
    port = portal_site.server_address[1]
    portal_origin = f"http://localhost:{port}"  # localhost vs 127.0.0.1: a different origin
    context = browser.new_context(viewport={"width": 360, "height": 800})
    page = context.new_page()
    # Not registered for the agency: the questionnaire refuses to be framed there.
    page.goto(f"{portal_origin}/done")
    page.locator("iframe").wait_for()
    page.wait_for_timeout(1500)
    assert page.locator("iframe").content_frame.locator("button[type=submit]").count() == 0
    live.run(Agency.update({Agency.frame_origins: portal_origin}, force=True))
    page.goto(f"{portal_origin}/done")
    frame_element = page.locator("iframe")
    frame_element.wait_for()
    frame = frame_element.content_frame
    frame.locator("button[type=submit]").wait_for()
    page.wait_for_function(
        "() => document.querySelector('iframe').style.height !== ''", timeout=10_000
    )
    content_height = frame.locator("body").evaluate("e => e.getBoundingClientRect().height")
    frame_height = frame_element.evaluate("e => e.getBoundingClientRect().height")
    assert abs(frame_height - content_height) <= 2
    # Low rating reveals the reasons; the frame grows with its content.
    frame.locator('input[name="overall"][value="1"]').check()
    page.wait_for_function(
        "h => document.querySelector('iframe').getBoundingClientRect().height > h",
        arg=frame_height + 50,
        timeout=10_000,
    )
    context.close()


def test_dashboard_in_a_real_browser(browser, live, tmp_path):
    from tests.survey_app.conftest import seed_statistics
    from tests.survey_app.test_dashboard import PASSWORD, _users

    live.run(seed_statistics())
    live.run(_users())
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(f"{live.url}/dashboard?lang=vi")
    page.wait_for_url("**/login**")
    page.fill("#username", "ana")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/dashboard")
    for lang, heading in (("vi", "Mức độ hài lòng toàn quốc"), ("en", "National satisfaction")):
        page.goto(f"{live.url}/dashboard?lang={lang}")
        page.wait_for_load_state("networkidle")
        assert heading in page.content()
        images = page.locator("img")
        assert images.count() >= 3
        for i in range(images.count()):
            loaded = images.nth(i).evaluate("img => img.complete && img.naturalWidth > 0")
            assert loaded, images.nth(i).get_attribute("src")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.screenshot(path=str(tmp_path / f"dashboard-{lang}.png"), full_page=True)
        assert (tmp_path / f"dashboard-{lang}.png").stat().st_size > 10_000
    context.close()
    assert problems == []
