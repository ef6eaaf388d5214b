"""`panelbot` commands for what follows screening: the Rapid Review's outcome, sign-off, submission,
actions arising, reconsideration and the meeting after a scrutineer's disagreement.

Wired into `bot.cli` by `register(app)`; each builds the same command the chat buttons build.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from bot.cli.common import ConfigOpt, fail, out
from bot.cli.timeline import ByOpt, _command, _date, _run


def outcome_cmd(
    ref: str,
    by: ByOpt,
    file: Annotated[Path, typer.Option("--file", help="YAML with the outcome's fields (see README).")],
    config: ConfigOpt = None,
) -> None:
    """Record the Rapid Review's outcome (the chair or the Business Manager); asks the partners to sign off."""
    from bot.flows.commands import RecordOutcome
    from bot.flows.timelines.review import record_outcome

    try:
        data: Any = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        fail(f"{file}: {exc}")
    if not isinstance(data, dict):
        fail(f"{file}: expected a mapping of the outcome's fields")
    cmd = _command(RecordOutcome, {**data, "by": by, "ref": ref})
    outcome = _run(config, lambda svc: svc.run(record_outcome, cmd))
    out.print(f"{ref.upper()}: outcome recorded (version {outcome.version}); sign-off requested.", highlight=False)


def signoff_cmd(
    ref: str,
    by: ByOpt,
    amend: Annotated[str | None, typer.Option(help="Ask for these amendments instead of agreeing.")] = None,
    config: ConfigOpt = None,
) -> None:
    """Agree the Rapid Review report for your agency, or ask for amendments (panel member or deputy)."""
    from bot.flows.commands import SignOff
    from bot.flows.timelines.review import sign_off

    data = {"by": by, "ref": ref, "verdict": "amend" if amend else "agree", "comment": amend}
    row = _run(config, lambda svc: svc.run(sign_off, _command(SignOff, data)))
    out.print(f"{ref.upper()}: {row.agency} {row.verdict}s (by {row.person_id}).", highlight=False)


def submission_cmd(
    ref: str,
    by: ByOpt,
    note: Annotated[str | None, typer.Option(help="How it was sent.")] = None,
    config: ConfigOpt = None,
) -> None:
    """Record that the agreed report went to the National Panel (Business Manager)."""
    from bot.flows.commands import RecordSubmission
    from bot.flows.timelines.review import record_submission

    cmd = _command(RecordSubmission, {"by": by, "ref": ref, "note": note})
    case = _run(config, lambda svc: svc.run(record_submission, cmd))
    out.print(f"{case.ref}: submission recorded; the DSPs and the scrutineer are told.", highlight=False)


def action_add(
    ref: str,
    by: ByOpt,
    what: Annotated[str, typer.Option(help="The action.")],
    agency: Annotated[str, typer.Option(help="Owner agency key (la, police, health).")],
    owner: Annotated[str, typer.Option(help="Named person: a roster id, or a name (chased via the agency lead).")],
    due: Annotated[str, typer.Option(help="Due date (ISO).")],
    config: ConfigOpt = None,
) -> None:
    """Add an action arising (Business Manager or Rapid Review chair); close it with `milestone done REF action:N
    --note EVIDENCE`."""
    from bot.flows.commands import AddAction
    from bot.flows.timelines.review import add_action

    data = {"by": by, "ref": ref, "what": what, "agency": agency, "owner": owner, "due": _date(due)}
    ob = _run(config, lambda svc: svc.run(add_action, _command(AddAction, data)))
    out.print(f"{ref.upper()}: {ob.key} added — {ob.what}.", highlight=False)


def reconsider_cmd(
    ref: str,
    by: ByOpt,
    reason: Annotated[str, typer.Option(help="Why the case is reconsidered.")],
    new_information: Annotated[
        bool, typer.Option("--new-information", help="New information emerged (default: the National Panel asked).")
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """Reopen screening as a new round (Business Manager); the outcome is reported back to the National Panel."""
    from bot.flows.commands import Reconsider
    from bot.flows.screening.panel import reconsider

    source = "new_information" if new_information else "national_panel"
    cmd = _command(Reconsider, {"by": by, "ref": ref, "reason": reason, "source": source})
    rnd = _run(config, lambda svc: svc.run(reconsider, cmd))
    out.print(f"{ref.upper()}: screening reopened, round {rnd.number}.", highlight=False)


def scrutiny_meeting_cmd(
    ref: str,
    by: ByOpt,
    changed: Annotated[bool, typer.Option("--changed", help="The decision changed (default: it stands).")] = False,
    rationale: Annotated[str, typer.Option(help="Why.")] = "",
    config: ConfigOpt = None,
) -> None:
    """Record the outcome of the panel's meeting with the scrutineer after a disagreement."""
    from bot.flows.commands import RecordScrutinyMeeting
    from bot.flows.screening.panel import record_scrutiny_meeting

    outcome = "decision_changed" if changed else "decision_stands"
    cmd = _command(RecordScrutinyMeeting, {"by": by, "ref": ref, "outcome": outcome, "rationale": rationale})
    _run(config, lambda svc: svc.run(record_scrutiny_meeting, cmd))
    out.print(f"{ref.upper()}: meeting outcome recorded ({outcome.replace('_', ' ')}).", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("outcome")(outcome_cmd)
    app.command("signoff")(signoff_cmd)
    app.command("submission")(submission_cmd)
    action_app = typer.Typer(
        help="Actions arising from a Rapid Review, audit & assurance or CSPR.", no_args_is_help=True
    )
    action_app.command("add")(action_add)
    app.add_typer(action_app, name="action")
    app.command("reconsider")(reconsider_cmd)
    app.command("scrutiny-meeting")(scrutiny_meeting_cmd)
