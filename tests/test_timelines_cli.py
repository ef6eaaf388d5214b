"""`panelbot timeline`, `tick`, `milestone done`, `delay`, `cspr` and `complaint`, as an operator runs them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from bot.cli import app
from bot.cli import timeline as cli_timeline
from bot.clock import ManualClock
from bot.service import Service
from storage.migrate import upgrade
from tests.conftest import ROOT
from tests.timeline_support import Run, london, rapid_review

CONFIG = ["--config", str(ROOT / "app.yaml")]


@pytest.fixture
async def case_ref(cfg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A Rapid Review notified on Tue 22 Dec 2026, in the store the CLI uses; the CLI's clock reads
    Thu 24 Dec 10:00 unless a command says otherwise."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("PANELBOT_DATABASE_URL", url)
    service = Service.create(cfg, ManualClock(london(2026, 12, 21, 10, 0)), url)
    await upgrade(service.engine)
    try:
        ref = await rapid_review(Run(service), london(2026, 12, 22, 10, 0))
    finally:
        await service.close()
    monkeypatch.setattr(cli_timeline, "SystemClock", lambda: ManualClock(london(2026, 12, 24, 10, 0)))
    return ref


def cli(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(app, [*args, *CONFIG])
    assert result.exit_code == code, result.output
    return result.output


def timeline(ref: str) -> dict[str, Any]:
    return json.loads(cli("timeline", ref, "--json"))


def test_timeline_lists_obligations_in_order_with_rag(case_ref: str, monkeypatch: pytest.MonkeyPatch):
    view = timeline(case_ref)
    rows = {o["key"]: o for o in view["obligations"]}
    assert [o["due_at"] for o in view["obligations"]] == sorted(o["due_at"] for o in view["obligations"])
    assert (rows["rr:recommend"]["state"], rows["rr:recommend"]["rag"]) == ("open", "red")  # due Wed 23 Dec
    assert rows["rr:templates"]["rag"] == "amber"  # due today
    assert rows["rr:agency_return:police"]["rag"] == "green"
    assert rows["rr:agency_return:police"]["owner"] == "Greater Manchester Police agency lead (Casey Ward)"
    assert (rows["rr:notify"]["state"], rows["rr:notify"]["rag"]) == ("done", None)
    assert view["rag"] == "red"
    monkeypatch.setattr(cli_timeline, "out", Console(width=220))
    table = cli("timeline", case_ref)
    assert "rr:agency_return:police" in table and "Casey Ward" in table
    assert "Plan at risk: 14 working days left to the statutory date, the plan needs 14" in table


def test_milestone_done_by_the_owner_and_refused_to_others(case_ref: str):
    assert "done (by bm)" in cli("milestone", "done", case_ref, "templates", "--by", "bm", "--note", "Sent by e-mail")
    cli("milestone", "done", case_ref, "agency_return", "--by", "police-lead")  # the lead's own agency's
    refused = cli("milestone", "done", case_ref, "collate", "--by", "la-lead", code=1)
    assert "Only the Business Manager can mark this done" in refused
    cli("milestone", "done", case_ref, "nonsense", "--by", "bm", code=2)  # an unknown key is bad input
    rows = {o["key"]: o for o in timeline(case_ref)["obligations"]}
    assert (rows["rr:templates"]["state"], rows["rr:templates"]["note"]) == ("done", "Sent by e-mail")
    assert rows["rr:agency_return:police"]["done_by"] == "police-lead"
    assert rows["rr:agency_return:la"]["state"] == rows["rr:collate"]["state"] == "open"


def test_tick_fires_what_is_due_once(case_ref: str):
    first = json.loads(cli("tick", "--now", "2027-01-08T09:00", "--json"))
    fired = {(r["kind"], r["outcome"]) for r in first["fired"]}
    assert ("escalation", "sent") in fired and ("chase", "superseded") in fired and ("rr_invite", "sent") in fired
    assert first["now"] == "2027-01-08T09:00:00+00:00"
    assert first["delivered"] == 0 and first["waiting"]["email"] > 0  # no sender configured in tests
    again = json.loads(cli("tick", "--now", "2027-01-08T09:00", "--json"))
    assert again["fired"] == []
    assert "reminders fired" in cli("tick", "--now", "2027-01-08T09:05")


def test_delay_cspr_and_complaint_open_their_obligations(case_ref: str):
    cli("delay", case_ref, "--by", "bm", "--reason", "Health chronology is late.", "--expected", "2027-01-20")
    cli("delay", case_ref, "--by", "bm", "--reason", "Too early.", "--expected", "2027-01-14", code=1)
    cli("delay", case_ref, "--by", "bm", "--reason", "Bad date here.", "--expected", "soon", code=2)
    cli("cspr", case_ref, "--by", "bm", "--decided", "2027-01-12", "--publication", "2027-06-30")
    cli("complaint", case_ref, "--by", "bm", "--received", "2027-01-04", "--summary", "about the timescale")
    cli("complaint", case_ref, "--by", "la-lead", code=1)
    view = timeline(case_ref)
    due = {o["key"]: o["due_local"] for o in view["obligations"]}
    assert view["delay"] == {"reason": "Health chronology is late.", "expected": "2027-01-20"}
    assert due["delay_notice:1"] == "Tue 29 Dec 2026 17:00"  # one working day, over Christmas
    assert due["cspr:report"] == "Mon 12 Jul 2027 17:00"  # six months after the decision
    assert due["cspr:copy:2027-06-30"] == "Mon 21 Jun 2027 17:00"  # 7 working days before publication
    assert due["cspr:publish:2027-06-30"] == "Wed 30 Jun 2027 17:00"
    assert due["complaint:1"] == "Mon 01 Feb 2027 17:00"  # 20 working days after Mon 4 Jan
    # A new publication date replaces the old copy and publication steps.
    cli("cspr", case_ref, "--by", "bm", "--publication", "2027-07-07")
    states = {o["key"]: o["state"] for o in timeline(case_ref)["obligations"]}
    assert states["cspr:copy:2027-06-30"] == "cancelled" and states["cspr:copy:2027-07-07"] == "open"
