"""Putting `panelbot serve` together: the service, the senders, the web app and the ticker."""

from __future__ import annotations

import logging
import socket

from aiohttp import web

from bot.channels import build_senders
from bot.clock import SystemClock
from bot.config import AppConfig
from bot.delivery import Delivery
from bot.scheduler import Ticker, run_ticker
from bot.server import build_web_app
from bot.service import Service
from bot.settings import Settings
from storage.migrate import require_current_schema

log = logging.getLogger("panelbot")


def worker_name() -> str:
    import os

    return f"{socket.gethostname()}:{os.getpid()}"


ANONYMOUS_WARNING = (
    "ANONYMOUS_ALLOWED is on: POST /api/messages accepts requests WITHOUT a Bot Framework token, so "
    "anyone who can reach this server can act as any Teams user. This is for local testing only; "
    "never run it like this where Teams or anyone else can reach it."
)


def warn_if_anonymous(settings: Settings) -> None:
    if settings.teams_anonymous_allowed:
        banner = "!" * 100
        log.warning("%s\n%s\n%s", banner, ANONYMOUS_WARNING, banner)


async def serve(cfg: AppConfig, settings: Settings, host: str, port: int, socket_mode: bool = False) -> None:
    service = Service.create(cfg, SystemClock(), settings.panelbot_database_url)
    await require_current_schema(service.engine)
    warn_if_anonymous(settings)
    senders = build_senders(settings, service)
    delivery = Delivery(service, senders, worker_name())
    app = build_web_app(service, settings)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    log.info("panelbot listening on http://%s:%s (channels: %s)", host, port, ", ".join(senders) or "none")
    slack_socket = None
    try:
        if socket_mode:
            from bot.handlers.slack import start_socket_mode

            slack_socket = await start_socket_mode(app, settings)
        await run_ticker(Ticker(service, delivery, worker_name()))  # reminders and delivery, until stopped
    finally:
        if slack_socket is not None:
            await slack_socket.close_async()
        await runner.cleanup()
        await service.close()
