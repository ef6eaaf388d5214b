"""Links from the command line: `case show REF --links` makes a new link per open purpose and person;
`case revoke-links` withdraws them; `panelbot demo` shows the LA deputy and the scrutineer acting
through the links in their e-mails."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.conftest import ROOT

CONFIG = ["--config", str(ROOT / "app.yaml")]
SUMMARY = "A child was admitted with a serious unexplained injury."


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("PANELBOT_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("PANELBOT_LINK_KEY", "k" * 40)
    return CliRunner()


def test_case_show_links_prints_a_new_link_per_open_purpose_and_revoke_withdraws_them(runner: CliRunner):
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    added = runner.invoke(app, ["referral", "add", "--referrer-name", "Dr X", "--summary", SUMMARY, *CONFIG])
    ref = added.stdout.strip()
    first = json.loads(runner.invoke(app, ["case", "show", ref, "--links", "--json", *CONFIG]).stdout)["links"]
    assert {(lk["purpose"], lk["person"]) for lk in first} == {
        ("vote", p) for p in ("la-dsp", "la-deputy", "police-dsp", "health-dsp")
    }
    assert all(lk["url"].startswith(f"http://127.0.0.1:3978/l/{ref}/") for lk in first)
    second = json.loads(runner.invoke(app, ["case", "show", ref, "--links", "--json", *CONFIG]).stdout)["links"]
    assert not {lk["url"] for lk in first} & {lk["url"] for lk in second}  # new ones each time
    shown = runner.invoke(app, ["case", "show", ref, "--links", *CONFIG])
    assert shown.exit_code == 0 and "la-deputy" in shown.stdout and "/l/" in shown.stdout
    revoked = runner.invoke(app, ["case", "revoke-links", ref, "--person", "la-deputy", *CONFIG])
    assert revoked.exit_code == 0 and "link(s) withdrawn" in revoked.stdout
    refused = runner.invoke(app, ["case", "revoke-links", ref, "--by", "police-dsp", *CONFIG])
    assert refused.exit_code != 0 and "business manager" in refused.output


def test_demo_shows_the_deputy_and_the_scrutineer_acting_through_links(runner: CliRunner):
    result = runner.invoke(app, ["demo", *CONFIG], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "Alex Morgan (through the link in their e-mail)" in text
    assert "You are voting for Tameside MBC as Alex Morgan." in text
    assert "Pat Quinn (through the link in their e-mail)" in text
    assert "recorded — your view on the screening outcome" in text
    assert "If this was not you" in text
