"""`panelbot roster sync` against the fake Graph (real msgraph-sdk client), and `panelbot teams package`."""

from __future__ import annotations

import asyncio
import json
import shutil
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from azure.core.pipeline.transport import AioHttpTransport
from typer.testing import CliRunner

from bot.cli import app
from bot.cli import teams as cli_teams
from bot.config import load_config
from bot.handlers.graph.client import GraphClient
from tests.fakes.graph import GRAPH_TENANT, FakeGraph

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


async def invoke(*args: str):
    """The CLI in a thread of its own (it runs its own event loop), while this loop serves the fakes."""
    return await asyncio.to_thread(runner.invoke, app, list(args))


@pytest.fixture
async def fake_graph(tmp_path) -> AsyncIterator[FakeGraph]:
    fake = await FakeGraph(tmp_path / "tls").start()
    yield fake
    await fake.close()


@pytest.fixture
def roster_env(fake_graph, monkeypatch, tmp_path) -> Path:
    for name, value in fake_graph.settings().items():
        monkeypatch.setenv(name, value)

    def trusting_fake(settings):
        return GraphClient.from_settings(settings, transport=AioHttpTransport(connection_verify=fake_graph.ca_path))

    monkeypatch.setattr(cli_teams, "graph_factory", trusting_fake)
    cfg = load_config(ROOT / "app.yaml")
    for person in cfg.roster:
        if person.id not in ("rr-chair", "la-hos"):  # Dana Fox has left; Taylor's id changed
            fake_graph.add_user(person.email, person.teams or f"0000000{len(person.id)}-aaaa-4aaa-8aaa-aaaaaaaaaaaa")
    fake_graph.add_user("taylor.hughes@example.org", "33333333-3333-4333-8333-999999999999")
    path = tmp_path / "app.yaml"
    shutil.copy(ROOT / "app.yaml", path)
    return path


async def test_roster_sync_reports_missing_and_differing_people_and_changes_nothing(roster_env: Path) -> None:
    before = roster_env.read_text()
    result = await invoke("roster", "sync", "-c", str(roster_env))
    assert result.exit_code == 1, result.output
    assert "rr-chair: dana.fox@example.org was not found in the directory" in result.output
    assert "la-hos: taylor.hughes@example.org is 33333333-3333-4333-8333-999999999999 in the directory" in result.output
    assert "la-dsp: sam.patel@example.org matches" in result.output
    assert "--write" in result.output
    assert roster_env.read_text() == before


async def test_roster_sync_write_corrects_only_the_differing_id(roster_env: Path) -> None:
    before = roster_env.read_text().splitlines()
    result = await invoke("roster", "sync", "-c", str(roster_env), "--write")
    assert "corrected teams ids for la-hos" in result.output, result.output
    after = roster_env.read_text().splitlines()
    changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    assert len(changed) == 1 and "33333333-3333-4333-8333-999999999999" in changed[0][1]
    assert load_config(roster_env).person("la-hos").teams == "33333333-3333-4333-8333-999999999999"


async def test_roster_sync_does_not_check_people_of_other_tenants(roster_env: Path) -> None:
    text = roster_env.read_text().replace(
        "teams: 33333333-3333-4333-8333-333333333333}",
        "teams: 33333333-3333-4333-8333-333333333333, teams_tenant: 00000000-0000-4000-8000-0000000000aa}",
    )
    roster_env.write_text(text)
    result = await invoke("roster", "sync", "-c", str(roster_env))
    assert "la-hos: not checked" in result.output and GRAPH_TENANT not in result.output


def test_teams_package_writes_the_manifest_with_the_bot_id(monkeypatch, tmp_path) -> None:
    bot_id = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
    monkeypatch.setenv("CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID", bot_id)
    out = tmp_path / "panelbot.zip"
    result = runner.invoke(app, ["teams", "package", "--website", "https://tscp.example.org", "--out", str(out)])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as archive:
        assert sorted(archive.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(archive.read("manifest.json"))
        assert archive.read("color.png")[:8] == b"\x89PNG\r\n\x1a\n"
    assert manifest["id"] == bot_id and manifest["bots"][0]["botId"] == bot_id
    assert manifest["bots"][0]["scopes"] == ["personal"]
    assert manifest["developer"]["privacyUrl"] == "https://tscp.example.org"


def test_teams_package_needs_the_bot_id(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID", raising=False)
    result = runner.invoke(
        app, ["teams", "package", "--website", "https://x.example.org", "--out", str(tmp_path / "p.zip")]
    )
    assert result.exit_code == 2 and not (tmp_path / "p.zip").exists()
