"""Runs flows in transactions: the one door every handler, the CLI, the scheduler and `simulate` use."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from bot.clock import Clock
from bot.config import AppConfig
from bot.flows.common import Env, Refused, audit
from storage.db import make_engine, make_sessionmaker
from storage.uow import UnitOfWork, in_transaction

T = TypeVar("T")
C = TypeVar("C", bound=BaseModel)
log = logging.getLogger("panelbot")


@dataclass
class Service:
    cfg: AppConfig
    clock: Clock
    engine: AsyncEngine
    sessions: async_sessionmaker

    @classmethod
    def create(cls, cfg: AppConfig, clock: Clock, database_url: str) -> Service:
        engine = make_engine(database_url)
        return cls(cfg, clock, engine, make_sessionmaker(engine))

    @property
    def env(self) -> Env:
        return Env(self.cfg, self.clock)

    async def run(self, flow: Callable[[C, UnitOfWork, Env], Awaitable[T]], cmd: C) -> T:
        """Carry out a command. A refusal rolls the flow back, is audited, and is raised to the caller."""
        env = self.env
        try:
            return await in_transaction(self.sessions, lambda uow: flow(cmd, uow, env))
        except Refused as refusal:
            await self.audit_refusal(refusal, getattr(cmd, "by", "unknown"), type(cmd).__name__)
            raise

    async def audit_refusal(self, refusal: Refused, actor: str, what: str) -> None:
        log.warning("refused %s by %s: %s", what, actor, refusal.message)
        env = self.env

        async def write(uow: UnitOfWork) -> None:
            audit(uow, env, actor, "refused", None, command=what, reason=refusal.message, **refusal.details)

        await in_transaction(self.sessions, write)

    async def transact(self, work: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        """Work that writes outside a command (the workers' claims, a Teams conversation reference):
        committed as a whole, or rolled back."""
        return await in_transaction(self.sessions, work)

    async def read(self, work: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        """Work that only reads (views). Today the same transaction as `transact`; kept apart so a
        reader never needs a writer's lock."""
        return await in_transaction(self.sessions, work)

    async def close(self) -> None:
        await self.engine.dispose()
