"""`panelbot retention apply`: Part A and contact details of long-closed cases erased, the rest of the
record and the audit chain intact, the erasure audited; no policy, no erasure."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from bot.cli import app
from bot.cli import common as cli_common
from bot.clock import ManualClock
from bot.flows.commands import RecordScrutiny
from bot.flows.common import load_case
from bot.flows.personal import part_a
from bot.flows.screening import panel
from bot.service import Service
from storage import audit_chain
from tests.conftest import ROOT, london
from tests.helpers import audits, refer, vote

CHILD = {"forenames": "Zebedee", "last_name": "Quixotic", "home_address": "1 Secret Lane"}


@pytest.fixture
def config_with_retention(tmp_path: Path) -> Path:
    path = tmp_path / "app.yaml"
    path.write_text((ROOT / "app.yaml").read_text() + "\nretention:\n  personal_data_after_months: 72\n")
    return path


def cli(*args: str, config: Path, code: int = 0) -> str:
    result = CliRunner().invoke(app, [*args, "--config", str(config)])
    assert result.exit_code == code, result.output
    return " ".join(result.output.split())


async def snapshot(service: Service) -> dict[str, list]:
    async with service.engine.connect() as conn:
        return {
            "children": (await conn.execute(sa.text("SELECT case_id, sealed FROM children ORDER BY case_id"))).all(),
            "cases": (
                await conn.execute(
                    sa.text("SELECT ref, event_description, referrer_sealed, personal_erased_at FROM cases ORDER BY id")
                )
            ).all(),
            "votes": (await conn.execute(sa.text("SELECT agency, rationale FROM votes ORDER BY id"))).all(),
            "referrer_mail": (
                await conn.execute(
                    sa.text("SELECT address FROM outbox WHERE person_id IS NULL AND channel = 'email' ORDER BY id")
                )
            ).all(),
        }


async def test_erases_long_closed_cases_and_keeps_the_record(
    service: Service, db_url: str, config_with_retention: Path, monkeypatch: pytest.MonkeyPatch
):
    closed = await refer(service, child=CHILD, event_description="What happened, in the referrer's words.")
    for who in ("la-dsp", "police-dsp", "health-dsp"):
        await vote(service, who, closed.ref, "no_further_action")
    await service.run(panel.record_scrutiny, RecordScrutiny(by="scrutineer", ref=closed.ref, verdict="concur"))
    still_open = await refer(service, child=CHILD)
    monkeypatch.setenv("PANELBOT_DATABASE_URL", db_url)

    monkeypatch.setattr(cli_common, "SystemClock", lambda: ManualClock(london(2027, 6, 1, 10, 0)))
    assert "0 case(s) would erase" in await asyncio.to_thread(
        cli, "retention", "apply", "--dry-run", config=config_with_retention
    )  # not yet six years

    monkeypatch.setattr(cli_common, "SystemClock", lambda: ManualClock(london(2033, 1, 4, 10, 0)))
    before = await snapshot(service)
    dry = await asyncio.to_thread(cli, "retention", "apply", "--dry-run", config=config_with_retention)
    assert f"{closed.ref}: closed 2026-12-21 — would erase" in dry and still_open.ref not in dry
    assert await snapshot(service) == before

    done = await asyncio.to_thread(cli, "retention", "apply", "--by", "records-officer", config=config_with_retention)
    assert "1 case(s) erased" in done
    after = await snapshot(service)
    assert after["votes"] == before["votes"]  # the record stays
    erased_child = next(c for c in after["children"] if c.case_id == 1)
    assert erased_child.sealed is None and after["children"][1].sealed is not None
    assert after["cases"][0].event_description is None and after["cases"][0].referrer_sealed is None
    assert after["cases"][0].personal_erased_at is not None and after["cases"][1].personal_erased_at is None
    assert after["referrer_mail"] and {row.address for row in after["referrer_mail"]} == {"(erased)"}

    async def shown(uow):
        return await part_a(uow, service.env, await load_case(uow, closed.ref))

    assert (await service.read(shown)).state == "erased"
    [event] = await audits(service, "personal_data_erased")
    assert event.actor == "records-officer" and event.details["retention_months"] == 72
    verdict = await service.read(lambda uow: audit_chain.verify(uow.session))
    assert verdict.ok
    assert "0 case(s) erased" in await asyncio.to_thread(cli, "retention", "apply", config=config_with_retention)


def test_without_a_policy_nothing_is_erased(db_url: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PANELBOT_DATABASE_URL", db_url)
    assert CliRunner().invoke(app, ["db", "upgrade"]).exit_code == 0
    assert "retention: is not set in app.yaml" in cli("retention", "apply", config=ROOT / "app.yaml", code=2)
