"""The desk in a real browser (Debian's chromium through Playwright): sign-in, the dashboard, Part A
then a Slack vote on the case page, a refused action, a POST without its CSRF token, the vote form by
keyboard only; an axe-core scan of every page (no serious or critical violation) and a screenshot of
each in tests/screenshots/ (PANELBOT_UPDATE_DOCS_SCREENSHOTS=1 copies the dashboard and case page
to docs/ for the README)."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.clock import ManualClock
from tests.conftest import london
from tests.fakes.slack_steps import POLICE, RATIONALE
from tests.helpers import refer
from tests.web_live import LiveDesk

pytest.importorskip("playwright")
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "tests" / "screenshots"
DOCS = ROOT / "docs"
SUMMARY = "A pre-school child was admitted to hospital with unexplained injuries; the family is known to services."


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """One chromium for all the browser tests. Module-scoped, not session-scoped: while sync
    Playwright runs, the main thread counts as inside an event loop, which the async tests after
    this module must not inherit."""
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveDesk]:
    with LiveDesk(tmp_path / "desk.db", ManualClock(london(2026, 12, 21, 10, 0))) as desk:
        yield desk


@pytest.fixture
def page(chromium: Browser) -> Iterator[Page]:
    context = chromium.new_context(viewport={"width": 1200, "height": 900})
    context.set_default_timeout(5000)
    pg = context.new_page()
    errors: list[str] = []
    # Pages answer 400/403/404 on purpose; any other failed load (a script, a stylesheet) is a bug.
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" and "Failed to load" not in m.text else None)
    pg.on(
        "response",
        lambda r: (
            errors.append(f"{r.status} {r.url}") if r.status >= 400 and r.request.resource_type != "document" else None
        ),
    )
    yield pg
    context.close()
    assert not errors, f"browser console errors: {errors}"


def check(page: Page, name: str, full_page: bool = True) -> None:
    """axe-core: no serious or critical violation; and a screenshot."""
    results = Axe().run(page)
    bad = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert not bad, f"{name}: " + "; ".join(f"{v['id']} ({v['impact']}): {v['help']}" for v in bad)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)


def sign_in(page: Page, live: LiveDesk, who: str) -> None:
    page.goto(live.url + "/")
    expect(page).to_have_url(re.compile(r"/sign-in\?next="))
    page.get_by_label(who).check()
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Signed in as")).to_be_visible()


def register_through_part_a(page: Page, live: LiveDesk) -> str:
    page.goto(live.url + "/referrals/new")
    page.get_by_role("button", name="Register referral").click()
    expect(page.locator(".govuk-error-summary")).to_be_focused()  # GOV.UK JS ran under our CSP
    check(page, "part_a_errors")
    page.get_by_label("Name", exact=True).fill("Dr Ada Referrer")
    page.get_by_label("Agency (optional)", exact=True).fill("Tameside Hospital")
    page.get_by_label("E-mail address (optional)", exact=True).fill("ada.referrer@example.org")
    page.get_by_label("Date of incident prompting referral (optional)", exact=True).fill("2026-12-18")
    page.get_by_label("Brief description of event leading to referral (optional)", exact=True).fill("Admitted to A&E.")
    page.get_by_label("Forename(s) (optional)", exact=True).fill("Zara")
    page.get_by_label("Last name(s) (optional)", exact=True).fill("Example")
    page.get_by_label("Date of birth (optional)", exact=True).fill("2022-03-04")
    page.get_by_label("Summary for the panel (no names, no addresses)", exact=True).fill(SUMMARY)
    page.get_by_role("button", name="Register referral").click()
    expect(page.locator("h1")).to_contain_text("TSCP-2026-")
    return page.locator("h1").inner_text().split()[0]


def test_sign_in_and_dashboard(page: Page, live: LiveDesk) -> None:
    page.goto(live.url + "/sign-in")
    check(page, "sign_in")
    sign_in(page, live, "Jo Baker (Business Manager)")
    expect(page.get_by_role("heading", name="Open cases")).to_be_visible()
    font = page.evaluate("getComputedStyle(document.querySelector('h1')).fontFamily")
    assert font.startswith("system-ui"), font
    check(page, "dashboard_empty")


def test_part_a_then_a_slack_vote_shows_on_the_case_page(page: Page, live: LiveDesk) -> None:
    sign_in(page, live, "Jo Baker (Business Manager)")
    ref = register_through_part_a(page, live)
    expect(page.locator(".govuk-notification-banner")).to_contain_text(f"Referral registered as {ref}")
    live.call(live.steps.drain)  # vote requests go out to (fake) Slack
    live.call(lambda: live.steps.vote(POLICE, ref, "No further action"))
    page.reload()
    votes = page.locator("#votes + table")
    expect(votes).to_contain_text("Greater Manchester Police")
    expect(votes).to_contain_text(RATIONALE)
    expect(page.locator("body")).not_to_contain_text("Zara")  # the child's name only on Part A
    check(page, "case")
    page.get_by_role("link", name=re.compile("Read the referral")).click()
    expect(page.locator("body")).to_contain_text("Zara")
    check(page, "part_a")
    live.clock.advance(dt.timedelta(days=3))  # the first case's screening deadline passes: red
    for summary in (SUMMARY, "A teenager seriously harmed in a road incident while missing from care placement."):
        live.call(lambda s=summary: refer(live.service, panel_summary=s))
    sign_in(page, live, "Jo Baker (Business Manager)")  # days idle: signed out
    expect(page.locator("#cases")).to_contain_text(ref)
    expect(page.locator("#cases tbody tr").first).to_contain_text("Overdue")
    check(page, "dashboard")
    page.get_by_role("link", name="Today's digest").click()
    expect(page.locator("#digest")).to_contain_text(ref)
    check(page, "digest")
    if os.environ.get("PANELBOT_UPDATE_DOCS_SCREENSHOTS"):  # the README's pictures, refreshed on request
        shutil.copy(SHOTS / "dashboard.png", DOCS / "web-dashboard.png")
        shutil.copy(SHOTS / "case.png", DOCS / "web-case.png")


def test_refused_action_and_missing_page(page: Page, live: LiveDesk) -> None:
    sign_in(page, live, "Jo Baker (Business Manager)")
    ref = register_through_part_a(page, live)
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, live, "Chris Lee (Greater Manchester Police panel member)")
    page.goto(f"{live.url}/cases/{ref}/complaint")
    check(page, "form_complaint")
    page.get_by_role("button", name="Record complaint").click()
    expect(page.locator("h1")).to_have_text("You cannot do this")
    expect(page.locator("#reason")).to_contain_text("Only the business manager")
    check(page, "refused")
    page.goto(f"{live.url}/cases/TSCP-1999-001")
    expect(page.locator("h1")).to_have_text("Page not found")
    check(page, "not_found")


def test_post_without_csrf_token_is_refused(page: Page, live: LiveDesk) -> None:
    sign_in(page, live, "Jo Baker (Business Manager)")
    ref = register_through_part_a(page, live)
    page.goto(f"{live.url}/cases/{ref}/complaint")
    page.evaluate("document.querySelector('main form input[name=csrf_token]').remove()")
    page.get_by_role("button", name="Record complaint").click()
    expect(page.locator("h1")).to_have_text("You cannot do this")
    expect(page.locator("#reason")).to_contain_text("not sent from this page")


def tab_to(page: Page, selector: str, limit: int = 80) -> None:
    """Press Tab until the element matching `selector` has the focus."""
    for _ in range(limit):
        if page.evaluate("(s) => document.activeElement && document.activeElement.matches(s)", selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector}")


def test_vote_with_the_keyboard_only(page: Page, live: LiveDesk) -> None:
    sign_in(page, live, "Jo Baker (Business Manager)")
    ref = register_through_part_a(page, live)
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, live, "Chris Lee (Greater Manchester Police panel member)")
    page.goto(f"{live.url}/cases/{ref}")
    tab_to(page, "#actions a")
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Screening vote")
    check(page, "form_vote")
    tab_to(page, "input[name=pathway]")
    page.keyboard.press("ArrowDown")  # Rapid Review → Audit & assurance
    page.keyboard.press("Space")
    tab_to(page, "input[name=notifiable]")
    page.keyboard.press("ArrowRight")  # Yes → No
    page.keyboard.press("Space")
    tab_to(page, "textarea[name=rationale]")
    page.keyboard.type("Single-agency learning for the police; no notifiable incident.")
    tab_to(page, "button.govuk-button:not(.app-signed-in__button)")
    page.keyboard.press("Enter")
    expect(page.locator(".govuk-notification-banner")).to_contain_text("vote is recorded")
    expect(page.locator("#votes + table")).to_contain_text("Audit & assurance")
    expect(page.locator("#votes + table")).to_contain_text("Single-agency learning for the police")


def test_business_manager_records_a_vote_given_by_phone(page: Page, live: LiveDesk) -> None:
    sign_in(page, live, "Jo Baker (Business Manager)")
    register_through_part_a(page, live)
    page.get_by_role("button", name="Record a vote given by phone, e-mail or in a meeting").click()
    page.get_by_label("Audit & assurance").check()
    page.locator("#notifiable-2").check()  # No
    page.get_by_label("Rationale for the decision", exact=True).fill("Alex said by phone: single-agency learning.")
    page.get_by_role("button", name="Record vote").click()
    expect(page.locator(".govuk-error-summary")).to_contain_text("Choose whose this is.")
    check(page, "form_vote_on_behalf_errors")
    page.get_by_label("Alex Morgan (LA deputy)").check()
    page.get_by_label("By phone").check()
    page.get_by_role("button", name="Record vote").click()
    expect(page.locator("#votes + table")).to_contain_text(
        "recorded by Jo Baker for Alex Morgan (LA deputy), by phone, Mon 21 Dec 2026 10:00"
    )
    told = live.call(lambda: live.steps.outbox(kind="recorded_for_you"))
    assert [(m.person_id, m.channel) for m in told] == [("la-deputy", "email")]
    check(page, "case_on_behalf")


def vote_on_the_desk(page: Page, live: LiveDesk, who: str, ref: str, pathway: str, notifiable: str) -> None:
    sign_in(page, live, who)
    page.goto(f"{live.url}/cases/{ref}")
    page.get_by_role("button", name="Vote", exact=True).click()
    page.get_by_label(pathway, exact=True).check()
    page.locator("#notifiable" if notifiable == "yes" else "#notifiable-2").check()
    page.get_by_label("Rationale for the decision", exact=True).fill(f"{who} judges {pathway} right for this case.")
    if pathway == "Rapid Review":
        page.locator("#abuse_nature").fill("Suspected physical abuse.")
        page.locator("#harm_basis").fill("Injuries likely to cause long-term harm.")
    page.get_by_role("button", name="Record vote").click()
    expect(page.locator(".govuk-notification-banner")).to_contain_text("vote is")
    page.get_by_role("button", name="Sign out").click()


def test_a_newcomer_runs_a_screening_on_the_desk(page: Page, live: LiveDesk) -> None:
    """The issue's "done when": register, three agencies vote (one recorded on behalf), read the
    decision, the timeline and the audit log; then the notification and a milestone."""
    sign_in(page, live, "Jo Baker (Business Manager)")
    ref = register_through_part_a(page, live)
    page.get_by_role("button", name="Sign out").click()
    vote_on_the_desk(page, live, "Chris Lee (Greater Manchester Police panel member)", ref, "Rapid Review", "yes")
    sign_in(page, live, "Jo Baker (Business Manager)")
    page.goto(f"{live.url}/cases/{ref}")
    page.get_by_role("button", name="Record a vote given by phone, e-mail or in a meeting").click()
    page.get_by_label("No further action", exact=True).check()
    page.locator("#notifiable-2").check()
    page.get_by_label("Rationale for the decision", exact=True).fill("Alex, in the panel meeting: no further action.")
    page.get_by_label("Alex Morgan (LA deputy)").check()
    page.get_by_label("In a meeting").check()
    page.get_by_role("button", name="Record vote").click()
    expect(page.locator("#votes + table")).to_contain_text(
        "recorded by Jo Baker for Alex Morgan (LA deputy), in a meeting"
    )
    page.get_by_role("button", name="Sign out").click()
    vote_on_the_desk(page, live, "Priya Shah (NHS Greater Manchester ICB panel member)", ref, "Rapid Review", "yes")
    sign_in(page, live, "Jo Baker (Business Manager)")
    page.goto(f"{live.url}/cases/{ref}")
    expect(page.locator("#decision + dl")).to_contain_text("Rapid Review")
    page.get_by_role("button", name="The National Panel has been notified").click()
    check(page, "confirm")
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator(".govuk-notification-banner")).to_contain_text("notification recorded")
    page.get_by_role("button", name="Mark something done").click()
    page.get_by_label(re.compile("Chronology and single-agency summary templates sent")).check()
    check(page, "form_milestone")
    page.get_by_role("button", name="Mark done").click()
    expect(page.locator("#timeline + table")).to_contain_text("done")
    expect(page.locator("#audit-log")).to_contain_text("decision")
    check(page, "case_after_screening")
