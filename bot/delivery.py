"""The delivery loop: claims outbox rows, hands each to its channel's sender, records the outcome.

A row is claimed with a lease (state `sending`, `next_attempt_at` = now + lease) in one short
transaction, sent outside any transaction, and settled in another. A sender that succeeded is
recorded at once, so a later retry never repeats it; a process that dies between sending and
recording leaves the row to be re-sent after the lease, the one window where a copy is possible.
Rows for a channel with no sender configured wait, pending, until one is.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import or_, select

from bot.config import Channel, Role
from bot.flows.common import Env, post
from bot.messages import Fact, Message
from bot.service import Service
from storage.models import Case, OutboxMessage
from storage.uow import UnitOfWork

log = logging.getLogger("panelbot.delivery")
LEASE = dt.timedelta(minutes=2)
MAX_ATTEMPTS = 12  # with the backoff below, about a day of trying before a row is given up
WAIT_FOR_ORIGINAL = dt.timedelta(seconds=5)


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

    @classmethod
    def sent(cls, ref: dict[str, Any] | None = None) -> SendResult:
        return cls(ok=True, external_ref=ref)

    @classmethod
    def retry(cls, error: str, after: float | None = None) -> SendResult:
        return cls(ok=False, retry_after=after, error=error)

    @classmethod
    def failed(cls, error: str) -> SendResult:
        return cls(ok=False, permanent=True, error=error)


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

    async def run_once(self, limit: int = 50) -> int:
        """Send what is due; returns how many rows were attempted."""
        items = await self.service.read(lambda uow: self._claim(uow, limit))
        for item in items:
            try:
                result = await self.senders[item.channel].send(item)
            except Exception as exc:  # a sender bug must not lose the row
                log.exception("sender for %s raised on outbox row %s", item.channel, item.id)
                result = SendResult.retry(f"{type(exc).__name__}: {exc}")
            await self.service.read(lambda uow, i=item, r=result: self._settle(uow, i, r))
        return len(items)

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
                or_(OutboxMessage.state == "pending", OutboxMessage.state == "sending"),
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
            message = Message.model_validate(row.payload)
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
        if original is None or original.state == "failed":
            return None, True
        if original.state == "sent":
            return original.external_ref, True
        return None, False

    async def _settle(self, uow: UnitOfWork, item: Outgoing, result: SendResult) -> None:
        row = await uow.session.get(OutboxMessage, item.id, with_for_update=True)
        if row is None or row.state != "sending" or row.claimed_by != self.worker:
            return  # the lease ran out and another worker took it over
        now = self.service.clock.now()
        if result.ok:
            row.state, row.sent_at, row.external_ref, row.last_error = "sent", now, result.external_ref, None
            return
        row.last_error = result.error
        if result.permanent or row.attempts >= MAX_ATTEMPTS:
            row.state = "failed"
            log.error("giving up on outbox row %s (%s to %s): %s", row.id, row.kind, row.address, result.error)
            await _tell_business_manager(uow, self.service.env, row)
            return
        row.state = "pending"
        wait = dt.timedelta(seconds=result.retry_after) if result.retry_after else backoff(row.attempts)
        row.next_attempt_at = now + wait


async def _tell_business_manager(uow: UnitOfWork, env: Env, row: OutboxMessage) -> None:
    """A message that cannot be delivered is reported to the Business Manager on another channel."""
    if row.kind == "delivery_failed":
        return  # never report a failed report: that way lies a loop
    ref = None
    if row.case_id is not None:
        case = await uow.session.get(Case, row.case_id)
        ref = case.ref if case else None
    message = Message(
        kind="delivery_failed",
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


def other_channel(person: Any, failed: str) -> str | None:
    """The person's own channel if it is not the one that failed, else another they have."""
    options = [
        person.channel.value,
        Channel.SLACK.value if person.slack else None,
        Channel.TEAMS.value if person.teams else None,
        Channel.EMAIL.value,
    ]
    return next((c for c in options if c and c != failed), None)
