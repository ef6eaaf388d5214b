"""The Teams side of a test: the real web app (anonymous mode, enabled by the test), a fake
connector, the real proactive sender, and Teams users who post to /api/messages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from aiohttp.test_utils import TestClient, TestServer

from bot.config import AppConfig, parse_config
from bot.handlers.teams.connection import auth_configuration, build_adapter
from bot.handlers.teams.sender import TeamsSender
from bot.server import build_web_app
from bot.service import Service
from bot.settings import Settings
from bot.worker.outbox import Delivery, RecordingSender, Sender
from tests.fakes.teams_connector import FakeConnector, TeamsUser

ROOT = Path(__file__).resolve().parents[2]
ANONYMOUS = {"ANONYMOUS_ALLOWED": True}
# Entra object ids from app.yaml
LA_DSP = "11111111-1111-4111-8111-111111111111"
HEALTH_DSP = "22222222-2222-4222-8222-222222222222"
LA_HOS = "33333333-3333-4333-8333-333333333333"
POLICE_DSP = "44444444-4444-4444-8444-444444444444"
SCRUTINEER = "55555555-5555-4555-8555-555555555555"


def config_with(change: Callable[[dict[str, Any]], None]) -> AppConfig:
    """app.yaml with a change made to its data."""
    data = yaml.safe_load((ROOT / "app.yaml").read_text(encoding="utf-8"))
    change(data)
    return parse_config(data)


def person(data: dict[str, Any], person_id: str) -> dict[str, Any]:
    return next(p for p in data["roster"] if p["id"] == person_id)


def all_in_teams(data: dict[str, Any]) -> None:
    """The whole panel and the scrutineer in Teams."""
    person(data, "police-dsp").update(channel="teams", teams=POLICE_DSP)
    person(data, "police-dsp").pop("slack")
    person(data, "scrutineer").update(channel="teams", teams=SCRUTINEER)


def teams_settings(**values: Any) -> Settings:
    return Settings.model_validate({**ANONYMOUS, **values})


@dataclass
class TeamsWorld:
    service: Service
    connector: FakeConnector
    client: TestClient
    delivery: Delivery
    recorded: dict[str, RecordingSender] = field(default_factory=dict)

    def user(self, aad_object_id: str, name: str = "Test User", **extra: Any) -> TeamsUser:
        return TeamsUser(self.client, self.connector, aad_object_id, name, **extra)

    async def drain(self) -> None:
        await self.delivery.drain()


async def start_world(service: Service, settings: Settings, senders: dict[str, Sender] | None = None) -> TeamsWorld:
    connector = await FakeConnector().start()
    client = TestClient(TestServer(build_web_app(service, settings), host="127.0.0.1"))
    await client.start_server()
    teams = TeamsSender(service, build_adapter(auth_configuration(settings)), settings.teams_client_id, anonymous=True)
    recorded = {"slack": RecordingSender(), "email": RecordingSender()}
    all_senders: dict[str, Sender] = {**recorded, "teams": teams, **(senders or {})}
    return TeamsWorld(service, connector, client, Delivery(service, all_senders), recorded)


async def stop_world(world: TeamsWorld) -> None:
    await world.client.close()
    await world.connector.close()
