"""Typing to the bot in Teams: help, cases, case REF and new, through the real Agents SDK and the fake
Bot Connector, with Slack's /panel roles: anyone on the roster may look, only the Business Manager
registers, strangers are refused and audited."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator

import pytest

from bot.handlers.teams.commands import COMMANDS, parse
from bot.service import Service
from storage.migrate import upgrade
from storage.models import AuditEvent
from tests.fakes.teams_connector import TeamsUser, card_text
from tests.fakes.teams_env import (
    LA_DSP,
    LA_HOS,
    TeamsWorld,
    config_with,
    person,
    start_world,
    stop_world,
    teams_settings,
)
from tests.helpers import refer, vote
from tests.test_teams_bot import rows

BM = "77777777-7777-4777-8777-777777777777"
STRANGER = "99999999-9999-4999-8999-999999999999"
SECRET_RATIONALE = "la-dsp thinks rapid_review is right for this case."


def bm_in_teams(data: dict) -> None:
    bm = person(data, "bm")
    bm.pop("slack")
    bm.update(channel="teams", teams=BM)


@pytest.fixture
async def world(clock, db_url) -> AsyncIterator[TeamsWorld]:
    service = Service.create(config_with(bm_in_teams), clock, db_url)
    await upgrade(service.engine)
    w = await start_world(service, teams_settings())
    try:
        yield w
    finally:
        await stop_world(w)
        await service.close()


async def ask(w: TeamsWorld, user: TeamsUser, text: str) -> dict:
    """Type `text` to the bot; the card it answers with."""
    before = len(w.connector.to(user))
    assert await user.say(text) == 202
    [reply] = w.connector.to(user)[before:]
    assert reply.kind == "reply" and reply.card is not None, reply.body
    return reply.card


async def a_case(w: TeamsWorld) -> str:
    case = await refer(w.service)
    await vote(w.service, "la-dsp", case.ref, "rapid_review", True)
    return case.ref


def test_parse_strips_mentions_and_markup() -> None:
    assert parse("<at>panelbot</at> Case  tscp-2026-001 ") == ("case", "tscp-2026-001")
    assert parse("<p>cases</p>") == ("cases", "")
    assert parse(None) == ("", "")


async def test_help_lists_the_commands(world: TeamsWorld) -> None:
    card = await ask(world, world.user(LA_DSP), "help")
    text = card_text(card)
    assert all(f"**{name}" in text for name, _ in COMMANDS) and "case TSCP-2026-001" in text
    unknown = card_text(await ask(world, world.user(LA_DSP), "frobnicate"))
    assert "does not know 'frobnicate'" in unknown and "**cases**" in unknown


async def test_cases_lists_open_cases_with_rag_deadline_and_what_the_person_owes(world: TeamsWorld) -> None:
    ref = await a_case(world)
    world.service.clock.advance(dt.timedelta(days=1))  # Tue 22 Dec: the vote is due tomorrow
    health = card_text(await ask(world, world.user("22222222-2222-4222-8222-222222222222"), "cases"))
    assert "Open cases (1)" in health
    assert f"{ref} — AMBER: NHS Greater Manchester ICB's screening vote (round 1)" in health  # what Health owes
    assert "Wed 23 Dec 2026 17:00 (due next working day)" in health  # the screening deadline
    assert f"{ref} — AMBER · screening" in health  # the case: its RAG and status
    assert "Next: Greater Manchester Police's screening vote (round 1), Wed 23 Dec 2026 17:00" in health
    assert "Still to vote: Greater Manchester Police, NHS Greater Manchester ICB" in health
    la = card_text(await ask(world, world.user(LA_DSP), "cases"))  # the LA has voted: owes nothing
    assert "Nothing is waiting for you." in la and ref in la
    assert "Zebedee" not in health + la


async def test_case_shows_deadlines_votes_and_timeline_rationales_only_to_the_panel(world: TeamsWorld) -> None:
    ref = await a_case(world)
    world.service.clock.advance(dt.timedelta(days=1))
    panel = card_text(await ask(world, world.user(LA_DSP), f"case {ref.lower()}"))
    assert f"{ref} — AMBER" in panel and "Screening due" in panel and "Notification due" in panel
    assert "Round 1 · Tameside MBC · Sam Patel: Rapid Review, notifiable Yes" in panel
    assert SECRET_RATIONALE in panel and "Still to vote: Greater Manchester Police" in panel
    assert "Timeline" in panel and "open · AMBER" in panel
    bm = card_text(await ask(world, world.user(BM), f"case {ref}"))
    assert SECRET_RATIONALE in bm  # the Business Manager chairs the panel
    notifier = card_text(await ask(world, world.user(LA_HOS), f"case {ref}"))
    assert "Round 1 · Tameside MBC · Sam Patel: Rapid Review" in notifier and SECRET_RATIONALE not in notifier
    assert "Zebedee" not in panel + bm + notifier and "Secret Lane" not in panel


async def test_case_without_or_with_an_unknown_reference_says_so(world: TeamsWorld) -> None:
    la = world.user(LA_DSP)
    assert "Which case?" in card_text(await ask(world, la, "case"))
    assert "TSCP-2099-999" in card_text(await ask(world, la, "case TSCP-2099-999"))


async def test_new_gives_the_business_manager_the_command_and_refuses_anyone_else(world: TeamsWorld) -> None:
    bm = card_text(await ask(world, world.user(BM), "new"))
    assert "panelbot referral add --file referral.yaml --by bm" in bm
    la = card_text(await ask(world, world.user(LA_DSP), "new"))
    assert "Only the Business Manager can register a referral; Sam Patel is not." in la
    [refusal] = await rows(world.service, AuditEvent, AuditEvent.action == "refused")
    assert (refusal.actor, refusal.details["command"]) == ("la-dsp", "teams new")


async def test_a_stranger_gets_no_cases(world: TeamsWorld) -> None:
    ref = await a_case(world)
    stranger = world.user(STRANGER, "Eve")
    assert await stranger.say(f"case {ref}") == 202
    [reply] = world.connector.to(stranger)
    assert "not on this partnership's panel roster" in reply.text and reply.card is None
    assert len(await rows(world.service, AuditEvent, AuditEvent.action == "refused")) == 1


def test_the_manifest_offers_exactly_these_commands() -> None:
    from tests.conftest import ROOT

    manifest = json.loads((ROOT / "teams" / "manifest.json").read_text(encoding="utf-8"))
    [commands] = manifest["bots"][0]["commandLists"]
    assert commands["scopes"] == ["personal"]
    assert [(c["title"], c["description"]) for c in commands["commands"]] == list(COMMANDS)


async def test_a_case_with_many_long_votes_stays_within_teams_message_size(world: TeamsWorld) -> None:
    case = await refer(world.service)
    long = {"rationale": "R" * 3000, "abuse_nature": "A" * 3000, "harm_basis": "H" * 3000}
    for by in ("la-dsp", "police-dsp", "la-deputy", "health-dsp"):
        await vote(world.service, by, case.ref, "rapid_review", True, **long)
    card = await ask(world, world.user(LA_DSP), f"case {case.ref}")
    assert len(json.dumps(card)) < 28_000
    assert "R" * 599 + "…" in card_text(card)


DESK = "https://desk.example.org/panel"


@pytest.fixture
async def desk_world(clock, db_url) -> AsyncIterator[TeamsWorld]:
    def with_desk(data: dict) -> None:
        bm_in_teams(data)
        data.setdefault("web", {})["base_url"] = DESK

    service = Service.create(config_with(with_desk), clock, db_url)
    await upgrade(service.engine)
    w = await start_world(service, teams_settings())
    try:
        yield w
    finally:
        await stop_world(w)
        await service.close()


def open_urls(card: dict) -> list[tuple[str, str]]:
    return [(a["title"], a["url"]) for a in card.get("actions", []) if a["type"] == "Action.OpenUrl"]


async def test_with_a_desk_the_answers_link_to_it(desk_world: TeamsWorld) -> None:
    w = desk_world
    ref = await a_case(w)
    cases = await ask(w, w.user(LA_DSP), "cases")
    assert open_urls(cases) == [(f"Open {ref}", f"{DESK}/cases/{ref}"), ("Open the desk", f"{DESK}/")]
    assert open_urls(await ask(w, w.user(LA_DSP), f"case {ref}")) == [("Open on the desk", f"{DESK}/cases/{ref}")]
    assert open_urls(await ask(w, w.user(BM), "new")) == [("Register a referral", f"{DESK}/referrals/new")]
    assert "referral add" not in card_text(await ask(w, w.user(BM), "new"))


async def test_with_a_desk_vote_cards_and_their_answers_link_to_the_case(desk_world: TeamsWorld) -> None:
    w = desk_world
    la = w.user(LA_DSP)
    await la.install()
    case = await refer(w.service)
    await w.drain()
    request = w.connector.cards_to(la)[-1].card
    assert open_urls(request) == [("Open on the desk", f"{DESK}/cases/{case.ref}")]
    values = {"pathway": "audit_assurance", "notifiable": "no", "rationale": "Audit and assurance is proportionate."}
    answer = await la.execute(request, "vote", values)
    assert open_urls(answer) == [("Open on the desk", f"{DESK}/cases/{case.ref}")]


async def test_without_a_desk_no_card_links_anywhere(world: TeamsWorld) -> None:
    la = world.user(LA_DSP)
    await la.install()
    ref = await a_case(world)
    await world.drain()
    await ask(world, la, "cases")
    await ask(world, la, f"case {ref}")
    assert not any(open_urls(c.card) for c in world.connector.cards_to(la))
