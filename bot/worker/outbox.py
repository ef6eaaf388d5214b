"""The outbox worker: one delivery lane per channel, each claiming rows with a lease per row.

Lanes: Slack, Teams, e-mail and calendar rows each go through a lane of their own, with its own
concurrency and its own pause when the platform says slow down (HTTP 429), so a slow or throttled
platform never delays another. Within a lane, one person's messages leave in order: a lane never
has two rows for the same address in flight.

Leases: a row is claimed on its own (state `sending`, `next_attempt_at` = now + lease, `claimed_by`
= a token unique to this claim) in one short transaction just before it is sent, sent outside any
transaction, and settled in another that first checks the token: so no row is ever in two senders'
hands, and a settle that comes after the lease was taken over changes nothing. A sender that
succeeded is recorded at once, so a later retry never repeats it; a process that dies between
sending and recording leaves the row to be re-sent after the lease, the one window where a copy is
possible (the Slack sender looks for it first). Rows for a channel with no sender wait, pending.

Waking: in `panelbot serve` each lane runs on its own (`start`) and sleeps until woken: at once by a
commit in this process that wrote outbox rows for its channel (`storage.uow.OutboxSignal`), by
PostgreSQL `NOTIFY` from another replica's commit (`listen_for_outbox`), or by the ticker, the
safety net. Tests, `tick` and `simulate` call `drain` instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email.utils
import itertools
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import or_, select

from bot.flows import delivery as outcomes
from bot.flows.links import fill_urls
from bot.messages import Message
from bot.service import Service
from bot.states import OutboxChannel, OutboxState
from storage.models import OutboxMessage
from storage.uow import UnitOfWork

log = logging.getLogger("panelbot.delivery")
LEASE = dt.timedelta(minutes=2)
MAX_ATTEMPTS = 12  # with the backoff below, about a day of trying before a row is given up
WAIT_FOR_ORIGINAL = dt.timedelta(seconds=5)
IN_DOUBT = dt.timedelta(seconds=10)  # a send cut short by shutdown: time for it to land before a retry looks


@dataclass(frozen=True)
class Outgoing:
    """What a sender gets: the neutral message and where it goes."""

    id: int
    key: str
    channel: str
    address: str
    person_id: str | None
    kind: str
    message: Message
    replaces: dict[str, Any] | None  # the sent original's external ref, when this updates it in place
    attempts: int = 1  # this one included: above 1, an earlier attempt may have reached the platform
    lease: str = ""  # this claim's token, in `claimed_by` while the lease is ours


@dataclass(frozen=True)
class SendResult:
    ok: bool
    external_ref: dict[str, Any] | None = None
    retry_after: float | None = None  # seconds, from Retry-After
    permanent: bool = False
    error: str | None = None
    unreachable: bool = False  # the person cannot be reached on this channel yet: send by e-mail instead

    @classmethod
    def sent(cls, ref: dict[str, Any] | None = None) -> SendResult:
        return cls(ok=True, external_ref=ref)

    @classmethod
    def retry(cls, error: str, after: float | None = None) -> SendResult:
        return cls(ok=False, retry_after=after, error=error)

    @classmethod
    def failed(cls, error: str) -> SendResult:
        return cls(ok=False, permanent=True, error=error)

    @classmethod
    def not_reachable(cls, error: str) -> SendResult:
        return cls(ok=False, unreachable=True, error=error)


class Sender(Protocol):
    async def send(self, item: Outgoing) -> SendResult: ...


@dataclass
class RecordingSender:
    """Keeps what it was given: the console output of `demo`, and a sender for flow tests."""

    sent: list[Outgoing] = field(default_factory=list)
    on_send: Callable[[Outgoing], None] | None = None

    async def send(self, item: Outgoing) -> SendResult:
        self.sent.append(item)
        if self.on_send is not None:
            self.on_send(item)
        return SendResult.sent({"recorded": len(self.sent)})


def backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(5 * 2 ** max(attempts - 1, 0), 3600))


# Sends in flight at once per channel; a channel not listed gets DEFAULT_CONCURRENCY.
CONCURRENCY = {"slack": 4, "teams": 4, "email": 2, "calendar": 1}
DEFAULT_CONCURRENCY = 2
MAX_LANE_PAUSE = 30.0  # seconds: a 429 pauses its whole lane at most this long (the row waits its full Retry-After)
IDLE_WAKE = 60.0  # seconds: a running lane looks again at least this often, even if nothing woke it


class Lane:
    """One channel's delivery: its sender, how many sends at once, and its own pause."""

    def __init__(self, delivery: Delivery, channel: str, sender: Sender, concurrency: int) -> None:
        self.delivery = delivery
        self.channel = channel
        self.sender = sender
        self.concurrency = max(concurrency, 1)
        self.paused_until: dt.datetime | None = None
        self.woken = asyncio.Event()
        self._in_flight: set[str] = set()  # addresses being sent to: one person's messages stay in order
        self.stopping = False
        self._claiming = asyncio.Lock()

    def paused_for(self) -> float:
        """Seconds until the lane may send again (0 when it may now)."""
        if self.paused_until is None:
            return 0.0
        return max((self.paused_until - self.delivery.service.clock.now()).total_seconds(), 0.0)

    async def pump(self, limit: int) -> int:
        """Send what is due on this channel, `concurrency` at a time, until nothing is or `limit` rows were tried."""
        self.delivery.last_run_at = time.monotonic()
        budget = itertools.count()
        counts = await asyncio.gather(*(self._slot(budget, limit) for _ in range(self.concurrency)))
        return sum(counts)

    async def _slot(self, budget: Iterable[int], limit: int) -> int:
        tried = 0
        for n in budget:
            if n >= limit or self.stopping or self.delivery.stopping or self.paused_for() > 0:
                break
            async with self._claiming:
                item = await self.delivery.claim(self.channel, self._in_flight)
                if item is None:
                    break
                self._in_flight.add(item.address)
            self.delivery.in_flight.add(item.id)  # a send cut short stays here: `release` marks it in doubt
            try:
                await self._send(item)
                self.delivery.in_flight.discard(item.id)
            finally:
                self._in_flight.discard(item.address)
            tried += 1
        return tried

    async def _send(self, item: Outgoing) -> None:
        try:
            result = await self.sender.send(item)
        except Exception as exc:  # a sender bug must not lose the row
            log.exception("sender for %s raised on outbox row %s", item.channel, item.id)
            result = SendResult.retry(f"{type(exc).__name__}: {exc}")
        if result.retry_after and not result.ok:
            pause = dt.timedelta(seconds=min(result.retry_after, MAX_LANE_PAUSE))
            self.paused_until = self.delivery.service.clock.now() + pause
            log.warning("%s lane paused %.0f s: %s", self.channel, pause.total_seconds(), result.error)
        await self.delivery.settle(item, result)

    async def run(self) -> None:
        """Deliver whenever woken, until stopped (`Delivery.start`, `Delivery.stop`)."""
        while not self.stopping:
            self.woken.clear()
            try:
                await self.pump(limit=1000)
            except Exception:
                log.exception("%s lane failed; it looks again when next woken", self.channel)
            with contextlib.suppress(TimeoutError):  # a paused lane, even woken, sends nothing until the pause ends
                await asyncio.wait_for(self.woken.wait(), timeout=self.paused_for() or IDLE_WAKE)


class Delivery:
    def __init__(
        self,
        service: Service,
        senders: Mapping[str, Sender],
        worker: str = "local",
        concurrency: Mapping[str, int] | None = None,
    ) -> None:
        self.service = service
        self.senders = dict(senders)
        self.worker = worker[:48]
        limits = {**CONCURRENCY, **(concurrency or {})}
        self.lanes = {ch: Lane(self, ch, s, limits.get(ch, DEFAULT_CONCURRENCY)) for ch, s in self.senders.items()}
        self._claims = itertools.count(1)
        self._tasks: list[asyncio.Task[None]] = []
        self.last_run_at: float | None = None  # monotonic; the heartbeat /readyz reads
        self.stopping = False  # set on shutdown: finish the sends in flight, start no other
        self.in_flight: set[int] = set()  # the rows being sent now

    # ------------------------------------------------------------ running

    async def run_once(self, limit: int = 50) -> int:
        """Send what is due now on every lane at once; returns how many rows were attempted."""
        counts = await asyncio.gather(*(lane.pump(limit) for lane in self.lanes.values()))
        return sum(counts)

    async def release(self) -> int:
        """On shutdown: hand back the rows this worker holds, for the next worker. Rows claimed but not
        sent are due at once; a send cut short may still land, so its row waits `IN_DOUBT` and keeps
        its attempt count: the next attempt is a retry, and the Slack sender looks for it before posting."""
        now = self.service.clock.now()

        async def work(uow: UnitOfWork) -> int:
            rows = await uow.session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.state == OutboxState.SENDING, OutboxMessage.claimed_by.like(f"{self.worker}#%"))
                .with_for_update()
            )
            released = 0
            for row in rows:
                row.state, row.claimed_by = OutboxState.PENDING, None
                row.next_attempt_at = now + IN_DOUBT if row.id in self.in_flight else now
                released += 1
            return released

        return await self.service.transact(work)

    async def drain(self, rounds: int = 100) -> None:
        """Send until nothing is due now (tests, `simulate`, `tick`)."""
        for _ in range(rounds):
            if not await self.run_once():
                return

    @property
    def running(self) -> bool:
        return bool(self._tasks)

    def start(self) -> None:
        """Run every lane on its own, woken by commits that wrote outbox rows (`panelbot serve`)."""
        if self._tasks:
            return
        self._tasks = [asyncio.create_task(lane.run(), name=f"lane:{ch}") for ch, lane in self.lanes.items()]
        self.service.outbox_signal.subscribe(self.wake)

    async def stop(self, grace: float = 10.0) -> None:
        """Claim no more rows; let sends in flight finish and be recorded (for up to `grace` seconds)."""
        self.service.outbox_signal.unsubscribe(self.wake)
        for lane in self.lanes.values():
            lane.stopping = True
            lane.woken.set()
        if self._tasks:
            _, late = await asyncio.wait(self._tasks, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        for lane in self.lanes.values():
            lane.stopping = False

    def wake(self, channels: Iterable[str] | None = None) -> None:
        """Rows were written (or may be due) on these channels, or on all when None: look now."""
        wanted = self.lanes if channels is None else [c for c in channels if c in self.lanes]
        for channel in wanted:
            self.lanes[channel].woken.set()

    # ------------------------------------------------------------ one row

    async def claim(self, channel: str, busy: set[str] | frozenset[str] = frozenset()) -> Outgoing | None:
        """Lease the next due row on `channel` whose address is not `busy`, in a transaction of its own."""
        lease = f"{self.worker}#{next(self._claims)}"
        return await self.service.transact(lambda uow: self._claim(uow, channel, set(busy), lease))

    async def settle(self, item: Outgoing, result: SendResult) -> None:
        await self.service.transact(lambda uow: self._settle(uow, item, result))

    async def _claim(self, uow: UnitOfWork, channel: str, busy: set[str], lease: str) -> Outgoing | None:
        now = self.service.clock.now()
        query = (
            select(OutboxMessage)
            .where(
                OutboxMessage.channel == channel,
                or_(OutboxMessage.state == OutboxState.PENDING, OutboxMessage.state == OutboxState.SENDING),
                OutboxMessage.next_attempt_at <= now,
            )
            .order_by(OutboxMessage.id)
            .limit(10)
            .with_for_update(skip_locked=True)
        )
        if busy:
            query = query.where(OutboxMessage.address.not_in(busy))
        for row in await uow.session.scalars(query):
            replaces, ready = await self._original_ref(uow, row)
            if not ready:
                row.next_attempt_at = now + WAIT_FOR_ORIGINAL
                continue
            row.state, row.claimed_by, row.next_attempt_at = OutboxState.SENDING, lease, now + LEASE
            row.attempts += 1
            message = await fill_urls(uow, self.service.env, Message.model_validate(row.payload))
            return Outgoing(
                row.id,
                row.key,
                row.channel,
                row.address,
                row.person_id,
                row.kind,
                message,
                replaces,
                row.attempts,
                lease,
            )
        return None

    async def _original_ref(self, uow: UnitOfWork, row: OutboxMessage) -> tuple[dict[str, Any] | None, bool]:
        """An in-place update needs its original sent first; if the original failed, send anew."""
        if row.replaces_key is None:
            return None, True
        original = await uow.session.scalar(select(OutboxMessage).where(OutboxMessage.key == row.replaces_key))
        if original is None or original.state == OutboxState.FAILED:
            return None, True
        if original.state == OutboxState.SENT:
            return original.external_ref, True
        return None, False

    async def _settle(self, uow: UnitOfWork, item: Outgoing, result: SendResult) -> None:
        row = await uow.session.get(OutboxMessage, item.id, with_for_update=True)
        if row is None or row.state != OutboxState.SENDING or row.claimed_by != item.lease:
            log.warning("outbox row %s: lease %s was taken over; its outcome is not recorded", item.id, item.lease)
            return
        now, env = self.service.clock.now(), self.service.env
        if result.unreachable:
            result = await self._reroute(uow, row, result)
        if result.ok:
            row.state, row.sent_at, row.external_ref, row.last_error = "sent", now, result.external_ref, None
            if row.channel == OutboxChannel.CALENDAR and result.external_ref:
                await outcomes.record_calendar_event(uow, env, row, result.external_ref)
            return
        row.last_error = result.error
        if result.permanent or row.attempts >= MAX_ATTEMPTS:
            row.state = OutboxState.FAILED
            log.error("giving up on outbox row %s (%s to %s): %s", row.id, row.kind, row.person_id, result.error)
            await outcomes.report_failure(uow, env, row)
            return
        row.state = OutboxState.PENDING
        wait = dt.timedelta(seconds=result.retry_after) if result.retry_after else backoff(row.attempts)
        row.next_attempt_at = now + wait

    async def _reroute(self, uow: UnitOfWork, row: OutboxMessage, result: SendResult) -> SendResult:
        person = self.service.cfg.person(row.person_id) if row.person_id else None
        if person is None:
            return SendResult.failed(f"{result.error}, and no roster person to e-mail")
        log.warning("%s; sending outbox row %s to %s by e-mail instead", result.error, row.id, person.id)
        email_key = await outcomes.reroute_to_email(uow, self.service.env, row, person)
        return SendResult.sent({"rerouted": "email", "key": email_key})


RETRY_AFTER_FLOOR, RETRY_AFTER_CEILING = 1.0, 3600.0


def retry_after_seconds(value: str | None, now: dt.datetime | None = None) -> float | None:
    """An HTTP Retry-After header, in seconds or as an HTTP date, kept between 1 s and 1 h; None
    when absent or unreadable (the outbox's own backoff decides then). Slack, Teams and Graph alike."""
    if value is None or not str(value).strip():
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(str(value))
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        seconds = (when - (now or dt.datetime.now(dt.UTC))).total_seconds()
    return min(max(seconds, RETRY_AFTER_FLOOR), RETRY_AFTER_CEILING)
