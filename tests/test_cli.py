"""The `panelbot` command as an operator runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer
from typer.testing import CliRunner

from bot.cli import app
from bot.server import build_web_app
from bot.settings import Settings
from tests.conftest import ROOT

CONFIG = ["--config", str(ROOT / "app.yaml")]


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("PANELBOT_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    return CliRunner()


def test_deadlines_json_matches_the_statutory_example(runner: CliRunner):
    result = runner.invoke(
        app, ["deadlines", "--received", "2026-12-21T10:00", "--notified", "2026-12-24", "--json", *CONFIG]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {k: data[k] for k in ("received", "screening_due", "notification_due", "notified", "rapid_review_due")} == {
        "received": "2026-12-21T10:00:00+00:00",
        "screening_due": "2026-12-23T17:00:00+00:00",
        "notification_due": "2026-12-30T17:00:00+00:00",
        "notified": "2026-12-24",
        "rapid_review_due": "2027-01-19T17:00:00+00:00",
    }
    assert [(m["day"], m["date"], m["owner"]) for m in data["milestones"]][:3] == [
        (1, "2026-12-24", "la_notifier"),
        (2, "2026-12-29", "la_notifier"),
        (3, "2026-12-30", "business_manager"),
    ]
    assert data["milestones"][-1]["date"] == "2027-01-18"  # Day 15: one working day of slack


@pytest.mark.parametrize(
    "args, message",
    [
        (["--received", "yesterday"], "not a date"),
        (["--received", "2026-12-21T10:00", "--notified", "2026-12-20"], "is before received"),
    ],
)
def test_deadlines_bad_input_exits_2_with_one_line(runner: CliRunner, args: list[str], message: str):
    result = runner.invoke(app, ["deadlines", *args, *CONFIG])
    assert result.exit_code == 2 and message in result.output
    assert len(result.output.strip().splitlines()) <= 2


def test_referral_add_case_show_and_cases(runner: CliRunner, tmp_path: Path):
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    referral = tmp_path / "referral.yaml"
    referral.write_text(
        "received_at: 2026-12-21T10:00\n"
        "referrer: {name: Dr A Referrer, email: ref@example.org}\n"
        "child: {forenames: Zebedee, last_name: Quixotic}\n"
        "panel_summary: A child was admitted with a serious unexplained injury.\n"
    )
    added = runner.invoke(app, ["referral", "add", "--file", str(referral), *CONFIG])
    assert added.exit_code == 0, added.output
    ref = added.stdout.strip()
    assert ref.startswith("TSCP-2026-")
    shown = runner.invoke(app, ["case", "show", ref, "--json", *CONFIG])
    view = json.loads(shown.stdout)
    assert {
        "ref",
        "status",
        "received",
        "screening_due",
        "notification_due",
        "pathway",
        "notifiable",
        "method",
        "decided_at",
        "votes",
        "messages",
    } <= set(view)
    assert (view["status"], view["screening_due"]) == ("screening", "2026-12-23T17:00:00+00:00")
    assert {m["kind"] for m in view["messages"]} == {"vote_request", "panel_convened"}
    assert "Zebedee" not in shown.stdout and "Quixotic" not in shown.stdout
    listed = runner.invoke(app, ["cases", "--open", "--json", *CONFIG])
    [row] = json.loads(listed.stdout)
    assert row["ref"] == ref and row["next_deadline"] == "2026-12-23T17:00:00+00:00"
    missing = runner.invoke(app, ["case", "show", "TSCP-2026-404", *CONFIG])
    assert missing.exit_code == 2 and "There is no case" in missing.output


def test_referral_add_refuses_a_short_summary(runner: CliRunner):
    runner.invoke(app, ["db", "upgrade"])
    result = runner.invoke(app, ["referral", "add", "--referrer-name", "X", "--summary", "too short", *CONFIG])
    assert result.exit_code == 2 and "panel_summary" in result.output


def test_commands_refuse_a_schema_that_is_behind(runner: CliRunner):
    result = runner.invoke(app, ["cases", *CONFIG])
    assert result.exit_code == 2 and "run `panelbot db upgrade`" in result.output


def test_serve_refuses_to_start_on_an_empty_database(tmp_path: Path):
    env = {**os.environ, "PANELBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"}
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "serve", "--port", "0", *CONFIG],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "panelbot db upgrade" in proc.stderr


async def test_healthz_reports_schema_and_database(service):
    async with TestClient(TestServer(build_web_app(service, Settings()))) as client:
        response = await client.get("/healthz")
        body = await response.json()
    assert response.status == 200
    assert body["database"] == "ok" and body["schema"]["up_to_date"] is True


def test_deadlines_json_prints_times_with_their_london_offset(runner: CliRunner, tmp_path: Path):
    """Issue 12, item 7: a time of day is never a bare date, and never UTC; an `{hours: 48}` deadline
    at 09:00 shows its 09:00, in summer with +01:00."""
    data = yaml.safe_load((ROOT / "app.yaml").read_text())
    data["process"]["screening_due"] = {"hours": 48}
    path = tmp_path / "app.yaml"
    path.write_text(yaml.safe_dump(data))
    args = ["deadlines", "--received", "2026-07-06T09:00", "--notified", "2026-07-08", "--json", "--config", str(path)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    assert got["received"] == "2026-07-06T09:00:00+01:00"
    assert got["screening_due"] == "2026-07-08T09:00:00+01:00"
    assert got["notification_due"] == "2026-07-13T17:00:00+01:00"
    assert got["rapid_review_due"] == "2026-07-29T17:00:00+01:00"
    assert got["milestones"][-1]["due"] == "2026-07-28T17:00:00+01:00"
