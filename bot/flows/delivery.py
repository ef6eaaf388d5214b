"""What a delivery outcome means, as flows over plain values: a person a channel cannot reach gets the
message by e-mail (and the Business Manager is asked, once, to fix it); a message given up on is
reported to the Business Manager on another channel; a calendar invite that Graph created is
recorded with its event id. Senders only send and report; the outbox calls these when it settles."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.config import Channel, Person, Role
from bot.flows.commands import ResendMessage
from bot.flows.common import Conflict, Env, NotFound, audit, load_case, person_or_refuse, post, require_role
from bot.messages import Fact, Message
from bot.states import OutboxState
from storage.models import CalendarEvent, Case, OutboxMessage
from storage.uow import UnitOfWork

DELIVERY_FAILED = "delivery_failed"


async def _exists(uow: UnitOfWork, key: str) -> bool:
    return await uow.session.scalar(select(OutboxMessage.id).where(OutboxMessage.key == key)) is not None


async def reroute_to_email(uow: UnitOfWork, env: Env, row: OutboxMessage, person: Person) -> str:
    """Queue the row's message to the person by e-mail, and (once per person) ask the Business
    Manager to have the Teams app installed for them. Returns the e-mail row's key."""
    case = await uow.session.get(Case, row.case_id) if row.case_id else None
    email_key = f"{row.key}:email"
    if not await _exists(uow, email_key):
        message = Message.model_validate(row.payload)
        post(uow, env, person, message, email_key, case, channel=Channel.EMAIL.value)
    for bm in env.cfg.holders(Role.BUSINESS_MANAGER):
        key = f"teams_app_missing:{person.id}:{bm.id}"
        if not await _exists(uow, key):
            post(uow, env, bm, app_missing_notice(person), key, None)
    return email_key


def app_missing_notice(person: Person) -> Message:
    return Message(
        kind="teams_app_missing",
        title=f"panelbot cannot reach {person.name} in Teams",
        text=(
            f"{person.name} has not installed the panelbot app in Teams (or has never opened it), so panelbot "
            "cannot message them there. Their messages are going to them by e-mail meanwhile. Please have the "
            "app installed for them (Teams admin centre: Manage apps, or ask them to add panelbot), then ask "
            "them to say hello to it once."
        ),
        facts=[Fact(label="Person", value=f"{person.name} ({person.email})")],
    )


async def report_failure(uow: UnitOfWork, env: Env, row: OutboxMessage) -> None:
    """A message that cannot be delivered is reported to the Business Manager on another channel."""
    if row.kind == DELIVERY_FAILED:
        return  # never report a failed report: that way lies a loop
    case = await uow.session.get(Case, row.case_id) if row.case_id is not None else None
    ref = case.ref if case else None
    message = Message(
        kind=DELIVERY_FAILED,
        ref=ref,
        title=f"{ref or 'panelbot'}: a message could not be delivered",
        text="panelbot gave up sending this message. Please reach the person another way, and check the roster.",
        facts=[
            Fact(label="Message", value=row.kind),
            Fact(label="To", value=f"{row.person_id or row.address} via {row.channel}"),
            Fact(label="Error", value=row.last_error or "unknown"),
        ],
    )
    for bm in env.cfg.holders(Role.BUSINESS_MANAGER):
        channel = other_channel(bm, row.channel)
        if channel is not None:
            post(uow, env, bm, message, f"delivery_failed:{row.id}:{bm.id}", None, channel=channel)


def other_channel(person: Person, failed: str) -> str | None:
    """The person's own channel if it is not the one that failed, else another they have."""
    options = [
        person.channel.value,
        Channel.SLACK.value if person.slack else None,
        Channel.TEAMS.value if person.teams else None,
        Channel.EMAIL.value,
    ]
    return next((c for c in options if c and c != failed), None)


def case_and_purpose(key: str) -> tuple[int, str]:
    prefix, case_id, purpose = key.split(":", 2)
    if prefix != "meeting":
        raise ValueError(f"not a meeting key: {key!r}")
    return int(case_id), purpose


async def record_calendar_event(uow: UnitOfWork, env: Env, row: OutboxMessage, sent: dict[str, Any]) -> None:
    """An invite Graph created: keep its event id and join link with the case."""
    case_id, purpose = case_and_purpose(row.key)
    event = await uow.session.scalar(
        select(CalendarEvent).where(CalendarEvent.case_id == case_id, CalendarEvent.purpose == purpose)
    )
    if event is None:
        meeting = Message.model_validate(row.payload).meeting
        transaction_id = meeting.transaction_id if meeting else row.key
        event = CalendarEvent(case_id=case_id, purpose=purpose, transaction_id=transaction_id, created_at=env.now())
        uow.session.add(event)
    event.graph_event_id, event.join_url = sent.get("event_id"), sent.get("join_url")


async def resend(cmd: ResendMessage, uow: UnitOfWork, env: Env) -> OutboxMessage:
    """A failed message goes back in the queue, due now, with its attempts reset; audited."""
    person = person_or_refuse(env, cmd.by)
    require_role(person, Role.BUSINESS_MANAGER)
    case = await load_case(uow, cmd.ref)
    row = await uow.session.scalar(
        select(OutboxMessage)
        .where(OutboxMessage.id == cmd.message_id, OutboxMessage.case_id == case.id)
        .with_for_update()
    )
    if row is None:
        raise NotFound(f"{case.ref} has no message {cmd.message_id}.")
    if row.state != OutboxState.FAILED:
        raise Conflict(f"Only a message that failed can be sent again; this one is {row.state}.")
    row.state, row.attempts, row.next_attempt_at, row.claimed_by = OutboxState.PENDING, 0, env.now(), None
    audit(uow, env, person.id, "message_resent", case, message=row.key, channel=row.channel, error=row.last_error)
    return row
