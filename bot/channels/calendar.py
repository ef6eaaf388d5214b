"""Meeting invites: an Outlook event with a Teams meeting, created through Graph in the
partnership mailbox's calendar, recorded in `calendar_events` (event id and join URL).

Rows come from `bot.flows.meetings.invite` with the key `meeting:{case_id}:{purpose}`. The event
carries the invite's `transaction_id`, so a retry after a lost answer gets the same event back
from Graph instead of a second one; an event already recorded is not created again.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from bot.channels.email import graph_result, render_html
from bot.delivery import Outgoing, SendResult
from bot.graph import CreatedEvent, GraphClient, GraphError
from bot.service import Service
from storage.models import CalendarEvent
from storage.uow import UnitOfWork


def case_and_purpose(key: str) -> tuple[int, str]:
    prefix, case_id, purpose = key.split(":", 2)
    if prefix != "meeting":
        raise ValueError(f"not a meeting key: {key!r}")
    return int(case_id), purpose


@dataclass
class CalendarSender:
    graph: GraphClient
    service: Service

    async def send(self, item: Outgoing) -> SendResult:
        meeting = item.message.meeting
        if meeting is None:
            return SendResult.failed("a calendar row without a meeting")
        if not item.address:
            return SendResult.failed("partnership.mailbox is not set in app.yaml, so there is no calendar to use")
        case_id, purpose = case_and_purpose(item.key)
        known = await self.service.read(lambda uow: _recorded(uow, case_id, purpose))
        if known is not None and known.graph_event_id:
            return SendResult.sent(_ref(known.graph_event_id, known.join_url))
        body = render_html(item.message, self.service.cfg.partnership.name)
        try:
            event = await self.graph.create_event(item.address, meeting, body)
        except GraphError as exc:
            return graph_result(exc)
        await self.service.read(lambda uow: _record(uow, self.service, case_id, purpose, meeting.transaction_id, event))
        return SendResult.sent(_ref(event.id, event.join_url))


def _ref(event_id: str, join_url: str | None) -> dict[str, str | None]:
    return {"event_id": event_id, "join_url": join_url}


async def _recorded(uow: UnitOfWork, case_id: int, purpose: str) -> CalendarEvent | None:
    return await uow.session.scalar(
        select(CalendarEvent).where(CalendarEvent.case_id == case_id, CalendarEvent.purpose == purpose)
    )


async def _record(
    uow: UnitOfWork, service: Service, case_id: int, purpose: str, transaction_id: str, event: CreatedEvent
) -> None:
    row = await _recorded(uow, case_id, purpose)
    if row is None:
        now = service.clock.now()
        row = CalendarEvent(case_id=case_id, purpose=purpose, transaction_id=transaction_id, created_at=now)
        uow.session.add(row)
    row.graph_event_id, row.join_url = event.id, event.join_url
