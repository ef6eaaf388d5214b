"""Unit of work: one transaction, committed whole or rolled back whole."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Any, TypeVar

from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from storage import audit_chain
from storage.db import ONE_AT_A_TIME, READ_ONLY
from storage.models import AuditEvent, OutboxMessage
from storage.notify import OUTBOX_NOTIFY_CHANNEL, OutboxSignal

T = TypeVar("T")
WRITTEN = "outbox_channels_written"  # Session.info: channels of the outbox rows this transaction inserted
SIGNAL = "outbox_signal"  # Session.info (from the sessionmaker): whom to tell after the commit


@event.listens_for(Session, "after_flush")
def _note_outbox_rows(session: Session, _context: object) -> None:
    """Remember which channels got new outbox rows (`session.new` still lists what was inserted)."""
    channels = {obj.channel for obj in session.new if isinstance(obj, OutboxMessage)}
    if channels:
        session.info.setdefault(WRITTEN, set()).update(channels)


class UnitOfWork:
    def __init__(self, sessions: async_sessionmaker, read_only: bool = False) -> None:
        self._sessions = sessions
        self.read_only = read_only
        self.session: AsyncSession
        # Outbox rows (e-mails asking a roster person to act) that get their links before commit.
        self.needs_links: list[Any] = []
        self._audit: list[AuditEvent] = []
        self._turn: asyncio.Lock | None = None  # an in-memory database's one connection, while we hold it

    def add_audit(self, event: AuditEvent) -> None:
        """Record an audit event; it joins the hash chain when this unit of work commits."""
        self._audit.append(event)

    @contextlib.asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """Part of the transaction that can fail on its own: rolled back to here, with the audit events
        and link requests it added, while the rest goes on (a batch of reminders, one failing)."""
        audit, links = len(self._audit), len(self.needs_links)
        try:
            async with self.session.begin_nested():
                yield
        except BaseException:
            del self._audit[audit:]
            del self.needs_links[links:]
            raise

    async def __aenter__(self) -> UnitOfWork:
        self.session = self._sessions()
        self._turn = self.session.info.get(ONE_AT_A_TIME)
        if self._turn is not None:
            await self._turn.acquire()
        try:
            await self.session.begin()
            if self.read_only:  # before the first statement: SQLite then begins without the write lock
                await self.session.connection(execution_options={READ_ONLY: True})
        except BaseException:
            await self._end()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc_type is None:
                await audit_chain.append(self.session, self._audit)
                await self._commit()
            else:
                await self.session.rollback()
        finally:
            await self._end()

    async def _end(self) -> None:
        try:
            await self.session.close()
        finally:
            if self._turn is not None:
                self._turn.release()

    async def _commit(self) -> None:
        """Commit; if outbox rows were written, tell delivery (NOTIFY, sent with the commit, on PostgreSQL)."""
        await self.session.flush()
        channels = self.session.info.pop(WRITTEN, None)
        if channels and self.is_postgres:
            payload = ",".join(sorted(channels))
            await self.session.execute(
                text("SELECT pg_notify(:name, :payload)"), {"name": OUTBOX_NOTIFY_CHANNEL, "payload": payload}
            )
        await self.session.commit()
        signal = self.session.info.get(SIGNAL)
        if channels and isinstance(signal, OutboxSignal):
            signal.fire(channels)

    @property
    def is_postgres(self) -> bool:
        return self.session.bind.dialect.name == "postgresql"


def is_retryable(exc: BaseException) -> bool:
    """A conflict another transaction caused: a unique key taken, a deadlock, a serialisation failure."""
    if isinstance(exc, IntegrityError):
        return True
    if isinstance(exc, DBAPIError):
        text = str(exc.orig).lower()
        return any(s in text for s in ("deadlock", "could not serialize", "database is locked"))
    return False


async def in_transaction(
    sessions: async_sessionmaker, work: Callable[[UnitOfWork], Awaitable[T]], attempts: int = 5, read_only: bool = False
) -> T:
    """Run `work` in a fresh unit of work, retrying when a concurrent transaction got there first."""
    for attempt in range(1, attempts + 1):
        try:
            async with UnitOfWork(sessions, read_only) as uow:
                return await work(uow)
        except Exception as exc:
            if attempt == attempts or not is_retryable(exc):
                raise
            await asyncio.sleep(0.01 * attempt)
    raise AssertionError("unreachable")
