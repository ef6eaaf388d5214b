"""After screening (issue 12): the Rapid Review's outcome, the three partners' sign-off, the submission,
the actions arising, and the timeline that shows them — through the flows, the neutral interactions every
front uses, and the CLI."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot import interactions
from bot.cli import app
from bot.flows.commands import AddAction, MarkDone, RecordOutcome, RecordSubmission, SignOff
from bot.flows.common import Conflict, Refused
from bot.flows.timelines import plan, review
from bot.messages import ActionId
from tests.conftest import ROOT
from tests.helpers import outbox, recipients
from tests.timeline_support import Run, london, rapid_review

OUTCOME = {
    "immediate_actions": "A safety plan for the sibling was agreed.",
    "single_agency_learning": "Health to review the skeletal survey pathway.",
    "multi_agency_learning": "GP and early help shared information too slowly.",
    "cspr_criteria_met": False,
    "recommendation": "no_review",
    "no_review_reason": "The learning is clear and the agencies have already acted on it.",
    "wider_system_issues": False,
    "summary": "Clear single- and multi-agency learning; no further review is needed.",
}


async def with_outcome(run: Run) -> str:
    ref = await rapid_review(run, london(2026, 12, 22, 10, 0))  # Day 1 Tue 22 Dec; Day 15 Thu 14 Jan
    await run.at(london(2027, 1, 13, 14, 0), review.record_outcome, RecordOutcome(by="rr-chair", ref=ref, **OUTCOME))
    return ref


async def timeline(run: Run, ref: str) -> dict[str, Any]:
    return await run.service.read(lambda uow: plan.timeline(uow, run.service.env, ref))


def states(view: dict[str, Any]) -> dict[str, str]:
    return {o["key"]: o["state"] for o in view["obligations"]}


async def test_the_outcome_closes_the_chairs_milestones_and_asks_each_agency_to_sign_off(service):
    run = Run(service)
    ref = await with_outcome(run)
    view = await timeline(run, ref)
    assert states(view)["rr:panel_meeting"] == "done" and states(view)["rr:write_up"] == "done"
    signoffs = {o["key"]: o for o in view["obligations"] if o["kind"] == "signoff"}
    assert set(signoffs) == {"signoff:la", "signoff:police", "signoff:health"}
    assert {o["due_local"] for o in signoffs.values()} == {"Thu 14 Jan 2027 17:00"}  # the plan's Day 15
    assert recipients(await outbox(service, "signoff_request")) == {"la-dsp", "la-deputy", "police-dsp", "health-dsp"}


async def test_an_outcome_needs_a_rapid_review_and_the_right_person(service):
    run = Run(service)
    ref = await rapid_review(run, london(2026, 12, 22, 10, 0))
    with pytest.raises(Refused):
        await service.run(review.record_outcome, RecordOutcome(by="la-dsp", ref=ref, **OUTCOME))
    with pytest.raises(Conflict, match="write-up"):
        await service.run(plan.mark_done, MarkDone(by="rr-chair", ref=ref, key="write_up"))
    with pytest.raises(ValueError, match="why no review"):
        RecordOutcome(by="rr-chair", ref=ref, **{**OUTCOME, "no_review_reason": None})


async def test_sign_off_is_one_answer_per_agency_changeable_until_all_three_agree(service):
    run = Run(service)
    ref = await with_outcome(run)
    with pytest.raises(Refused):
        await service.run(review.sign_off, SignOff(by="police-lead", ref=ref, verdict="agree"))
    with pytest.raises(Conflict, match="not agreed yet"):
        await service.run(review.record_submission, RecordSubmission(by="bm", ref=ref))
    await service.run(review.sign_off, SignOff(by="la-deputy", ref=ref, verdict="agree"))  # a deputy may
    await service.run(review.sign_off, SignOff(by="la-dsp", ref=ref, verdict="amend", comment="Add the GP's view."))
    assert states(await timeline(run, ref))["signoff:la"] == "open"  # withdrawn: owed again
    assert recipients(await outbox(service, "signoff_amend")) == {"rr-chair", "bm"}
    for by in ("la-dsp", "police-dsp", "health-dsp"):
        await service.run(review.sign_off, SignOff(by=by, ref=ref, verdict="agree"))
    assert recipients(await outbox(service, "submission_due")) == {"bm"}
    with pytest.raises(Conflict, match="sign-off is closed"):
        await service.run(review.sign_off, SignOff(by="police-dsp", ref=ref, verdict="amend", comment="Too late now."))
    with pytest.raises(Conflict, match="can no longer change"):
        await service.run(review.record_outcome, RecordOutcome(by="rr-chair", ref=ref, **OUTCOME))


async def test_submission_tells_the_dsps_and_the_scrutineer_and_ends_the_plan(service):
    run = Run(service)
    ref = await with_outcome(run)
    for by in ("la-dsp", "police-dsp", "health-dsp"):
        await service.run(review.sign_off, SignOff(by=by, ref=ref, verdict="agree"))
    with pytest.raises(Conflict, match="Submission recorded"):
        await service.run(plan.mark_done, MarkDone(by="bm", ref=ref, key="submit"))
    await run.at(london(2027, 1, 14, 15, 0), review.record_submission, RecordSubmission(by="bm", ref=ref))
    view = await timeline(run, ref)
    assert view["status"] == "submitted" and view["submitted_at"].startswith("2027-01-14T15:00")
    assert not [o for o in view["obligations"] if o["key"].startswith("rr:") and o["state"] == "open"]
    told = await outbox(service, "rr_outcome")
    assert recipients(told) == {"la-dsp", "police-dsp", "health-dsp", "scrutineer"}
    assert "Next steps: No further review" in told[0].payload["text"]


async def test_sign_off_and_submission_through_the_neutral_interactions(service):
    """The buttons Slack, Teams and the desk show: Agree acts at once, Ask for amendments opens a form."""
    run = Run(service)
    ref = await with_outcome(run)
    [request] = [m for m in await outbox(service, "signoff_request") if m.person_id == "police-dsp"]
    ids = [a["id"] for a in request.payload["actions"]]
    assert ids == [ActionId.SIGNOFF_AGREE, ActionId.SIGNOFF_AMEND]
    assert interactions.form_for(ActionId.SIGNOFF_AMEND) is not None
    assert interactions.form_for(ActionId.RECORD_OUTCOME) is not None
    short = await interactions.submit(service, "signoff_amend", "police-dsp", ref, {"comment": "short"})
    assert not short.ok and "comment" in short.errors
    amend = await interactions.submit(
        service, "signoff_amend", "police-dsp", ref, {"comment": "Please add the 2026 call-outs."}
    )
    assert amend.ok, amend.text
    for person in ("la-dsp", "police-dsp", "health-dsp"):
        reply = await interactions.press(service, ActionId.SIGNOFF_AGREE, person, ref)
        assert reply.ok, reply.text
    stranger = await interactions.press(service, ActionId.SUBMISSION_RECORDED, "la-dsp", ref)
    assert not stranger.ok
    done = await interactions.press(service, ActionId.SUBMISSION_RECORDED, "bm", ref)
    assert done.ok and "submission recorded" in done.text


async def test_the_outcome_form_builds_the_command(service):
    run = Run(service)
    ref = await rapid_review(run, london(2026, 12, 22, 10, 0))
    values = {k: ("yes" if v is True else "no" if v is False else v) for k, v in OUTCOME.items()}
    reply = await interactions.submit(service, "rapid_review_outcome", "rr-chair", ref, values)
    assert reply.ok, reply.text
    missing = await interactions.submit(
        service, "rapid_review_outcome", "rr-chair", ref, {**values, "no_review_reason": ""}
    )
    assert not missing.ok and "no_review_reason" in missing.errors


async def test_an_action_is_chased_through_the_agency_lead_and_closed_with_evidence(service):
    run = Run(service)
    ref = await with_outcome(run)
    action = AddAction(
        by="bm",
        ref=ref,
        what="Briefing for response officers on fire risks",
        agency="police",
        owner="DS Kim Park",
        due=dt.date(2027, 2, 5),
    )
    await service.run(review.add_action, action)
    with pytest.raises(Conflict, match="not one of the agencies"):
        await service.run(review.add_action, action.model_copy(update={"agency": "fire"}))
    await run.until(london(2027, 2, 9, 12, 0))
    chases = [c for c in await run.chases() if c[2] == "action:1"]
    assert chases == [
        ("Thu 04 Feb 09:00", "chase", "action:1", "police-lead"),
        ("Fri 05 Feb 09:00", "chase", "action:1", "police-lead"),
        ("Mon 08 Feb 09:00", "escalation", "action:1", "police-lead"),
        ("Mon 08 Feb 09:00", "escalation", "action:1", "bm"),
    ]
    with pytest.raises(Conflict, match="evidence"):
        await service.run(plan.mark_done, MarkDone(by="police-lead", ref=ref, key="action:1"))
    await service.run(
        plan.mark_done, MarkDone(by="police-lead", ref=ref, key="action:1", note="Briefing given on 9 Feb.")
    )
    [row] = [o for o in (await timeline(run, ref))["obligations"] if o["key"] == "action:1"]
    assert row["state"] == "done" and row["late"] is True and row["note"] == "Briefing given on 9 Feb."
    assert row["owner"].startswith("DS Kim Park (Greater Manchester Police; chased through agency lead Casey Ward")


def test_timeline_after_simulate_shows_every_step_with_owner_and_state(tmp_path: Path, monkeypatch):
    """`panelbot simulate --keep` leaves the case store behind; `panelbot timeline` reads it."""
    store = tmp_path / "after.db"
    runner = CliRunner()
    scenario = ROOT / "tests" / "scenarios" / "after_screening.yaml"
    config = ["--config", str(ROOT / "app.yaml")]
    result = runner.invoke(app, ["simulate", str(scenario), "--keep", str(store), "--json", *config])
    assert result.exit_code == 0, result.output
    monkeypatch.setenv("PANELBOT_DATABASE_URL", f"sqlite+aiosqlite:///{store}")
    shown = runner.invoke(app, ["timeline", "TSCP-2027-001", *config], env={"COLUMNS": "250"})
    assert shown.exit_code == 0, shown.output
    text = shown.stdout
    assert "Rapid Review target (not notified): 2027-02-22" in text
    assert "Outcome (version 2, by rr-chair): no_review" in text
    assert "sign-off police: agree by police-dsp" in text
    for line in ("signoff:la", "signoff:police", "signoff:health", "rr:submit", "action:1", "action:2"):
        assert line in text
    assert "done (police-lead) LATE" in text and "DS Kim Park" in text
    data = json.loads(runner.invoke(app, ["timeline", "TSCP-2027-002", "--json", *config]).stdout)
    assert data["outcome"]["agreed_at"] and data["submitted_at"]
    assert {o["key"]: o["state"] for o in data["obligations"]}["reconsideration:2"] == "done"
    again = runner.invoke(app, ["simulate", str(scenario), "--keep", str(store), *config])
    assert again.exit_code == 2 and "already exists" in again.output


def test_the_cli_carries_a_rapid_review_past_screening(tmp_path: Path, monkeypatch):
    """The same commands from the command line, on the store `simulate --keep` left behind."""
    store, runner = tmp_path / "cli.db", CliRunner()
    config = ["--config", str(ROOT / "app.yaml")]
    scenario = ROOT / "tests" / "scenarios" / "rule1_rapid_review_not_notifiable.yaml"
    assert runner.invoke(app, ["simulate", str(scenario), "--keep", str(store), *config]).exit_code == 0
    monkeypatch.setenv("PANELBOT_DATABASE_URL", f"sqlite+aiosqlite:///{store}")
    ref = "TSCP-2027-001"

    def cli(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, [*args, *config])
        assert result.exit_code == code, result.output
        return result.output

    outcome = tmp_path / "outcome.yaml"
    outcome.write_text(json.dumps({**OUTCOME, "recommendation": "local_cspr", "cspr_criteria_met": True}))
    assert "version 1" in cli("outcome", ref, "--by", "rr-chair", "--file", str(outcome))
    assert "not agreed yet" in cli("submission", ref, "--by", "bm", code=1)
    assert "la amends" in cli("signoff", ref, "--by", "la-dsp", "--amend", "Please add the school's view.")
    for by in ("la-dsp", "police-dsp", "health-dsp"):
        assert "agrees" in cli("signoff", ref, "--by", by)
    assert "submission recorded" in cli("submission", ref, "--by", "bm")
    assert "action:1 added" in cli(
        "action",
        "add",
        ref,
        "--by",
        "bm",
        "--what",
        "Fire safety training for early help",
        "--agency",
        "la",
        "--owner",
        "la-lead",
        "--due",
        "2027-04-01",
    )
    assert "not one of the agencies" in cli(
        "action",
        "add",
        ref,
        "--by",
        "bm",
        "--what",
        "Something else to be done",
        "--agency",
        "fire",
        "--owner",
        "x",
        "--due",
        "2027-04-01",
        code=1,
    )
    assert "round 2" in cli("reconsider", ref, "--by", "bm", "--new-information", "--reason", "The inquest found more.")
    assert "no disagreement meeting" in cli("scrutiny-meeting", ref, "--by", "bm", "--rationale", "x" * 25, code=1)
