"""`panelbot backup` while the store is being written, `panelbot restore` into a fresh store, and every
case in the restored store matches the original. SQLite always; PostgreSQL (pg_dump) when configured."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from bot.clock import ManualClock
from bot.config import AppConfig
from bot.service import Service
from bot.views import case_view
from storage import backup as backups
from storage.migrate import schema_status, upgrade
from storage.models import Case
from tests.conftest import PG_URL, ROOT, pg_schema_url
from tests.helpers import refer, vote


async def panelbot(*args: str, url: str) -> tuple[int, str]:
    env = {**os.environ, "PANELBOT_DATABASE_URL": url, "PANELBOT_CONFIG": str(ROOT / "app.yaml")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await proc.communicate()
    return proc.returncode or 0, output.decode()


async def all_cases(service: Service) -> dict[str, Any]:
    async def work(uow: Any) -> dict[str, Any]:
        refs = list(await uow.session.scalars(select(Case.ref).order_by(Case.id)))
        return {ref: await case_view(uow, service.env, ref) for ref in refs}

    return await service.read(work)


async def busy_panel(service: Service, stop: asyncio.Event) -> int:
    """Referrals, one after another, until told to stop: the run the backup happens during. Each is one
    transaction and nothing changes a case afterwards, so each case in the copy must equal the original."""
    made = 0
    while not stop.is_set():
        await refer(service)
        made += 1
        await asyncio.sleep(0.05)
    return made


async def backup_during_a_run(service: Service, url: str, target: Path) -> int:
    first = await refer(service)
    await vote(service, "la-dsp", first.ref, "rapid_review", notifiable=True)
    await vote(service, "police-dsp", first.ref, "rapid_review", notifiable=True)
    stop = asyncio.Event()
    writer = asyncio.create_task(busy_panel(service, stop))
    await asyncio.sleep(0.3)
    code, output = await panelbot("backup", str(target), url=url)
    stop.set()
    made = await writer
    assert code == 0, output
    assert "backed up" in output
    return made


async def check_restored(cfg: AppConfig, clock: ManualClock, original: Service, url: str) -> None:
    restored = Service.create(cfg, clock, url)
    try:
        assert (await schema_status(restored.engine))["up_to_date"]
        copy, now = await all_cases(restored), await all_cases(original)
        assert len(copy) >= 2, "the backup missed what was there before it started"
        assert set(copy) <= set(now)
        for ref, view in copy.items():
            assert view == now[ref], f"{ref} differs after restore"
        assert copy["TSCP-2026-001"]["status"] == "decided"
    finally:
        await restored.close()


async def test_sqlite_backup_during_a_run_restores_every_case(cfg: AppConfig, clock: ManualClock, tmp_path: Path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'live.db'}"
    service = Service.create(cfg, clock, url)
    await upgrade(service.engine)
    try:
        made = await backup_during_a_run(service, url, tmp_path / "panelbot.bak")
        assert made >= 1, "nothing was written while the backup ran"
        fresh = f"sqlite+aiosqlite:///{tmp_path / 'restored' / 'panelbot.db'}"
        code, output = await panelbot("restore", str(tmp_path / "panelbot.bak"), url=fresh)
        assert code == 0, output
        assert "restored" in output and "panelbot db upgrade" not in output
        await check_restored(cfg, clock, service, fresh)
        code, output = await panelbot("audit", "verify", url=fresh)
        assert code == 0, output  # the audit chain survives the copy
        code, output = await panelbot("restore", str(tmp_path / "panelbot.bak"), url=fresh)
        assert code == 1 and "exists" in output  # never over a live store by accident
    finally:
        await service.close()


async def test_backup_refuses_to_overwrite_and_to_copy_memory(tmp_path: Path) -> None:
    (tmp_path / "old.bak").write_text("precious")
    with pytest.raises(backups.BackupError, match="exists"):
        backups.backup(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", tmp_path / "old.bak")
    with pytest.raises(backups.BackupError, match="in-memory"):
        backups.backup("sqlite+aiosqlite://", tmp_path / "new.bak")
    assert (tmp_path / "old.bak").read_text() == "precious"


def test_without_pg_dump_it_says_what_to_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(backups.shutil, "which", lambda _name: None)
    url = "postgresql+psycopg://panelbot:s3cret-pw@db.internal:5432/panelbot"
    outcome = backups.backup(url, tmp_path / "pb.dump")
    assert not outcome.done
    assert outcome.command is not None and outcome.command[0] == "pg_dump"
    assert "--dbname=postgresql://panelbot@db.internal:5432/panelbot" in outcome.command
    assert "s3cret-pw" not in " ".join(outcome.command)
    restore = backups.restore(url, Path(__file__))
    assert not restore.done and restore.command[0] == "pg_restore"


@pytest.fixture
def pg_pair() -> Iterator[tuple[str, str]]:
    """A schema on the test server to back up, and a fresh database to restore it into."""
    if not PG_URL:
        pytest.skip("needs PANELBOT_TEST_DATABASE_URL")
    if backups.shutil.which("pg_dump") is None:
        pytest.skip("needs pg_dump")
    for source in pg_schema_url():
        admin = sa.create_engine(PG_URL.replace("+asyncpg", "+psycopg"), isolation_level="AUTOCOMMIT")
        fresh = f"restore_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{fresh}"'))
        try:
            target = sa.engine.make_url(source).set(database=fresh).render_as_string(hide_password=False)
            yield source, target
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE "{fresh}" WITH (FORCE)'))
            admin.dispose()


async def test_postgres_backup_during_a_run_restores_every_case(
    cfg: AppConfig, clock: ManualClock, tmp_path: Path, pg_pair: tuple[str, str]
) -> None:
    source, target = pg_pair
    service = Service.create(cfg, clock, source)
    await upgrade(service.engine)
    try:
        await backup_during_a_run(service, source, tmp_path / "panelbot.dump")
        code, output = await panelbot("restore", str(tmp_path / "panelbot.dump"), url=target)
        assert code == 0, output
        await check_restored(cfg, clock, service, target)
        code, output = await panelbot("audit", "verify", url=target)
        assert code == 0, output
    finally:
        await service.close()
