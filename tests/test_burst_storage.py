"""What keeps panelbot fast under a burst, at the storage level: readers never wait for the writer on
SQLite, the Business Manager's Home costs a fixed number of queries, reminders go in batches, and a
person's Home is redrawn at most once per interval however many messages arrive."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import event, func, select

from bot.config import AppConfig
from bot.handlers.slack.sender import SlackSender
from bot.messages import Message
from bot.service import Service
from bot.states import ReminderState
from bot.views import home_data
from bot.worker import reminders
from bot.worker.outbox import Outgoing
from storage.models import Reminder
from tests.helpers import refer


async def test_a_reader_does_not_wait_for_a_writer(service: Service) -> None:
    await refer(service)
    writing, release = asyncio.Event(), asyncio.Event()

    async def long_write(uow: Any) -> None:
        await refer_in(uow)
        writing.set()
        await release.wait()

    async def refer_in(uow: Any) -> None:
        await uow.session.execute(select(func.count()).select_from(Reminder))
        uow.session.add(Reminder(key="held", kind="digest", due_at=service.clock.now(), state="pending", payload={}))
        await uow.session.flush()  # the writer holds its lock from here (BEGIN IMMEDIATE on SQLite)

    writer = asyncio.create_task(service.transact(long_write))
    await asyncio.wait_for(writing.wait(), 5)
    try:
        data = await asyncio.wait_for(service.read(lambda uow: home_data(uow, service.env, bm(service.cfg))), 5)
        assert len(data["cases"]) == 1  # the snapshot before the writer's commit
    finally:
        release.set()
        await writer


def bm(cfg: AppConfig) -> Any:
    person = cfg.person("bm")
    assert person is not None
    return person


async def count_queries(service: Service) -> tuple[int, int]:
    seen: list[str] = []

    def note(*_: Any) -> None:
        seen.append("q")

    event.listen(service.engine.sync_engine, "before_cursor_execute", note)
    try:
        data = await service.read(lambda uow: home_data(uow, service.env, bm(service.cfg)))
    finally:
        event.remove(service.engine.sync_engine, "before_cursor_execute", note)
    return len(seen), len(data["cases"])


async def test_the_business_managers_home_costs_the_same_queries_for_2_cases_or_12(service: Service) -> None:
    for _ in range(2):
        await refer(service)
    few, cases = await count_queries(service)
    assert cases == 2
    for _ in range(10):
        await refer(service)
    many, cases = await count_queries(service)
    assert cases == 12 and many == few
    data = await service.read(lambda uow: home_data(uow, service.env, bm(service.cfg)))
    assert all(c["next_deadline"] and c["next_what"] for c in data["cases"])  # each case's own next deadline


async def test_reminders_fire_in_batches_and_a_failing_one_is_rolled_back_alone(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = service.clock.now()

    async def ok(reminder: Reminder, uow: Any, env: Any) -> None:
        return None

    async def broken(reminder: Reminder, uow: Any, env: Any) -> None:
        uow.session.add(Reminder(key="side-effect", kind="ok", due_at=now, state="pending", payload={}))
        await uow.session.flush()
        raise RuntimeError("handler bug")

    monkeypatch.setitem(reminders.HANDLERS, "ok", ok)
    monkeypatch.setitem(reminders.HANDLERS, "broken", broken)

    async def seed(uow: Any) -> None:
        for i in range(250):
            kind = "broken" if i == 7 else "ok"
            uow.session.add(Reminder(key=f"r{i}", kind=kind, due_at=now, state="pending", payload={}))

    await service.transact(seed)
    commits: list[int] = []
    event.listen(service.engine.sync_engine, "commit", lambda *_: commits.append(1))
    fired = await reminders.fire_due(service, "test")
    assert len(fired) == 249 and len(commits) == 3  # 100 + 100 + 50, one transaction each

    def rows(uow: Any) -> Any:
        return uow.session.scalars(select(Reminder).order_by(Reminder.id))

    everything = list(await service.read(rows))
    assert not [r for r in everything if r.key == "side-effect"]  # the broken handler's writes were undone
    [failed] = [r for r in everything if r.kind == "broken"]
    assert failed.state == ReminderState.PENDING and failed.due_at == now + reminders.RETRY_AFTER
    assert {r.state for r in everything if r.kind == "ok"} == {ReminderState.DONE}


async def test_a_persons_home_is_redrawn_at_most_once_per_interval() -> None:
    drawn: list[float] = []

    async def publish(client: Any, user: str) -> None:
        drawn.append(asyncio.get_running_loop().time())

    class Client:
        async def chat_postMessage(self, **kw: Any) -> dict[str, str]:
            return {"channel": "D1", "ts": str(len(drawn))}

    sender = SlackSender(Client(), publish, home_interval=0.3)  # type: ignore[arg-type]
    for i in range(20):
        item = Outgoing(i, f"k{i}", "slack", "U0BM00001", "bm", "note", Message(kind="note", title="t", text="x"), None)
        assert (await sender.send(item)).ok
        await asyncio.sleep(0.01)
    await sender.idle()
    assert len(drawn) == 2  # the first at once, then one for everything that came during the interval
    assert drawn[1] - drawn[0] >= 0.29
