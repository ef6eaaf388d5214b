"""A Teams person the bot cannot reach yet (no stored conversation reference) is not skipped:
they get the message by e-mail through Graph, and the Business Manager is told, once."""

from __future__ import annotations

import datetime as dt

from bot import interactions as actions
from bot.handlers.graph.mail import EmailSender
from bot.service import Service
from bot.worker.progress import SendProgress
from storage.migrate import upgrade
from tests.fakes.graph import FakeGraph
from tests.fakes.graph_env import graph_client
from tests.fakes.teams_connector import card_text
from tests.fakes.teams_env import HEALTH_DSP, LA_DSP, start_world, stop_world, teams_settings
from tests.test_teams_bot import refer, vote_inputs


async def test_teams_person_without_reference_gets_email_and_bm_is_told_once(cfg, clock, db_url, tmp_path) -> None:
    service = Service.create(cfg, clock, db_url)
    await upgrade(service.engine)
    fake = await FakeGraph(tmp_path / "tls").start()
    graph = graph_client(fake)
    email = EmailSender(graph, cfg.partnership.mailbox, cfg.partnership.name, SendProgress(service))
    world = await start_world(service, teams_settings(), {"email": email})
    try:
        la = world.user(LA_DSP)
        await la.install()  # Priya (Health, channel teams) never installed the app
        ref = await refer(service)
        await world.drain()
        la_card = world.connector.cards_to(la)[-1].card
        await la.execute(la_card, "vote", vote_inputs("audit_assurance"))
        await actions.submit(service, "vote", "police-dsp", ref, vote_inputs("audit_assurance"))
        for _ in range(3):
            await world.drain()
            clock.advance(dt.timedelta(seconds=5))

        assert not any(c.conversation_id.endswith(HEALTH_DSP) for c in world.connector.calls)
        to_priya = [m for m in fake.mails if m.to == ["priya.shah@example.org"]]
        subjects = [m.subject for m in to_priya]
        assert f"Screening panel: {ref} needs NHS Greater Manchester ICB's vote" in subjects
        assert f"{ref}: the screening panel has decided" in subjects
        assert all(m.mailbox == "tscp@tameside.gov.uk" for m in to_priya)
        told = [i for i in world.recorded["slack"].sent if i.kind == "teams_app_missing"]
        about_priya = [i for i in told if "Priya Shah" in i.message.title]
        assert [i.person_id for i in about_priya] == ["bm"]  # once, however many messages were rerouted
        # the LA notifier (also in Teams, no conversation yet) is told at referral too (issue 12)
        assert {i.person_id for i in told} == {"bm"} and len(told) == 2
        assert "has decided" in card_text(world.connector.cards_to(la)[-1].card)  # LA still in Teams
    finally:
        await stop_world(world)
        await graph.close()
        await fake.close()
        await service.close()
