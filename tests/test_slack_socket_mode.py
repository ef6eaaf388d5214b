"""Socket Mode: the same Bolt listeners answer envelopes that arrive over a WebSocket (a real one, on
127.0.0.1, opened through `apps.connections.open` on the fake), with no public URL at all."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl

import pytest
from aiohttp import web

from bot.handlers.slack.listeners import SocketModeUnavailable, start_socket_mode
from bot.server import build_web_app
from bot.service import Service
from bot.settings import Settings
from storage.models import Vote
from tests.fakes.slack_api import APP_TOKEN, TOKEN, FakeSlackApi
from tests.fakes.slack_steps import BM, POLICE, RATIONALE, RR_GROUNDS, Steps
from tests.fakes.slack_workspace import shown_text

pytest_plugins = ("tests.fakes.slack_fixtures",)


@pytest.fixture
async def socket_app(slack_service: Service, fake_slack: FakeSlackApi) -> AsyncIterator[web.Application]:
    # No signing secret: a Socket Mode-only install, as for a partnership without a public URL.
    settings = Settings(
        slack_bot_token=TOKEN, slack_signing_secret=None, slack_app_token=APP_TOKEN, slack_api_url=fake_slack.url
    )
    app = build_web_app(slack_service, settings)
    handler = await start_socket_mode(app, settings)
    await fake_slack.wait_connected()
    yield app
    await handler.close_async()


class Envelopes:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        self.n += 1
        return {"envelope_id": f"env-{self.n}", "type": kind, "payload": payload, "accepts_response_payload": True}


async def test_socket_mode_envelopes_reach_the_same_listeners(
    socket_app: web.Application, steps: Steps, fake_slack: FakeSlackApi
) -> None:
    assert "/slack/events" not in {r.resource.canonical for r in socket_app.router.routes() if r.resource}
    envelope, api = Envelopes(), fake_slack

    # /panel new over the socket: acknowledged, and the referral modal opens.
    command = dict(parse_qsl(steps.slack.command_body(BM, "new")))
    ack = await api.push(envelope("slash_commands", command))
    assert ack == {"envelope_id": "env-1"}
    await api.wait_for("views.open")
    values = {"referrer_name": "Dr A Referrer", "panel_summary": "A child was seriously harmed; known to services."}
    ack = await api.push(envelope("interactive", steps.slack.submit_payload(BM, api.last_view(), values)))
    assert ack["payload"]["response_action"] == "update"  # "Recording…" at once; the outcome replaces it
    [outcome] = await api.wait_for("views.update")
    assert "Referral registered as TSCP-2026-001" in shown_text(outcome.body["view"])
    await steps.drain()

    # A vote: the click opens the modal, the submission records it, exactly as over HTTP.
    request = steps.vote_request(POLICE, "TSCP-2026-001")
    await api.push(envelope("interactive", steps.slack.click_payload(POLICE, request, "Rapid Review")))
    await api.wait_for("views.open", 2)
    submitted = {"notifiable": "yes", "rationale": RATIONALE} | RR_GROUNDS
    await api.push(envelope("interactive", steps.slack.submit_payload(POLICE, api.last_view(), submitted)))
    outcome = (await api.wait_for("views.update", 2))[-1]
    assert "Greater Manchester Police's vote is recorded" in shown_text(outcome.body["view"])
    assert await steps.count(Vote) == 1

    # Slack redelivers the same envelope: still one vote.
    await api.push(envelope("interactive", steps.slack.submit_payload(POLICE, api.last_view(), submitted)))
    outcome = (await api.wait_for("views.update", 3))[-1]
    assert "nothing changed" in shown_text(outcome.body["view"])
    assert await steps.count(Vote) == 1

    # An event: the App Home is published.
    before = len(api.calls_to("views.publish"))
    event = json.loads(steps.slack.event_body({"type": "app_home_opened", "user": POLICE, "tab": "home"}))
    await api.push(envelope("events_api", event))
    await api.wait_for("views.publish", before + 1)
    assert api.calls_to("views.publish")[-1].body["user_id"] == POLICE


async def test_socket_mode_needs_the_app_token(slack_service: Service, fake_slack: FakeSlackApi) -> None:
    settings = Settings(slack_bot_token=TOKEN, slack_app_token=None, slack_api_url=fake_slack.url)
    with pytest.raises(SocketModeUnavailable):
        await start_socket_mode(build_web_app(slack_service, settings), settings)
