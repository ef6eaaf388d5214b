"""Runs flows in transactions: the one door every handler, the CLI, the scheduler and `simulate` use."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from bot import logs
from bot.clock import Clock
from bot.config import AppConfig
from bot.flows.common import PROCESS_LINK_KEY, Env, Refused, audit
from bot.flows.links import attach_links
from bot.sealing import Keyring
from storage.db import make_engine, make_sessionmaker
from storage.notify import OutboxSignal
from storage.uow import SIGNAL, UnitOfWork, in_transaction

T = TypeVar("T")
C = TypeVar("C", bound=BaseModel)
log = logging.getLogger("panelbot")


@dataclass
class Service:
    cfg: AppConfig
    clock: Clock
    engine: AsyncEngine
    sessions: async_sessionmaker
    link_key: bytes = PROCESS_LINK_KEY  # PANELBOT_LINK_KEY; see bot/flows/links.py
    operator: str | None = None  # the OS user running a CLI command: every audit row records it
    data_keys: Keyring | None = None  # PANELBOT_DATA_KEY; see bot/sealing.py
    outbox_signal: OutboxSignal = field(default_factory=OutboxSignal)  # told after commits that wrote outbox rows

    @classmethod
    def create(
        cls,
        cfg: AppConfig,
        clock: Clock,
        database_url: str,
        link_key: bytes | None = None,
        operator: str | None = None,
        data_keys: Keyring | None = None,
    ) -> Service:
        engine = make_engine(database_url)
        signal = OutboxSignal()
        sessions = make_sessionmaker(engine, info={SIGNAL: signal})
        key = link_key or PROCESS_LINK_KEY
        return cls(cfg, clock, engine, sessions, key, operator, data_keys=data_keys, outbox_signal=signal)

    @property
    def env(self) -> Env:
        return Env(self.cfg, self.clock, self.link_key, self.operator, self.data_keys)

    def _with_links(self, env: Env, work: Callable[[UnitOfWork], Awaitable[T]]) -> Callable[[UnitOfWork], Awaitable[T]]:
        """The work, then links for the e-mails it queued that ask someone to act, in its transaction."""

        async def run(uow: UnitOfWork) -> T:
            result = await work(uow)
            if uow.needs_links:
                await attach_links(uow, env, uow.needs_links)
            return result

        return run

    async def run(self, flow: Callable[[C, UnitOfWork, Env], Awaitable[T]], cmd: C) -> T:
        """Carry out a command. A refusal rolls the flow back, is audited, and is raised to the caller."""
        env, actor, ref, name = self.env, getattr(cmd, "by", None), getattr(cmd, "ref", None), type(cmd).__name__
        with logs.bound(actor=actor, case=ref if isinstance(ref, str) else None):
            try:
                result = await in_transaction(self.sessions, self._with_links(env, lambda uow: flow(cmd, uow, env)))
            except Refused as refusal:
                await self.audit_refusal(refusal, actor or "unknown", name)
                raise
            made = getattr(result, "ref", None)  # a new case's reference
            with logs.bound(case=made if isinstance(made, str) else None):
                log.info("%s by %s", name, actor or "-", extra={"event": "command.done", "command": name})
            return result

    async def audit_refusal(self, refusal: Refused, actor: str, what: str) -> None:
        log.warning(
            "refused %s by %s: %s", what, actor, refusal.message, extra={"event": "command.refused", "command": what}
        )
        env = self.env

        async def write(uow: UnitOfWork) -> None:
            audit(uow, env, actor, "refused", None, command=what, reason=refusal.message, **refusal.details)

        await in_transaction(self.sessions, write)

    async def transact(self, work: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        """Work that writes outside a command (the workers' claims, a Teams conversation reference):
        committed as a whole, or rolled back."""
        return await in_transaction(self.sessions, self._with_links(self.env, work))

    async def read(self, work: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        """Work that only reads (views): on SQLite a plain BEGIN, so a reader never takes or waits for
        the write lock (WAL gives it a snapshot); on PostgreSQL the same as `transact`."""
        return await in_transaction(self.sessions, work, read_only=True)

    async def close(self) -> None:
        await self.engine.dispose()
