"""The audit trail as a hash chain the database will not let anyone edit: refusal of UPDATE and
DELETE by the triggers, `verify` catching a change made behind the triggers' back, and the export."""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from bot.cli import app
from bot.flows.common import Refused
from bot.service import Service
from storage import audit_chain
from storage.models import AuditEvent
from tests.conftest import ROOT
from tests.helpers import audits, refer, vote

CONFIG = ["--config", str(ROOT / "app.yaml")]


async def verify(service: Service) -> audit_chain.Verdict:
    return await service.read(lambda uow: audit_chain.verify(uow.session))


async def some_history(service: Service) -> str:
    case = await refer(service)
    await vote(service, "police-dsp", case.ref, "rapid_review", notifiable=True)
    await vote(service, "health-dsp", case.ref, "rapid_review", notifiable=True)
    return case.ref


async def raw(service: Service, statement: str) -> None:
    async with service.engine.begin() as conn:
        await conn.exec_driver_sql(statement)


async def behind_the_triggers_back(service: Service, statement: str) -> None:
    """What someone with the database owner's password could do: switch the guard off, edit, switch it on."""
    async with service.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.exec_driver_sql("ALTER TABLE audit_log DISABLE TRIGGER USER")
            await conn.exec_driver_sql(statement)
            await conn.exec_driver_sql("ALTER TABLE audit_log ENABLE TRIGGER USER")
        else:
            await conn.exec_driver_sql("DROP TRIGGER IF EXISTS audit_log_no_update")
            await conn.exec_driver_sql("DROP TRIGGER IF EXISTS audit_log_no_delete")
            await conn.exec_driver_sql(statement)


async def test_each_event_carries_its_predecessors_hash_and_the_chain_verifies(service: Service):
    await some_history(service)
    events = await audits(service)
    assert len(events) >= 3
    assert events[0].prev_hash == audit_chain.GENESIS
    for before, after in itertools.pairwise(events):
        assert after.prev_hash == before.hash
        assert after.hash == audit_chain.event_hash(before.hash, after)
    verdict = await verify(service)
    assert verdict.ok and verdict.checked == len(events) and verdict.head == events[-1].hash


@pytest.mark.parametrize("statement", ["UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log"])
async def test_the_database_refuses_to_change_or_delete_an_event(service: Service, statement: str):
    await some_history(service)
    before = [(e.id, e.actor, e.hash) for e in await audits(service)]
    with pytest.raises(DBAPIError, match="append-only"):
        await raw(service, statement)
    assert [(e.id, e.actor, e.hash) for e in await audits(service)] == before


async def test_verify_names_the_first_event_changed_behind_the_triggers_back(service: Service):
    await some_history(service)
    events = await audits(service)
    target = events[2]
    await behind_the_triggers_back(service, f"UPDATE audit_log SET actor = 'nobody' WHERE id = {target.id}")
    verdict = await verify(service)
    assert not verdict.ok and verdict.broken is not None
    assert verdict.broken.id == target.id and verdict.checked == 2
    assert "changed" in (verdict.problem or "")


async def test_verify_notices_a_removed_event_in_the_middle_and_at_the_end(service: Service):
    await some_history(service)
    events = await audits(service)
    await behind_the_triggers_back(service, f"DELETE FROM audit_log WHERE id = {events[1].id}")
    verdict = await verify(service)
    assert verdict.broken is not None and verdict.broken.id == events[2].id and "missing" in (verdict.problem or "")

    # the end of the chain: the head remembers how long it was
    async with service.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.exec_driver_sql("ALTER TABLE audit_log DISABLE TRIGGER USER")
        await conn.exec_driver_sql(f"DELETE FROM audit_log WHERE id >= {events[1].id}")
    verdict = await verify(service)
    assert not verdict.ok and verdict.broken is None and "removed" in (verdict.problem or "")


async def test_concurrent_writers_keep_one_unbroken_chain(service: Service):
    async def refusal(n: int) -> None:
        await service.audit_refusal(Refused(f"attempt {n}"), f"person{n}", "Probe")

    await asyncio.gather(*(refusal(n) for n in range(12)))
    verdict = await verify(service)
    assert verdict.ok and verdict.checked == 12


@pytest.fixture
def store(db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("PANELBOT_DATABASE_URL", db_url)
    return db_url


async def test_cli_verify_export_and_tamper(service: Service, store: str, tmp_path: Path):
    ref = await some_history(service)
    count = len(await audits(service))

    def cli(*args: str, code: int = 0) -> str:
        result = CliRunner().invoke(app, [*args, *CONFIG])
        assert result.exit_code == code, result.output
        return result.output

    assert f"{count} events checked" in await asyncio.to_thread(cli, "audit", "verify")

    lines = (await asyncio.to_thread(cli, "audit", "export", ref, "--format", "jsonl")).splitlines()
    rows = [json.loads(line) for line in lines]
    assert len(rows) == count and {r["case"] for r in rows} == {ref}
    assert rows[0]["prev_hash"] == audit_chain.GENESIS and rows[1]["prev_hash"] == rows[0]["hash"]

    target = tmp_path / "audit.csv"
    await asyncio.to_thread(
        cli, "audit", "export", "--from", "2026-12-21", "--to", "2026-12-21", "--format", "csv", "-o", str(target)
    )
    table = list(csv.DictReader(io.StringIO(target.read_text())))
    assert [r["hash"] for r in table] == [r["hash"] for r in rows]
    assert (await asyncio.to_thread(cli, "audit", "export", "--from", "2026-12-22", "--format", "csv")).count("\n") == 1
    assert "not a date" in await asyncio.to_thread(cli, "audit", "export", "--from", "yesterday", code=2)
    assert "no case" in await asyncio.to_thread(cli, "audit", "export", "NOPE-1", code=2)

    second = (await audits(service))[1]
    await behind_the_triggers_back(service, f"UPDATE audit_log SET at = at WHERE id = {second.id}")
    assert f"{count} events checked" in await asyncio.to_thread(cli, "audit", "verify")  # same content: still intact
    await behind_the_triggers_back(
        service, f"UPDATE audit_log SET details = '{json.dumps({'rationale': 'forged'})}' WHERE id = {second.id}"
    )
    output = await asyncio.to_thread(cli, "audit", "verify", code=1)
    assert f"event {second.id}" in output and "BROKEN" in output


def test_events_are_chained_in_the_models_too():
    assert {"prev_hash", "hash"} <= set(AuditEvent.__table__.columns.keys())
    assert sa.inspect(AuditEvent).columns["hash"].nullable is False
