"""The audit log as a hash chain: each event carries its predecessor's hash and the hash of its own
canonical content together with that predecessor, so changing, removing or reordering any event
breaks every hash after it.

Appending is serialised: the one-row `audit_chain_head` is locked `FOR UPDATE` on PostgreSQL (SQLite
already serialises writers with BEGIN IMMEDIATE), and the unit of work appends its events last,
just before it commits, so the lock is held for as short a time as possible and always taken last.
The migration that introduced the chain (0004) backfills with these same functions.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AuditChainHead, AuditEvent

GENESIS = "0" * 64


def canonical(at: dt.datetime, actor: str, action: str, case_id: int | None, details: dict[str, Any]) -> str:
    """One event's content as one string: sorted keys, UTC time to the microsecond, no whitespace."""
    moment = at.astimezone(dt.UTC).isoformat(timespec="microseconds")
    body = {"at": moment, "actor": actor, "action": action, "case_id": case_id, "details": details or {}}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def chain_hash(prev_hash: str, content: str) -> str:
    return hashlib.sha256(f"{prev_hash}\n{content}".encode()).hexdigest()


def event_hash(prev_hash: str, event: AuditEvent) -> str:
    return chain_hash(prev_hash, canonical(event.at, event.actor, event.action, event.case_id, event.details))


async def append(session: AsyncSession, events: Iterable[AuditEvent]) -> None:
    """Chain `events` after the current head, in order, and move the head (in the caller's transaction)."""
    events = list(events)
    if not events:
        return
    head = await session.scalar(select(AuditChainHead).where(AuditChainHead.id == 1).with_for_update())
    if head is None:  # an empty store whose migration did not seed the head; the first writer seeds it
        head = AuditChainHead(id=1, hash=GENESIS, events=0)
        session.add(head)
    prev = head.hash
    for event in events:
        event.prev_hash = prev
        event.hash = prev = event_hash(prev, event)
        session.add(event)
    head.hash = prev
    head.events += len(events)
    await session.flush()


@dataclass(frozen=True)
class Verdict:
    checked: int
    head: str
    broken: AuditEvent | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


async def verify(session: AsyncSession) -> Verdict:
    """Walk the whole chain in order; stop at the first event whose links or content do not add up."""
    prev, checked = GENESIS, 0
    async for event in _events(session):
        if event.prev_hash != prev:
            return Verdict(
                checked, prev, event, "its predecessor's hash does not match (an event before it is missing)"
            )
        if event.hash != event_hash(prev, event):
            return Verdict(checked, prev, event, "its content does not match its hash (it was changed)")
        prev, checked = event.hash, checked + 1
    head = await session.get(AuditChainHead, 1)
    if head is not None and (head.hash != prev or head.events != checked):
        return Verdict(
            checked,
            prev,
            None,
            f"the chain head records {head.events} events ending {head.hash[:12]}…, "
            f"the log holds {checked} ending {prev[:12]}… (events at the end were removed)",
        )
    return Verdict(checked, prev)


async def _events(session: AsyncSession) -> AsyncIterator[AuditEvent]:
    result = await session.stream_scalars(select(AuditEvent).order_by(AuditEvent.id).execution_options(yield_per=500))
    async for event in result:
        yield event


async def head_hash(session: AsyncSession) -> str:
    head = await session.get(AuditChainHead, 1)
    return head.hash if head is not None else GENESIS
