"""The case store: migrations from empty, the constraints that make things happen once, UTC times."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError

from bot.service import Service
from storage.db import make_engine
from storage.migrate import SchemaBehind, current_revision, head_revision, require_current_schema, upgrade
from storage.models import Case, ScreeningRound, Vote
from storage.uow import UnitOfWork
from tests.helpers import refer

EXPECTED_TABLES = {
    "cases",
    "children",
    "screening_rounds",
    "votes",
    "decisions",
    "scrutiny",
    "obligations",
    "reminders",
    "outbox",
    "audit_log",
    "teams_conversations",
    "calendar_events",
    "ref_counters",
}


async def test_migrations_create_the_schema_from_empty(db_url: str):
    engine = make_engine(db_url)
    try:
        assert await current_revision(engine) is None
        with pytest.raises(SchemaBehind, match="panelbot db upgrade"):
            await require_current_schema(engine)
        await upgrade(engine)
        assert await current_revision(engine) == head_revision()
        async with engine.connect() as conn:
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        assert tables >= EXPECTED_TABLES
        await require_current_schema(engine)
        await upgrade(engine)  # a second upgrade is a no-op
    finally:
        await engine.dispose()


async def test_one_vote_per_agency_per_round_is_enforced_by_the_database(service: Service):
    case = await refer(service)

    async def add_vote(uow: UnitOfWork, person: str) -> None:
        rnd = await uow.session.scalar(select(ScreeningRound).where(ScreeningRound.case_id == case.id))
        uow.session.add(
            Vote(
                round_id=rnd.id,
                agency="la",
                person_id=person,
                pathway="rapid_review",
                notifiable=True,
                rationale="r" * 20,
                cast_at=service.clock.now(),
                after_decision=False,
                version=1,
            )
        )

    async with UnitOfWork(service.sessions) as uow:
        await add_vote(uow, "la-dsp")
    with pytest.raises(IntegrityError):
        async with UnitOfWork(service.sessions) as uow:
            await add_vote(uow, "la-deputy")


async def test_times_come_back_aware_and_in_utc(service: Service):
    case = await refer(service)
    stored = await service.read(lambda uow: uow.session.scalar(select(Case).where(Case.id == case.id)))
    assert stored.received_at.tzinfo is not None and stored.received_at.utcoffset() == dt.timedelta(0)
    assert stored.received_at == service.clock.now()


async def test_a_naive_time_is_refused(service: Service):
    case = await refer(service)
    with pytest.raises(Exception, match="naive datetime"):
        async with UnitOfWork(service.sessions) as uow:
            row = await uow.session.get(Case, case.id)
            row.notified_at = dt.datetime(2026, 12, 24, 10, 0)
