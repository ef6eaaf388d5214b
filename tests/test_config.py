"""`app.yaml` validation: every problem named by its YAML path."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from bot.cli import app
from bot.config import ConfigError, parse_config
from tests.conftest import ROOT


def shipped() -> dict:
    return yaml.safe_load((ROOT / "app.yaml").read_text())


def problems(data: dict) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        parse_config(data)
    return exc.value.problems


def test_the_shipped_config_is_valid():
    cfg = parse_config(shipped())
    assert list(cfg.agencies) == ["la", "police", "health"]
    assert cfg.agencies["police"].name == "Greater Manchester Police"
    assert (cfg.calendar.country, cfg.calendar.subdiv) == ("GB", "ENG")
    assert [m.day for m in cfg.process.rapid_review_plan] == [1, 2, 3, 10, 11, 12, 13, 14, 15]


def test_an_unknown_agency_is_named_by_path():
    data = shipped()
    data["roster"][3]["agency"] = "polce"
    assert "roster[3].agency: 'polce' is not one of la, police, health" in problems(data)


def test_every_structural_problem_is_reported_at_once():
    data = shipped()
    data["process"]["decision_rule"] = "mostly"
    data["roster"][0]["email"] = "not-an-address"
    data["roster"][1]["channel"] = "pigeon"
    data["working_hours"] = {"start": "17:00", "end": "09:00"}
    found = problems(data)
    assert any(p.startswith("process.decision_rule: Input should be 'majority'") for p in found)
    assert "roster[0].email: 'not-an-address' is not an e-mail address" in found
    assert any(p.startswith("roster[1].channel:") for p in found)
    assert any(p.startswith("working_hours:") and "end must be after start" in p for p in found)


def test_an_agency_without_a_panel_member_and_a_role_nobody_holds():
    data = shipped()
    data["roster"] = [p for p in data["roster"] if p["id"] not in ("health-dsp", "scrutineer")]
    found = problems(data)
    assert "roster: agency 'health' has no panel_member" in found
    assert "roster: nobody holds the role independent_scrutineer" in found


def test_duplicate_ids_and_chat_identities():
    data = shipped()
    data["roster"][2]["id"] = "bm"
    data["roster"][3]["slack"] = "U0BM00001"
    found = problems(data)
    assert "roster[2].id: 'bm' is already used by roster[0]" in found
    assert "roster[3].slack: 'U0BM00001' is already used by roster[0]" in found


def test_a_chat_channel_needs_its_identity_and_durations_need_one_unit():
    data = shipped()
    del data["roster"][0]["slack"]
    data["process"]["screening_due"] = {"working_days": 2, "hours": 48}
    found = problems(data)
    assert any(p.startswith("roster[0]:") and "no slack user id" in p for p in found)
    assert any(p.startswith("process.screening_due:") and "exactly one" in p for p in found)


def test_hours_form_validates():
    data = shipped()
    data["process"]["screening_due"] = {"hours": 48}
    assert parse_config(data).process.screening_due.hours == 48


def test_unknown_fields_are_refused():
    data = shipped()
    data["process"]["decison_rule"] = "majority"
    assert "process.decison_rule: unknown field" in problems(data)


def test_config_check_command_exit_codes(tmp_path: Path):
    runner = CliRunner()
    ok = runner.invoke(app, ["config", "check", str(ROOT / "app.yaml")])
    assert ok.exit_code == 0 and "valid" in ok.output
    data = shipped()
    data["roster"][3]["agency"] = "polce"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data, sort_keys=False))
    result = runner.invoke(app, ["config", "check", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}: roster[3].agency: 'polce' is not one of la, police, health" in result.output
    missing = runner.invoke(app, ["config", "check", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 2 and "cannot read" in missing.output
    (tmp_path / "broken.yaml").write_text("roster: [\n")
    broken = runner.invoke(app, ["config", "check", str(tmp_path / "broken.yaml")])
    assert broken.exit_code == 2 and "not valid YAML" in broken.output
