"""Meeting invites, queued like any message: the `calendar` channel creates the Outlook event with a
Teams meeting through Graph and records it in `calendar_events`. Invites to the same case and
purpose are queued once."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select

from bot.config import Person
from bot.flows.common import Env, queue_row
from bot.messages import Fact, Meeting, Message
from storage.models import Case, OutboxMessage
from storage.uow import UnitOfWork

CALENDAR = "calendar"


def invite(
    uow: UnitOfWork,
    env: Env,
    case: Case,
    purpose: str,
    subject: str,
    start: dt.datetime,
    minutes: int,
    attendees: list[Person],
    organiser_note: str = "",
) -> None:
    emails = sorted({p.email for p in attendees})
    transaction_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"panelbot:{case.ref}:{purpose}"))
    meeting = Meeting(
        subject=subject,
        start=start,
        end=start + dt.timedelta(minutes=minutes),
        attendees=emails,
        transaction_id=transaction_id,
    )
    message = Message(
        kind="meeting_invite",
        ref=case.ref,
        title=subject,
        text=organiser_note,
        facts=[Fact(label="Case", value=case.ref), Fact(label="When", value=env.local(start))],
        meeting=meeting,
    )
    mailbox = env.cfg.partnership.mailbox or ""
    queue_row(uow, env, CALENDAR, mailbox, None, message, meeting_key(case, purpose), case, None)


def meeting_key(case: Case, purpose: str) -> str:
    return f"meeting:{case.id}:{purpose}"


async def invited(uow: UnitOfWork, case: Case, purpose: str) -> bool:
    """Whether an invite for this case and purpose is already queued (or sent): `invite` twice for
    the same key would break the outbox's unique key, so callers that may repeat ask this first."""
    key = meeting_key(case, purpose)
    return await uow.session.scalar(select(OutboxMessage.id).where(OutboxMessage.key == key)) is not None
