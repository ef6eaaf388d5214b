"""The chase ladder: quiet hours, and after downtime one message per person per obligation, once."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from bot.config import AppConfig, Chase, ChaseStep, Role
from bot.flows.common import Env
from bot.flows.timelines.chasing import open_obligation, rung_time
from bot.service import Service
from bot.worker import reminders as timers
from bot.worker.outbox import Delivery
from bot.worker.ticker import Ticker, start_scheduler
from storage.migrate import upgrade
from storage.models import Case
from tests.helpers import refer
from tests.timeline_support import CHANNELS, Run, TimedSender, london, rapid_review

LADDER = Chase(
    ladder=[
        ChaseStep(kind="chase", working_days=0, at=dt.time(7, 0)),  # before working hours
        ChaseStep(kind="chase", working_days=-1, at=dt.time(20, 0)),  # the evening before
        ChaseStep(kind="escalation", working_days=1, to=["owner", "business_manager"]),  # due time: 17:00
    ],
    digest_at=None,
)


@pytest.fixture
async def quiet(cfg: AppConfig, clock, db_url: str) -> AsyncIterator[Service]:
    svc = Service.create(cfg.model_copy(update={"chase": LADDER}), clock, db_url)
    await upgrade(svc.engine)
    yield svc
    await svc.close()


async def owe(service: Service, ref: str, due: dt.datetime) -> None:
    """A Business Manager obligation on the case, due at `due`."""

    async def work(uow) -> None:
        from sqlalchemy import select

        case = await uow.session.scalar(select(Case).where(Case.ref == ref))
        await open_obligation(
            uow, service.env, case, key="task", kind="task", what="A task", owner_role=Role.BUSINESS_MANAGER, due_at=due
        )

    await service.read(work)


def test_rungs_wait_for_working_hours_unless_the_due_time_comes_first(cfg: AppConfig, clock):
    env = Env(cfg.model_copy(update={"chase": LADDER}), clock)
    due = london(2027, 1, 4, 17, 0)  # Mon 4 Jan; Fri 1 Jan is New Year's Day
    before, evening, overdue = LADDER.ladder
    assert rung_time(env, due, before) == london(2027, 1, 4, 9, 0)  # 07:00 waits until 09:00
    assert rung_time(env, due, evening) == london(2027, 1, 4, 9, 0)  # Thu 31 Dec 20:00: Mon 09:00
    assert rung_time(env, due, overdue) == london(2027, 1, 6, 9, 0)  # Tue 17:00 is after hours: Wed
    early = london(2027, 1, 4, 8, 0)  # due before the working day starts: waiting would be too late
    assert rung_time(env, early, before) == london(2027, 1, 4, 7, 0)


async def test_quiet_hours_hold_rungs_and_collapse_those_that_meet(quiet: Service):
    run = Run(quiet)
    case = await refer(quiet)
    await owe(quiet, case.ref, london(2027, 1, 4, 17, 0))
    await run.until(london(2027, 1, 8, 17, 0))
    task = [c for c in await run.chases() if c[2] == "task"]
    # Both chase rungs land on Mon 09:00: one message. The escalation waits for Wed 09:00.
    assert task == [
        ("Mon 04 Jan 09:00", "chase", "task", "bm"),
        ("Wed 06 Jan 09:00", "escalation", "task", "bm"),
    ]
    outcomes = Counter(
        r.outcome for r in await run.reminders() if r.obligation_id and r.payload.get("rank") is not None
    )
    assert outcomes["superseded"] >= 1


async def test_a_rung_goes_early_when_the_due_time_is_before_working_hours(quiet: Service):
    run = Run(quiet)
    case = await refer(quiet)
    await owe(quiet, case.ref, london(2026, 12, 22, 8, 0))  # Tue 08:00
    await run.until(london(2026, 12, 22, 12, 0))
    # Waiting for 09:00 would pass the deadline, so both rungs go at their own (quiet) times.
    assert [c for c in await run.chases() if c[2] == "task"] == [
        ("Mon 21 Dec 20:00", "chase", "task", "bm"),
        ("Tue 22 Dec 07:00", "chase", "task", "bm"),
    ]


async def test_after_downtime_each_person_hears_once_per_obligation(service: Service, db_url: str):
    run = Run(service)
    ref = await rapid_review(run, london(2026, 12, 22, 10, 0))
    await run.until(london(2027, 1, 5, 12, 0))
    before = len(run.sender.sent)

    # Down from Tue 5 Jan 12:00. Brought back at 03:00 on Saturday: nothing is sent at night.
    run.clock.set(london(2027, 1, 9, 3, 0))
    restarted = Service.create(service.cfg, run.clock, db_url)
    sender = TimedSender(run.clock)
    ticker = Ticker(restarted, Delivery(restarted, dict.fromkeys(CHANNELS, sender), "replica"), "replica")
    try:
        result = await ticker.tick()
        assert result.fired and not sender.sent
        assert {r.outcome for r in result.fired if r.kind in ("chase", "escalation")} == {"deferred", "superseded"}

        # Monday 09:00: the scheduler's first pass sends what fell due, once; later passes add nothing.
        run.clock.set(london(2027, 1, 11, 9, 0))
        scheduler = start_scheduler(ticker, interval=0.05)
        for _ in range(200):
            await asyncio.sleep(0.02)
            if ticker.ticks >= 4:
                break
        await ticker.stop()  # first: the executor's shutdown cancels a tick in progress
        scheduler.shutdown(wait=False)
    finally:
        await restarted.close()
    assert ticker.ticks >= 4
    assert len(run.sender.sent) == before
    keys = await run.obligation_keys()
    chased = [(s.to, keys[s.obligation_id], s.kind) for s in sender.sent if s.obligation_id is not None]
    per_person = Counter((to, key) for to, key, _ in chased)
    assert per_person and set(per_person.values()) == {1}
    assert sorted(chased) == sorted(
        [
            ("la-lead", "rr:agency_return:la", "escalation"),
            ("la-deputy", "rr:agency_return:la", "escalation"),
            ("bm", "rr:agency_return:la", "escalation"),
            ("police-lead", "rr:agency_return:police", "escalation"),
            ("bm", "rr:agency_return:police", "escalation"),
            ("health-lead", "rr:agency_return:health", "escalation"),
            ("bm", "rr:agency_return:health", "escalation"),
            ("bm", "rr:collate", "escalation"),
            ("bm", "rr:circulate", "chase"),
            ("rr-chair", "rr:panel_meeting", "chase"),
        ]
    )
    assert [s.to for s in sender.sent if s.kind == "delay_prompt"] == ["bm"]
    assert all(s.at == london(2027, 1, 11, 9, 0) for s in sender.sent)
    assert ref


async def test_a_long_outage_sends_each_reminder_once_and_one_delay_prompt(service: Service):
    run = Run(service)
    await rapid_review(run, london(2026, 12, 22, 10, 0))
    run.clock.set(london(2027, 1, 11, 9, 0))  # down from Day 1 until Day 12: nothing was marked done
    fired = await timers.fire_due(service)
    await run.delivery.drain()
    sent = run.messages(since=london(2027, 1, 11, 9, 0))
    keys = await run.obligation_keys()
    chased = Counter((s.to, keys[s.obligation_id]) for s in sent if s.obligation_id is not None)
    assert set(chased.values()) == {1}
    assert {key for _, key in chased} == {
        "rr:recommend",
        "rr:templates",
        "rr:agency_return:la",
        "rr:agency_return:police",
        "rr:agency_return:health",
        "rr:collate",
        "rr:circulate",
        "rr:panel_meeting",
    }
    assert chased[("la-deputy", "rr:agency_return:la")] == 1 and ("la-deputy", "rr:collate") not in chased
    # The checks for Days 2, 3 and 10 fell due while down (Tue 29 Dec, Wed 30 Dec, Mon 11 Jan): one asks.
    assert [s.to for s in sent if s.kind == "delay_prompt"] == ["bm"]
    outcomes = Counter(r.outcome for r in fired if r.kind == "delay_check")
    assert outcomes == {"superseded": 2, "sent": 1}
    assert await timers.fire_due(service) == []  # and nothing is left to send twice
