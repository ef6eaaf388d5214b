"""The referrer, on no roster: the panel's questions by e-mail with a link to answer; the answer to the
Business Manager, who opens round 2 with one press (or it opens at once); the outcome e-mail after the
scrutineer has responded or their window has passed."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.flows import links
from bot.flows.commands import RecordScrutiny
from bot.flows.common import Conflict
from bot.flows.screening import panel
from bot.flows.screening.referrer import OpenAnsweredRound, SendReferrerQuestions, send_questions
from bot.interactions import press
from bot.messages import ActionId, Message
from bot.service import Service
from bot.worker import reminders
from tests.helpers import audits, outbox, refer, vote
from tests.test_links import act, delivered, resolve, token_of

ANSWER = "Bruising to the back was seen by the school nurse; police were told."


async def queried(service: Service):
    case = await refer(service)
    await vote(service, "la-dsp", case.ref, "query_referrer", rationale="What injuries were seen, and by whom?")
    await vote(service, "police-dsp", case.ref, "query_referrer", rationale="Were the police told about this?")
    return case


def referrer_url(sender) -> str:
    (item,) = [i for i in sender.sent if i.kind == "referrer_questions"]
    assert item.person_id is None and item.address == "referrer@example.org"
    (url,) = {a.url for a in item.message.actions if a.url}
    return url


async def test_the_referrer_gets_the_questions_and_a_link_and_answers(service: Service):
    case = await queried(service)
    sender = await delivered(service)
    (item,) = [i for i in sender.sent if i.kind == "referrer_questions"]
    text = item.message.plain_text()
    assert "What injuries were seen" in text and "Were the police told" in text
    assert "Zebedee" not in text and "Secret Lane" not in text and case.panel_summary not in text
    url = referrer_url(sender)
    page = await service.read(lambda uow: links.link_page(uow, service.env, *token_of(url)))
    assert page.purpose is links.Purpose.REFERRER and page.who == "You are answering as the referrer, Dr A Referrer."
    assert [f.value for f in page.facts] == [
        "What injuries were seen, and by whom?",
        "Were the police told about this?",
    ]
    assert page.summary == ""

    await act(service, url, "referrer", text=ANSWER)
    assert (await resolve(service, *token_of(url))).state is links.LinkState.USED
    (answered,) = await outbox(service, "referrer_answered")
    message = Message.model_validate(answered.payload)
    assert answered.person_id == "bm" and [a.id for a in message.actions] == [ActionId.OPEN_ROUND]
    assert any(f.value == ANSWER for f in message.facts)
    (confirmation,) = await outbox(service, "link_confirmation")
    assert confirmation.address == "referrer@example.org"

    reply = await press(service, ActionId.OPEN_ROUND, "bm", case.ref)
    assert reply.ok and "round 2" in reply.text
    (opened,) = await audits(service, "referrer_answer")
    assert opened.details["text"] == ANSWER and opened.actor == "bm"
    again = await press(service, ActionId.OPEN_ROUND, "bm", case.ref)
    assert not again.ok


async def test_open_round_needs_an_answer_through_the_link(service: Service):
    case = await queried(service)
    with pytest.raises(Conflict):
        await service.run(panel.open_answered_round, OpenAnsweredRound(by="bm", ref=case.ref))


async def test_the_answer_can_open_round_two_at_once(service: Service):
    process = service.cfg.process.model_copy(update={"referrer_answer_opens_round": True})
    service.cfg = service.cfg.model_copy(update={"process": process})
    case = await queried(service)
    await act(service, referrer_url(await delivered(service)), "referrer", text=ANSWER)
    assert [a.details["round"] for a in await audits(service, "round_opened")] == [1, 2]
    (answered,) = await outbox(service, "referrer_answered")
    assert answered.payload["actions"] == []
    assert (await service.read(lambda uow: panel.load_case(uow, case.ref))).status == "screening"


async def test_with_review_the_business_manager_sends_the_edited_questions(service: Service):
    process = service.cfg.process.model_copy(update={"referrer_questions_review": True})
    service.cfg = service.cfg.model_copy(update={"process": process})
    case = await queried(service)
    assert await outbox(service, "referrer_questions") == []
    (query,) = await outbox(service, "referrer_query")
    assert "then record their answer" in query.payload["text"]
    cmd = SendReferrerQuestions(by="bm", ref=case.ref, questions=["What injuries were seen?"])
    assert await service.run(send_questions, cmd) == 1
    url = referrer_url(await delivered(service))
    page = await service.read(lambda uow: links.link_page(uow, service.env, *token_of(url)))
    assert [f.value for f in page.facts] == ["What injuries were seen?"]


async def test_the_outcome_waits_for_the_scrutineer_or_their_window(service: Service):
    case = await refer(service)
    await vote(service, "la-dsp", case.ref, "no_further_action")
    await vote(service, "police-dsp", case.ref, "no_further_action")
    assert await outbox(service, "referrer_outcome") == []
    service.clock.advance(dt.timedelta(days=7))  # past the scrutiny window
    await reminders.fire_due(service, "test")
    assert len(await outbox(service, "referrer_outcome")) == 1
    await service.run(panel.record_scrutiny, RecordScrutiny(by="scrutineer", ref=case.ref, verdict="concur"))
    assert len(await outbox(service, "referrer_outcome")) == 1  # once
