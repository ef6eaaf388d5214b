"""Teams through the real web app and the Agents SDK: activities posted to /api/messages as Teams
sends them (anonymous mode, enabled here), proactive cards to a fake connector on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from bot.config import AppConfig
from bot.service import Service
from storage.migrate import upgrade
from storage.models import AuditEvent, ConversationRef, Decision, OutboxMessage, Vote
from tests.fakes.teams_connector import TENANT, card_text, inputs_of
from tests.fakes.teams_env import (
    HEALTH_DSP,
    LA_DSP,
    LA_HOS,
    POLICE_DSP,
    SCRUTINEER,
    TeamsWorld,
    all_in_teams,
    config_with,
    person,
    start_world,
    stop_world,
    teams_settings,
)

SUMMARY = "A young child was admitted with an unexplained serious injury; family known to early help."


async def make_world(cfg: AppConfig, clock, db_url: str, **settings) -> AsyncIterator[TeamsWorld]:
    service = Service.create(cfg, clock, db_url)
    await upgrade(service.engine)
    world = await start_world(service, teams_settings(**settings))
    try:
        yield world
    finally:
        await stop_world(world)
        await service.close()


@pytest.fixture
async def world(cfg, clock, db_url) -> AsyncIterator[TeamsWorld]:
    async for w in make_world(cfg, clock, db_url):
        yield w


@pytest.fixture
async def teams_world(clock, db_url) -> AsyncIterator[TeamsWorld]:
    async for w in make_world(config_with(all_in_teams), clock, db_url):
        yield w


async def refer(service: Service) -> str:
    from bot.flows.commands import RegisterReferral
    from bot.flows.screening import panel as screening

    cmd = RegisterReferral(
        by="bm",
        referrer={"name": "Dr A Referrer", "email": "referrer@example.org"},
        child={"forenames": "Zebedee", "last_name": "Quixotic", "home_address": "1 Secret Lane"},
        panel_summary=SUMMARY,
    )
    case = await service.run(screening.register_referral, cmd)
    return case.ref


def vote_inputs(pathway: str, notifiable: str = "no", rationale: str | None = None) -> dict[str, str]:
    values = {"pathway": pathway, "notifiable": notifiable, "rationale": rationale or f"We judge {pathway} is right."}
    if pathway == "rapid_review":
        values |= {"abuse_nature": "Suspected physical abuse.", "harm_basis": "Serious injury; impairment likely."}
    return values


async def rows(service: Service, model, *where):
    return await service.read(lambda uow: _all(uow, model, *where))


async def _all(uow, model, *where):
    return list(await uow.session.scalars(select(model).where(*where)))


async def test_full_screening_in_teams(teams_world: TeamsWorld) -> None:
    w = teams_world
    la, police, health = w.user(LA_DSP, "Sam Patel"), w.user(POLICE_DSP, "Chris Lee"), w.user(HEALTH_DSP, "Priya")
    scrutineer = w.user(SCRUTINEER, "Pat Quinn")
    for user in (la, police, health, scrutineer):
        assert await user.install() == 202
        assert "case TSCP-2026-001" in card_text(w.connector.to(user)[-1].card)  # the welcome: help, as a reply
    assert len(await rows(w.service, ConversationRef)) == 4

    ref = await refer(w.service)
    await w.drain()
    requests = {u.name: w.connector.cards_to(u)[-1] for u in (la, police, health)}
    for call in requests.values():
        assert call.kind in ("send", "reply") and ref in card_text(call.card) and SUMMARY in card_text(call.card)
        assert "Zebedee" not in card_text(call.card)
        assert call.authorization is None  # anonymous mode: no token to the connector

    result = await la.execute(requests["Sam Patel"].card, "vote", vote_inputs("audit_assurance"))
    assert "Tameside MBC's vote is recorded" in card_text(result)
    assert not inputs_of(result)
    await w.drain()
    updated = w.connector.latest_card(la, requests["Sam Patel"].activity_id)
    assert "vote is recorded" in card_text(updated) and "Change vote" in card_text(updated)

    result = await health.execute(requests["Priya"].card, "vote", vote_inputs("audit_assurance"))
    assert "The panel has now decided" in card_text(result) and "Audit & assurance" in card_text(result)
    await w.drain()
    for user in (la, police, health):
        closed = w.connector.latest_card(user, requests[user.name].activity_id)
        assert "voting has closed" in card_text(closed) and not inputs_of(closed)

    decisions = await rows(w.service, Decision)
    assert [(d.pathway, d.method) for d in decisions] == [("audit_assurance", "majority")]
    notice = next(c for c in w.connector.cards_to(scrutineer) if "has decided" in card_text(c.card))
    result = await scrutineer.execute(notice.card, "scrutiny-concur")
    assert "You concur" in card_text(result)


async def installed_request(w: TeamsWorld, *users) -> tuple[str, dict]:
    for user in users:
        await user.install()
    ref = await refer(w.service)
    await w.drain()
    return ref, {u.aad_object_id: w.connector.cards_to(u)[-1] for u in users if w.connector.cards_to(u)}


async def test_mixed_panel_teams_and_slack_reach_one_decision(world: TeamsWorld) -> None:
    """LA and Health in Teams, Police in Slack (recorded as the Slack handler would, through actions)."""
    from bot import interactions as actions

    la, health = world.user(LA_DSP), world.user(HEALTH_DSP)
    ref, cards = await installed_request(world, la, health)
    assert [i.address for i in world.recorded["slack"].sent if i.kind == "vote_request"] == ["U0POL0001"]

    result = await la.execute(cards[LA_DSP].card, "vote", vote_inputs("no_further_action"))
    assert "recorded" in card_text(result)
    police = await actions.submit(world.service, "vote", "police-dsp", ref, vote_inputs("audit_assurance"))
    assert police.ok and police.result.decision is None
    result = await health.execute(cards[HEALTH_DSP].card, "vote", vote_inputs("audit_assurance"))
    assert "The panel has now decided" in card_text(result)

    decisions = await rows(world.service, Decision)
    assert len(decisions) == 1 and decisions[0].pathway == "audit_assurance"
    assert sorted(d["agency"] for d in decisions[0].deciding_votes) == ["health", "police"]
    await world.drain()
    slack_kinds = [i.kind for i in world.recorded["slack"].sent if i.address == "U0POL0001"]
    assert "decision" in slack_kinds and "vote_closed" in slack_kinds
    for user in (la, health):
        assert "voting has closed" in card_text(
            world.connector.latest_card(user, cards[user.aad_object_id].activity_id)
        )


async def test_vote_after_decision_shows_the_decision_not_the_inputs(world: TeamsWorld) -> None:
    from bot import interactions as actions

    la, health = world.user(LA_DSP), world.user(HEALTH_DSP)
    ref, cards = await installed_request(world, la, health)
    await la.execute(cards[LA_DSP].card, "vote", vote_inputs("audit_assurance"))
    await actions.submit(world.service, "vote", "police-dsp", ref, vote_inputs("audit_assurance"))

    stale = cards[HEALTH_DSP].card  # Health still has the request open on screen
    result = await health.execute(stale, "vote", vote_inputs("rapid_review", "yes"))
    text = card_text(result)
    assert "already decided" in text and "Audit & assurance" in text
    assert not inputs_of(result) and "actions" not in result
    votes = await rows(world.service, Vote, Vote.agency == "health")
    assert votes and votes[0].after_decision
    assert len(await rows(world.service, Decision)) == 1


async def test_change_vote_while_the_round_is_open(world: TeamsWorld) -> None:
    la = world.user(LA_DSP)
    _, cards = await installed_request(world, la)
    await la.execute(cards[LA_DSP].card, "vote", vote_inputs("audit_assurance"))
    await world.drain()
    recorded = world.connector.latest_card(la, cards[LA_DSP].activity_id)
    result = await la.execute(recorded, "vote", vote_inputs("no_further_action"))
    assert "is changed" in card_text(result)
    [vote] = await rows(world.service, Vote, Vote.agency == "la")
    assert (vote.pathway, vote.version) == ("no_further_action", 2)


async def test_invalid_input_shows_the_same_card_with_the_error(world: TeamsWorld) -> None:
    la = world.user(LA_DSP)
    ref, cards = await installed_request(world, la)
    result = await la.execute(cards[LA_DSP].card, "vote", vote_inputs("rapid_review", rationale="too short"))
    text = card_text(result)
    assert f"{ref} needs Tameside MBC's vote" in text and SUMMARY in text  # the same card again
    assert "Please correct the highlighted fields." in text
    assert "Please write at least 20 characters." in text
    fields = inputs_of(result)
    assert fields["rationale"]["value"] == "too short" and fields["pathway"]["value"] == "rapid_review"
    assert await rows(world.service, Vote) == []
    # and it can be corrected from that card
    fixed = await la.execute(result, "vote", vote_inputs("rapid_review"))
    assert "recorded" in card_text(fixed)


async def test_rapid_review_vote_without_grounds_is_refused_on_the_card(world: TeamsWorld) -> None:
    la = world.user(LA_DSP)
    _, cards = await installed_request(world, la)
    inputs = vote_inputs("audit_assurance") | {"pathway": "rapid_review"}
    result = await la.execute(cards[LA_DSP].card, "vote", inputs)
    assert "must state the nature of the abuse" in card_text(result)
    assert await rows(world.service, Vote) == []


async def test_wrong_person_cannot_vote_with_anothers_card(world: TeamsWorld) -> None:
    """The LA notifier presses the LA member's vote card: the card names the case, not the voter."""
    la, notifier = world.user(LA_DSP), world.user(LA_HOS)
    _, cards = await installed_request(world, la)
    result = await notifier.execute(cards[LA_DSP].card, "vote", vote_inputs("audit_assurance"))
    assert "Only an agency's panel member or deputy can vote" in card_text(result)
    assert SUMMARY not in card_text(result)  # someone else's card is not shown back to them
    assert await rows(world.service, Vote) == []
    refusals = await rows(world.service, AuditEvent, AuditEvent.action == "refused")
    assert [r.actor for r in refusals] == ["la-hos"]


async def test_stranger_is_refused_and_audited(world: TeamsWorld) -> None:
    la, stranger = world.user(LA_DSP), world.user("99999999-9999-4999-8999-999999999999", "Eve")
    _, cards = await installed_request(world, la)
    result = await stranger.execute(cards[LA_DSP].card, "vote", vote_inputs("audit_assurance"))
    assert "not on this partnership's panel roster" in card_text(result)
    assert await stranger.say("hello") == 202
    assert "not on this partnership's panel roster" in world.connector.to(stranger)[-1].text
    assert await rows(world.service, Vote) == []
    assert len(await rows(world.service, ConversationRef)) == 1  # the stranger's chat is not kept
    refusals = await rows(world.service, AuditEvent, AuditEvent.action == "refused")
    assert len(refusals) == 2 and all(r.details["platform"] == "teams" for r in refusals)


@pytest.fixture
async def one_tenant_world(clock, db_url) -> AsyncIterator[TeamsWorld]:
    cfg = config_with(lambda data: data["teams"].update(allowed_tenants=[TENANT]))
    async for w in make_world(cfg, clock, db_url):
        yield w


async def test_wrong_tenant_is_refused(one_tenant_world: TeamsWorld) -> None:
    w = one_tenant_world
    la = w.user(LA_DSP)
    _, cards = await installed_request(w, la)
    impostor = w.user(LA_DSP, tenant="00000000-0000-4000-8000-000000000bad")
    result = await impostor.execute(cards[LA_DSP].card, "vote", vote_inputs("audit_assurance"))
    assert "tenant is not one this partnership works with" in card_text(result)
    assert await rows(w.service, Vote) == []
    await impostor.say("hi")
    [stored] = await rows(w.service, ConversationRef)
    assert stored.tenant_id == TENANT  # the other tenant's chat was not stored
    refusals = await rows(w.service, AuditEvent, AuditEvent.action == "refused")
    assert refusals and refusals[0].details["tenant"] == "00000000-0000-4000-8000-000000000bad"


async def test_connector_429_is_retried_after_retry_after(world: TeamsWorld) -> None:
    import datetime as dt

    from storage.models import OutboxMessage

    la = world.user(LA_DSP)
    await la.install()
    await refer(world.service)
    world.connector.fail_next(429, retry_after="30")
    await world.drain()
    [row] = await rows(world.service, OutboxMessage, OutboxMessage.address == LA_DSP)
    assert row.state == "pending" and "429" in row.last_error
    assert row.next_attempt_at == world.service.clock.now() + dt.timedelta(seconds=30)
    world.service.clock.advance(dt.timedelta(seconds=30))
    await world.drain()
    [row] = await rows(world.service, OutboxMessage, OutboxMessage.address == LA_DSP)
    assert row.state == "sent" and row.external_ref["activity_id"] == world.connector.cards_to(la)[-1].activity_id


@pytest.fixture
async def secured_world(cfg, clock, db_url) -> AsyncIterator[TeamsWorld]:
    settings = {
        "ANONYMOUS_ALLOWED": False,
        "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID": "00000000-0000-4000-8000-00000000b07",
        "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTSECRET": "not-a-real-secret",
        "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__TENANTID": TENANT,
    }
    async for w in make_world(cfg, clock, db_url, **settings):
        yield w


async def test_request_without_a_valid_token_is_refused(secured_world: TeamsWorld) -> None:
    w = secured_world
    la = w.user(LA_DSP)
    assert await la.install() == 401
    status, _ = await la.post(la.activity("message", text="hello"))
    assert status == 401
    la.headers["Authorization"] = "Bearer not.a.jwt"
    status, _ = await la.post(la.activity("message", text="hello"))
    assert status == 401
    assert w.connector.calls == [] and await rows(w.service, ConversationRef) == []


async def test_anonymous_mode_warning(caplog) -> None:
    from bot.runtime import warn_if_anonymous

    warn_if_anonymous(teams_settings())
    assert "ANONYMOUS_ALLOWED" in caplog.text and "local testing only" in caplog.text
    caplog.clear()
    warn_if_anonymous(teams_settings(ANONYMOUS_ALLOWED=False))
    assert caplog.text == ""


def test_build_senders_has_teams_only_when_configured(service) -> None:
    from bot.handlers.teams.sender import TeamsSender
    from bot.runtime import build_senders

    assert isinstance(build_senders(teams_settings(), service)["teams"], TeamsSender)
    assert "teams" not in build_senders(teams_settings(ANONYMOUS_ALLOWED=False), service)


async def test_scrutineer_disagrees_on_the_card_and_a_meeting_is_queued(teams_world: TeamsWorld) -> None:
    from storage.models import OutboxMessage, Scrutiny

    w = teams_world
    la, police, scrutineer = w.user(LA_DSP), w.user(POLICE_DSP), w.user(SCRUTINEER)
    await installed_request(w, la, police, scrutineer)
    await la.execute(w.connector.cards_to(la)[-1].card, "vote", vote_inputs("no_further_action"))
    await police.execute(w.connector.cards_to(police)[-1].card, "vote", vote_inputs("no_further_action"))
    await w.drain()
    notice = next(c.card for c in w.connector.cards_to(scrutineer) if "has decided" in card_text(c.card))
    show = next(a for a in notice["actions"] if a["type"] == "Action.ShowCard")
    assert show["title"] == "Disagree" and inputs_of(show["card"])["comment"]["isRequired"]

    short = await scrutineer.execute(notice, "scrutiny_disagree", {"comment": "No."})
    assert "A disagreement needs a comment of at least 10 characters." in card_text(short)
    assert "has decided" in card_text(short)  # the same card, shown again
    result = await scrutineer.execute(short, "scrutiny_disagree", {"comment": "The threshold for a review is met."})
    assert "Your disagreement is recorded" in card_text(result)
    [row] = await rows(w.service, Scrutiny)
    assert (row.person_id, row.verdict) == ("scrutineer", "disagree")
    [invite] = await rows(w.service, OutboxMessage, OutboxMessage.channel == "calendar")
    assert invite.payload["meeting"]["attendees"] == sorted(
        [
            "jo.baker@example.org",
            "sam.patel@example.org",
            "chris.lee@example.org",
            "priya.shah@example.org",
            "pat.quinn@example.org",
        ]
    )


HEALTH_LEAD = "66666666-6666-4666-8666-666666666666"


def health_lead_in_teams(data: dict) -> None:
    all_in_teams(data)
    person(data, "health-lead").update(channel="teams", teams=HEALTH_LEAD)


@pytest.fixture
async def lead_world(clock, db_url) -> AsyncIterator[TeamsWorld]:
    async for w in make_world(config_with(health_lead_in_teams), clock, db_url):
        yield w


async def test_agency_lead_marks_the_day_10_return_done_from_a_card(lead_world: TeamsWorld) -> None:
    from bot.flows.commands import RecordNotificationSent
    from bot.flows.screening import panel as screening
    from storage.models import Obligation
    from tests.helpers import vote

    w = lead_world
    lead = w.user(HEALTH_LEAD, "Robin Ahmed")
    await lead.install()
    ref = await refer(w.service)
    await vote(w.service, "la-dsp", ref, "rapid_review", True)
    await vote(w.service, "health-dsp", ref, "rapid_review", True)
    await w.service.run(screening.record_notification_sent, RecordNotificationSent(by="la-hos", ref=ref))
    await w.drain()
    [task] = [c for c in w.connector.cards_to(lead) if "Mark done" in card_text(c.card)]
    result = await lead.execute(task.card, "milestone_done", {"note": "Chronology and summary sent by e-mail."})
    assert "error" not in card_text(result).lower()
    [ob] = await rows(w.service, Obligation, Obligation.key.like("%agency_return:health"))
    assert (ob.state, ob.done_by, ob.note) == ("done", "health-lead", "Chronology and summary sent by e-mail.")


async def test_a_hung_connector_times_out_and_the_row_is_retried(world: TeamsWorld) -> None:
    """The connector call gets the sender's timeout, not aiohttp's 300 s: the row goes back to wait."""
    import time

    from bot.handlers.teams.sender import TeamsSender

    la = world.user(LA_DSP)
    assert await la.install() == 202
    teams = world.delivery.senders["teams"]
    assert isinstance(teams, TeamsSender) and teams.timeout == 15.0
    teams.timeout = 0.5
    world.connector.hangs.append(3.0)
    await refer(world.service)
    started = time.monotonic()
    await world.delivery.run_once()
    assert time.monotonic() - started < 2.5
    [row] = await rows(world.service, OutboxMessage, OutboxMessage.address == LA_DSP)
    assert row.state == "pending" and "TimeoutError" in row.last_error
