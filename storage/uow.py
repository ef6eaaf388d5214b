"""Unit of work: one transaction, committed whole or rolled back whole."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import audit_chain
from storage.models import AuditEvent

T = TypeVar("T")


class UnitOfWork:
    def __init__(self, sessions: async_sessionmaker) -> None:
        self._sessions = sessions
        self.session: AsyncSession
        # Outbox rows (e-mails asking a roster person to act) that get their links before commit.
        self.needs_links: list[Any] = []
        self._audit: list[AuditEvent] = []

    def add_audit(self, event: AuditEvent) -> None:
        """Record an audit event; it joins the hash chain when this unit of work commits."""
        self._audit.append(event)

    async def __aenter__(self) -> UnitOfWork:
        self.session = self._sessions()
        await self.session.begin()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc_type is None:
                await audit_chain.append(self.session, self._audit)
                await self.session.commit()
            else:
                await self.session.rollback()
        finally:
            await self.session.close()

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
    sessions: async_sessionmaker, work: Callable[[UnitOfWork], Awaitable[T]], attempts: int = 5
) -> T:
    """Run `work` in a fresh unit of work, retrying when a concurrent transaction got there first."""
    for attempt in range(1, attempts + 1):
        try:
            async with UnitOfWork(sessions) as uow:
                return await work(uow)
        except Exception as exc:
            if attempt == attempts or not is_retryable(exc):
                raise
            await asyncio.sleep(0.01 * attempt)
    raise AssertionError("unreachable")
