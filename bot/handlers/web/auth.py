"""Signing in and out: Microsoft Entra ID (OpenID Connect), or — on loopback, for local use and
the demo — "sign in as" anyone on the roster (`PANELBOT_WEB_DEV_LOGIN=true`)."""

from __future__ import annotations

from dataclasses import asdict

from aiohttp import web

from bot.config import Person
from bot.flows.common import Refused, audit
from bot.handlers.web.desk import Desk, Forbidden, Visit, public, redirect, safe_next
from bot.handlers.web.oidc import OIDCClient, OIDCError, PendingAuth
from bot.handlers.web.session import PENDING_COOKIE, Session, is_loopback
from bot.settings import Settings, reveal

CALLBACK = "/sign-in/callback"


def oidc_client(settings: Settings, allowed_tenants: list[str]) -> OIDCClient | None:
    if not settings.web_oidc_enabled:
        return None
    assert settings.panelbot_web_oidc_issuer and settings.panelbot_web_oidc_client_id
    return OIDCClient(
        issuer=settings.panelbot_web_oidc_issuer,
        client_id=settings.panelbot_web_oidc_client_id,
        client_secret=reveal(settings.panelbot_web_oidc_client_secret),
        allowed_tenants=frozenset(allowed_tenants),
    )


async def sign_in_page(visit: Visit) -> web.StreamResponse:
    if visit.person is not None:
        return redirect(safe_next(visit.request.query.get("next")))
    return _sign_in(visit)


def _sign_in(visit: Visit, status: int = 200, error: str | None = None) -> web.Response:
    desk = visit.desk
    dev = desk.dev_login and is_loopback(visit.request.host)
    people = [(p.id, p.name, desk.person_label(p.id)) for p in desk.cfg.roster] if dev else []
    return visit.render(
        "sign_in.html",
        status,
        dev=dev,
        people=people,
        entra=desk.oidc is not None,
        next=safe_next(visit.request.query.get("next") or visit.value("next")),
        error=error,
    )


async def dev_sign_in(visit: Visit) -> web.StreamResponse:
    desk = visit.desk
    if not (desk.dev_login and is_loopback(visit.request.host)):
        await visit.refuse("Signing in without a password is switched off here.", "web_dev_sign_in")
    person = desk.cfg.person(visit.value("person"))
    if person is None:
        return _sign_in(visit, 400, "Choose who to sign in as.")
    await _signed_in(visit, person, "dev")
    return redirect(safe_next(visit.value("next")))


async def _signed_in(visit: Visit, person: Person, method: str) -> None:
    desk = visit.desk
    visit.session = visit.session.signed_in_as(person.id, method, desk.now())
    env = desk.service.env

    async def write(uow) -> None:
        audit(uow, env, person.id, "web_signed_in", None, method=method)

    await desk.service.transact(write)


async def sign_out(visit: Visit) -> web.StreamResponse:
    if visit.person is not None:
        env = visit.desk.service.env
        who = visit.person.id

        async def write(uow) -> None:
            audit(uow, env, who, "web_signed_out", None)

        await visit.desk.service.transact(write)
    visit.session = Session()  # anonymous, with a new CSRF token
    return redirect("/sign-in")


def _callback_url(visit: Visit) -> str:
    base = visit.desk.cfg.web.base_url
    if base:
        return base.rstrip("/") + CALLBACK
    return str(visit.request.url.with_path(CALLBACK).with_query(None))


async def entra_start(visit: Visit) -> web.StreamResponse:
    desk = visit.desk
    if desk.oidc is None or desk.http is None:
        return _sign_in(visit, 404, "Sign-in with Microsoft is not set up on this server.")
    try:
        await desk.oidc.discover(desk.http)
    except Exception as exc:  # aiohttp.ClientError and friends: the provider is away
        return _sign_in(visit, 502, f"Microsoft sign-in is not reachable just now ({type(exc).__name__}).")
    url, pending = desk.oidc.authorization_request(_callback_url(visit), safe_next(visit.request.query.get("next")))
    response = redirect(url)
    secure = not is_loopback(visit.request.host)
    token = desk.signer.dumps(asdict(pending), "oidc")
    response.set_cookie(PENDING_COOKIE, token, httponly=True, secure=secure, samesite="Lax", path=CALLBACK, max_age=600)
    return response


async def entra_callback(visit: Visit) -> web.StreamResponse:
    desk = visit.desk
    data = desk.signer.loads(visit.request.cookies.get(PENDING_COOKIE), "oidc")
    if desk.oidc is None or desk.http is None or data is None:
        return _sign_in(visit, 400, "That sign-in has expired or was started elsewhere. Please sign in again.")
    try:
        pending = PendingAuth(**data)
        claims = await desk.oidc.handle_callback(desk.http, dict(visit.request.query), pending, _callback_url(visit))
    except (OIDCError, TypeError) as exc:
        await desk.service.audit_refusal(Refused(str(exc)), f"web:{visit.request.remote}", "web_entra_sign_in")
        response = _sign_in(visit, 403, f"Sign-in was refused: {exc}.")
        response.del_cookie(PENDING_COOKIE, path=CALLBACK)
        return response
    person = roster_match(desk, claims)
    if person is None:
        who = claims.get("preferred_username") or claims.get("email") or claims.get("oid")
        await desk.service.audit_refusal(
            Refused("not on the roster", oid=claims.get("oid"), tid=claims.get("tid")), f"entra:{who}", "web_sign_in"
        )
        response = visit.render("not_on_roster.html", 403, who=who)
        response.del_cookie(PENDING_COOKIE, path=CALLBACK)
        return response
    await _signed_in(visit, person, "entra")
    response = redirect(safe_next(pending.next))
    response.del_cookie(PENDING_COOKIE, path=CALLBACK)
    return response


def roster_match(desk: Desk, claims: dict) -> Person | None:
    """By Entra object id first (it never changes), then by e-mail (preferred_username or email)."""
    oid = claims.get("oid")
    if oid:
        person = desk.cfg.by_teams_id(str(oid))
        if person is not None:
            return person
    for claim in ("email", "preferred_username", "upn"):
        value = str(claims.get(claim) or "").strip().lower()
        if value:
            person = next((p for p in desk.cfg.roster if p.email == value), None)
            if person is not None:
                return person
    return None


def routes(app: web.Application) -> None:
    app.router.add_get("/sign-in", public(sign_in_page))
    app.router.add_post("/sign-in/dev", public(dev_sign_in))
    app.router.add_get("/sign-in/entra", public(entra_start))
    app.router.add_get(CALLBACK, public(entra_callback))
    app.router.add_post("/sign-out", public(sign_out))


__all__ = ["Forbidden", "oidc_client", "routes"]
