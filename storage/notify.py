"""Telling delivery that outbox rows were committed: in this process at once, other replicas by NOTIFY.

`OutboxSignal` is called after a commit that wrote outbox rows, with their channels. On PostgreSQL
the same commit also carries `NOTIFY panelbot_outbox, 'slack,email'` (sent by the server only if the
transaction commits), and `listen` turns other processes' notifications into calls of the signal.
Neither is needed for correctness: a lane that was not woken still looks on the ticker's pass.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger("panelbot.notify")
OUTBOX_NOTIFY_CHANNEL = "panelbot_outbox"
RELISTEN_AFTER = 5.0  # seconds, after the listening connection was lost

Listener = Callable[[frozenset[str]], None]


class OutboxSignal:
    """Who wants to know, after a commit, which channels got new outbox rows."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        if listener not in self._listeners:
            self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def fire(self, channels: Iterable[str]) -> None:
        wanted = frozenset(channels)
        for listener in list(self._listeners):
            try:
                listener(wanted)
            except Exception:  # a listener's bug must not undo a commit's success for its caller
                log.exception("outbox listener failed")


def parse_payload(payload: str) -> frozenset[str]:
    return frozenset(c for c in payload.split(",") if c)


async def listen(engine: AsyncEngine, signal: OutboxSignal) -> None:
    """Until cancelled: LISTEN on PostgreSQL and fire `signal` for every notification (no-op on SQLite).
    A lost connection is reopened after a pause; the ticker covers the gap."""
    if engine.dialect.name != "postgresql":
        return
    while True:
        try:
            await _listen_once(engine, signal)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("outbox LISTEN lost (%s); listening again in %.0f s", exc, RELISTEN_AFTER)
        await asyncio.sleep(RELISTEN_AFTER)


async def _listen_once(engine: AsyncEngine, signal: OutboxSignal) -> None:
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.exec_driver_sql(f"LISTEN {OUTBOX_NOTIFY_CHANNEL}")
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        if hasattr(driver, "notifies"):  # psycopg 3
            async for note in driver.notifies():
                signal.fire(parse_payload(note.payload))
            return
        queue: asyncio.Queue[str] = asyncio.Queue()  # asyncpg
        await driver.add_listener(OUTBOX_NOTIFY_CHANNEL, lambda *args: queue.put_nowait(args[-1]))
        while True:
            signal.fire(parse_payload(await queue.get()))
