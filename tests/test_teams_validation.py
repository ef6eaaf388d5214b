"""What panelbot gives Teams, checked with Microsoft's own tools (tools/teams-validate, node):

- the manifest `panelbot teams package` writes, against the Teams schema of its declared manifestVersion;
- every Adaptive Card a whole panel in Teams is shown — vote requests, recorded votes, deadlock,
  consultation, decision, scrutiny, notification, milestones, chases, escalations, the digest, the
  delay prompt and notice, the referrer query, the app-missing notice, refusals and form errors —
  as they reached the fake Bot Connector or came back from Action.Execute, through Microsoft's
  `adaptivecards` library. The cards are taken from the wire, not from the card builders.
"""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select
from typer.testing import CliRunner

from bot.cli import app
from bot.flows.commands import RegisterReferral
from bot.flows.screening import panel as screening
from bot.service import Service
from bot.worker import reminders as timers
from storage.migrate import upgrade
from storage.models import OutboxMessage
from tests.conftest import london
from tests.fakes.teams_connector import TeamsUser, card_text
from tests.fakes.teams_env import TeamsWorld, config_with, start_world, stop_world, teams_settings
from tests.teams_validator import unique, validate

ROOT = Path(__file__).resolve().parent.parent
BOT_ID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
SUMMARY = "A young child was admitted with an unexplained serious injury; family known to early help."
NOT_INSTALLED = "rr-chair"  # never opens the app: their messages go by e-mail, the BM is told


def packaged_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> dict[str, Any]:
    monkeypatch.setenv("CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID", BOT_ID)
    out = tmp_path / "panelbot.zip"
    result = CliRunner().invoke(
        app, ["teams", "package", "--website", "https://tscp.example.org", "--out", str(out), *args]
    )
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as archive:
        return json.loads(archive.read("manifest.json"))


def test_packaged_manifest_passes_microsofts_schema(tmp_path, monkeypatch) -> None:
    manifest = packaged_manifest(tmp_path, monkeypatch)
    verdict = validate("manifest", manifest, tmp_path)
    assert verdict.ok, verdict.describe()


def test_the_schema_check_can_fail(tmp_path, monkeypatch) -> None:
    """The same check rejects a manifest Teams would reject: a developer name over 32 characters."""
    manifest = packaged_manifest(tmp_path, monkeypatch)
    manifest["developer"]["name"] = "x" * 33
    verdict = validate("manifest", manifest, tmp_path)
    assert not verdict.ok and "/developer/name must NOT have more than 32 characters" in verdict.describe()


def test_the_card_check_can_fail(tmp_path) -> None:
    cards = [
        {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "Input.Text", "id": "a"}, {"type": "Nope"}]},
        {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "Input.ChoiceSet", "id": "c", "choices": []}]},
    ]
    verdict = validate("cards", cards, tmp_path)
    events = {e["event"] for e in verdict.errors}
    assert not verdict.ok and {"UnknownElementType", "CollectionCantBeEmpty"} <= events


def test_package_takes_the_names_from_app_yaml(tmp_path, monkeypatch) -> None:
    config = tmp_path / "app.yaml"
    text = (ROOT / "app.yaml").read_text(encoding="utf-8")
    text = text.replace("developer_name: Tameside Safeguarding (TSCP)", 'developer_name: "Devon \\"SCP\\" Partners"')
    config.write_text(text.replace("app_short_name: panelbot", "app_short_name: Devon panel"), encoding="utf-8")
    manifest = packaged_manifest(tmp_path, monkeypatch, "-c", str(config), "--version", "2.0.1")
    assert manifest["developer"]["name"] == 'Devon "SCP" Partners' and manifest["name"]["short"] == "Devon panel"
    assert manifest["version"] == "2.0.1"
    assert validate("manifest", manifest, tmp_path).ok


@pytest.mark.parametrize(
    ("field", "value", "limit"),
    [("developer_name", "D" * 33, 32), ("app_short_name", "S" * 31, 30), ("app_full_name", "F" * 101, 100)],
)
def test_config_check_names_the_field_and_teams_limit(tmp_path, field: str, value: str, limit: int) -> None:
    data = yaml.safe_load((ROOT / "app.yaml").read_text(encoding="utf-8"))
    data["teams"][field] = value
    path = tmp_path / "app.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = CliRunner().invoke(app, ["config", "check", str(path)])
    assert result.exit_code == 2
    assert f"teams.{field}: Teams allows at most {limit} characters" in result.output, result.output


def test_a_long_partnership_name_needs_a_developer_name_once_someone_is_in_teams(tmp_path) -> None:
    data = yaml.safe_load((ROOT / "app.yaml").read_text(encoding="utf-8"))
    del data["teams"]["developer_name"]  # partnership.name, 42 characters, is then the default
    path = tmp_path / "app.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = CliRunner().invoke(app, ["config", "check", str(path)])
    assert result.exit_code == 2 and "teams.developer_name: required" in result.output, result.output
    assert "32 characters" in result.output
    for person in data["roster"]:  # nobody in Teams: no Teams app, nothing to require
        if person["channel"] == "teams":
            person.update(channel="email")
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert CliRunner().invoke(app, ["config", "check", str(path)]).exit_code == 0


def test_package_refuses_a_version_teams_would_refuse(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID", BOT_ID)
    args = ["teams", "package", "--website", "https://x.example.org", "--out", str(tmp_path / "p.zip")]
    result = CliRunner().invoke(app, [*args, "--version", "1.0"])
    assert result.exit_code == 2 and "--version must look like 1.0.0" in result.output
    assert not (tmp_path / "p.zip").exists()


# --- every card a panel in Teams sees -----------------------------------------------------------


DESK = "https://desk.tscp.example.org"


def everyone_in_teams(data: dict[str, Any]) -> None:
    """Everyone on the roster in Teams, and the desk configured, so cards link to it."""
    data.setdefault("web", {})["base_url"] = DESK
    for i, person in enumerate(data["roster"], start=1):
        person.pop("slack", None)
        person["channel"] = "teams"
        person.setdefault("teams", f"{i:08d}-0000-4000-8000-{i:012d}")


@pytest.fixture
async def world(clock, db_url) -> AsyncIterator[TeamsWorld]:
    service = Service.create(config_with(everyone_in_teams), clock, db_url)
    await upgrade(service.engine)
    w = await start_world(service, teams_settings())
    try:
        yield w
    finally:
        await stop_world(w)
        await service.close()


class Panel:
    """Everyone on the roster as a Teams user, and the clock run as `serve` would run it."""

    def __init__(self, w: TeamsWorld) -> None:
        self.w = w
        self.users = {p.id: w.user(p.teams or "", p.name) for p in w.service.cfg.roster}

    def __getitem__(self, person_id: str) -> TeamsUser:
        return self.users[person_id]

    def card(self, person_id: str, needle: str) -> dict[str, Any]:
        """The latest card sent to the person whose text contains `needle`."""
        calls = [c for c in self.w.connector.cards_to(self.users[person_id]) if needle in card_text(c.card)]
        assert calls, f"{person_id} got no card with {needle!r}"
        return calls[-1].card

    async def until(self, moment: dt.datetime) -> None:
        service, clock = self.w.service, self.w.service.clock
        while (due := await timers.next_due(service)) is not None and due <= moment:
            clock.set(max(due, clock.now()))
            await timers.fire_due(service, "test")
            await self.w.drain()
        clock.set(max(moment, clock.now()))
        await self.w.drain()


def vote(pathway: str, notifiable: str = "no") -> dict[str, str]:
    values = {"pathway": pathway, "notifiable": notifiable, "rationale": f"We judge {pathway} is the right pathway."}
    if pathway == "rapid_review":
        values |= {"abuse_nature": "Suspected physical abuse.", "harm_basis": "Serious injury; impairment likely."}
    return values


async def refer(service: Service) -> str:
    cmd = RegisterReferral(by="bm", referrer={"name": "Dr A Referrer", "email": "r@example.org"}, panel_summary=SUMMARY)
    return (await service.run(screening.register_referral, cmd)).ref


async def play_everything(p: Panel) -> None:
    """A deadlocked Rapid Review case run to a delay, and a query to the referrer, all in Teams."""
    from bot.flows.timelines.chasing import ensure_digest

    w = p.w
    for person_id, user in p.users.items():
        if person_id != NOT_INSTALLED:
            assert await user.install() == 202
    await w.service.transact(lambda uow: ensure_digest(uow, w.service.env))
    ref = await refer(w.service)
    await w.drain()

    # a wrong submission, a refusal, then a 1-1-1 split
    request = p.card("la-dsp", "needs Tameside MBC's vote")
    short = await p["la-dsp"].execute(request, "vote", vote("rapid_review") | {"rationale": "too short"})
    assert "Please correct" in card_text(short)
    refused = await p["la-hos"].execute(request, "vote", vote("audit_assurance"))
    assert "Only an agency's panel member or deputy can vote" in card_text(refused)
    await p["la-dsp"].execute(short, "vote", vote("rapid_review", "yes"))
    await p["police-dsp"].execute(p.card("police-dsp", "vote"), "vote", vote("audit_assurance"))
    await p["health-dsp"].execute(p.card("health-dsp", "vote"), "vote", vote("no_further_action"))
    await w.drain()

    # the Executive Chair records the consultation; the scrutineer disagrees
    consult = {"pathway": "rapid_review", "notifiable": "yes", "rationale": "Agreed by phone: a Rapid Review."}
    await p["exec-chair"].execute(p.card("exec-chair", "Record consultation"), "consultation", consult)
    await w.drain()
    disagree = {"comment": "The threshold for a review is not met here."}
    await p["scrutineer"].execute(p.card("scrutineer", "has decided"), "scrutiny_disagree", disagree)
    await w.drain()

    # the day's digest and chases; the notification; then the plan slips to a delay
    await p.until(london(2026, 12, 22, 9, 30))
    await p["la-hos"].execute(p.card("la-hos", "Notification sent"), "notification-sent")
    await w.drain()
    await p.until(london(2027, 1, 8, 9, 30))
    delay = {"reason": "Agency returns are late after the holidays.", "expected": "2027-01-22"}
    await p["bm"].execute(p.card("bm", "Record delay"), "rapid_review_delay", delay)
    await w.drain()
    await p["health-lead"].execute(p.card("health-lead", "Mark done"), "milestone_done", {"note": "Sent by e-mail."})

    # a second case: the panel asks the referrer a question; the BM records the answer
    second = await refer(w.service)
    await w.drain()
    for person_id in ("la-dsp", "police-dsp"):
        await p[person_id].execute(p.card(person_id, f"{second} needs"), "vote", vote("query_referrer"))
    await w.drain()
    answer = {"text": "The referrer confirms the injury was seen by a GP."}
    await p["bm"].execute(p.card("bm", "Record referrer answer"), "referrer_answer", answer)
    await w.drain()
    await p["health-dsp"].execute(p.card("health-dsp", f"{second} needs"), "vote", vote("audit_assurance"))
    await w.drain()
    assert ref != second

    # what people type: help, cases, case REF, new
    for person_id, text in (("bm", "cases"), ("bm", f"case {ref}"), ("bm", "new"), ("la-dsp", "new")):
        assert await p[person_id].say(text) == 202
    for text in ("help", "cases", f"case {second}", "case", "case NOPE-1", "what?"):
        assert await p["la-dsp"].say(text) == 202


async def teams_kinds(service: Service) -> set[str]:
    async def work(uow: Any) -> set[str]:
        query = select(OutboxMessage.kind).where(OutboxMessage.channel == "teams", OutboxMessage.state == "sent")
        return set(await uow.session.scalars(query))

    return await service.read(work)


EVERY_KIND = {
    "vote_request",
    "vote_recorded",
    "vote_closed",
    "deadlock",
    "decision",
    "scrutiny_disagreement",
    "notification_due",
    "notification_recorded",
    "milestone_due",
    "chase",
    "escalation",
    "digest",
    "delay_prompt",
    "delay_notice",
    "referrer_query",
    "teams_app_missing",
}


async def test_every_card_a_panel_in_teams_sees_passes_microsofts_card_library(world: TeamsWorld, tmp_path) -> None:
    p = Panel(world)
    await play_everything(p)
    kinds = await teams_kinds(world.service)
    assert not EVERY_KIND - kinds, f"no card of kind {EVERY_KIND - kinds}"

    await every_case_card_links_to_the_case_on_the_desk(world)
    cards = unique([c.card for c in world.connector.calls if c.card is not None] + world.connector.answers)
    assert all(len(c.get("actions", [])) <= 6 for c in cards)  # Teams shows at most six
    assert len(cards) > 50
    verdict = validate("cards", cards, tmp_path)
    assert verdict.ok, verdict.explain(cards)


def links(card: dict[str, Any]) -> list[str]:
    return [a["url"] for a in card.get("actions", []) if a.get("type") == "Action.OpenUrl"]


async def every_case_card_links_to_the_case_on_the_desk(world: TeamsWorld) -> None:
    """Each card sent about a case, as the person now sees it, opens that case's page on the desk;
    the digest opens the desk; so do the answers to card actions about a case."""

    async def sent(uow: Any) -> list[OutboxMessage]:
        query = select(OutboxMessage).where(OutboxMessage.channel == "teams", OutboxMessage.state == "sent")
        return list(await uow.session.scalars(query))

    rows = await world.service.read(sent)
    by_activity = {c.activity_id: c.card for c in world.connector.calls if c.card is not None}
    in_teams = [r for r in rows if (r.external_ref or {}).get("activity_id")]  # not those sent by e-mail instead
    assert len(in_teams) > 50
    for row in in_teams:
        card = by_activity[row.external_ref["activity_id"]]
        ref = row.payload.get("ref")
        if ref:
            assert f"{DESK}/cases/{ref}" in links(card), (row.kind, links(card))
        elif row.kind == "digest":
            assert links(card) == [f"{DESK}/"]
    answered = [a for a in world.connector.answers if "not on this" not in card_text(a)]
    about_a_case = [a for a in answered if "Only an agency's panel member" not in card_text(a)]
    assert all(any(u.startswith(f"{DESK}/cases/") for u in links(a)) for a in about_a_case)
