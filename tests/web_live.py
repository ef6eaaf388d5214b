"""A live desk for the browser tests: the real server app (desk + Slack) on 127.0.0.1 in a thread of
its own with its own event loop, because sync Playwright cannot run inside a running loop. The fake
Slack Web API, the service and the delivery loop live on that loop too; `call` runs a coroutine there."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

from bot.clock import ManualClock
from bot.handlers.slack.home import home_publisher
from bot.handlers.slack.sender import SlackSender, sending_client
from bot.server import build_web_app
from bot.service import Service
from bot.settings import Settings
from bot.worker.outbox import Delivery
from storage.migrate import upgrade
from tests.fakes.slack_api import TOKEN, FakeSlackApi
from tests.fakes.slack_steps import SEND_TIMEOUT, Steps, slack_roster_config
from tests.fakes.slack_workspace import SIGNING_SECRET, SlackWorkspace

T = TypeVar("T")


class UrlClient:
    """What SlackWorkspace needs of aiohttp's TestClient (`post(path, …)`), against a live server."""

    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http, self.base = http, base

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.http.post(self.base + path, **kwargs)


class LiveDesk:
    def __init__(self, db_path: Path, clock: ManualClock, **settings: Any) -> None:
        self.db_url = f"sqlite+aiosqlite:///{db_path}"
        self.clock = clock
        self.settings_overrides = settings
        self.loop = asyncio.new_event_loop()
        self.url = ""
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._start())
        except BaseException as exc:  # reported to the test thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self._stop())
        self.loop.close()

    async def _start(self) -> None:
        cfg, _ = slack_roster_config()
        self.service = Service.create(cfg, self.clock, self.db_url)
        await upgrade(self.service.engine)
        self.fake_slack = FakeSlackApi()
        await self.fake_slack.start()
        settings = Settings(
            slack_bot_token=TOKEN,
            slack_signing_secret=SIGNING_SECRET,
            slack_api_url=self.fake_slack.url,
            panelbot_web_dev_login=True,
            **self.settings_overrides,
        )
        self.app = build_web_app(self.service, settings)
        self.runner = web.AppRunner(self.app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        self.http = aiohttp.ClientSession()
        sender = SlackSender(
            sending_client(TOKEN, self.fake_slack.url, timeout=SEND_TIMEOUT), home_publisher(self.service)
        )
        workspace = SlackWorkspace(UrlClient(self.http, self.url), self.fake_slack)  # type: ignore[arg-type]
        self.steps = Steps(workspace, Delivery(self.service, {"slack": sender}), self.service, sender)

    async def _stop(self) -> None:
        await self.http.close()
        await self.runner.cleanup()
        await self.fake_slack.stop()
        await self.service.close()

    def call(self, work: Callable[[], Awaitable[T]], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(work(), self.loop).result(timeout)  # type: ignore[arg-type]

    def __enter__(self) -> LiveDesk:
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(30)
