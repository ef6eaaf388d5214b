"""With `web.base_url` set, every message to a roster person links to the case page on the desk:
Slack blocks and App Home, Teams cards, e-mail. Without it, no message carries a link."""

from __future__ import annotations

from bot.clock import ManualClock
from bot.config import AppConfig, Web
from bot.flows.common import Env
from bot.handlers.graph.mail import render_html, render_text
from bot.handlers.slack.blocks import render_message
from bot.handlers.slack.home import case_lines
from bot.handlers.teams.cards import message_card
from bot.messages import Message
from bot.service import Service
from storage.migrate import upgrade
from tests.helpers import outbox, refer

DESK = "https://desk.example.org"


async def test_messages_link_to_the_case_page_when_the_desk_has_an_address(
    cfg: AppConfig, clock: ManualClock, db_url: str
) -> None:
    service = Service.create(cfg.model_copy(update={"web": Web(base_url=DESK)}), clock, db_url)
    await upgrade(service.engine)
    try:
        case = await refer(service, referrer={"name": "Dr A Referrer", "email": "referrer@example.org"})
        rows = await outbox(service)
        to_roster = [r for r in rows if r.person_id]
        assert to_roster and all(r.payload["link"] == f"{DESK}/cases/{case.ref}" for r in to_roster)
        assert all(r.payload.get("link") is None for r in rows if not r.person_id)  # the referrer cannot sign in
    finally:
        await service.close()


async def test_no_address_no_link(service: Service) -> None:
    await refer(service)
    assert all(r.payload.get("link") is None for r in await outbox(service))


def test_each_channel_shows_the_link(cfg: AppConfig, clock: ManualClock) -> None:
    link = f"{DESK}/cases/TSCP-2026-001"
    message = Message(kind="vote_request", ref="TSCP-2026-001", title="TSCP-2026-001 needs a vote", link=link)
    assert f"<{link}|Open TSCP-2026-001 on the desk>" in str(render_message(message))
    card = message_card(message)
    assert {"type": "Action.OpenUrl", "title": "Open on the desk", "url": link} in card["actions"]
    assert f'href="{link}"' in render_html(message, "TSCP") and link in render_text(message, "TSCP")
    env = Env(cfg.model_copy(update={"web": Web(base_url=DESK)}), clock)
    case = {"ref": "TSCP-2026-001", "status": "screening", "next_deadline": None, "next_what": None}
    assert f"<{link}|TSCP-2026-001>" in case_lines(env, [case], [])[0]
