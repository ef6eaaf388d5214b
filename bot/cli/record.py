"""`panelbot` commands for the record: audit verify, audit export.

Wired into `bot.cli` by `register(app)`.
"""

from __future__ import annotations

import datetime as dt
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli.common import ConfigOpt, data_keys, err, fail, out, run_with_service

if TYPE_CHECKING:  # imported where used, so `panelbot --help` stays light
    from bot.service import Service

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
    from bot.record import audit as audit_record

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
    from bot.record import audit as audit_record

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


keys_app = typer.Typer(help="PANELBOT_DATA_KEY: the keys sealing Part A and contact details.", no_args_is_help=True)


@keys_app.command("generate")
def keys_generate() -> None:
    """Print a new data key (put it first in PANELBOT_DATA_KEY, then run `keys rotate`)."""
    from bot.sealing import Keyring

    sys.stdout.write(Keyring.generate() + "\n")


@keys_app.command("rotate")
def keys_rotate(
    by: Annotated[str, typer.Option("--by", help="Roster id of the person doing it (audited).")] = "operator",
    config: ConfigOpt = None,
) -> None:
    """Re-seal every Part A and contact record with the newest key (the first in PANELBOT_DATA_KEY)."""
    from bot.record import keys
    from bot.sealing import DataKeyError

    if data_keys() is None:
        fail("PANELBOT_DATA_KEY is not set: give the new key first, then the old ones, comma-separated.")
    try:
        counts = run_with_service(config, lambda svc: svc.transact(lambda uow: keys.rotate(uow, svc.env, by)))
    except DataKeyError as exc:
        fail(f"{exc}; nothing was changed.", 1)
    out.print(
        f"re-sealed {counts.get('resealed', 0)}, sealed for the first time {counts.get('sealed', 0)}, "
        "all under the newest key",
        highlight=False,
    )


@keys_app.command("check")
def keys_check(config: ConfigOpt = None) -> None:
    """What the keys at hand open. Exit 1 if anything sealed cannot be opened with them."""
    from bot.record import keys

    counts = run_with_service(config, lambda svc: svc.read(lambda uow: keys.check(uow, svc.env)))
    out.print(", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in sorted(counts.items())) or "nothing stored")
    if counts.get("wrong_key"):
        err.print("error: PANELBOT_DATA_KEY does not open every sealed record; add the key they were sealed with.")
        raise typer.Exit(1)


report_app = typer.Typer(help="The record as documents: a case's PDF, the year's figures.", no_args_is_help=True)


async def write_case_pdf(service: Service, ref: str, target: Path | None) -> Path:
    """The case PDF for `ref`, written to `target` (default ./REF.pdf); returns where it went."""
    from bot.record import case_report

    env = service.env
    record = await service.read(lambda uow: case_report.case_record(uow, env, ref))
    path = target or Path(f"{record['view']['ref']}.pdf")
    path.write_bytes(case_report.render_pdf(record, env))
    return path


async def demo_record(service: Service, folder: Path, lines: list[str]) -> None:
    """The demo's last act: each case's PDF, and the audit chain verified."""
    from bot.record import audit as audit_record
    from bot.views import cases_view

    folder.mkdir(parents=True, exist_ok=True)
    for row in await service.read(lambda uow: cases_view(uow, service.env, False)):
        path = await write_case_pdf(service, row["ref"], folder / f"{row['ref']}.pdf")
        lines.append(f"Case record written: {path}  (panelbot report case {row['ref']})")
    verdict = await service.read(audit_record.verify)
    state = "intact" if verdict.ok else f"BROKEN: {verdict.problem}"
    lines.append(f"Audit chain {state}: {verdict.checked} events checked, head {verdict.head}  (panelbot audit verify)")


@report_app.command("case")
def report_case(
    ref: Annotated[str, typer.Argument(help="The case reference.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="The PDF to write (default ./REF.pdf).")] = None,
    config: ConfigOpt = None,
) -> None:
    """The case record as a PDF: referral (no child's details), votes and rationale, decision, scrutiny,
    timeline with due/done/late, delays, messages and delivery, and the audit chain's head hash."""
    try:
        path = run_with_service(config, lambda svc: write_case_pdf(svc, ref, output))
    except OSError as exc:
        fail(f"{output}: {exc}", 1)
    out.print(f"wrote {path}", highlight=False)


class AnnualFormat(StrEnum):
    XLSX = "xlsx"
    CSV = "csv"


@report_app.command("annual")
def report_annual(
    year: Annotated[
        int, typer.Option("--year", help="The reporting year, by the year it starts in.", min=2000, max=2100)
    ],
    fmt: Annotated[AnnualFormat, typer.Option("--format", help="xlsx (with charts) or csv.")] = AnnualFormat.XLSX,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Where to write (default ./annual-YEAR.xlsx).")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """The year's figures: referrals by agency and month, pathways, notifiable, each statutory clock's on-time
    rate with the late cases, delays, deadlocks, consultations, disagreements, actions, median vote times."""
    from bot.record import annual

    data = run_with_service(config, lambda svc: svc.read(lambda uow: annual.figures(uow, svc.env, year)))
    path = output or Path(f"annual-{year}.{fmt.value}")
    try:
        if fmt is AnnualFormat.CSV:
            path.write_text(annual.to_csv(data), encoding="utf-8")
        else:
            path.write_bytes(annual.to_xlsx(data))
    except OSError as exc:
        fail(f"{path}: {exc}", 1)
    out.print(f"wrote {path}: {data['referrals']} referrals, {data['year']}", highlight=False)


retention_app = typer.Typer(help="Erasing personal data the partnership no longer keeps.", no_args_is_help=True)


@retention_app.command("apply")
def retention_apply(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be erased; change nothing.")] = False,
    by: Annotated[str, typer.Option("--by", help="Who is applying it (audited).")] = "records-officer",
    config: ConfigOpt = None,
) -> None:
    """Erase Part A and contact details of cases closed longer than `retention.personal_data_after_months`."""
    from bot.record import retention

    try:
        cases = run_with_service(
            config, lambda svc: svc.transact(lambda uow: retention.apply(uow, svc.env, by, dry_run))
        )
    except retention.NoRetentionPolicy as exc:
        fail(str(exc))
    verb = "would erase" if dry_run else "erased"
    for item in cases:
        out.print(f"{item.ref}: closed {item.closed_at.date().isoformat()} — {verb}", highlight=False)
    out.print(f"{len(cases)} case(s) {verb}: Part A and contact details; the rest of the record stays", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(retention_app, name="retention")
    app.add_typer(report_app, name="report")
    app.add_typer(audit_app, name="audit")
    app.add_typer(keys_app, name="keys")
