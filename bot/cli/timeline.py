"""`panelbot` commands for timelines: timeline, tick, milestone done, delay, cspr, complaint.

Wired into `bot.cli` by `register(app)`; the shared helpers come from `bot.cli.common`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from bot.cli.common import ConfigOpt, JsonOpt, config_or_exit, fail, out, print_json, run_with_service, settings
from bot.clock import Clock, ManualClock, SystemClock

if TYPE_CHECKING:  # imported where used, so `panelbot --help` stays light
    from pydantic import BaseModel
    from rich.table import Table

    from bot.service import Service

T = TypeVar("T")
ByOpt = Annotated[str, typer.Option("--by", help="Roster id of the person doing it.")]
RAG_STYLE = {"red": "[red]RED[/red]", "amber": "[yellow]AMBER[/yellow]", "green": "[green]GREEN[/green]"}


def _run(config: Path | None, work: Callable[[Service], Awaitable[T]], clock: Clock | None = None) -> T:
    return run_with_service(config, work, clock or SystemClock())


def _command(model: type[BaseModel], data: dict[str, Any]) -> BaseModel:
    from pydantic import ValidationError

    from bot.flows.commands import field_errors

    try:
        return model.model_validate({k: v for k, v in data.items() if v is not None})
    except ValidationError as exc:
        fail("; ".join(f"{k}: {v}" for k, v in field_errors(exc).items()))


async def _with_due(service: Service, running: Awaitable[Any]) -> tuple[Any, str]:
    """A flow's obligation, with its due time as a person reads it."""
    ob = await running
    return ob, service.env.local(ob.due_at)


def _date(text: str | None) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        fail(f"{text!r} is not a date: use ISO 8601, for example 2027-01-18.")


# --- timeline ------------------------------------------------------------------------------


def timeline_cmd(ref: str, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """A case's obligations in order: owner, due date, state and RAG (red overdue, amber due soon)."""
    from bot.flows.timelines.plan import timeline

    view = _run(config, lambda svc: svc.read(lambda uow: timeline(uow, svc.env, ref)))
    if as_json:
        print_json(view)
        return
    head = f"{view['ref']} ({view['status']})"
    if view["rag"]:
        head += f" — {RAG_STYLE[view['rag']]}"
    out.print(head)
    if view["rapid_review_due"]:
        label = "Rapid Review due (statutory)" if view["notified_at"] else "Rapid Review target (not notified)"
        out.print(f"{label}: {view['rapid_review_due'][:10]}")
    for line in filter(None, [view["note"], *_outcome_lines(view)]):
        out.print(line, highlight=False)
    out.print(_table(view["obligations"]))


def _outcome_lines(view: dict[str, Any]) -> list[str]:
    outcome = view.get("outcome")
    if not outcome:
        return []
    lines = [f"Outcome (version {outcome['version']}, by {outcome['recorded_by']}): {outcome['recommendation']}"]
    for s in outcome["signoffs"]:
        comment = f" — {s['comment']}" if s["comment"] else ""
        lines.append(f"  sign-off {s['agency']}: {s['verdict']} by {s['by']}{comment}")
    if outcome["agreed_at"]:
        lines.append(f"  agreed by all three: {outcome['agreed_at'][:16]}")
    if view.get("submitted_at"):
        lines.append(f"Submitted: {view['submitted_at'][:16]}")
    return lines


def _table(rows: list[dict[str, Any]]) -> Table:
    from rich.table import Table

    table = Table()
    for column in ("day", "what", "owner", "due", "state", "RAG"):
        table.add_column(column)
    for row in rows:
        state = row["state"] if row["state"] == "open" else f"{row['state']} ({row['done_by'] or 'panelbot'})"
        state += " LATE" if row.get("late") else ""
        table.add_row(
            str(row["plan_day"] or ""),
            f"{row['what']}\n[dim]{row['key']}[/dim]",
            row["owner"],
            row["due_local"],
            state,
            RAG_STYLE.get(row["rag"] or "", ""),
        )
    return table


# --- tick ----------------------------------------------------------------------------------


def tick_cmd(
    now: Annotated[str | None, typer.Option(help="Run as if it were this time (ISO; London unless offset).")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One pass by hand: fire the reminders that are due, deliver with the configured senders."""
    from bot.deadlines import parse_when

    cfg = config_or_exit(config)
    clock: Clock = SystemClock()
    if now is not None:
        try:
            clock = ManualClock(parse_when(now, cfg.tz, day_start=cfg.working_hours.start))
        except ValueError as exc:
            fail(str(exc))
    result = _run(config, _tick, clock)
    if as_json:
        print_json(result)
        return
    out.print(f"{result['now']}: {len(result['fired'])} reminders fired, {result['delivered']} messages delivered")
    for r in result["fired"]:
        out.print(f"  {r['kind']:<11} {r['outcome'] or '':<11} {r['key']}", highlight=False)
    for channel, count in result["waiting"].items():
        out.print(f"  {count} {channel} message(s) waiting: no sender configured or not yet due", highlight=False)


async def _tick(service: Service) -> dict[str, Any]:
    from bot.runtime import build_senders, worker_name
    from bot.views import outbox_waiting
    from bot.worker.outbox import Delivery
    from bot.worker.ticker import Ticker

    worker = worker_name()
    senders = build_senders(settings(), service)
    result = await Ticker(service, Delivery(service, senders, worker), worker).tick()

    return {
        "now": service.clock.now().isoformat(),
        "worker": worker,
        "fired": [
            {"id": r.id, "key": r.key, "kind": r.kind, "state": r.state, "outcome": r.outcome} for r in result.fired
        ],
        "delivered": result.delivered,
        "waiting": await service.read(outbox_waiting),
    }


# --- recording things ----------------------------------------------------------------------


def milestone_done(
    ref: str,
    key: Annotated[str, typer.Argument(help="Obligation key, e.g. templates, agency_return, rr:agency_return:police.")],
    by: ByOpt,
    note: Annotated[str | None, typer.Option(help="What happened (recorded with it).")] = None,
    config: ConfigOpt = None,
) -> None:
    """Mark a milestone (or any obligation) done: its owner, or the Business Manager."""
    from bot.flows.commands import MarkDone
    from bot.flows.timelines.plan import mark_done

    cmd = _command(MarkDone, {"by": by, "ref": ref, "key": key, "note": note})
    ob = _run(config, lambda svc: svc.run(mark_done, cmd))
    out.print(f"{ref.upper()}: {ob.key} is {ob.state} (by {ob.done_by}).", highlight=False)


def delay_cmd(
    ref: str,
    by: ByOpt,
    reason: Annotated[str, typer.Option(help="Why the Rapid Review will be late.")],
    expected: Annotated[str, typer.Option(help="Expected completion date (ISO).")],
    config: ConfigOpt = None,
) -> None:
    """Record a Rapid Review delay: the reason and the expected date. Tasks telling the National Panel."""
    from bot.flows.commands import RecordDelay
    from bot.flows.timelines.plan import record_delay

    cmd = _command(RecordDelay, {"by": by, "ref": ref, "reason": reason, "expected": _date(expected)})
    ob, due = _run(config, lambda svc: _with_due(svc, svc.run(record_delay, cmd)))
    out.print(f"{ref.upper()}: delay recorded. {ob.what}: due {due}.", highlight=False)


def cspr_cmd(
    ref: str,
    by: ByOpt,
    decided: Annotated[str | None, typer.Option(help="Date the local CSPR was decided (ISO).")] = None,
    publication: Annotated[str | None, typer.Option(help="Recorded publication date (ISO).")] = None,
    reviewer: Annotated[str | None, typer.Option(help="The independent reviewer's name, when appointed.")] = None,
    config: ConfigOpt = None,
) -> None:
    """Record a local CSPR's decision date, publication date and/or reviewer; opens its deadlines."""
    from bot.flows.commands import RecordCspr
    from bot.flows.timelines.plan import record_cspr

    data = {
        "by": by,
        "ref": ref,
        "decided_on": _date(decided),
        "publication_on": _date(publication),
        "reviewer": reviewer,
    }
    cmd = _command(RecordCspr, data)
    case = _run(config, lambda svc: svc.run(record_cspr, cmd))
    out.print(
        f"{case.ref}: local CSPR decided {case.cspr_decided_on}, publication {case.cspr_publication_on or 'not set'}.",
        highlight=False,
    )


def complaint_cmd(
    ref: str,
    by: ByOpt,
    received: Annotated[str | None, typer.Option(help="Date the complaint was received (ISO; default today).")] = None,
    summary: Annotated[str | None, typer.Option(help="A few words; nothing that identifies anyone.")] = None,
    config: ConfigOpt = None,
) -> None:
    """Record a complaint received about a case: a written response is due in 20 working days."""
    from bot.flows.commands import RecordComplaint
    from bot.flows.timelines.plan import record_complaint

    data = {"by": by, "ref": ref, "received_on": _date(received), "summary": summary}
    cmd = _command(RecordComplaint, data)
    ob, due = _run(config, lambda svc: _with_due(svc, svc.run(record_complaint, cmd)))
    out.print(f"{ref.upper()}: {ob.key} recorded; the written response is due {due}.", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("timeline")(timeline_cmd)
    app.command("tick")(tick_cmd)
    milestone_app = typer.Typer(help="Rapid Review milestones and other obligations.", no_args_is_help=True)
    milestone_app.command("done")(milestone_done)
    app.add_typer(milestone_app, name="milestone")
    app.command("delay")(delay_cmd)
    app.command("cspr")(cspr_cmd)
    app.command("complaint")(complaint_cmd)
