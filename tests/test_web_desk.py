"""The desk over HTTP (no browser): sign-in, sessions, CSRF, headers, the pages and the forms,
against the real server app on both databases. The browser tests are in test_web_browser.py."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.clock import ManualClock
from bot.server import build_web_app
from bot.service import Service
from bot.settings import Settings
from storage.models import OutboxMessage
from tests.helpers import audits, outbox, refer, vote

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no CSRF token"
    return found.group(1)


class Browser:
    """Just enough of a browser: cookies, forms with the page's CSRF token."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.token = ""

    async def get(self, path: str, **kw):
        resp = await self.client.get(path, allow_redirects=False, **kw)
        text = await resp.text()
        if CSRF.search(text):
            self.token = csrf_of(text)
        return resp, text

    async def post(self, path: str, data: dict[str, str], csrf: bool = True, **kw):
        if csrf:
            data = {"csrf_token": self.token, **data}
        resp = await self.client.post(path, data=data, allow_redirects=False, **kw)
        return resp, await resp.text()

    async def sign_in(self, person: str) -> None:
        await self.get("/sign-in")
        resp, _ = await self.post("/sign-in/dev", {"person": person, "next": "/"})
        assert resp.status == 303, await resp.text()
        await self.get("/")


@pytest.fixture
async def desk(service: Service) -> AsyncIterator[TestClient]:
    app = build_web_app(service, Settings(panelbot_web_dev_login=True))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client


@pytest.fixture
def browser(desk: TestClient) -> Browser:
    return Browser(desk)


async def test_pages_need_sign_in_and_dev_sign_in_works(browser: Browser) -> None:
    resp, _ = await browser.get("/")
    assert resp.status == 303 and resp.headers["Location"].startswith("/sign-in?next=")
    resp, text = await browser.get("/sign-in")
    assert resp.status == 200 and "Sign in as" in text and "Jo Baker" in text
    await browser.sign_in("bm")
    resp, text = await browser.get("/")
    assert resp.status == 200 and "Open cases" in text and "Signed in as" in text


async def test_session_cookie_and_security_headers(browser: Browser) -> None:
    resp, _ = await browser.get("/sign-in")
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie  # loopback: no TLS
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    resp, _ = await browser.get("/sign-in", headers={"Host": "desk.example.org"})
    assert "Secure" in resp.headers["Set-Cookie"]


async def test_dev_sign_in_is_refused_off_loopback(browser: Browser, service: Service) -> None:
    _, text = await browser.get("/sign-in", headers={"Host": "desk.example.org"})
    assert "Sign in as" not in text
    await browser.get("/sign-in")  # a session and CSRF token (its cookie is not Secure on loopback)
    resp, text = await browser.post("/sign-in/dev", {"person": "bm"}, headers={"Host": "desk.example.org"})
    assert resp.status == 403 and "switched off" in text
    assert [a.details["command"] for a in await audits(service, "refused")] == ["web_dev_sign_in"]


async def test_post_without_csrf_token_is_refused_and_audited(browser: Browser, service: Service) -> None:
    await browser.sign_in("bm")
    case = await refer(service)
    resp, text = await browser.post(f"/cases/{case.ref}/complaint", {"summary": "Parent complained"}, csrf=False)
    assert resp.status == 403 and "not sent from this page" in text
    resp, _ = await browser.post(f"/cases/{case.ref}/complaint", {"summary": "x", "csrf_token": "forged"}, csrf=False)
    assert resp.status == 403
    refused = await audits(service, "refused")
    assert [(a.actor, a.details["command"]) for a in refused] == [("bm", "web_csrf"), ("bm", "web_csrf")]
    assert not await audits(service, "complaint_recorded")


async def test_idle_session_expires(browser: Browser, clock: ManualClock, service: Service) -> None:
    await browser.sign_in("bm")
    clock.advance(dt.timedelta(minutes=service.cfg.web.session_idle_minutes + 1))
    resp, _ = await browser.get("/")
    assert resp.status == 303 and resp.headers["Location"].startswith("/sign-in")


async def test_dashboard_lists_open_cases_with_what_is_owed(browser: Browser, service: Service) -> None:
    first = await refer(service)
    second = await refer(service)
    await vote(service, "police-dsp", second.ref, "no_further_action")
    await browser.sign_in("bm")
    _, text = await browser.get("/")
    assert first.ref in text and second.ref in text
    assert "Greater Manchester Police" in text or "police" in text.lower()
    _, digest = await browser.get("/digest")
    assert "panelbot digest" in digest and first.ref in digest
    await browser.sign_in("police-dsp")
    _, text = await browser.get("/")
    assert "What you owe" in text and first.ref in text


async def test_case_page_shows_votes_timeline_messages_and_audit(browser: Browser, service: Service) -> None:
    case = await refer(service)
    await vote(
        service, "police-dsp", case.ref, "no_further_action", rationale="Police see no further role here at all."
    )
    await browser.sign_in("scrutineer")
    resp, text = await browser.get(f"/cases/{case.ref.lower()}")
    assert resp.status == 200
    for expected in (
        "Police see no further role here at all.",
        "Rounds and votes",
        "Timeline",
        "Messages",
        "Audit log",
    ):
        assert expected in text
    assert "Zebedee" not in text and "Secret Lane" not in text  # the child's details stay on Part A


async def test_unknown_case_is_a_404_page(browser: Browser) -> None:
    await browser.sign_in("bm")
    resp, text = await browser.get("/cases/TSCP-1999-999")
    assert resp.status == 404 and "no case" in text
    resp, _ = await browser.get("/cases/TSCP-1999-999/vote")
    assert resp.status == 404


async def test_part_a_only_for_readers_and_every_view_audited(browser: Browser, service: Service) -> None:
    case = await refer(service)
    await browser.sign_in("police-dsp")
    resp, text = await browser.get(f"/cases/{case.ref}/part-a")
    assert resp.status == 403 and "Zebedee" not in text
    await browser.sign_in("bm")
    resp, text = await browser.get(f"/cases/{case.ref}/part-a")
    assert resp.status == 200 and "Zebedee" in text and "1 Secret Lane" in text
    viewed = await audits(service, "part_a_viewed")
    assert [a.actor for a in viewed] == ["bm"]
    assert [a.details["command"] for a in await audits(service, "refused")] == ["web_part_a"]


async def test_vote_form_errors_beside_fields_then_vote_recorded(browser: Browser, service: Service) -> None:
    case = await refer(service)
    await browser.sign_in("police-dsp")
    await browser.get(f"/cases/{case.ref}/vote")
    resp, text = await browser.post(f"/cases/{case.ref}/vote", {"pathway": "rapid_review", "rationale": "short"})
    assert resp.status == 400
    assert 'href="#rationale"' in text and 'id="rationale-error"' in text and 'id="notifiable-error"' in text
    resp, _ = await browser.post(
        f"/cases/{case.ref}/vote",
        {"pathway": "no_further_action", "notifiable": "no", "rationale": "Nothing for the police to learn here."},
    )
    assert resp.status == 303 and resp.headers["Location"] == f"/cases/{case.ref}"
    _, text = await browser.get(f"/cases/{case.ref}")
    assert "vote is recorded" in text and "Nothing for the police to learn here." in text


async def test_a_refused_action_is_a_403_page_and_audited(browser: Browser, service: Service) -> None:
    case = await refer(service)
    await browser.sign_in("police-dsp")
    await browser.get(f"/cases/{case.ref}/complaint")
    resp, text = await browser.post(f"/cases/{case.ref}/complaint", {"summary": "A complaint"})
    assert resp.status == 403 and "Only the business manager" in text
    refused = await audits(service, "refused")
    assert [(a.actor, a.details["command"]) for a in refused] == [("police-dsp", "RecordComplaint")]


async def test_part_a_form_registers_a_referral(browser: Browser, service: Service) -> None:
    await browser.sign_in("bm")
    await browser.get("/referrals/new")
    resp, text = await browser.post("/referrals/new", {"referrer_email": "not an address", "panel_summary": "short"})
    assert resp.status == 400
    for field in ("referrer_name", "referrer_email", "panel_summary"):
        assert f'id="{field}-error"' in text, field
    data = {
        "referrer_name": "Dr Ada Referrer",
        "referrer_email": "ada@example.org",
        "child_forenames": "Zara",
        "child_date_of_birth": "2022-03-04",
        "event_description": "Admitted to A&E with injuries.",
        "panel_summary": "A pre-school child admitted with unexplained injuries; known to early help.",
    }
    resp, _ = await browser.post("/referrals/new", data)
    assert resp.status == 303 and resp.headers["Location"].startswith("/cases/TSCP-")
    _, text = await browser.get(resp.headers["Location"] + "/part-a")
    assert "Zara" in text and "04 Mar 2022" in text and "Admitted to A&amp;E" in text


async def test_a_failed_message_is_sent_again_by_the_business_manager(browser: Browser, service: Service) -> None:
    case = await refer(service)

    async def fail_one(uow) -> int:
        row = await uow.session.scalar(select(OutboxMessage).where(OutboxMessage.person_id == "la-deputy"))
        row.state, row.attempts, row.last_error = "failed", 9, "550 mailbox unavailable"
        return row.id

    failed = await service.transact(fail_one)
    await browser.sign_in("police-dsp")
    _, text = await browser.get(f"/cases/{case.ref}")
    assert "550 mailbox unavailable" in text and "Send again" not in text
    resp, _ = await browser.post(f"/cases/{case.ref}/messages/{failed}/resend", {})
    assert resp.status == 403
    await browser.sign_in("bm")
    _, text = await browser.get(f"/cases/{case.ref}")
    assert f"/messages/{failed}/resend" in text
    resp, _ = await browser.post(f"/cases/{case.ref}/messages/{failed}/resend", {})
    assert resp.status == 303
    row = (await outbox(service))[failed - 1]
    assert (row.id, row.state, row.attempts) == (failed, "pending", 0)
    assert [a.details["channel"] for a in await audits(service, "message_resent")] == ["email"]
    resp, text = await browser.post(f"/cases/{case.ref}/messages/{failed}/resend", {})
    assert resp.status == 409 and "Only a message that failed" in text


def test_serve_refuses_dev_sign_in_off_loopback(tmp_path) -> None:
    env = {
        **os.environ,
        "PANELBOT_WEB_DEV_LOGIN": "true",
        "PANELBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/x.db",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "serve", "--host", "0.0.0.0", "--port", "0", "--config", "app.yaml"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert proc.returncode == 2 and "PANELBOT_WEB_DEV_LOGIN" in proc.stderr


async def test_dashboard_pages_fifty_cases_at_a_time(browser: Browser, service: Service) -> None:
    refs = [(await refer(service)).ref for _ in range(51)]
    await browser.sign_in("bm")
    _, first = await browser.get("/")
    assert "51 open cases" in first and "page 1 of 2" in first and 'href="?page=2"' in first
    _, second = await browser.get("/?page=2")
    assert sum(f'href="/cases/{ref}"' in first for ref in refs) == 50
    assert sum(f'href="/cases/{ref}"' in second for ref in refs) == 1
