"""`panelbot --help` and `panelbot deadlines` load no platform, no database and no Alembic: what a
command does not use, it does not import (not a timing test; bench/bench_burst.py times them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

HEAVY = ("sqlalchemy", "alembic", "msal", "azure", "msgraph", "slack_sdk", "slack_bolt", "microsoft_agents", "aiohttp")
PROBE = """
import json, sys
from typer.testing import CliRunner
from bot.cli import app
result = CliRunner().invoke(app, sys.argv[1:])
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(json.loads(HEAVY)))
print(json.dumps({"code": result.exit_code, "heavy": heavy}))
"""


def loaded_by(*args: str) -> dict:
    probe = PROBE.replace("json.loads(HEAVY)", repr(json.dumps(HEAVY)).join(("json.loads(", ")")))
    env = {**os.environ, "PANELBOT_CONFIG": str(ROOT / "app.yaml")}  # read through the settings, as people do
    done = subprocess.run(
        [sys.executable, "-c", probe, *args], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["deadlines", "--received", "2026-12-21T10:00", "--config", str(ROOT / "app.yaml")],
        ["case", "--help"],
    ],
)
def test_a_command_loads_only_what_it_uses(args: list[str]) -> None:
    result = loaded_by(*args)
    assert result == {"code": 0, "heavy": []}
