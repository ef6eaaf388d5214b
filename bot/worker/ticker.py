"""The ticker: APScheduler 3.x's `AsyncIOScheduler`, used only to call `Ticker.tick` every few seconds.

Nothing about reminders lives in APScheduler: its job store is the default in-memory one, private
to the process, never shared (its FAQ warns against sharing one between processes). Reminders live
in the case store, and the database decides who fires each one: `reminders.fire_one` claims a due
reminder with `SELECT … FOR UPDATE SKIP LOCKED` (BEGIN IMMEDIATE on SQLite), handles it and marks it
done in one transaction; the delivery lanes claim outbox rows the same way, and are woken at once
by commits that wrote outbox rows, the tick only waking them in case. So any number of
`panelbot serve` processes can tick against one PostgreSQL and each reminder fires once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from dataclasses import dataclass, field

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.flows.timelines.chasing import ensure_digest
from bot.service import Service
from bot.worker import reminders
from bot.worker.outbox import Delivery
from storage.models import Reminder

log = logging.getLogger("panelbot.scheduler")
DEFAULT_INTERVAL = 5.0  # seconds between ticks


class _StillTicking(logging.Filter):
    """A tick outlasting the interval is normal under load (the next one just waits): not a warning."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances reached" not in record.getMessage()


_aps_log = logging.getLogger("panelbot.scheduler.apscheduler")
_aps_log.addFilter(_StillTicking())


@dataclass
class TickResult:
    fired: list[Reminder] = field(default_factory=list)
    delivered: int = 0


class Ticker:
    """One pass: make sure the digest is scheduled, fire what is due, deliver what is queued."""

    def __init__(self, service: Service, delivery: Delivery | None, worker: str = "local") -> None:
        self.service = service
        self.delivery = delivery
        self.worker = worker
        self._digest_checked = False
        self._busy = asyncio.Lock()
        self._stopping = False
        self.ticks = 0
        self.last_tick_at: float | None = None  # monotonic; the heartbeat /readyz reads

    async def tick(self) -> TickResult:
        async with self._busy:
            self.last_tick_at = time.monotonic()
            result = TickResult()
            if not self._digest_checked:
                env = self.service.env
                await self.service.transact(lambda uow: ensure_digest(uow, env))
                self._digest_checked = True
            result.fired = await reminders.fire_due(self.service, self.worker)
            if self.delivery is not None:
                result.delivered = await self._deliver()
            self.ticks += 1
            return result

    async def stop(self) -> None:
        """Before shutting the scheduler down (its executor cancels running jobs): start no more ticks,
        and let one in progress finish."""
        self._stopping = True
        if self.delivery is not None:
            self.delivery.stopping = True  # the send in flight finishes; no other starts
        await asyncio.sleep(0)  # a job the scheduler just launched gets to see `_stopping`
        async with self._busy:
            return

    async def _deliver(self) -> int:
        """Deliver what is queued; when the lanes run on their own (`serve`), just wake them: the
        tick is their safety net for rows whose back-off ended or whose wake-up was missed."""
        if self.delivery.running:
            self.delivery.wake()
            return 0
        total = 0
        for _ in range(100):  # as `Delivery.drain`, but counting
            if self._stopping:
                break
            sent = await self.delivery.run_once()
            total += sent
            if not sent:
                break
        return total

    async def safe_tick(self) -> None:
        """The scheduled job: a failing pass is logged, and the next one tries again."""
        if self._stopping:
            return
        try:
            result = await self.tick()
        except Exception:
            log.exception("tick failed; trying again at the next one")
            return
        if result.fired or result.delivered:
            log.info("tick: %d reminders fired, %d messages delivered", len(result.fired), result.delivered)


def start_scheduler(ticker: Ticker, interval: float = DEFAULT_INTERVAL) -> AsyncIOScheduler:
    """Start ticking now and every `interval` seconds; call from inside the running event loop.
    A tick never overlaps the previous one (`max_instances=1`), and missed ticks collapse into one."""
    scheduler = AsyncIOScheduler(timezone=dt.UTC, logger=_aps_log)  # default MemoryJobStore: this process's own
    scheduler.add_job(
        ticker.safe_tick,
        "interval",
        seconds=interval,
        id="tick",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,
        next_run_time=dt.datetime.now(dt.UTC),  # the first pass at once: what fell due while down goes out
    )
    scheduler.start()
    return scheduler


async def run_ticker(
    ticker: Ticker, interval: float = DEFAULT_INTERVAL, stop: asyncio.Event | None = None, grace: float = 6.0
) -> None:
    """Tick until `stop` is set (or until cancelled). On the way out a tick in progress gets `grace`
    seconds to finish the send in flight (it starts no other); one still running then is cut short."""
    scheduler = start_scheduler(ticker, interval)
    try:
        await (stop or asyncio.Event()).wait()
    finally:
        try:
            await asyncio.wait_for(ticker.stop(), grace)  # first: the executor's shutdown cancels a tick in progress
        except TimeoutError:
            log.warning("a send was still in flight after %.0f s: cutting it short", grace)
        scheduler.shutdown(wait=False)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ticker.stop(), 1.0)  # let a cancelled tick unwind
