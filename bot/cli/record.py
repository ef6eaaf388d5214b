"""`panelbot` commands for the record: audit verify, audit export.

Wired into `bot.cli` by `register(app)`.
"""

from __future__ import annotations

import datetime as dt
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from bot.cli.common import ConfigOpt, err, fail, out, run_with_service
from bot.record import audit as audit_record

audit_app = typer.Typer(
    help="The audit trail: a hash chain the database will not let anyone edit.", no_args_is_help=True
)


class ExportFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


def _date(text: str | None, flag: str) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        fail(f"{flag} {text!r} is not a date: use ISO 8601, for example 2026-12-21.")


@audit_app.command("verify")
def audit_verify(config: ConfigOpt = None) -> None:
    """Walk the audit chain. Exit 0 with the number of events checked, 1 naming the first broken one."""
    verdict = run_with_service(config, lambda svc: svc.read(audit_record.verify))
    if verdict.ok:
        out.print(f"audit chain intact: {verdict.checked} events checked, head {verdict.head}", highlight=False)
        return
    if verdict.broken is not None:
        event = verdict.broken
        where = f"event {event.id} ({event.action} by {event.actor} at {event.at.isoformat()})"
    else:
        where = "the chain's end"
    err.print(
        f"audit chain BROKEN at {where}: {verdict.problem}; {verdict.checked} events before it are intact",
        highlight=False,
        markup=False,
    )
    raise typer.Exit(1)


@audit_app.command("export")
def audit_export(
    ref: Annotated[str | None, typer.Argument(help="Only this case's events (default: every event).")] = None,
    since: Annotated[str | None, typer.Option("--from", help="First day (London), inclusive: 2026-12-01.")] = None,
    until: Annotated[str | None, typer.Option("--to", help="Last day (London), inclusive.")] = None,
    fmt: Annotated[ExportFormat, typer.Option("--format", help="jsonl or csv.")] = ExportFormat.JSONL,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")] = None,
    config: ConfigOpt = None,
) -> None:
    """Audit events oldest first, each with its chain hashes, so an extract can be checked against the store."""
    first, last = _date(since, "--from"), _date(until, "--to")
    if first and last and first > last:
        fail(f"--from {first} is after --to {last}.")
    rows = run_with_service(
        config, lambda svc: svc.read(lambda uow: audit_record.events(uow, svc.env, ref, first, last))
    )
    text = audit_record.to_jsonl(rows) if fmt is ExportFormat.JSONL else audit_record.to_csv(rows)
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"{output}: {exc}", 1)
    out.print(f"{len(rows)} events written to {output}", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
