"""A live server (the real web app: desk and link pages) on 127.0.0.1 in a thread with its own event
loop, for the link pages' browser tests, with e-mail going through the real Graph sender to the fake
Graph, so a test reads the link out of the message as sent. Sync Playwright cannot run inside a
running loop, hence the thread; `call` runs a coroutine on the server's loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from bot.clock import ManualClock
from bot.config import AppConfig
from bot.handlers.graph.mail import EmailSender
from bot.server import build_web_app
from bot.service import Service
from bot.settings import Settings
from bot.worker.outbox import Delivery, RecordingSender
from storage.migrate import upgrade
from tests.fakes.graph import FakeGraph
from tests.fakes.graph_env import graph_client

T = TypeVar("T")


class LinkServer:
    def __init__(self, tmp: Path, cfg: AppConfig, clock: ManualClock) -> None:
        self.tmp, self.cfg, self.clock = tmp, cfg, clock
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
        self.service = Service.create(self.cfg, self.clock, f"sqlite+aiosqlite:///{self.tmp / 'links.db'}")
        await upgrade(self.service.engine)
        self.graph = await FakeGraph(self.tmp / "tls").start()
        self.graph_client = graph_client(self.graph)
        self.app = build_web_app(self.service, Settings(panelbot_web_dev_login=True))
        self.runner = web.AppRunner(self.app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        web_cfg = self.cfg.web.model_copy(update={"base_url": self.url})
        self.service.cfg = self.cfg.model_copy(update={"web": web_cfg})  # links point at this server
        mail = EmailSender(self.graph_client, self.cfg.partnership.mailbox, self.cfg.partnership.name)
        chat = RecordingSender()
        self.delivery = Delivery(self.service, {"email": mail, "slack": chat, "teams": chat, "calendar": chat})

    async def _stop(self) -> None:
        await self.runner.cleanup()
        await self.graph_client.close()
        await self.graph.close()
        await self.service.close()

    def call(self, work: Callable[[], Awaitable[T]], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(work(), self.loop).result(timeout)  # type: ignore[arg-type]

    def run(self, flow: Callable[..., Awaitable[T]], cmd: Any) -> T:
        return self.call(lambda: self.service.run(flow, cmd))

    def deliver(self) -> None:
        self.call(self.delivery.drain)

    def __enter__(self) -> LinkServer:
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(30)
