"""The outbox worker: claims outbox rows, hands each to its channel's sender, records the outcome.

A row is claimed with a lease (state `sending`, `next_attempt_at` = now + lease) in one short
transaction, sent outside any transaction, and settled in another. A sender that succeeded is
recorded at once, so a later retry never repeats it; a process that dies between sending and
recording leaves the row to be re-sent after the lease, the one window where a copy is possible.
Rows for a channel with no sender configured wait, pending, until one is.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import time
from collections.abc import Callable, Mapping
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


class Delivery:
    def __init__(self, service: Service, senders: Mapping[str, Sender], worker: str = "local") -> None:
        self.service = service
        self.senders = dict(senders)
        self.worker = worker
        self.last_run_at: float | None = None  # monotonic; the heartbeat /readyz reads
        self.stopping = False  # set on shutdown: finish the send in flight, start no other
        self.in_flight: int | None = None  # the row being sent now

    async def run_once(self, limit: int = 50) -> int:
        """Send what is due; returns how many rows were attempted."""
        self.last_run_at = time.monotonic()
        items = await self.service.transact(lambda uow: self._claim(uow, limit))
        for item in items:
            if self.stopping:
                break  # the rest stay leased to this worker until `release` hands them back
            self.in_flight = item.id
            try:
                result = await self.senders[item.channel].send(item)
            except Exception as exc:  # a sender bug must not lose the row
                log.exception("sender for %s raised on outbox row %s", item.channel, item.id)
                result = SendResult.retry(f"{type(exc).__name__}: {exc}")
            await self.service.transact(lambda uow, i=item, r=result: self._settle(uow, i, r))
            self.in_flight = None
        return len(items)

    async def release(self) -> int:
        """On shutdown: hand back the rows this worker holds, for the next worker. Rows claimed but not
        sent are due at once; a send cut short may still land, so its row waits `IN_DOUBT` and keeps
        its attempt count: the next attempt is a retry, and the Slack sender looks for it before posting."""
        now = self.service.clock.now()

        async def work(uow: UnitOfWork) -> int:
            rows = await uow.session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.state == OutboxState.SENDING, OutboxMessage.claimed_by == self.worker)
                .with_for_update()
            )
            released = 0
            for row in rows:
                row.state, row.claimed_by = OutboxState.PENDING, None
                row.next_attempt_at = now + IN_DOUBT if row.id == self.in_flight else now
                released += 1
            return released

        return await self.service.transact(work)

    async def drain(self, rounds: int = 100) -> None:
        """Send until nothing is due now (tests, `simulate`, `tick`)."""
        for _ in range(rounds):
            if not await self.run_once():
                return

    async def _claim(self, uow: UnitOfWork, limit: int) -> list[Outgoing]:
        now = self.service.clock.now()
        rows = await uow.session.scalars(
            select(OutboxMessage)
            .where(
                OutboxMessage.channel.in_(self.senders),
                or_(OutboxMessage.state == OutboxState.PENDING, OutboxMessage.state == OutboxState.SENDING),
                OutboxMessage.next_attempt_at <= now,
            )
            .order_by(OutboxMessage.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        items = []
        for row in rows:
            replaces, ready = await self._original_ref(uow, row)
            if not ready:
                row.next_attempt_at = now + WAIT_FOR_ORIGINAL
                continue
            row.state, row.claimed_by, row.next_attempt_at = "sending", self.worker, now + LEASE
            row.attempts += 1
            message = await fill_urls(uow, self.service.env, Message.model_validate(row.payload))
            items.append(
                Outgoing(
                    row.id, row.key, row.channel, row.address, row.person_id, row.kind, message, replaces, row.attempts
                )
            )
        return items

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
        if row is None or row.state != OutboxState.SENDING or row.claimed_by != self.worker:
            return  # the lease ran out and another worker took it over
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
