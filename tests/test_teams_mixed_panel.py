"""One panel across Teams and Slack at once, through both real handlers in one server: the
referral and the Police vote in Slack (signed requests, fake Web API), LA and Health in Teams
(activities to /api/messages, fake Bot Connector). One decision, seen on both platforms."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from bot.handlers.slack.home import home_publisher
from bot.handlers.slack.sender import SlackSender, sending_client
from bot.service import Service
from storage.migrate import upgrade
from storage.models import Decision
from tests.fakes.slack_api import TOKEN, FakeSlackApi
from tests.fakes.slack_steps import SEND_TIMEOUT, Steps
from tests.fakes.slack_workspace import SIGNING_SECRET, SlackWorkspace
from tests.fakes.teams_connector import card_text
from tests.fakes.teams_env import HEALTH_DSP, LA_DSP, start_world, stop_world, teams_settings
from tests.test_teams_bot import vote_inputs

POLICE = "U0POL0001"  # app.yaml: Chris Lee, Police, works in Slack; the BM too (U0BM00001)


async def test_la_and_health_in_teams_police_in_slack_reach_one_decision(cfg, clock, db_url) -> None:
    service = Service.create(cfg, clock, db_url)
    await upgrade(service.engine)
    fake_slack = FakeSlackApi()
    await fake_slack.start()
    settings = teams_settings(slack_bot_token=TOKEN, slack_signing_secret=SIGNING_SECRET, slack_api_url=fake_slack.url)
    slack_sender = SlackSender(
        sending_client(TOKEN, fake_slack.url, timeout=SEND_TIMEOUT), home_publisher(service), home_interval=0
    )
    world = await start_world(service, settings, {"slack": slack_sender})
    steps = Steps(SlackWorkspace(world.client, fake_slack), world.delivery, service)
    try:
        la, health = world.user(LA_DSP), world.user(HEALTH_DSP)
        await la.install()
        await health.install()
        ref = await steps.register()  # the Business Manager, in Slack

        la_card = world.connector.cards_to(la)[-1]
        assert f"{ref} needs Tameside MBC's vote" in card_text(la_card.card)
        assert "needs" in str(steps.vote_request(POLICE, ref))

        await la.execute(la_card.card, "vote", vote_inputs("no_further_action"))
        await steps.vote(POLICE, ref, "Audit & assurance")
        health_card = world.connector.cards_to(health)[-1]
        result = await health.execute(health_card.card, "vote", vote_inputs("audit_assurance"))
        assert "The panel has now decided" in card_text(result)

        decisions = await service.read(lambda uow: _decisions(uow))
        assert [(d.pathway, d.method) for d in decisions] == [("audit_assurance", "majority")]
        assert sorted(v["agency"] for v in decisions[0].deciding_votes) == ["health", "police"]
        for _ in range(3):
            await world.drain()
            clock.advance(dt.timedelta(seconds=5))
        assert "the screening panel has decided" in str(fake_slack.last_dm(POLICE, f"{ref}: the screening panel"))
        for user, card in ((la, la_card), (health, health_card)):
            assert "voting has closed" in card_text(world.connector.latest_card(user, card.activity_id))
    finally:
        await stop_world(world)
        await fake_slack.stop()
        await service.close()


async def _decisions(uow) -> list[Decision]:
    return list(await uow.session.scalars(select(Decision)))
