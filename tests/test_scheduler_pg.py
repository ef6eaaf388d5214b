"""Many tickers, one PostgreSQL: every due reminder fires once and every message goes once.

Two `serve`-style processes (each its own engine, its own APScheduler ticker, its own senders) and
two `panelbot tick` processes race through hundreds of due reminders. The database decides who
fires what (`FOR UPDATE SKIP LOCKED`); the tests check that nothing was fired or sent twice and
nothing was left behind.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import multiprocessing
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.clock import ManualClock
from bot.config import load_config
from bot.flows.commands import RegisterReferral
from bot.flows.screening import panel as screening
from bot.service import Service
from bot.worker.outbox import Delivery, RecordingSender
from bot.worker.ticker import Ticker, TickResult, start_scheduler
from storage.migrate import upgrade
from storage.models import Obligation, OutboxMessage, Reminder
from tests.conftest import PG_URL, ROOT, pg_schema_url

pytestmark = pytest.mark.skipif(
    not PG_URL,
    reason="needs PostgreSQL: set PANELBOT_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test",
)

N = 300
NOW = dt.datetime(2027, 1, 11, 10, 0, tzinfo=dt.UTC)  # Mon 11 Jan 2027 10:00 London: working hours
CHANNELS = ("slack", "teams", "email", "calendar")


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from pg_schema_url()


async def seed(url: str, n: int = N) -> list[int]:
    """A case, and `n` overdue obligations each with one escalation due: one message each."""
    service = Service.create(load_config(ROOT / "app.yaml"), ManualClock(NOW), url)
    await upgrade(service.engine)
    cmd = RegisterReferral(by="bm", referrer={"name": "A Referrer"}, panel_summary="A load test case, no details.")
    case = await service.run(screening.register_referral, cmd)

    async def work(uow: Any) -> list[int]:
        obs = [
            Obligation(
                case_id=case.id,
                key=f"load:{i}",
                kind="task",
                what=f"Load task {i}",
                owner_role="business_manager",
                due_at=NOW - dt.timedelta(days=1),
                state="open",
            )
            for i in range(n)
        ]
        uow.session.add_all(obs)
        await uow.session.flush()
        reminders = [
            Reminder(
                key=f"ladder:{ob.id}:0",
                kind="escalation",
                due_at=NOW - dt.timedelta(hours=1),
                case_id=case.id,
                obligation_id=ob.id,
                payload={"rank": 0, "to": ["owner", "business_manager"]},
                state="pending",
            )
            for ob in obs
        ]
        uow.session.add_all(reminders)
        await uow.session.flush()
        return [r.id for r in reminders]

    try:
        return await service.read(work)
    finally:
        await service.close()


async def state(url: str) -> dict[str, Any]:
    service = Service.create(load_config(ROOT / "app.yaml"), ManualClock(NOW), url)

    async def work(uow: Any) -> dict[str, Any]:
        due = await uow.session.execute(
            select(Reminder.id, Reminder.state, Reminder.outcome, Reminder.claimed_by).where(Reminder.due_at <= NOW)
        )
        outbox = await uow.session.execute(
            select(OutboxMessage.key, OutboxMessage.state, OutboxMessage.attempts).where(
                OutboxMessage.key.like("ladder:%")
            )
        )
        return {"reminders": [tuple(r) for r in due], "outbox": [tuple(r) for r in outbox]}

    try:
        return await service.read(work)
    finally:
        await service.close()


# --- two serve-style schedulers, in two processes --------------------------------------------


class RecordingTicker(Ticker):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fired: list[int] = []

    async def tick(self) -> TickResult:
        result = await super().tick()
        self.fired += [r.id for r in result.fired]
        return result


async def settled(service: Service) -> bool:
    async def work(uow: Any) -> bool:
        due = select(func.count()).select_from(Reminder).where(Reminder.state == "pending", Reminder.due_at <= NOW)
        unsent = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.state != "sent")
        return (await uow.session.scalar(due)) == 0 and (await uow.session.scalar(unsent)) == 0

    return await service.read(work)


async def serve_like(url: str, name: str, barrier: Any, out: str) -> None:
    service = Service.create(load_config(ROOT / "app.yaml"), ManualClock(NOW), url)
    sender = RecordingSender()
    ticker = RecordingTicker(service, Delivery(service, dict.fromkeys(CHANNELS, sender), name), name)
    barrier.wait()  # both processes start ticking together
    scheduler = start_scheduler(ticker, interval=0.05)
    give_up = time.monotonic() + 60
    while time.monotonic() < give_up and not await settled(service):
        await asyncio.sleep(0.1)
    await ticker.stop()  # first: the executor's shutdown cancels a tick in progress
    scheduler.shutdown(wait=False)
    await service.close()
    Path(out).write_text(json.dumps({"fired": ticker.fired, "sent": [i.key for i in sender.sent]}))


def serve_process(url: str, name: str, barrier: Any, out: str) -> None:
    asyncio.run(serve_like(url, name, barrier, out))


async def test_two_schedulers_in_two_processes_send_each_reminder_once(pg_url: str, tmp_path: Path):
    ids = await seed(pg_url)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    outs = [str(tmp_path / f"replica-{i}.json") for i in range(2)]
    procs = [ctx.Process(target=serve_process, args=(pg_url, f"replica-{i}", barrier, outs[i])) for i in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        await asyncio.to_thread(p.join, 120)
    assert [p.exitcode for p in procs] == [0, 0]
    runs = [json.loads(Path(o).read_text()) for o in outs]

    fired = [i for r in runs for i in r["fired"]]
    assert Counter(fired) == Counter(ids)  # every reminder fired, none twice
    assert all(r["fired"] for r in runs), "both replicas should have fired some: they ran together"
    sent = Counter(k for r in runs for k in r["sent"])
    assert set(sent.values()) == {1}  # nothing sent twice (the referral's own messages included)
    assert sum(k.startswith("ladder:") for k in sent) == N  # every chase sent
    db = await state(pg_url)
    assert {(s, o) for _, s, o, _ in db["reminders"]} == {("done", "sent")}
    assert {w for *_, w in db["reminders"]} == {"replica-0", "replica-1"}
    assert len(db["outbox"]) == N and {(s, a) for _, s, a in db["outbox"]} == {("sent", 1)}


# --- two `panelbot tick` processes ------------------------------------------------------------


def test_two_tick_commands_fire_each_reminder_once(pg_url: str):
    ids = asyncio.run(seed(pg_url, 2 * N))
    env = {**os.environ, "PANELBOT_DATABASE_URL": pg_url}
    panelbot = str(Path(sys.executable).with_name("panelbot"))
    args = [panelbot, "tick", "--now", NOW.isoformat(), "--json", "--config", str(ROOT / "app.yaml")]
    procs = [subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err.decode()[-2000:] for _, err in outputs]
    runs = [json.loads(out) for out, _ in outputs]
    fired = [r["id"] for run in runs for r in run["fired"]]
    assert Counter(fired) == Counter(ids)
    assert {r["outcome"] for run in runs for r in run["fired"]} == {"sent"}
    db = asyncio.run(state(pg_url))
    assert len(db["outbox"]) == 2 * N  # one message per reminder, waiting for a sender
    print({run["worker"]: len(run["fired"]) for run in runs})
