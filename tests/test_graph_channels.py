"""Mail and calendar invites through the real msgraph-sdk and azure-identity, against a fake Graph
and a fake token endpoint on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from bot.flows.commands import CastVote, RecordScrutiny, RegisterReferral
from bot.flows.screening import panel as screening
from bot.handlers.graph.calendar import CalendarSender
from bot.handlers.graph.mail import EmailSender
from bot.service import Service
from bot.worker.outbox import Delivery, RecordingSender
from bot.worker.progress import SendProgress
from storage.models import CalendarEvent, OutboxMessage
from tests.fakes.graph import GRAPH_TENANT, FakeGraph
from tests.fakes.graph_env import graph_client

CHILD = {
    "forenames": "Zebedee",
    "last_name": "Quixotic",
    "other_names": "Zeb",
    "date_of_birth": "2022-03-14",
    "home_address": "1 Secret Lane, Denton",
    "carers": "Mother: Ophelia Quixotic",
}
PART_A = "Zebedee was found at 1 Secret Lane with injuries consistent with a fall."
SUMMARY = "A young child was admitted with an unexplained serious injury; family known to early help."


@pytest.fixture
async def fake_graph(tmp_path) -> AsyncIterator[FakeGraph]:
    fake = await FakeGraph(tmp_path / "tls").start()
    yield fake
    await fake.close()


@pytest.fixture
async def graph(fake_graph):
    client = graph_client(fake_graph)
    yield client
    await client.close()


def delivery(service: Service, graph) -> Delivery:
    senders = {
        "email": EmailSender(
            graph, service.cfg.partnership.mailbox, service.cfg.partnership.name, SendProgress(service)
        ),
        "calendar": CalendarSender(graph, service),
        "slack": RecordingSender(),
        "teams": RecordingSender(),
    }
    return Delivery(service, senders)


async def deliver_all(service: Service, graph) -> None:
    """Send everything, letting in-place updates wait for their originals as the loop does."""
    for _ in range(3):
        await delivery(service, graph).drain()
        service.clock.advance(dt.timedelta(seconds=5))


async def refer(service: Service) -> str:
    cmd = RegisterReferral(
        by="bm",
        referrer={"name": "Dr A Referrer", "email": "referrer@example.org"},
        child=CHILD,
        event_description=PART_A,
        abuse_detail="Bruising to the face of Zebedee Quixotic.",
        panel_summary=SUMMARY,
    )
    return (await service.run(screening.register_referral, cmd)).ref


async def decide(service: Service, ref: str) -> None:
    for by in ("la-dsp", "police-dsp"):
        cmd = CastVote(by=by, ref=ref, pathway="audit_assurance", notifiable=False, rationale="x" * 30)
        await service.run(screening.cast_vote, cmd)


async def outbox(service: Service, *where) -> list[OutboxMessage]:
    async def work(uow):
        return list(await uow.session.scalars(select(OutboxMessage).where(*where).order_by(OutboxMessage.id)))

    return await service.read(work)


async def test_mail_goes_to_the_right_people_with_no_child_details(service, graph, fake_graph) -> None:
    ref = await refer(service)
    await decide(service, ref)
    await service.run(screening.record_scrutiny, RecordScrutiny(by="scrutineer", ref=ref, verdict="concur"))
    await deliver_all(service, graph)  # the referrer hears the outcome once the scrutineer has responded

    email_rows = await outbox(service, OutboxMessage.channel == "email")
    assert email_rows and all(r.state == "sent" for r in email_rows), [(r.state, r.last_error) for r in email_rows]
    assert sorted((m.to[0], m.subject) for m in fake_graph.mails) == sorted(
        (r.address, r.payload["title"]) for r in email_rows
    )
    assert all(m.mailbox == "tscp@tameside.gov.uk" and len(m.to) == 1 for m in fake_graph.mails)
    recipients = {m.to[0] for m in fake_graph.mails}
    assert {"referrer@example.org", "alex.morgan@example.org", "pat.quinn@example.org"} <= recipients
    request = next(m for m in fake_graph.mails if m.to == ["alex.morgan@example.org"] and "needs" in m.subject)
    link = f"http://127.0.0.1:3978/l/{ref}/"
    assert link in request.text and f'href="{link}' in request.html and "for you alone" in request.text
    outcome = next(m for m in fake_graph.mails if m.to == ["referrer@example.org"])

    assert ref in outcome.subject and "Audit & assurance" in outcome.text and "Audit &amp; assurance" in outcome.html
    for mail in fake_graph.mails:
        assert mail.text and mail.html.startswith("<html>")
        for secret in [*CHILD.values(), "14 Mar 2022", "Secret Lane", "Zebedee", "Quixotic", "Bruising"]:
            assert secret not in mail.everything, (mail.to, secret)
    token = fake_graph.tokens[0]
    assert (token["tenant"], token["client_id"], token["grant_type"]) == (
        GRAPH_TENANT,
        "graph-client-id",
        "client_credentials",
    )


async def test_mail_throttled_is_retried_after_retry_after(service, graph, fake_graph) -> None:
    await refer(service)
    fake_graph.mail_failures.append((429, "12"))
    await delivery(service, graph).run_once()
    failed = [r for r in await outbox(service, OutboxMessage.channel == "email") if r.last_error]
    assert len(failed) == 1 and failed[0].state == "pending" and "429" in failed[0].last_error
    assert failed[0].next_attempt_at == service.clock.now() + dt.timedelta(seconds=12)
    service.clock.advance(dt.timedelta(seconds=12))
    await delivery(service, graph).drain()
    assert all(r.state == "sent" for r in await outbox(service, OutboxMessage.channel == "email"))


async def test_mail_refused_for_good_is_given_up_and_reported(service, graph, fake_graph) -> None:
    await refer(service)
    fake_graph.mail_failures.append((403, None))
    await delivery(service, graph).run_once()
    [failed] = [r for r in await outbox(service, OutboxMessage.channel == "email") if r.state == "failed"]
    assert "403" in failed.last_error
    reports = await outbox(service, OutboxMessage.kind == "delivery_failed")
    assert [r.person_id for r in reports] == ["bm"]


async def disagree(service: Service, ref: str) -> None:
    cmd = RecordScrutiny(by="scrutineer", ref=ref, verdict="disagree", comment="The threshold for a review is met.")
    await service.run(screening.record_scrutiny, cmd)


async def test_event_created_once_when_the_first_post_gets_503(service, graph, fake_graph) -> None:
    ref = await refer(service)
    await decide(service, ref)
    await disagree(service, ref)
    fake_graph.event_failures.append((503, "7", True))  # Graph made the event, but the answer was lost
    await delivery(service, graph).drain()

    [row] = await outbox(service, OutboxMessage.channel == "calendar")
    assert row.state == "pending" and "503" in row.last_error
    assert row.next_attempt_at == service.clock.now() + dt.timedelta(seconds=7)
    service.clock.advance(dt.timedelta(seconds=7))
    await delivery(service, graph).drain()

    [row] = await outbox(service, OutboxMessage.channel == "calendar")
    assert row.state == "sent"
    assert len(fake_graph.event_posts) == 2 and len(fake_graph.events) == 1
    assert fake_graph.event_posts[0]["transactionId"] == fake_graph.event_posts[1]["transactionId"]
    event = fake_graph.events[0]
    assert event["isOnlineMeeting"] is True and event["onlineMeetingProvider"] == "teamsForBusiness"
    attendees = {a["emailAddress"]["address"] for a in event["attendees"]}
    assert attendees == {
        "jo.baker@example.org",
        "sam.patel@example.org",
        "chris.lee@example.org",
        "priya.shah@example.org",
        "pat.quinn@example.org",
    }
    # the next working day after Mon 21 Dec 2026, 10:00-11:00 London (GMT)
    assert event["start"] == {"dateTime": "2026-12-22T10:00:00", "timeZone": "UTC"}
    assert event["end"] == {"dateTime": "2026-12-22T11:00:00", "timeZone": "UTC"}
    assert "Zebedee" not in str(event)

    stored = await service.read(lambda uow: _events(uow))
    assert [(e.graph_event_id, e.join_url) for e in stored] == [(event["id"], event["onlineMeeting"]["joinUrl"])]
    assert row.external_ref == {"event_id": event["id"], "join_url": event["onlineMeeting"]["joinUrl"]}


async def _events(uow) -> list[CalendarEvent]:
    return list(await uow.session.scalars(select(CalendarEvent)))


async def test_disagreeing_twice_invites_once(service) -> None:
    ref = await refer(service)
    await decide(service, ref)
    await disagree(service, ref)
    service.clock.advance(dt.timedelta(minutes=5))
    await service.run(screening.record_scrutiny, RecordScrutiny(by="scrutineer", ref=ref, verdict="concur"))
    service.clock.advance(dt.timedelta(minutes=5))
    await disagree(service, ref)
    await service.run(
        screening.record_scrutiny,
        RecordScrutiny(by="exec-chair", ref=ref, verdict="disagree", comment="I disagree with it as well."),
    )
    assert len(await outbox(service, OutboxMessage.channel == "calendar")) == 1


def test_build_senders_has_mail_and_calendar_only_with_graph_settings(service, fake_graph) -> None:
    from bot.runtime import build_senders
    from tests.fakes.graph_env import graph_settings

    senders = build_senders(graph_settings(fake_graph), service)
    assert isinstance(senders["email"], EmailSender) and isinstance(senders["calendar"], CalendarSender)
    assert senders["email"].graph.base_url == fake_graph.base_url
    bare = build_senders(graph_settings(fake_graph, GRAPH_CLIENT_SECRET=""), service)
    assert "email" not in bare and "calendar" not in bare
