"""Fixtures for the Slack tests: the fake Web API, the real aiohttp server with Bolt mounted, and a
delivery loop with the real Slack sender. Test modules load them with
`pytest_plugins = ("tests.fakes.slack_fixtures",)`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.clock import ManualClock
from bot.config import AppConfig
from bot.handlers.slack.home import home_publisher
from bot.handlers.slack.sender import SlackSender, sending_client
from bot.server import build_web_app
from bot.service import Service
from bot.settings import Settings
from bot.worker.outbox import Delivery
from bot.worker.progress import SendProgress
from storage.migrate import upgrade
from tests.fakes.slack_api import APP_TOKEN, TOKEN, FakeSlackApi
from tests.fakes.slack_steps import SEND_TIMEOUT, Steps, slack_roster_config
from tests.fakes.slack_workspace import SIGNING_SECRET, SlackWorkspace


@pytest.fixture
def slack_cfg_data() -> dict[str, Any]:
    return slack_roster_config()[1]


@pytest.fixture
def slack_cfg() -> AppConfig:
    return slack_roster_config()[0]


@pytest.fixture
async def slack_service(slack_cfg: AppConfig, clock: ManualClock, db_url: str) -> AsyncIterator[Service]:
    svc = Service.create(slack_cfg, clock, db_url)
    await upgrade(svc.engine)
    yield svc
    await svc.close()


@pytest.fixture
async def fake_slack(clock: ManualClock) -> AsyncIterator[FakeSlackApi]:
    fake = FakeSlackApi(now=lambda: clock.now().timestamp())
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
def slack_settings(fake_slack: FakeSlackApi) -> Settings:
    return Settings(
        slack_bot_token=TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_app_token=APP_TOKEN,
        slack_api_url=fake_slack.url,
    )


@pytest.fixture
async def slack(
    slack_service: Service, slack_settings: Settings, fake_slack: FakeSlackApi
) -> AsyncIterator[SlackWorkspace]:
    app = build_web_app(slack_service, slack_settings)
    async with TestClient(TestServer(app)) as client:
        yield SlackWorkspace(client, fake_slack)


@pytest.fixture
def sender(slack_service: Service, fake_slack: FakeSlackApi) -> SlackSender:
    client = sending_client(TOKEN, fake_slack.url, timeout=SEND_TIMEOUT)
    return SlackSender(client, home_publisher(slack_service), SendProgress(slack_service), home_interval=0)


@pytest.fixture
def delivery(slack_service: Service, sender: SlackSender) -> Delivery:
    return Delivery(slack_service, {"slack": sender})


@pytest.fixture
def steps(slack: SlackWorkspace, delivery: Delivery, slack_service: Service, sender: SlackSender) -> Steps:
    return Steps(slack, delivery, slack_service, sender)
