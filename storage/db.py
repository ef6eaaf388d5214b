"""Engines for the case store: SQLite (embedded default) or PostgreSQL, both async."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import StaticPool

from storage.defaults import DEFAULT_URL

READ_ONLY = "panelbot_read_only"  # a connection execution option: this transaction only reads


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def make_engine(url: str = DEFAULT_URL, **kwargs: Any) -> AsyncEngine:
    kwargs.setdefault("hide_parameters", True)  # an error in a log never shows a row's values (a child's details)
    if not is_sqlite(url):
        return create_async_engine(url, pool_pre_ping=True, **kwargs)
    in_memory = make_url(url).database in (None, "", ":memory:")
    if in_memory:
        kwargs.setdefault("poolclass", StaticPool)
    engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)
    _serialise_sqlite_writers(engine, wal=not in_memory)
    return engine


def _serialise_sqlite_writers(engine: AsyncEngine, wal: bool) -> None:
    """WAL, foreign keys, and BEGIN IMMEDIATE for transactions that may write.

    pysqlite's default deferred transactions let two writers read the same state and then race for
    the lock; BEGIN IMMEDIATE takes the write lock first, so a vote and the tally that follows it
    see everything committed before them (the same job `SELECT … FOR UPDATE` does on PostgreSQL).
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if wal:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A reader (`Service.read`) takes no lock: in WAL mode it reads a snapshot while a writer writes.
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")


ONE_AT_A_TIME = "one_transaction_at_a_time"  # Session.info: a lock, where the engine has a single connection


def make_sessionmaker(engine: AsyncEngine, info: dict[str, Any] | None = None) -> async_sessionmaker:
    """Sessions for the unit of work; `info` is copied into every session's `Session.info`. An
    in-memory SQLite database is one shared connection, so its transactions take turns."""
    info = dict(info or {})
    if isinstance(engine.pool, StaticPool):
        info[ONE_AT_A_TIME] = asyncio.Lock()
    return async_sessionmaker(engine, expire_on_commit=False, info=info)
