"""The desk: a signed-in web front on the same `panelbot serve`, beside Slack and Teams, driving the
same forms, interactions and flows. GOV.UK Frontend components, server-rendered, no inline script."""

from __future__ import annotations

import logging

import aiohttp
from aiohttp import web

from bot.handlers.web import auth, links, routes
from bot.handlers.web.desk import DESK, STATIC, Desk, security_headers
from bot.handlers.web.session import Signer
from bot.service import Service
from bot.settings import Settings, reveal

log = logging.getLogger("panelbot.web")

DEV_LOGIN_WARNING = (
    "PANELBOT_WEB_DEV_LOGIN is on: the desk offers 'sign in as' ANY roster person without a password. "
    "It only works for requests to a loopback address (127.0.0.1, ::1, localhost). Local use and demos only."
)


def mount(app: web.Application, service: Service, settings: Settings) -> Desk:
    """Add the desk's routes, static files and security headers to the server's app."""
    desk = Desk(
        service=service,
        settings=settings,
        signer=Signer.from_setting(reveal(settings.panelbot_web_session_key)),
        oidc=auth.oidc_client(settings, service.cfg.teams.allowed_tenants),
    )
    app[DESK] = desk
    app.middlewares.append(security_headers)
    auth.routes(app)
    routes.routes(app)
    links.routes(app)
    app.router.add_static("/static/", STATIC, append_version=False)

    async def open_http(app: web.Application) -> None:
        desk.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))

    async def close_http(app: web.Application) -> None:
        if desk.http is not None:
            await desk.http.close()

    if desk.oidc is not None:
        app.on_startup.append(open_http)
        app.on_cleanup.append(close_http)
    if settings.panelbot_web_dev_login:
        banner = "!" * 100
        log.warning("%s\n%s\n%s", banner, DEV_LOGIN_WARNING, banner)
    return desk
