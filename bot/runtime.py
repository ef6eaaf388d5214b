"""Putting `panelbot serve` together: the service, each platform's sender, the web app and the ticker.
With `server.py` and the CLI, the only place that knows every platform."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import time
from typing import Any

from aiohttp import web

from bot.clock import SystemClock
from bot.config import AppConfig
from bot.metrics import Metrics
from bot.ops import Ops, metrics_app
from bot.server import build_web_app
from bot.service import Service
from bot.settings import Settings, reveal
from bot.worker.outbox import Delivery, Sender
from bot.worker.progress import SendProgress
from bot.worker.ticker import Ticker, run_ticker
from storage.migrate import require_current_schema
from storage.notify import listen

log = logging.getLogger("panelbot")


def build_senders(settings: Settings, service: Service) -> dict[str, Sender]:
    senders: dict[str, Sender] = {}
    progress = SendProgress(service)
    if settings.slack_bot_token:
        from bot.handlers.slack.home import home_publisher
        from bot.handlers.slack.sender import SlackSender, sending_client

        client = sending_client(reveal(settings.slack_bot_token) or "", settings.slack_api_url)
        senders["slack"] = SlackSender(client, home_publisher(service), progress)
    if settings.teams_enabled:
        from bot.handlers.teams.connection import auth_configuration, build_adapter
        from bot.handlers.teams.sender import TeamsSender

        adapter = build_adapter(auth_configuration(settings))
        anonymous = settings.teams_anonymous_allowed
        senders["teams"] = TeamsSender(service, adapter, settings.teams_client_id, anonymous=anonymous)
    if settings.graph_enabled:
        from bot.handlers.graph.calendar import CalendarSender
        from bot.handlers.graph.client import GraphClient
        from bot.handlers.graph.mail import EmailSender

        graph = GraphClient.from_settings(settings)
        partnership = service.cfg.partnership
        senders["email"] = EmailSender(graph, partnership.mailbox, partnership.name, progress)
        senders["calendar"] = CalendarSender(graph, service)
    return senders


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
    """Serve until SIGTERM or SIGINT, then shut down cleanly (`shutdown`)."""
    service = Service.create(
        cfg, SystemClock(), settings.panelbot_database_url, settings.link_key, data_keys=settings.data_keys
    )
    await require_current_schema(service.engine)
    if settings.data_keys is None:
        log.warning("PANELBOT_DATA_KEY is not set: new Part A details are kept unencrypted, sealed ones read as locked")
    warn_if_anonymous(settings)
    if settings.link_key is None:
        log.warning("PANELBOT_LINK_KEY is not set: e-mail links work, but a reminder after a restart sends new ones")
    metrics = Metrics()
    senders = build_senders(settings, service)
    delivery = Delivery(service, metrics.timed(senders), worker_name())
    ticker = Ticker(service, delivery, worker_name())
    ops = Ops.from_settings(settings, metrics=metrics, ticker=ticker, delivery=delivery)
    app = build_web_app(service, settings, ops)
    stop = stop_on_signals()
    runners = [await start_site(app, host, port)]
    log.info("panelbot listening on http://%s:%s (channels: %s)", host, port, ", ".join(senders) or "none")
    if settings.panelbot_metrics_port:
        metrics_only = metrics_app(service, Ops(metrics=metrics))
        runners.append(await start_site(metrics_only, settings.panelbot_metrics_host, settings.panelbot_metrics_port))
        log.info("metrics on http://%s:%s/metrics", settings.panelbot_metrics_host, settings.panelbot_metrics_port)
    ticking = asyncio.create_task(run_ticker(ticker, stop=stop))  # reminders and delivery, until stopped
    slack_socket = None
    delivery.start()  # one lane per channel, woken by commits that write outbox rows
    listening = asyncio.create_task(listen(service.engine, service.outbox_signal))  # other replicas' commits
    try:
        if socket_mode:
            from bot.handlers.slack.listeners import start_socket_mode

            slack_socket = await start_socket_mode(app, settings)
        await stop.wait()
    finally:
        stop.set()
        listening.cancel()
        await shutdown(runners, ticking, delivery, slack_socket)
        await service.close()


async def shutdown(runners: list[web.AppRunner], ticking: asyncio.Task[None], delivery: Delivery, socket: Any) -> None:
    """Within 10 s: stop taking requests (those in progress get 3 s), let the send in flight finish
    (up to 6 s), then hand this process's outbox leases back so the next process sends those rows."""
    started = time.monotonic()
    log.info("shutting down: no new requests; finishing in-flight sends", extra={"event": "shutdown.start"})
    if socket is not None:
        await socket.close_async()
    await asyncio.gather(*(runner.cleanup() for runner in runners), ticking, return_exceptions=True)
    await delivery.stop(grace=6.0)  # the lanes finish the sends in flight and start no other
    released = await delivery.release()
    log.info(
        "stopped in %.1f s; %d outbox rows handed back",
        time.monotonic() - started,
        released,
        extra={"event": "shutdown.done", "released": released},
    )


def stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def start_site(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=3.0)  # bot.ops logs each request, with its id
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
