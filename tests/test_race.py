"""Votes committed at the same instant from different processes make exactly one decision.

Each process has its own engine and connection pool, released together from a barrier, so the
database's locking (BEGIN IMMEDIATE on SQLite, SELECT … FOR UPDATE on PostgreSQL) is what is tested.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.clock import ManualClock
from bot.config import load_config
from bot.service import Service
from storage.models import Decision, OutboxMessage, Vote
from tests.conftest import ROOT, london
from tests.helpers import refer, vote

START = london(2026, 12, 21, 11, 0)


def _vote_in_process(url: str, voter: str, ref: str, pathway: str, barrier, results) -> None:
    async def run() -> str:
        service = Service.create(load_config(ROOT / "app.yaml"), ManualClock(START), url)
        try:
            await service.read(lambda uow: uow.session.scalar(select(func.count()).select_from(Vote)))  # warm up
            barrier.wait(timeout=30)
            result = await vote(service, voter, ref, pathway, True)
            return result.status
        finally:
            await service.close()

    try:
        results.put((voter, asyncio.run(run())))
    except Exception as exc:  # reported to the parent, which fails the test with it
        results.put((voter, f"error: {type(exc).__name__}: {exc}"))


def race(url: str, ref: str, voters: list[str], pathway: str) -> dict[str, str]:
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(len(voters)), ctx.Queue()
    procs = [ctx.Process(target=_vote_in_process, args=(url, v, ref, pathway, barrier, results)) for v in voters]
    for p in procs:
        p.start()
    outcome = dict(results.get(timeout=120) for _ in voters)
    for p in procs:
        p.join(timeout=30)
    return outcome


async def counts(service: Service) -> tuple[int, int]:
    async def work(uow):
        decisions = await uow.session.scalar(select(func.count()).select_from(Decision))
        notices = await uow.session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.kind == "decision")
        )
        return decisions, notices

    return await service.read(work)


@pytest.mark.parametrize("voters", [["la-dsp", "police-dsp"], ["la-dsp", "police-dsp", "health-dsp"]])
async def test_simultaneous_votes_make_exactly_one_decision(service, db_url: str, voters: list[str], tmp_path: Path):
    case = await refer(service)
    statuses = race(db_url, case.ref, voters, "rapid_review")
    assert not [s for s in statuses.values() if s.startswith("error")], statuses
    assert sorted(statuses.values()) == sorted(["recorded", "recorded", "after_decision"][: len(voters)])
    decisions, notices = await counts(service)
    assert decisions == 1
    # one decision notice each: three panel members, the BM, the Executive Chair and the scrutineer
    assert notices == 6
