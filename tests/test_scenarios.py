"""Every scenario under tests/scenarios runs through `panelbot simulate --json` and meets its `expect:`."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from bot.cli import app
from tests.conftest import ROOT

SCENARIOS = sorted((ROOT / "tests" / "scenarios").glob("*.yaml"))


def simulate(path: Path) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["simulate", str(path), "--config", str(ROOT / "app.yaml"), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario(path: Path):
    expect = yaml.safe_load(path.read_text())["expect"]
    run = simulate(path)
    cases = {c["ref"]: c for c in run["cases"]}
    for ref, fields in expect.get("cases", {}).items():
        assert {k: cases[ref][k] for k in fields} == fields, ref
    only = run["cases"][0]
    if "votes" in expect:
        assert len(only["votes"]) == expect["votes"]
    if "late_votes" in expect:
        assert sum(v["after_decision"] for v in only["votes"]) == expect["late_votes"]
    if "vote_by" in expect:
        assert {v["agency"]: v["voter"] for v in only["votes"]} == expect["vote_by"]
    if "rounds" in expect:
        assert len(only["rounds"]) == expect["rounds"]
    kinds = Counter(m["kind"] for m in run["messages"])
    for kind, count in expect.get("messages", {}).items():
        assert kinds[kind] == count, (kind, kinds)
    for kind, at in expect.get("message_at", {}).items():
        assert {m["at"] for m in run["messages"] if m["kind"] == kind} == {at}
    for ref, wanted in expect.get("obligations", {}).items():
        got = {o["key"]: o for o in cases[ref]["obligations"]}
        for key, fields in wanted.items():
            if fields is None:  # the obligation must not exist
                assert key not in got, (ref, key)
                continue
            assert key in got, (ref, key, sorted(got))
            assert {k: got[key][k] for k in fields} == fields, (ref, key)
    for kind, phrase in expect.get("message_text", {}).items():
        texts = [m["title"] + "\n" + m["text"] for m in run["messages"] if m["kind"] == kind]
        assert texts and all(phrase in t for t in texts), (kind, phrase, texts[:1])
    errors = [r["error"] for r in run["rejected"]]
    assert len(errors) == len(expect.get("rejected", [])), errors
    for error, wanted in zip(errors, expect.get("rejected", []), strict=True):
        assert wanted in error


def test_a_broken_scenario_is_a_clear_error(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps:\n  - at: not-a-time\n    vote: {}\n")
    result = CliRunner().invoke(app, ["simulate", str(bad), "--config", str(ROOT / "app.yaml")])
    assert result.exit_code == 2
    assert "step 1" in result.output and "not a date" in result.output
