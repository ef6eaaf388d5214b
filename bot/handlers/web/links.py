"""The pages behind single-purpose links (`bot/flows/links.py`): no sign-in, the link's token says who
and for what. A GET only reads (mail scanners open every link first); the form's POST, with the
session's CSRF token, acts through the link as its person. A dead link gets a page that says why and
whom to contact, with a 404 or 410, and nothing about the case."""

from __future__ import annotations

from aiohttp import web
from pydantic import ValidationError

from bot import forms
from bot.flows import links
from bot.flows.common import FlowError, Refused
from bot.flows.links import LinkPage, Purpose
from bot.handlers.web import desk
from bot.handlers.web.desk import Visit, public, redirect
from bot.handlers.web.routes import error_list, field_views

SCRUTINY = forms.Form(
    "scrutiny",
    "Your view on the outcome",
    "Send my view",
    (
        forms.Field(
            "verdict",
            "Do you concur with the screening outcome?",
            "choice",
            options=(("concur", "I concur"), ("disagree", "I disagree")),
        ),
        forms.Field(
            "comment",
            "Comment",
            "multiline",
            required=False,
            max_length=forms.RATIONALE_MAX,
            hint="Needed if you disagree: at least 10 characters on why.",
        ),
    ),
)
NOTIFICATION = forms.Form("notification", "National Panel notified", "The National Panel has been notified", ())
REFERRER = forms.Form(
    "referrer",
    "Your answer",
    "Send my answer",
    (forms.Field("text", "Your answer to the panel's questions", "multiline", min_length=5, max_length=10000),),
)
FORMS: dict[Purpose, forms.Form] = {
    Purpose.VOTE: forms.VOTE,
    Purpose.SCRUTINY: SCRUTINY,
    Purpose.CONSULTATION: forms.CONSULTATION,
    Purpose.NOTIFICATION: NOTIFICATION,
    Purpose.MILESTONE: forms.MILESTONE_DONE,
    Purpose.REFERRER: REFERRER,
}


def _address(visit: Visit) -> tuple[str, str]:
    return visit.request.match_info["ref"], visit.request.match_info["token"]


async def _page(visit: Visit) -> LinkPage:
    service = visit.desk.service
    ref, token = _address(visit)
    return await service.read(lambda uow: links.link_page(uow, service.env, ref, token))


def _dead(visit: Visit, page: LinkPage) -> web.Response:
    return visit.render("link_dead.html", page.status, page=page)


def _show(
    visit: Visit, page: LinkPage, values: dict[str, str], errors: dict[str, str], status: int = 200
) -> web.Response:
    assert page.purpose is not None
    form = FORMS[page.purpose]
    return visit.render(
        "link.html",
        status,
        page=page,
        form=form,
        fields=field_views(form, values, errors),
        errors=error_list(form, errors)
        if form.fields
        else [{"text": t, "href": "#main-content"} for t in errors.values()],
        action=visit.request.path,
    )


async def link_get(visit: Visit) -> web.StreamResponse:
    page = await _page(visit)
    if page.purpose is None:
        return _dead(visit, page)
    values = dict(page.values)
    if page.purpose is Purpose.VOTE and not values and visit.request.query.get("pathway"):
        values["pathway"] = visit.request.query["pathway"]  # the button they chose in the e-mail
    return _show(visit, page, values, {})


async def link_post(visit: Visit) -> web.StreamResponse:
    service = visit.desk.service
    ref, token = _address(visit)
    page = await _page(visit)
    if page.purpose is None:
        return _dead(visit, page)
    form = FORMS[page.purpose]
    values = {f.name: visit.value(f.name) for f in form.fields}
    cmd = links.ActThroughLink(
        ref=ref,
        token=token,
        purpose=visit.value("purpose"),
        fields=values,
        ip=visit.request.remote,
        user_agent=visit.request.headers.get("User-Agent"),
    )
    try:
        acted = await service.run(links.act, cmd)
    except ValidationError as exc:
        return _show(visit, page, values, links.validation_errors(exc), 400)
    except links.LinkDead as exc:
        return _dead(visit, links.dead_page(service.env, exc.resolved))
    except links.PurposeMismatch as exc:
        return visit.render("error.html", 400, title="This link is for something else", message=exc.message)
    except Refused as exc:
        return visit.render("error.html", 403, title="You cannot do this", message=exc.message)
    except FlowError as exc:
        return _show(visit, page, values, {"form": exc.message}, 409)
    after = await _page(visit)
    again = after.purpose is Purpose.VOTE
    return visit.render("link_done.html", page=page, acted=acted, again=again, action=visit.request.path)


async def revoke(visit: Visit) -> web.StreamResponse:
    """The Business Manager withdraws the case's live e-mail links, from the case page (signed in)."""
    ref = visit.request.match_info["ref"].strip().upper()
    count = await visit.desk.service.run(links.revoke_links, links.RevokeLinks(by=visit.me.id, ref=ref))
    visit.session = visit.session.with_flash(f"{count} e-mail link(s) withdrawn; they now open a 'withdrawn' page.")
    return redirect(f"/cases/{ref}#messages")


def routes(app: web.Application) -> None:
    app.router.add_get("/l/{ref}/{token}", public(link_get))
    app.router.add_post("/l/{ref}/{token}", public(link_post))
    app.router.add_post("/cases/{ref}/links/revoke", desk.page(revoke))
