"""How fast due reminders are claimed and fired, and how fast their messages are delivered.

Run by hand:  python bench/bench_reminders.py [--n 1000] [--workers 1 2 4] [--pg postgresql+psycopg://…]
Seeds N overdue obligations, each with one escalation due (one message to the Business Manager),
all due at the same instant (tied) and, on PostgreSQL, also spread a second apart, prints the claim's
EXPLAIN, then times `timers.fire_due` (claims batches of 100 with FOR UPDATE SKIP LOCKED, runs each
chase handler in a savepoint, marks them done: one transaction per batch) with 1..k workers, each on
its own engine, and the delivery loop with
a recording sender. Every run checks that each reminder fired once and each message exists once.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import func, select

from bot.clock import ManualClock
from bot.config import load_config
from bot.flows.commands import RegisterReferral
from bot.flows.screening import panel as screening
from bot.service import Service
from bot.worker import reminders as timers
from bot.worker.outbox import Delivery, RecordingSender
from storage.migrate import upgrade
from storage.models import Obligation, OutboxMessage, Reminder

ROOT = Path(__file__).resolve().parent.parent
NOW = dt.datetime(2027, 1, 11, 10, 0, tzinfo=dt.UTC)  # a Monday morning: working hours
CHANNELS = ("slack", "teams", "email", "calendar")


def make_service(url: str) -> Service:
    return Service.create(load_config(ROOT / "app.yaml"), ManualClock(NOW), url)


async def seed(url: str, n: int, spread: bool = False) -> None:
    service = make_service(url)
    await upgrade(service.engine)
    cmd = RegisterReferral(by="bm", referrer={"name": "Bench"}, panel_summary="A benchmark case with enough words.")
    case = await service.run(screening.register_referral, cmd)

    async def work(uow: Any) -> None:
        obs = [
            Obligation(
                case_id=case.id,
                key=f"bench:{i}",
                kind="task",
                what=f"Bench task {i}",
                owner_role="business_manager",
                due_at=NOW - dt.timedelta(days=1),
                state="open",
            )
            for i in range(n)
        ]
        uow.session.add_all(obs)
        await uow.session.flush()
        payload = {"rank": 0, "to": ["owner", "business_manager"]}
        uow.session.add_all(
            Reminder(
                key=f"ladder:{ob.id}:0",
                kind="escalation",
                due_at=NOW - dt.timedelta(hours=1, seconds=(n - i) if spread else 0),
                case_id=case.id,
                obligation_id=ob.id,
                payload=payload,
                state="pending",
            )
            for i, ob in enumerate(obs)
        )

    try:
        await service.transact(work)
    finally:
        await service.close()


async def fire(url: str, workers: int) -> tuple[float, list[int]]:
    services = [make_service(url) for _ in range(workers)]
    try:
        start = time.perf_counter()
        fired = await asyncio.gather(*(timers.fire_due(s, f"w{i}", limit=10**6) for i, s in enumerate(services)))
        return time.perf_counter() - start, [len(f) for f in fired]
    finally:
        for s in services:
            await s.close()


async def deliver(url: str) -> tuple[float, int]:
    service = make_service(url)
    sender = RecordingSender()
    try:
        start = time.perf_counter()
        await Delivery(service, dict.fromkeys(CHANNELS, sender), "bench").drain(rounds=10**6)
        return time.perf_counter() - start, len(sender.sent)
    finally:
        await service.close()


async def check(url: str, n: int) -> None:
    service = make_service(url)

    async def work(uow: Any) -> tuple[int, int]:
        done = (
            select(func.count()).select_from(Reminder).where(Reminder.key.like("ladder:%"), Reminder.outcome == "sent")
        )
        rows = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.key.like("ladder:%"))
        return await uow.session.scalar(done), await uow.session.scalar(rows)

    try:
        fired, messages = await service.read(work)
    finally:
        await service.close()
    assert (fired, messages) == (n, n), f"expected {n} fired and {n} messages, got {fired} and {messages}"


CLAIM = (
    "SELECT * FROM reminders WHERE state = 'pending' AND due_at <= now() "
    "ORDER BY due_at, id LIMIT 100 FOR UPDATE SKIP LOCKED"
)


async def explain(url: str) -> None:
    """The plan PostgreSQL uses for the batch claim (`bot/worker/reminders.py`), after ANALYZE."""
    service = make_service(url)
    try:
        await service.transact(lambda uow: uow.session.execute(sa.text("ANALYZE reminders")))
        rows = await service.read(lambda uow: uow.session.execute(sa.text("EXPLAIN (COSTS OFF) " + CLAIM)))
        print("EXPLAIN " + CLAIM)
        for (line,) in rows:
            print("    " + line)
    finally:
        await service.close()


async def bench(backend: str, url_for: Any, n: int, workers: list[int], spreads: tuple[bool, ...] = (False,)) -> None:
    for spread in spreads:
        for k in workers:
            url = url_for()
            await seed(url, n, spread)
            if backend == "postgresql" and k == workers[0]:
                await explain(url)
            seconds, split = await fire(url, k)
            await check(url, n)
            rate, each = n / seconds, seconds / n * 1000
            due = "spread" if spread else "tied  "
            print(
                f"{backend:10} fire {due} n={n:5} workers={k}  {seconds:6.2f} s  {rate:7.0f}/s  {each:5.2f} ms each"
                f"  {split}"
            )
            if spread or k != workers[0]:
                continue
            seconds, sent = await deliver(url)
            print(f"{backend:10} deliver n={sent:5} workers=1  {seconds:6.2f} s  {sent / seconds:7.0f}/s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--pg", help="PostgreSQL URL (postgresql+psycopg://…) to benchmark as well")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        urls = (f"sqlite+aiosqlite:///{tmp}/bench{i}.db" for i in range(100))
        asyncio.run(bench("sqlite", lambda: next(urls), args.n, args.workers))
    if not args.pg:
        return
    admin = sa.create_engine(args.pg, isolation_level="AUTOCOMMIT")
    schemas: list[str] = []

    def pg_url() -> str:
        schemas.append(f"bench_{uuid.uuid4().hex[:8]}")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schemas[-1]}"'))
        return f"{args.pg}?options=-csearch_path%3D{schemas[-1]}"

    try:
        asyncio.run(bench("postgresql", pg_url, args.n, args.workers, (False, True)))
    finally:
        with admin.connect() as conn:
            for schema in schemas:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))


if __name__ == "__main__":
    main()
