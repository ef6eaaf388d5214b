"""Shared fixtures: a migrated case store on SQLite and, when PANELBOT_TEST_DATABASE_URL is set,
on PostgreSQL too (each test in a schema of its own), a manual clock, and the shipped config."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from bot.clock import ManualClock
from bot.config import AppConfig, load_config
from bot.sealing import Keyring
from bot.service import Service
from storage.migrate import upgrade

ROOT = Path(__file__).resolve().parent.parent
LONDON = ZoneInfo("Europe/London")
PG_URL = os.environ.get("PANELBOT_TEST_DATABASE_URL")
TEST_KEYS = Keyring.throwaway()  # the tests' data key, made afresh each run
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


def london(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=LONDON)


@pytest.fixture
def cfg() -> AppConfig:
    return load_config(ROOT / "app.yaml")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(london(2026, 12, 21, 10, 0))  # a Monday, four days before Christmas


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'panelbot.db'}"
        return
    yield from pg_schema_url()


def pg_schema_url() -> Iterator[str]:
    """A throwaway schema on the test server, so tests never see each other's rows."""
    assert PG_URL
    schema = f"t_{uuid.uuid4().hex[:12]}"
    sync_url = PG_URL.replace("+asyncpg", "+psycopg")
    admin = sa.create_engine(sync_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
async def service(cfg: AppConfig, clock: ManualClock, db_url: str) -> AsyncIterator[Service]:
    svc = Service.create(cfg, clock, db_url, data_keys=TEST_KEYS)
    await upgrade(svc.engine)
    yield svc
    await svc.close()


@pytest.fixture(scope="session", autouse=True)
def teams_cards_pass_microsofts_library(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """After the whole run: every Adaptive Card any test showed a Teams user (tests/fakes/teams_connector.py
    collects them from the fake connector and from Action.Execute answers) goes through Microsoft's
    `adaptivecards` library; any card it rejects fails the run, naming the card."""
    yield
    from tests.fakes.teams_connector import SEEN_CARDS
    from tests.teams_validator import in_ci, missing, unique, validate

    if not SEEN_CARDS:
        return
    reason = missing()
    if reason is not None:
        assert not in_ci(), f"CI must check the Teams cards with Microsoft's library: {reason}"
        return
    cards = unique(SEEN_CARDS)
    verdict = validate("cards", cards, tmp_path_factory.mktemp("teams-cards"))
    assert verdict.ok, f"{len(verdict.errors)} problems in {len(cards)} Teams cards:\n{verdict.explain(cards)}"
