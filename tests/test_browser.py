"""End-to-end checks in headless Chromium: languages, the staff path, the keyboard, axe, screenshots.

The app is served by a real WSGI server (werkzeug) on a loopback port, on the test database of the
`app` fixture, with CSRF protection ON, because the browser submits the real forms.
Skipped when /usr/bin/chromium is missing or TEST_BROWSER=0 (see shared/docs/libraries.md §9).
"""

import os
import re
import threading
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

CHROMIUM = Path("/usr/bin/chromium")
if os.environ.get("TEST_BROWSER") == "0":
    pytest.skip("browser tests disabled by TEST_BROWSER=0", allow_module_level=True)
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is not installed", allow_module_level=True)

from axe_playwright_python.sync_playwright import Axe  # noqa: E402
from playwright.sync_api import Browser, Page, expect  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from notifier import create_app  # noqa: E402
from notifier.db import db  # noqa: E402
from tests.factories import PASSWORD, create_announcement, email  # noqa: E402

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "mobile": {"width": 390, "height": 844}}
TIMEOUT_MS = 10_000


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Use Debian's chromium; Playwright's own browsers cannot be downloaded here."""
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture
def live_server(app):
    """Serve a CSRF-protected copy of the app (same database as `app`) on a free loopback port."""
    served = create_app(
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"], "WTF_CSRF_ENABLED": True}
    )
    server = make_server("127.0.0.1", 0, served, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="browser-test-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        with served.app_context():
            db.engine.dispose()


class Session:
    """One browser context and page, plus what went wrong on the wire while it was open."""

    def __init__(self, browser: Browser, base_url: str, viewport: str):
        self.viewport = viewport
        self.context = browser.new_context(base_url=base_url, viewport=VIEWPORTS[viewport], locale="ru-RU")
        self.context.set_default_timeout(TIMEOUT_MS)
        self.page = self.context.new_page()
        self.server_errors: list[str] = []
        self.console_errors: list[str] = []
        self.page.on("response", self._on_response)
        self.page.on("console", self._on_console)

    def _on_response(self, response) -> None:
        if response.status >= 500 or response.status in (400, 403):
            self.server_errors.append(f"{response.status} {response.request.method} {response.url}")

    def _on_console(self, message) -> None:
        if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
            self.console_errors.append(f"{message.text} ({message.location.get('url')})")

    def shot(self, name: str) -> Path:
        """Save a full-page screenshot as test-artifacts/screenshots/<name>-<viewport>.png."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}-{self.viewport}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def check_clean(self) -> None:
        assert not self.server_errors, f"unexpected HTTP errors: {self.server_errors}"
        assert not self.console_errors, f"console errors (CSP?): {self.console_errors}"


@pytest.fixture
def open_session(browser, live_server):
    """Return a factory of Sessions on the live server; contexts are closed at teardown."""
    sessions: list[Session] = []

    def factory(viewport: str = "desktop") -> Session:
        session = Session(browser, live_server, viewport)
        sessions.append(session)
        return session

    yield factory
    for session in sessions:
        session.context.close()


# ------------------------------------------------------------------ helpers


def html_lang(page: Page) -> str:
    return page.locator("html").get_attribute("lang")


def switch_language(page: Page, link_text: str) -> None:
    with page.expect_navigation():
        page.locator("nav.langs").get_by_role("link", name=link_text, exact=True).click()


def sign_in(page: Page, name: str, session: Session | None = None) -> None:
    page.goto("/staff/login")
    if session is not None:
        session.shot("login")
    page.fill("#email", email(name))
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.locator("main form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/staff/$"))
    expect(page.locator("form[action='/staff/logout']")).to_contain_text(email(name))


def sign_out(page: Page) -> None:
    with page.expect_navigation():
        page.locator("form[action='/staff/logout'] button").click()
    expect(page.locator("form[action='/staff/logout']")).to_have_count(0)


def act(page: Page, action: str) -> None:
    """Press the button of a lifecycle action form on the staff detail page."""
    with page.expect_navigation():
        page.locator(f"form[action$='/{action}'] button[type=submit]").click()


def local_tomorrow(app, hour: int) -> datetime:
    zone = ZoneInfo(app.config["TIMEZONE"])
    day = datetime.now(zone).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, 0)


def serious_violations(page: Page, where: str) -> list[str]:
    """Run axe on the page and return its critical and serious violations as readable lines."""
    results = Axe().run(page)
    lines = []
    for violation in results.response["violations"]:
        if violation["impact"] not in ("critical", "serious"):
            continue
        for node in violation["nodes"]:
            lines.append(
                f"[{where}] {violation['id']} ({violation['impact']}): {violation['help']} — "
                f"{', '.join(map(str, node['target']))}: {node['html'][:200]} — {node.get('failureSummary', '')}"
            )
    return lines


OVERFLOW_JS = """() => {
  const limit = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth <= limit) return [];
  const wide = [...document.querySelectorAll("body *")].filter((el) => el.getBoundingClientRect().right > limit + 1);
  const leaves = wide.filter((el) => !wide.some((other) => other !== el && el.contains(other)));
  return leaves.slice(0, 5).map((el) => {
    const name = el.tagName.toLowerCase() + (el.className ? "." + [...el.classList].join(".") : "");
    return `${name} "${el.textContent.trim().slice(0, 40)}" ends at ${Math.round(el.getBoundingClientRect().right)}px`;
  });
}"""


def horizontal_overflow(page: Page, where: str) -> list[str]:
    """Return the elements that stick out of the viewport sideways (the page scrolls horizontally)."""
    width = page.evaluate("document.documentElement.clientWidth")
    return [f"[{where}] layout: wider than the {width}px viewport: {item}" for item in page.evaluate(OVERFLOW_JS)]


# ------------------------------------------------------------------ tests


def test_language_switch_is_remembered(open_session):
    s = open_session("desktop")
    page = s.page
    page.goto("/")
    assert html_lang(page) == "ru"  # the browser asks for ru-RU
    expect(page.locator("a.skip")).to_have_attribute("href", "#main")
    s.shot("public-ru")

    switch_language(page, "Қазақша")
    assert html_lang(page) == "kk"
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator("nav.langs a[hreflang=kk]")).to_have_attribute("aria-current", "true")
    assert {c["name"]: c["value"] for c in s.context.cookies()}.get("lang") == "kk"
    s.shot("public-kk")

    page.goto("/")  # a fresh load, no ?lang=: the cookie decides
    assert html_lang(page) == "kk"
    page.goto("/staff/login")
    assert html_lang(page) == "kk"

    switch_language(page, "Русский")
    assert html_lang(page) == "ru"
    expect(page).to_have_url(re.compile(r"/staff/login$"))  # back where the visitor was
    page.goto("/")
    assert html_lang(page) == "ru"
    s.check_clean()


def test_staff_path_from_draft_to_public_page(app, open_session):
    s = open_session("desktop")
    page = s.page
    start, end = local_tomorrow(app, 10), local_tomorrow(app, 18)
    title_ru = "Отключение воды в Аль-Фарабийском районе"
    title_kk = "Әл-Фараби ауданында судың өшірілуі"
    body_ru = "Плановый ремонт водопровода. Запаситесь водой."
    body_kk = "Су құбырын жоспарлы жөндеу. Су қорын жинап қойыңыз."

    sign_in(page, "water.editor", s)
    s.shot("staff-list-editor")
    with page.expect_navigation():
        page.locator("a[href='/staff/announcements/new']").first.click()
    expect(page).to_have_url(re.compile(r"/staff/announcements/new$"))

    expect(page.locator("#department")).to_have_value("water")
    page.select_option("#kind", "planned_outage")
    expect(page.locator("#urgent")).not_to_be_checked()
    page.check("input[name=districts][value='al-farabi']")
    page.fill("#streets", "ул. Байтурсынова 1–15, мкр. Нурсат")
    page.fill("#starts_at", f"{start:%Y-%m-%dT%H:%M}")
    page.fill("#ends_at", f"{end:%Y-%m-%dT%H:%M}")
    page.fill("#publish_at", "")
    page.fill("#title_kk", title_kk)
    page.fill("#title_ru", title_ru)
    page.fill("#body_kk", body_kk)
    page.fill("#body_ru", body_ru)

    with page.expect_navigation():
        page.click("button[name=preview]")
    expect(page.locator("#preview-h")).to_be_visible()
    expect(page.locator(".preview blockquote.sms[lang=kk]")).to_be_visible()
    expect(page.locator(".preview blockquote.sms[lang=ru]")).to_be_visible()
    # the form keeps what was typed after the preview round trip
    expect(page.locator("#title_kk")).to_have_value(title_kk)
    expect(page.locator("#starts_at")).to_have_value(f"{start:%Y-%m-%dT%H:%M}")
    expect(page.locator("input[name=districts][value='al-farabi']")).to_be_checked()
    s.shot("form-preview")

    with page.expect_navigation():
        page.click("button[name=save]")
    expect(page).to_have_url(re.compile(r"/staff/announcements/\d+$"))
    ann_id = int(page.url.rsplit("/", 1)[1])
    expect(page.locator(".badge.status-draft")).to_be_visible()
    expect(page.locator("section[lang=kk] h2")).to_have_text(title_kk)
    expect(page.locator("section[lang=ru] h2")).to_have_text(title_ru)

    act(page, "submit")
    expect(page.locator(".badge.status-pending_approval")).to_be_visible()
    expect(page.locator("form[action$='/approve']")).to_have_count(0)  # an editor cannot approve
    sign_out(page)
    expect(page).to_have_url(re.compile(r"/$"))

    sign_in(page, "water.approver")
    page.goto(f"/staff/announcements/{ann_id}")
    expect(page.locator(".badge.status-pending_approval")).to_be_visible()
    act(page, "approve")
    expect(page.locator(".badge.status-published")).to_be_visible()
    expect(page.locator(f"a[href='/announcements/{ann_id}']")).to_be_visible()
    s.shot("staff-detail-approved")

    page.goto("/")
    assert html_lang(page) == "ru"
    card = page.locator("article.card", has=page.locator(f"a[href='/announcements/{ann_id}']"))
    expect(card.locator("h2")).to_have_text(title_ru)
    s.shot("public-with-announcement-ru")
    switch_language(page, "Қазақша")
    assert html_lang(page) == "kk"
    expect(card.locator("h2")).to_have_text(title_kk)
    s.shot("public-with-announcement-kk")

    with page.expect_navigation():
        card.locator("h2 a").click()
    expect(page.locator("main h1")).to_have_text(title_kk)
    expect(page.locator("main .body")).to_contain_text(body_kk)
    s.shot("public-detail-kk")
    s.check_clean()


def test_keyboard_skip_link_and_login(open_session):
    s = open_session("desktop")
    page = s.page
    page.goto("/staff/login")

    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.matches('a.skip')"), "Tab from the top must reach the skip link first"
    expect(page.locator("a.skip")).to_be_in_viewport()  # it shows itself when focused
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main", "the skip link must move focus to <main>"

    # from <main>, Tab goes on to the first form field
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "email":
            break
    else:
        pytest.fail("Tab never reached the e-mail field")
    page.keyboard.type(email("water.editor"))
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "password"
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.matches('main form button[type=submit]')")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    # the browser keeps the #main fragment of the skip link across the redirect
    expect(page).to_have_url(re.compile(r"/staff/(#main)?$"))
    expect(page.locator("form[action='/staff/logout']")).to_contain_text(email("water.editor"))
    s.check_clean()


@pytest.mark.parametrize("viewport", ["desktop", "mobile"])
def test_accessibility_and_layout(app, open_session, viewport):
    """axe (critical/serious) on every kind of page, and no sideways scrolling at 1280px and 390px."""
    with app.app_context():
        create_announcement(status="published", title={"ru": "Вода по ул. Абая", "kk": "Абай көшесіндегі су өшіріледі"})
        pending = create_announcement(status="pending_approval", urgent=True)
        pending_id = pending.id
    s = open_session(viewport)
    page = s.page
    desktop = viewport == "desktop"
    violations: list[str] = []
    overflow: list[str] = []

    def check(where: str, *, axe: bool = True) -> None:
        if axe:
            violations.extend(serious_violations(page, f"{where}, {viewport}"))
        overflow.extend(horizontal_overflow(page, f"{where}, {viewport}"))

    page.goto("/")
    check("public ru", axe=desktop)
    switch_language(page, "Қазақша")
    check("public kk")
    s.shot("a11y-public-kk")
    with page.expect_navigation():
        page.locator("article.card h2 a").first.click()
    check("public detail kk", axe=desktop)
    switch_language(page, "Русский")

    page.goto("/staff/login")
    check("login")
    s.shot("a11y-login")
    with page.expect_navigation():
        page.locator("main form button[type=submit]").click()  # empty form: the error state
    check("login with errors", axe=desktop)

    sign_in(page, "water.approver")
    check("staff list", axe=desktop)
    page.goto("/staff/announcements/new")
    check("new announcement form", axe=desktop)
    with page.expect_navigation():
        page.click("button[name=save]")  # nothing filled in: every field error shows
    check("form with errors")
    s.shot("a11y-form-errors")

    page.goto(f"/staff/announcements/{pending_id}")
    expect(page.locator("form[action$='/approve']")).to_have_count(1)
    check("staff detail")
    s.shot("a11y-staff-detail")
    s.check_clean()

    assert not violations, "axe: critical/serious violations:\n" + "\n".join(violations)
    assert not overflow, "pages scroll sideways:\n" + "\n".join(overflow)
