"""Firing reminders exactly once: each due reminder is locked, handled and marked done in one
transaction (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite's BEGIN IMMEDIATE serialises writers),
so any number of processes can tick against one database and a crash mid-way leaves it pending."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import select

from bot.flows.common import Env
from bot.flows.screening import panel, referrer
from bot.flows.timelines import chasing, plan
from bot.service import Service
from bot.states import ReminderState
from storage.models import Reminder
from storage.uow import UnitOfWork

log = logging.getLogger("panelbot.timers")
Handler = Callable[[Reminder, UnitOfWork, Env], Awaitable[None]]

HANDLERS: dict[str, Handler] = {
    "screening_deadline": panel.screening_deadline_passed,
    "chase": chasing.rung_due,
    "escalation": chasing.rung_due,
    "digest": chasing.digest_due,
    "delay_check": plan.delay_check_due,
    "rr_invite": plan.invite_due,
    referrer.OUTCOME_REMINDER: referrer.outcome_due,
}
RETRY_AFTER = dt.timedelta(minutes=1)


async def fire_one(service: Service, worker: str) -> Reminder | None:
    """Claim the earliest due reminder, run its handler, mark it done; None when nothing is due."""
    env = service.env
    attempted: list[int] = []

    async def work(uow: UnitOfWork) -> Reminder | None:
        reminder = await uow.session.scalar(
            select(Reminder)
            .where(Reminder.state == ReminderState.PENDING, Reminder.due_at <= env.now())
            .order_by(Reminder.due_at, Reminder.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if reminder is None:
            return None
        attempted.append(reminder.id)
        await HANDLERS[reminder.kind](reminder, uow, env)
        if reminder.due_at > env.now():
            return reminder  # the handler deferred it (quiet hours): it stays pending until then
        reminder.state, reminder.claimed_by, reminder.claimed_at, reminder.done_at = (
            ReminderState.DONE,
            worker,
            env.now(),
            env.now(),
        )
        return reminder

    try:
        return await service.transact(work)
    except Exception:
        log.exception("a reminder failed; it stays pending and is tried again in a minute")
        if attempted:
            await _defer(service, attempted[-1])
        return None


async def _defer(service: Service, reminder_id: int) -> None:
    async def work(uow: UnitOfWork) -> None:
        reminder = await uow.session.get(Reminder, reminder_id, with_for_update=True)
        if reminder is not None and reminder.state == ReminderState.PENDING:
            reminder.due_at = service.clock.now() + RETRY_AFTER

    await service.transact(work)


async def fire_due(service: Service, worker: str = "local", limit: int = 1000) -> list[Reminder]:
    fired: list[Reminder] = []
    while len(fired) < limit:
        reminder = await fire_one(service, worker)
        if reminder is None:
            break
        fired.append(reminder)
    return fired


async def next_due(service: Service) -> dt.datetime | None:
    async def work(uow: UnitOfWork) -> dt.datetime | None:
        return await uow.session.scalar(
            select(Reminder.due_at).where(Reminder.state == ReminderState.PENDING).order_by(Reminder.due_at).limit(1)
        )

    return await service.read(work)
