"""Single-purpose links: issue, reuse, expiry, revoke, tamper, wrong case, purpose mismatch, and acting
through one (bot/flows/links.py). The LA deputy (Alex Morgan) and the scrutineer are reached by e-mail
in the shipped roster; the police panel member is in Slack."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from bot.flows import links
from bot.flows.common import Refused
from bot.flows.links import ActThroughLink, LinkDead, LinkState, Purpose, PurposeMismatch, RevokeLinks
from bot.messages import Message
from bot.service import Service
from bot.worker.outbox import Delivery, RecordingSender
from storage.models import Case, Link, OutboxMessage
from tests.helpers import audits, current_votes, outbox, refer, vote

RATIONALE = "The injury is unexplained and the family is known to early help."


async def all_links(service: Service) -> list[Link]:
    return await service.read(lambda uow: _scalars(uow, select(Link).order_by(Link.id)))


async def _scalars(uow, query):
    return list(await uow.session.scalars(query))


async def delivered(service: Service) -> RecordingSender:
    sender = RecordingSender()
    await Delivery(service, {"email": sender, "slack": sender, "teams": sender}, "test").drain()
    return sender


def url_to(sender: RecordingSender, person: str, kind: str) -> str:
    items = [i for i in sender.sent if i.person_id == person and i.kind == kind and i.channel == "email"]
    assert items, f"no {kind} e-mail to {person}"
    urls = {a.url for a in items[-1].message.actions if a.url}
    assert len(urls) == 1, urls
    return urls.pop()


def token_of(url: str) -> tuple[str, str]:
    *_, ref, token = url.split("/")
    return ref, token


async def resolve(service: Service, ref: str, token: str) -> links.Resolved:
    return await service.read(lambda uow: links.resolve(uow, service.env, ref, token))


async def act(service: Service, url: str, purpose: str, **fields) -> links.Acted:
    ref, token = token_of(url)
    cmd = ActThroughLink(ref=ref, token=token, purpose=purpose, fields=fields, ip="203.0.113.9", user_agent="Firefox")
    return await service.run(links.act, cmd)


VOTE = {"pathway": "audit_assurance", "notifiable": False, "rationale": RATIONALE}


async def test_an_email_vote_request_carries_a_link_and_only_its_hash_is_stored(service: Service):
    case = await refer(service)
    rows = await outbox(service, "vote_request")
    by_person = {r.person_id: r for r in rows}
    stored = Message.model_validate(by_person["la-deputy"].payload)
    assert stored.actions and all(a.link for a in stored.actions) and not any(a.url for a in stored.actions)
    for other in ("la-dsp", "police-dsp", "health-dsp"):  # Slack and Teams people vote there
        assert not any(a.link for a in Message.model_validate(by_person[other].payload).actions)

    url = url_to(await delivered(service), "la-deputy", "vote_request")
    assert url.startswith(f"{links.LOCAL_DESK}/l/{case.ref}/")
    _, token = token_of(url)
    salt, mac = token.split(".")
    assert len(salt) == 22 and len(mac) == 43  # 128 random bits, and a 256-bit HMAC
    (link,) = await all_links(service)
    assert link.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert (link.purpose, link.person_id, link.address) == ("vote", "la-deputy", "alex.morgan@example.org")
    assert link.round_id is not None and link.expires_at > link.created_at
    everything = " ".join(str(r.payload) for r in await outbox(service)) + str(vars(link))
    assert token not in everything and mac not in everything  # the store cannot open the page


async def test_the_mail_shows_the_link_and_says_it_is_personal(service: Service):
    from bot.handlers.graph.mail import render_html, render_text

    await refer(service)
    sender = await delivered(service)
    item = next(i for i in sender.sent if i.person_id == "la-deputy" and i.kind == "vote_request")
    url = url_to(sender, "la-deputy", "vote_request")
    text = render_text(item.message, "TSCP")
    assert url in text and "for you alone" in text and "reply to this e-mail" not in text
    assert f'href="{url}"' in render_html(item.message, "TSCP")


async def test_a_reminder_repeats_the_same_link(service: Service):
    case = await refer(service)

    async def again(uow):
        scope = links.Scope(Purpose.VOTE, case, "la-deputy", "alex.morgan@example.org", round_id=await _round(uow))
        return await links.issue(uow, service.env, scope)

    async def _round(uow):
        return (await links.latest_round(uow, await uow.session.get(Case, case.id))).id

    first = await service.transact(again)
    second = await service.transact(again)
    assert first.reused and second.reused and first.url == second.url
    assert [lk.person_id for lk in await all_links(service) if lk.purpose == "vote"] == ["la-deputy"]


async def test_a_new_key_cannot_repeat_an_old_link_so_a_new_one_is_sent(service: Service):
    case = await refer(service)
    url = url_to(await delivered(service), "la-deputy", "vote_request")
    rotated = Service(service.cfg, service.clock, service.engine, service.sessions, secrets.token_bytes(32))
    assert (await resolve(rotated, *token_of(url))).state is LinkState.LIVE  # the old link still works
    (row,) = [r for r in await outbox(rotated, "vote_request") if r.person_id == "la-deputy"]
    stored = Message.model_validate(row.payload)
    filled = await rotated.read(lambda uow: links.fill_urls(uow, rotated.env, stored))
    assert not any(a.url for a in filled.actions)  # it cannot be re-derived without the old key

    async def again(uow):
        rnd = await links.latest_round(uow, await uow.session.get(Case, case.id))
        scope = links.Scope(Purpose.VOTE, case, "la-deputy", "alex.morgan@example.org", round_id=rnd.id)
        return await links.issue(uow, rotated.env, scope)

    fresh = await rotated.transact(again)
    assert not fresh.reused and fresh.url != url and len(await all_links(rotated)) == 2


async def test_tampered_unknown_and_wrong_case_links_open_nothing(service: Service):
    first = await refer(service)
    second = await refer(service)
    url = url_to(await delivered(service), "la-deputy", "vote_request")
    ref, token = token_of(url)
    assert ref == first.ref or ref == second.ref
    live = await resolve(service, ref, token)
    assert live.state is LinkState.LIVE and live.person.id == "la-deputy"

    changed = token[:-1] + ("A" if token[-1] != "A" else "B")
    cut = token[:30]
    unknown = links.make_token(service.env.link_key, secrets.token_urlsafe(16))
    other_ref = second.ref if ref == first.ref else first.ref
    for state, args in [
        (LinkState.TAMPERED, (ref, changed)),
        (LinkState.TAMPERED, (ref, cut)),
        (LinkState.UNKNOWN, (ref, unknown)),
        (LinkState.WRONG_CASE, (other_ref, token)),
    ]:
        got = await resolve(service, *args)
        assert got.state is state and got.status == 404
        assert got.case is None and got.person is None


async def test_a_link_expires_after_the_configured_working_days(service: Service, clock):
    await refer(service)
    url = url_to(await delivered(service), "la-deputy", "vote_request")
    (link,) = await all_links(service)
    # Monday 21 Dec 2026 + 5 working days: 22, 23, 24, (Christmas; Boxing Day moved to Monday 28) 29, 30
    assert link.expires_at.astimezone(service.cfg.tz).date() == dt.date(2026, 12, 30)
    clock.set(link.expires_at + dt.timedelta(minutes=1))
    got = await resolve(service, *token_of(url))
    assert got.state is LinkState.EXPIRED and got.status == 410


async def test_a_vote_link_dies_when_the_panel_decides(service: Service):
    case = await refer(service)
    url = url_to(await delivered(service), "la-deputy", "vote_request")
    await vote(service, "police-dsp", case.ref, "no_further_action")
    await vote(service, "health-dsp", case.ref, "no_further_action")
    got = await resolve(service, *token_of(url))
    assert got.state is LinkState.CLOSED and "decided" in got.reason and got.status == 410
    with pytest.raises(LinkDead):
        await act(service, url, "vote", **VOTE)


async def test_a_link_dies_when_its_person_leaves_the_roster(service: Service):
    await refer(service)
    url = url_to(await delivered(service), "la-deputy", "vote_request")
    cfg = service.cfg.model_copy(update={"roster": [p for p in service.cfg.roster if p.id != "la-deputy"]})
    without = Service(cfg, service.clock, service.engine, service.sessions, service.link_key)
    assert (await resolve(without, *token_of(url))).state is LinkState.CLOSED


async def test_the_business_manager_revokes_a_case_s_links(service: Service):
    case = await refer(service)
    url = url_to(await delivered(service), "la-deputy", "vote_request")
    with pytest.raises(Refused):
        await service.run(links.revoke_links, RevokeLinks(by="police-dsp", ref=case.ref))
    assert await service.run(links.revoke_links, RevokeLinks(by="bm", ref=case.ref, person="la-deputy")) == 1
    got = await resolve(service, *token_of(url))
    assert got.state is LinkState.REVOKED and got.status == 410


async def test_voting_through_a_link_records_it_once_for_the_link_s_person(service: Service):
    case = await refer(service)
    url = url_to(await delivered(service), "la-deputy", "vote_request")
    acted = await act(service, url, "vote", **VOTE, by="bm")  # a `by` in the form is ignored
    assert acted.purpose is Purpose.VOTE and acted.confirmation_to == "alex.morgan@example.org"
    (standing,) = await current_votes(service, case)
    assert (standing.agency, standing.person_id, standing.pathway) == ("la", "la-deputy", "audit_assurance")
    (used,) = await audits(service, "link_used")
    assert used.actor == "la-deputy" and used.details["ip"] == "203.0.113.9" and used.details["user_agent"] == "Firefox"
    assert used.details["link"] == (await all_links(service))[0].id
    (confirmation,) = await outbox(service, "link_confirmation")
    body = Message.model_validate(confirmation.payload).plain_text()
    assert confirmation.address == "alex.morgan@example.org" and "If this was not you" in body
    assert "Jo Baker" in body and "Zebedee" not in body

    # the round is still open: the same link changes the vote
    await act(service, url, "vote", **{**VOTE, "pathway": "no_further_action"})
    (standing,) = await current_votes(service, case)
    assert standing.pathway == "no_further_action" and standing.version == 2
    assert (await resolve(service, *token_of(url))).state is LinkState.LIVE


async def test_a_form_for_another_purpose_or_with_bad_fields_changes_nothing(service: Service):
    case = await refer(service)
    url = url_to(await delivered(service), "la-deputy", "vote_request")
    with pytest.raises(PurposeMismatch):
        await act(service, url, "scrutiny", verdict="concur")
    with pytest.raises(ValidationError):
        await act(service, url, "vote", pathway="rapid_review", notifiable=True, rationale="too short")
    assert await current_votes(service, case) == []
    assert await audits(service, "link_used") == []


async def test_the_scrutineer_concurs_through_a_link_once(service: Service):
    case = await refer(service)
    await vote(service, "police-dsp", case.ref, "no_further_action")
    await vote(service, "health-dsp", case.ref, "no_further_action")
    url = url_to(await delivered(service), "scrutineer", "decision")
    (link,) = [lk for lk in await all_links(service) if lk.purpose == "scrutiny"]
    assert link.person_id == "scrutineer" and link.decision_id is not None
    await act(service, url, "scrutiny", verdict="concur")
    assert [a.actor for a in await audits(service, "scrutiny_concur")] == ["scrutineer"]
    got = await resolve(service, *token_of(url))
    assert got.state is LinkState.USED and got.status == 410
    with pytest.raises(LinkDead):
        await act(service, url, "scrutiny", verdict="concur")


async def test_a_teams_person_rerouted_to_email_gets_a_link_too(service: Service):
    from bot.worker.outbox import SendResult

    class Unreachable(RecordingSender):
        async def send(self, item):
            return SendResult.not_reachable("no conversation reference")

    await refer(service)
    mail = RecordingSender()
    await Delivery(service, {"teams": Unreachable(), "email": mail, "slack": mail}, "test").drain()
    assert url_to(mail, "la-dsp", "vote_request")


async def test_the_outbox_row_for_an_email_keeps_the_link_id_not_the_url(service: Service):
    await refer(service)
    rows = await service.read(
        lambda uow: _scalars(uow, select(OutboxMessage).where(OutboxMessage.person_id == "la-deputy"))
    )
    assert all("/l/" not in str(r.payload) for r in rows)


async def test_opening_a_link_changes_nothing_and_shows_who_the_person_is(service: Service):
    case = await refer(service)
    url = url_to(await delivered(service), "la-deputy", "vote_request")
    ref, token = token_of(url)
    before = (len(await audits(service)), len(await outbox(service)))
    for _ in range(3):  # a mail scanner, twice, then the person
        page = await service.read(lambda uow: links.link_page(uow, service.env, ref, token))
    assert (len(await audits(service)), len(await outbox(service))) == before
    assert page.status == 200 and page.purpose is Purpose.VOTE
    assert page.who == "You are voting for Tameside MBC as Alex Morgan."
    assert page.summary == case.panel_summary and page.current == [] and page.values == {}

    await act(service, url, "vote", pathway="no_further_action", notifiable="no", rationale=RATIONALE)
    page = await service.read(lambda uow: links.link_page(uow, service.env, ref, token))
    assert page.values["pathway"] == "no_further_action" and page.values["notifiable"] == "no"
    assert "change" in page.title and any(f.value == "No further action" for f in page.current)


async def test_a_dead_link_s_page_says_why_and_who_to_contact_and_nothing_about_the_case(service: Service):
    case = await refer(service)
    url = url_to(await delivered(service), "la-deputy", "vote_request")
    ref, token = token_of(url)
    await service.run(links.revoke_links, RevokeLinks(by="bm", ref=case.ref))
    page = await service.read(lambda uow: links.link_page(uow, service.env, ref, token))
    assert (page.state, page.status) == (LinkState.REVOKED, 410)
    assert "Jo Baker" in page.contact and page.ref is None and page.summary == "" and page.who == ""
    tampered = await service.read(lambda uow: links.link_page(uow, service.env, ref, token[:-3] + "abc"))
    assert (tampered.state, tampered.status) == (LinkState.TAMPERED, 404)


async def test_fresh_links_cover_each_open_purpose(service: Service):
    case = await refer(service)
    await vote(service, "police-dsp", case.ref, "rapid_review", notifiable=True)
    await vote(service, "health-dsp", case.ref, "rapid_review", notifiable=True)
    made = await service.run(links.fresh_links, links.FreshLinks(by="bm", ref=case.ref))
    assert {(m.purpose, m.person) for m in made} == {
        (Purpose.SCRUTINY, "scrutineer"),
        (Purpose.NOTIFICATION, "la-hos"),
    }
    notify = next(m for m in made if m.purpose is Purpose.NOTIFICATION)
    await act(service, notify.url, "notification")
    assert (await resolve(service, *token_of(notify.url))).state is LinkState.USED
    with pytest.raises(Refused):
        await service.run(links.fresh_links, links.FreshLinks(by="la-deputy", ref=case.ref))


async def test_a_chase_carries_the_link_of_the_request_it_chases(service: Service, clock):
    from bot.worker import reminders

    await refer(service)
    clock.set(clock.now() + dt.timedelta(days=3))  # Thursday: the escalation reaches the deputies too
    await reminders.fire_due(service, "test")
    rows = [r for r in await outbox(service) if r.person_id == "la-deputy"]
    by_kind = {r.kind: {a.link for a in Message.model_validate(r.payload).actions} for r in rows}
    assert "vote_request" in by_kind and len(by_kind) > 1, by_kind
    request_link = by_kind.pop("vote_request")
    assert len(request_link) == 1 and None not in request_link
    assert by_kind.get("escalation") == request_link, by_kind
    assert [lk.person_id for lk in await all_links(service) if lk.purpose == "vote"] == ["la-deputy"]
