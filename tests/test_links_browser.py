"""Link pages in a real browser (Debian's chromium through Playwright). The vote request is read out
of the e-mail the fake Graph received; a mail scanner opens the link twice with plain GETs (nothing
changes), then the person votes once; the page then shows the vote and lets them change it. An
expired link, a link used with another case's reference, a changed link and a POST without its CSRF
token open nothing. axe-core finds no serious or critical violation on any of these pages."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.clock import ManualClock
from bot.config import load_config
from bot.flows.commands import RegisterReferral
from bot.flows.screening import panel
from storage.models import AuditEvent, Link, Vote
from tests.conftest import ROOT, london
from tests.links_live import LinkServer

pytest.importorskip("playwright")
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect, sync_playwright

SHOTS = ROOT / "tests" / "screenshots"
SUMMARY = "A pre-school child was admitted to hospital with unexplained injuries; the family is known to services."
RATIONALE = "Single-agency learning for the council; the threshold for a Rapid Review is not met."


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LinkServer]:
    clock = ManualClock(london(2026, 12, 21, 10, 0))
    with LinkServer(tmp_path, load_config(ROOT / "app.yaml"), clock) as server:
        yield server


@pytest.fixture
def page(chromium: Browser) -> Iterator[Page]:
    context = chromium.new_context(viewport={"width": 1100, "height": 900})
    context.set_default_timeout(5000)
    yield context.new_page()
    context.close()


def check(page: Page, name: str) -> None:
    results = Axe().run(page)
    bad = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert not bad, f"{name}: " + "; ".join(f"{v['id']} ({v['impact']}): {v['help']}" for v in bad)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def refer(live: LinkServer) -> str:
    cmd = RegisterReferral.model_validate(
        {
            "by": "bm",
            "referrer": {"name": "Dr A Referrer", "email": "referrer@example.org"},
            "panel_summary": SUMMARY,
            "child": {"forenames": "Zebedee", "last_name": "Quixotic"},
        }
    )
    return live.run(panel.register_referral, cmd).ref


def mailed_link(live: LinkServer, to: str, ref: str) -> str:
    live.deliver()
    mails = [m for m in live.graph.mails if m.to == [to] and ref in m.subject]
    assert mails, f"no mail to {to} about {ref}"
    found = re.findall(rf"{re.escape(live.url)}/l/{ref}/[A-Za-z0-9_.-]+", mails[-1].text)
    assert found, mails[-1].text
    return found[0]


def count(live: LinkServer, query) -> int:
    async def work(uow):
        return await uow.session.scalar(query)

    return live.call(lambda: live.service.read(work))


def scanner_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url) as response:  # a plain GET: no cookies, no form
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_scanner_opens_the_link_twice_then_the_deputy_votes_once(page: Page, live: LinkServer) -> None:
    ref = refer(live)
    url = mailed_link(live, "alex.morgan@example.org", ref)
    audits_before = count(live, select(func.count()).select_from(AuditEvent))
    for _ in range(2):
        status, body = scanner_get(url)
        assert status == 200 and "You are voting for Tameside MBC as Alex Morgan." in body
    assert count(live, select(func.count()).select_from(AuditEvent)) == audits_before
    assert count(live, select(func.count()).select_from(Vote)) == 0

    page.goto(url)
    expect(page.locator("#who")).to_have_text("You are voting for Tameside MBC as Alex Morgan.")
    expect(page.locator("body")).not_to_contain_text("Zebedee")
    check(page, "link_vote")
    page.get_by_label("Audit & assurance").check()
    page.locator("input[name=notifiable][value=no]").check()
    page.get_by_label("Rationale for the decision").fill(RATIONALE)
    page.get_by_role("button", name="Record vote").click()
    expect(page.locator("h1")).to_contain_text("Recorded")
    expect(page.locator("#recorded")).to_contain_text("Audit & assurance")
    check(page, "link_recorded")
    assert count(live, select(func.count()).select_from(Vote)) == 1
    used = count(live, select(AuditEvent.details).where(AuditEvent.action == "link_used"))
    assert used["ip"] == "127.0.0.1" and "Chrome" in used["user_agent"]

    live.deliver()  # the confirmation, through the fake Graph
    confirmations = [m for m in live.graph.mails if m.to == ["alex.morgan@example.org"] and "recorded" in m.subject]
    assert confirmations and "If this was not you" in confirmations[-1].text

    page.get_by_role("link", name="Change your vote").click()
    expect(page.locator("#current")).to_contain_text(RATIONALE)
    expect(page.get_by_label("Audit & assurance")).to_be_checked()
    page.get_by_label("No further action").check()
    page.get_by_role("button", name="Record vote").click()
    expect(page.locator("#recorded")).to_contain_text("No further action")
    assert count(live, select(func.count()).select_from(Vote)) == 1  # one standing vote, changed


def test_an_expired_link_says_so_and_nothing_about_the_case(page: Page, live: LinkServer) -> None:
    ref = refer(live)
    url = mailed_link(live, "alex.morgan@example.org", ref)
    expires = count(live, select(func.max(Link.expires_at)))
    live.clock.set(expires + dt.timedelta(minutes=1))
    response = page.goto(url)
    assert response is not None and response.status == 410
    expect(page.locator("h1")).to_have_text("This link has expired")
    expect(page.locator("#contact")).to_contain_text("Jo Baker")
    for secret in (SUMMARY, "Tameside MBC", "Alex Morgan"):
        expect(page.locator("main")).not_to_contain_text(secret)
    check(page, "link_expired")


def test_a_link_used_for_another_case_or_changed_opens_nothing(page: Page, live: LinkServer) -> None:
    first = refer(live)
    second = refer(live)
    url = mailed_link(live, "alex.morgan@example.org", first)
    response = page.goto(url.replace(f"/l/{first}/", f"/l/{second}/"))
    assert response is not None and response.status == 404
    expect(page.locator("h1")).to_have_text("This link does not match the case in the address")
    expect(page.locator("main")).not_to_contain_text(SUMMARY)
    check(page, "link_wrong_case")
    response = page.goto(url[:-5])
    assert response is not None and response.status == 404
    expect(page.locator("h1")).to_have_text("This link is incomplete or has been changed")


def test_a_post_without_its_csrf_token_records_nothing(page: Page, live: LinkServer) -> None:
    ref = refer(live)
    url = mailed_link(live, "alex.morgan@example.org", ref)
    page.goto(url)
    page.get_by_label("No further action").check()
    page.locator("input[name=notifiable][value=no]").check()
    page.get_by_label("Rationale for the decision").fill(RATIONALE)
    page.evaluate("document.querySelector('main form input[name=csrf_token]').remove()")
    page.get_by_role("button", name="Record vote").click()
    expect(page.locator("h1")).to_have_text("You cannot do this")
    expect(page.locator("#reason")).to_contain_text("not sent from this page")
    assert count(live, select(func.count()).select_from(Vote)) == 0


def test_the_business_manager_withdraws_the_links_from_the_case_page(page: Page, live: LinkServer) -> None:
    ref = refer(live)
    url = mailed_link(live, "alex.morgan@example.org", ref)
    page.goto(live.url + "/sign-in")
    page.get_by_label("Jo Baker (Business Manager)").check()
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{live.url}/cases/{ref}")
    page.get_by_role("button", name="Withdraw this case's e-mail links").click()
    expect(page.locator(".govuk-notification-banner")).to_contain_text("link(s) withdrawn")
    response = page.goto(url)
    assert response is not None and response.status == 410
    expect(page.locator("h1")).to_have_text("This link has been withdrawn")
    check(page, "link_withdrawn")
