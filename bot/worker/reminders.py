"""Firing reminders exactly once: due reminders are locked in batches, handled and marked done in one
transaction per batch (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite's BEGIN IMMEDIATE serialises
writers), so any number of processes can tick against one database and a crash mid-way leaves the
batch pending. The claim's ORDER BY (due_at, id) is the index's own (`ix_reminders_due`)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import select, update

from bot.flows.common import Env
from bot.flows.screening import panel, referrer
from bot.flows.timelines import chasing, plan
from bot.service import Service
from bot.states import ReminderState
from storage.models import Reminder
from storage.uow import UnitOfWork, is_retryable

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


BATCH = 100  # reminders claimed, handled and marked done per transaction


async def fire_batch(service: Service, worker: str, size: int = BATCH) -> tuple[list[Reminder], int]:
    """Claim up to `size` due reminders, earliest first (`FOR UPDATE SKIP LOCKED`: another worker
    takes the next ones), run each handler in a savepoint and mark it done, all in one transaction.
    A failing handler is rolled back alone and its reminder tried again in a minute. Returns the
    reminders handled (done, or deferred by their handler) and how many were claimed."""
    env = service.env
    claimed = 0

    async def work(uow: UnitOfWork) -> list[Reminder]:
        nonlocal claimed
        now = env.now()
        batch = list(
            await uow.session.scalars(
                select(Reminder)
                .where(Reminder.state == ReminderState.PENDING, Reminder.due_at <= now)
                .order_by(Reminder.due_at, Reminder.id)
                .limit(size)
                .with_for_update(skip_locked=True)
            )
        )
        claimed = len(batch)
        handled = []
        for reminder in batch:
            if await _handle(uow, env, reminder, worker):
                handled.append(reminder)
        return handled

    try:
        return await service.transact(work), claimed
    except Exception:
        log.exception("a batch of reminders failed; they stay pending for the next tick")
        return [], 0


async def _handle(uow: UnitOfWork, env: Env, reminder: Reminder, worker: str) -> bool:
    reminder_id, kind, now = reminder.id, reminder.kind, env.now()
    try:
        async with uow.savepoint():
            await HANDLERS[kind](reminder, uow, env)
    except Exception as exc:
        if is_retryable(exc):
            raise  # a concurrent transaction got there first: the whole batch is tried again
        log.exception("reminder %s (%s) failed; it stays pending and is tried again in a minute", reminder_id, kind)
        await uow.session.execute(update(Reminder).where(Reminder.id == reminder_id).values(due_at=now + RETRY_AFTER))
        return False
    if reminder.due_at > now:
        return True  # the handler deferred it (quiet hours): it stays pending until then
    reminder.state, reminder.claimed_by, reminder.claimed_at, reminder.done_at = (
        ReminderState.DONE,
        worker,
        now,
        now,
    )
    return True


async def fire_one(service: Service, worker: str) -> Reminder | None:
    """The earliest due reminder, fired on its own; None when nothing is due."""
    fired, _ = await fire_batch(service, worker, size=1)
    return fired[0] if fired else None


async def fire_due(service: Service, worker: str = "local", limit: int = 1000) -> list[Reminder]:
    """Fire what is due, a batch per transaction, until nothing is or `limit` were handled."""
    fired: list[Reminder] = []
    while len(fired) < limit:
        size = min(BATCH, limit - len(fired))
        batch, claimed = await fire_batch(service, worker, size)
        fired += batch
        if claimed < size:  # nothing more was due (or another worker holds the rest)
            break
    return fired


async def next_due(service: Service) -> dt.datetime | None:
    async def work(uow: UnitOfWork) -> dt.datetime | None:
        return await uow.session.scalar(
            select(Reminder.due_at).where(Reminder.state == ReminderState.PENDING).order_by(Reminder.due_at).limit(1)
        )

    return await service.read(work)
