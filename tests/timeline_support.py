"""Driving timelines in tests: a virtual clock that fires reminders at their own times (as `simulate`
does), a sender that notes when each message went, and a case brought to its Rapid Review."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.clock import ManualClock
from bot.flows.commands import MarkDone, RecordNotificationSent, RecordScrutiny
from bot.flows.screening import panel as screening
from bot.flows.timelines.plan import mark_done
from bot.service import Service
from bot.worker import reminders as timers
from bot.worker.outbox import Delivery, Outgoing, SendResult
from storage.models import Obligation, Reminder
from tests.helpers import refer, vote

LONDON = ZoneInfo("Europe/London")
CHANNELS = ("slack", "teams", "email", "calendar")


def london(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=LONDON)


@dataclass(frozen=True)
class Sent:
    at: dt.datetime  # London time the message went out
    item: Outgoing

    @property
    def kind(self) -> str:
        return self.item.kind

    @property
    def to(self) -> str:
        return self.item.person_id or self.item.address

    @property
    def obligation_id(self) -> int | None:
        """For a chase or escalation: the obligation, from its outbox key `ladder:{id}:{rung}:{person}`."""
        parts = self.item.key.split(":")
        return int(parts[1]) if parts[0] == "ladder" else None


@dataclass
class TimedSender:
    clock: ManualClock
    sent: list[Sent] = field(default_factory=list)

    async def send(self, item: Outgoing) -> SendResult:
        self.sent.append(Sent(self.clock.now().astimezone(LONDON), item))
        return SendResult.sent({"n": len(self.sent)})


class Run:
    """A service on a manual clock, ticked the way `panelbot serve` would have ticked it."""

    def __init__(self, service: Service) -> None:
        assert isinstance(service.clock, ManualClock)
        self.service, self.clock = service, service.clock
        self.sender = TimedSender(self.clock)
        self.delivery = Delivery(service, dict.fromkeys(CHANNELS, self.sender), "test")

    async def until(self, moment: dt.datetime) -> None:
        """Run the clock to `moment`, stopping at every reminder on the way to fire it on time."""
        while (due := await timers.next_due(self.service)) is not None and due <= moment:
            self.clock.set(max(due, self.clock.now()))
            await timers.fire_due(self.service, "test")
            await self.delivery.drain()
        self.clock.set(max(moment, self.clock.now()))
        await self.delivery.drain()

    async def at(self, moment: dt.datetime, flow: Any, cmd: Any) -> Any:
        await self.until(moment)
        result = await self.service.run(flow, cmd)
        await self.delivery.drain()
        return result

    async def done(self, moment: dt.datetime, by: str, ref: str, key: str) -> Obligation:
        return await self.at(moment, mark_done, MarkDone(by=by, ref=ref, key=key))

    def messages(self, *kinds: str, since: dt.datetime | None = None) -> list[Sent]:
        """In the order they were queued: lanes send channels (and people) side by side, so what went
        out at the same moment is ordered by outbox row."""
        sent = sorted(self.sender.sent, key=lambda s: (s.at, s.item.id))
        return [s for s in sent if (not kinds or s.kind in kinds) and (since is None or s.at >= since)]

    async def obligation_keys(self) -> dict[int, str]:
        async def work(uow: Any) -> dict[int, str]:
            return {o.id: o.key for o in await uow.session.scalars(select(Obligation))}

        return await self.service.read(work)

    async def chases(self, since: dt.datetime | None = None) -> list[tuple[str, str, str, str]]:
        """(London time, kind, obligation key, person) for every chase and escalation sent."""
        keys = await self.obligation_keys()
        return [
            (s.at.strftime("%a %d %b %H:%M"), s.kind, keys[s.obligation_id], s.to)
            for s in self.messages("chase", "escalation", since=since)
            if s.obligation_id is not None
        ]

    async def reminders(self, kind: str | None = None) -> list[Reminder]:
        async def work(uow: Any) -> list[Reminder]:
            query = select(Reminder).order_by(Reminder.due_at, Reminder.id)
            return list(await uow.session.scalars(query.where(Reminder.kind == kind) if kind else query))

        return await self.service.read(work)


async def rapid_review(run: Run, notified_at: dt.datetime) -> str:
    """Referral on Mon 21 Dec 2026 10:00; LA and Police vote Rapid Review, notifiable; the scrutineer
    concurs; the LA records the notification at `notified_at`. Returns the reference."""
    case = await refer(run.service)
    await run.until(london(2026, 12, 21, 11, 0))
    await vote(run.service, "la-dsp", case.ref, "rapid_review", True)
    await vote(run.service, "police-dsp", case.ref, "rapid_review", True)
    await run.at(
        london(2026, 12, 21, 12, 0),
        screening.record_scrutiny,
        RecordScrutiny(by="scrutineer", ref=case.ref, verdict="concur"),
    )
    await run.at(notified_at, screening.record_notification_sent, RecordNotificationSent(by="la-hos", ref=case.ref))
    return case.ref
