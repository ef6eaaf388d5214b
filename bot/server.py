"""`panelbot serve`: one aiohttp server for Slack, Teams and health checks, plus the ticker."""

from __future__ import annotations

import logging

from aiohttp import web

from bot import ops
from bot.service import Service
from bot.settings import Settings
from storage.migrate import schema_status

log = logging.getLogger("panelbot.server")
SERVICE = web.AppKey("service", Service)
SETTINGS = web.AppKey("settings", Settings)


async def healthz(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    try:
        schema = await schema_status(service.engine)
        database = "ok"
    except Exception as exc:  # the check must answer even when the database does not
        schema, database = {"up_to_date": False}, f"error: {type(exc).__name__}"
    healthy = database == "ok" and schema["up_to_date"]
    body = {"status": "ok" if healthy else "unhealthy", "database": database, "schema": schema}
    return web.json_response(body, status=200 if healthy else 503)


def build_web_app(service: Service, settings: Settings, workers: ops.Ops | None = None) -> web.Application:
    from bot.handlers.web import mount as mount_desk

    app = web.Application()
    app[SERVICE] = service
    app[SETTINGS] = settings
    app.router.add_get("/healthz", healthz)
    ops.mount(app, service, settings, workers or ops.Ops.from_settings(settings))  # /livez /readyz /metrics
    mount_desk(app, service, settings)  # the desk (web front): always on; sign-in decides who gets in
    if settings.slack_bot_token:
        from bot.handlers.slack import listeners

        listeners.mount(app, service, settings)
    if settings.teams_enabled:
        from bot.handlers.teams import agent

        agent.mount(app, service, settings)
    return app
