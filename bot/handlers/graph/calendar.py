"""Meeting invites: an Outlook event with a Teams meeting, created through Graph in the
partnership mailbox's calendar.

Rows come from `bot.flows.meetings.invite` with the key `meeting:{case_id}:{purpose}`. The event
carries the invite's `transaction_id`, so a retry after a lost answer gets the same event back
from Graph instead of a second one. The sender reports the event id and join URL; the outbox
records them with the case (`bot.flows.delivery.record_calendar_event`).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.handlers.graph.client import GraphClient, GraphError
from bot.handlers.graph.mail import graph_result, render_html
from bot.service import Service
from bot.worker.outbox import Outgoing, SendResult


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
        body = render_html(item.message, self.service.cfg.partnership.name)
        try:
            event = await self.graph.create_event(item.address, meeting, body)
        except GraphError as exc:
            return graph_result(exc)
        return SendResult.sent({"event_id": event.id, "join_url": event.join_url})
