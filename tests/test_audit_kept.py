"""Audit rows are never rewritten: a case with audit history cannot be deleted, on either backend;
and a CLI command records the operating-system user beside the `--by` it was given."""

from __future__ import annotations

import getpass
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from typer.testing import CliRunner

from bot.cli import app
from bot.flows.commands import RegisterReferral
from bot.flows.screening import panel
from bot.service import Service
from storage.models import AuditEvent, Case
from tests.conftest import ROOT


async def test_a_case_with_audit_history_cannot_be_deleted(service: Service) -> None:
    cmd = RegisterReferral(
        by="bm", referrer={"name": "Dr A Referrer"}, panel_summary="A summary long enough for the panel to decide."
    )
    case = await service.run(panel.register_referral, cmd)

    async def audit_rows(uow) -> list[tuple[int | None, str]]:
        rows = await uow.session.execute(select(AuditEvent.case_id, AuditEvent.action).order_by(AuditEvent.id))
        return [tuple(r) for r in rows]

    before = await service.read(audit_rows)
    assert before and all(case_id == case.id for case_id, _ in before)
    with pytest.raises(IntegrityError):
        await service.transact(lambda uow: uow.session.execute(delete(Case).where(Case.id == case.id)))
    assert await service.read(audit_rows) == before
    assert await service.read(lambda uow: uow.session.scalar(select(func.count()).select_from(Case))) == 1


def test_the_cli_audits_the_os_user_beside_by(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "cli.db"
    monkeypatch.setenv("PANELBOT_DATABASE_URL", f"sqlite+aiosqlite:///{db}")
    runner = CliRunner()
    config = ["--config", str(ROOT / "app.yaml")]
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    args = ["referral", "add", "--by", "bm", "--referrer-name", "Dr A", "--summary", "x" * 30, *config]
    added = runner.invoke(app, args)
    assert added.exit_code == 0, added.output

    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT actor, json_extract(details, '$.os_user') FROM audit_log").fetchall()
    assert ("bm", getpass.getuser()) in rows
    assert all(os_user == getpass.getuser() for _, os_user in rows)  # the bot's own rows in that command too


@pytest.mark.parametrize(
    "content, message",
    [
        ("- just\n- a list\n", "must be a mapping"),
        ("just a string\n", "must be a mapping"),
        ("referrer: [1, 2]\npanel_summary: x\n", "`referrer` must be a mapping"),
        ("key: [unclosed\n", "not valid YAML"),
        (b"\xff\xfe\x00", "cannot read it"),
    ],
)
def test_referral_add_bad_file_is_one_line_and_exit_2(tmp_path: Path, content: str | bytes, message: str) -> None:
    path = tmp_path / "referral.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    result = CliRunner().invoke(app, ["referral", "add", "--file", str(path), "--config", str(ROOT / "app.yaml")])
    assert result.exit_code == 2, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1, result.output
