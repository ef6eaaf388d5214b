"""The desk's plumbing: the shared state (`Desk`), one visit's context (`Visit`: session, person,
CSRF), the `page` wrapper every route goes through, templates and security headers."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, PrefixLoader, select_autoescape
from multidict import MultiDictProxy

from bot.config import Person, Role
from bot.flows.common import Conflict, NotFound, Refused
from bot.handlers.web.oidc import OIDCClient
from bot.handlers.web.pages import person_label
from bot.handlers.web.session import COOKIE, Session, Signer, csrf_ok, dump_session, is_loopback, load_session
from bot.service import Service
from bot.settings import Settings

log = logging.getLogger("panelbot.web")
HERE = Path(__file__).parent
STATIC = HERE / "static"

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def templates() -> Environment:
    env = Environment(
        loader=ChoiceLoader(
            [
                FileSystemLoader(HERE / "templates"),
                PrefixLoader({"govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja")}),
            ]
        ),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


@dataclass
class Desk:
    """What every request of the web front shares."""

    service: Service
    settings: Settings
    signer: Signer
    jinja: Environment = field(default_factory=templates)
    oidc: OIDCClient | None = None
    http: aiohttp.ClientSession | None = None

    @property
    def cfg(self):
        return self.service.cfg

    @property
    def dev_login(self) -> bool:
        return self.settings.panelbot_web_dev_login

    @property
    def idle(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.cfg.web.session_idle_minutes)

    def now(self) -> dt.datetime:
        return self.service.clock.now()

    def local(self, moment: dt.datetime | str | None) -> str:
        if moment is None or moment == "":
            return ""
        if isinstance(moment, str):
            moment = dt.datetime.fromisoformat(moment)
        return self.service.env.local(moment)

    def person_label(self, person_id: str | None) -> str:
        return person_label(self.service.env, person_id)


DESK = web.AppKey("desk", Desk)


class CsrfRefused(Exception):
    pass


class Forbidden(Exception):
    """Not allowed on the desk itself (not a flow's refusal); audited before it is raised."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class Visit:
    """One request: who is asking (from the signed session, never from the form) and their CSRF token."""

    desk: Desk
    request: web.Request
    session: Session
    form: MultiDictProxy[Any] | None = None
    flash: str | None = None

    @property
    def person(self) -> Person | None:
        return self.desk.cfg.person(self.session.person_id) if self.session.person_id else None

    @property
    def me(self) -> Person:
        person = self.person
        assert person is not None, "the page wrapper signs people in before a handler runs"
        return person

    def value(self, name: str) -> str:
        return str(self.form.get(name, "")) if self.form is not None else ""

    def render(self, template: str, status: int = 200, **context: Any) -> web.Response:
        html = self.desk.jinja.get_template(template).render(
            service_name=self.desk.cfg.partnership.name,
            person=self.person,
            person_label=self.desk.person_label,
            local=self.desk.local,
            csrf=self.session.csrf,
            path=self.request.path,
            is_bm=bool(self.person and self.person.has(Role.BUSINESS_MANAGER)),
            **context,
        )
        return web.Response(text=html, status=status, content_type="text/html")

    async def refuse(self, message: str, what: str, ref: str | None = None) -> None:
        """Audit a refusal on the desk and raise it (a 403 page that says why)."""
        actor = self.session.person_id or f"web:{self.request.remote}"
        await self.desk.service.audit_refusal(Refused(message, ref=ref, path=self.request.path), actor, what)
        raise Forbidden(message)


Handler = Callable[[Visit], Awaitable[web.StreamResponse]]


def page(handler: Handler, signed_in: bool = True) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Every desk route: load the session, check CSRF on POST, require sign-in, turn a missing case
    into a 404 page and a refusal into a 403 page, refresh the session cookie (idle expiry)."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        desk = request.app[DESK]
        now = desk.now()
        session = load_session(desk.signer, request.cookies.get(COOKIE), now, desk.idle)
        visit = Visit(desk, request, session)
        response = await _guarded(visit, handler, signed_in)
        if visit.session.person_id:
            visit.session = visit.session.touched(now)
        set_session_cookie(visit, response)
        response.headers["Cache-Control"] = "no-store"
        return response

    return wrapped


def redirect(location: str) -> web.Response:
    """303 See Other: after a POST, the browser GETs the page it is sent to."""
    return web.Response(status=303, headers={"Location": location})


def safe_next(value: str | None) -> str:
    """Only a path on this site: never `//evil.example` or `https://…`."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def public(handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    return page(handler, signed_in=False)


async def _guarded(visit: Visit, handler: Handler, signed_in: bool) -> web.StreamResponse:
    request = visit.request
    try:
        if request.method == "POST":
            visit.form = await request.post()
            if not csrf_ok(visit.session, visit.form.get("csrf_token")):  # type: ignore[arg-type]
                await visit.refuse(
                    "This form was not sent from this page, or it has expired. Please go back, reload the page "
                    "and try again.",
                    "web_csrf",
                )
        if signed_in and visit.person is None:
            if request.method == "GET":
                return redirect(f"/sign-in?next={quote(request.path_qs, safe='')}")
            return visit.render("error.html", 401, title="You are not signed in", message="Please sign in again.")
        return await handler(visit)
    except NotFound as exc:
        return visit.render("error.html", 404, title="Page not found", message=exc.message)
    except Conflict as exc:  # the case moved on (already done, not failed any more)
        return visit.render("error.html", 409, title="This cannot be done now", message=exc.message)
    except Refused as exc:  # a flow's refusal: Service.run has audited it
        return visit.render("error.html", 403, title="You cannot do this", message=exc.message)
    except Forbidden as exc:
        return visit.render("error.html", 403, title="You cannot do this", message=exc.message)


def set_session_cookie(visit: Visit, response: web.StreamResponse) -> None:
    secure = not is_loopback(visit.request.host)
    response.set_cookie(
        COOKIE,
        dump_session(visit.desk.signer, visit.session),
        httponly=True,
        secure=secure,
        samesite="Lax",
        path="/",
    )


@web.middleware
async def security_headers(request: web.Request, handler: Callable) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        for name, value in SECURITY_HEADERS.items():
            exc.headers.setdefault(name, value)
        raise
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response
