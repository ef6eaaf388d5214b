"""`panelbot report annual`: the reporting year's figures as a workbook with native charts, and CSV."""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from bot.cli import app
from bot.cli import common as cli_common
from bot.clock import ManualClock
from bot.flows.commands import RecordDelay, RecordScrutiny
from bot.flows.screening import panel
from bot.flows.timelines import plan
from bot.service import Service
from tests.conftest import ROOT
from tests.helpers import refer, vote
from tests.timeline_support import Run, london, rapid_review

CONFIG = ["--config", str(ROOT / "app.yaml")]


@pytest.fixture
def store(db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("PANELBOT_DATABASE_URL", db_url)
    return db_url


async def test_the_year_in_a_workbook_with_charts_and_in_csv(
    service: Service, store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    run = Run(service)
    ref = await rapid_review(run, london(2026, 12, 22, 10, 0))  # notified in time
    await run.at(
        london(2027, 1, 5, 10, 0),
        plan.record_delay,
        RecordDelay(by="bm", ref=ref, reason="The police investigation holds the records.", expected="2027-01-29"),
    )
    other = await refer(service, referrer={"name": "PC B", "agency": "Police"})
    for who in ("la-dsp", "police-dsp", "health-dsp"):
        await vote(service, who, other.ref, "no_further_action")
    await service.run(
        panel.record_scrutiny,
        RecordScrutiny(by="scrutineer", ref=other.ref, verdict="disagree", comment="The injuries need a Rapid Review."),
    )
    await run.until(london(2027, 3, 1, 10, 0))  # the Rapid Review was never submitted: late by now
    monkeypatch.setattr(cli_common, "SystemClock", lambda: ManualClock(london(2027, 3, 1, 10, 0)))

    target = tmp_path / "year.xlsx"
    result = await asyncio.to_thread(
        CliRunner().invoke, app, ["report", "annual", "--year", "2026", "-o", str(target), *CONFIG]
    )
    assert result.exit_code == 0, result.output
    book = load_workbook(target)
    assert book.sheetnames == ["Summary", "Referrals by month", "Statutory clocks", "Agencies", "Delays and scrutiny"]
    assert len(book["Referrals by month"]._charts) == 1 and len(book["Statutory clocks"]._charts) == 1
    months = {row[0]: row[1] for row in book["Referrals by month"].iter_rows(min_row=2, values_only=True)}
    assert (
        next(iter(months)) == "Apr 2026" and months["Dec 2026"] == months["Jan 2027"] == 1 and sum(months.values()) == 2
    )
    clocks = {row[0]: row[1:] for row in book["Statutory clocks"].iter_rows(min_row=2, values_only=True)}
    assert clocks["screening (2 WD)"][:3] == (2, 2, 100)
    assert clocks["Rapid Review (15 WD)"][:4] == (1, 0, 0, ref)  # late, and named

    text = (
        await asyncio.to_thread(
            CliRunner().invoke,
            app,
            ["report", "annual", "--year", "2026", "--format", "csv", "-o", str(tmp_path / "y.csv"), *CONFIG],
        )
    ).output
    assert "2 referrals" in " ".join(text.split())
    table = list(csv.reader(io.StringIO((tmp_path / "y.csv").read_text())))
    figures = {(s, i): v for s, i, v in table[1:]}
    assert figures[("referrals", "total")] == "2" and figures[("referrals by agency", "Police")] == "1"
    assert figures[("notifiable", "incidents found notifiable")] == "1"
    assert figures[("scrutineer disagreements", "count")] == "1"
    assert figures[("late cases", "Rapid Review (15 WD)")] == ref
    assert ("delay", next(i for s, i in figures if s == "delay")) in figures
    assert {s for s, _ in figures} >= {"pathway", "actions", "median hours from vote request to vote", "deadlocks"}

    empty = await asyncio.to_thread(
        CliRunner().invoke,
        app,
        ["report", "annual", "--year", "2030", "--format", "csv", "-o", str(tmp_path / "e.csv"), *CONFIG],
    )
    assert empty.exit_code == 0 and "0 referrals" in " ".join(empty.output.split())
