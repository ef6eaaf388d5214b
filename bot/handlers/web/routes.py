"""The desk's pages and forms. Handlers stay thin: the signed session says who, `bot.interactions`
turns a form into a command, and the flows decide whether this person may."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot import forms, interactions
from bot.config import AppConfig, Person, Role
from bot.flows import delivery
from bot.flows.commands import RECORD_METHODS, ResendMessage
from bot.flows.common import audit, load_case
from bot.flows.timelines import plan
from bot.handlers.web import pages
from bot.handlers.web.desk import Visit, page, redirect
from bot.messages import ActionId

# The forms a person fills in on a case page, by the name in the URL (`bot.forms` names).
CASE_FORMS: dict[str, forms.Form] = {
    f.name: f
    for f in (
        forms.VOTE,
        forms.DISAGREE,
        forms.SCRUTINY_RECORD,
        forms.CONSULTATION,
        forms.REFERRER_ANSWER,
        forms.MILESTONE_DONE,
        forms.DELAY,
        forms.CSPR,
        forms.COMPLAINT,
    )
}
PRESSES = {
    ActionId.CONCUR.value: ("Concur with the outcome", "You concur with the screening outcome of {ref}."),
    ActionId.NOTIFICATION_SENT.value: (
        "The National Panel has been notified",
        "Record that the National Panel was notified about {ref} now. This starts the Rapid Review clock.",
    ),
}
YES_NO = (("yes", "Yes"), ("no", "No"))
INPUT_TYPES = {"date": "date", "datetime": "datetime-local", "text": "text"}


def _ref(visit: Visit) -> str:
    return visit.request.match_info["ref"].strip().upper()


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value else default
    except ValueError:
        return default


# --- pages -----------------------------------------------------------------------------------


async def dashboard(visit: Visit) -> web.StreamResponse:
    env = visit.desk.service.env
    page = _int(visit.request.query.get("page"), 1)
    data = await visit.desk.service.read(lambda uow: pages.dashboard_data(uow, env, visit.me, page))
    return visit.render("dashboard.html", **data, status_labels=pages.STATUS_LABELS, flash=_take_flash(visit))


async def digest_page(visit: Visit) -> web.StreamResponse:
    """The digest the Business Manager gets each morning, as it would read now."""
    env = visit.desk.service.env
    data = await visit.desk.service.read(lambda uow: pages.dashboard_data(uow, env, visit.me, 1, digest=True))
    return visit.render("digest.html", digest=data["digest"])


async def case_page(visit: Visit) -> web.StreamResponse:
    env = visit.desk.service.env
    audit_page = _int(visit.request.query.get("audit"), 1)
    ref = _ref(visit)
    data = await visit.desk.service.read(lambda uow: pages.case_data(uow, env, ref, visit.me, audit_page))
    return visit.render(
        "case.html",
        **data,
        status_labels=pages.STATUS_LABELS,
        pathway_label=pages.pathway_label,
        audit_details=pages.audit_details,
        flash=_take_flash(visit),
    )


async def part_a_page(visit: Visit) -> web.StreamResponse:
    """Part A as registered, with the child's details: only `web.part_a_readers`; each view audited."""
    env = visit.desk.service.env
    ref = _ref(visit)
    if not pages.may_read_part_a(env, visit.me):
        await visit.refuse(
            "Only the roles named in web.part_a_readers may read a referral's Part A, which holds the child's details.",
            "web_part_a",
            ref,
        )

    async def read_and_audit(uow) -> dict[str, Any]:
        data = await pages.part_a_data(uow, env, ref)
        audit(uow, env, visit.me.id, "part_a_viewed", data["case"], via="web")
        return data

    data = await visit.desk.service.transact(read_and_audit)
    return visit.render("part_a.html", **data)


# --- forms -----------------------------------------------------------------------------------


def field_views(form: forms.Form, values: dict[str, str], errors: dict[str, str]) -> list[dict[str, Any]]:
    """GOV.UK component parameters for each of a neutral form's fields."""
    return [field_view(f, values, errors) for f in form.fields]


def field_view(f: forms.Field, values: dict[str, str], errors: dict[str, str]) -> dict[str, Any]:
    error = {"text": errors[f.name]} if errors.get(f.name) else None
    hint = {"text": f.hint} if f.hint else None
    label = f.label if f.required else f"{f.label} (optional)"
    value = values.get(f.name, "")
    if f.kind in ("choice", "yes_no"):
        options = f.options if f.kind == "choice" else YES_NO
        items = [{"value": v, "text": text, "checked": value == v} for v, text in options]
        params = {
            "name": f.name,
            "idPrefix": f.name,
            "fieldset": {"legend": {"text": label, "classes": "govuk-fieldset__legend--s"}},
            "hint": hint,
            "errorMessage": error,
            "items": items,
            "classes": "govuk-radios--inline" if f.kind == "yes_no" else None,
        }
        return {"macro": "radios", "params": params, "section": f.section}
    common = {"name": f.name, "id": f.name, "label": {"text": label, "classes": "govuk-label--s"}, "hint": hint}
    if f.kind == "multiline":
        return {
            "macro": "textarea",
            "params": {**common, "value": value, "errorMessage": error, "rows": 4},
            "section": f.section,
        }
    params = {**common, "value": value, "errorMessage": error, "type": INPUT_TYPES.get(f.kind, "text")}
    if f.kind == "date":
        params["classes"] = "govuk-input--width-10"
    return {"macro": "input", "params": params, "section": f.section}


def error_list(form: forms.Form, errors: dict[str, str]) -> list[dict[str, str]]:
    names = [f.name for f in form.fields]
    out = []
    for key, text in errors.items():
        name = key.replace(".", "_")
        out.append({"text": text, "href": f"#{name if name in names else names[0]}"})
    return out


def _errors_by_field(form: forms.Form, errors: dict[str, str]) -> dict[str, str]:
    """`referrer.email` → `referrer_email`: the form's own field names."""
    return {key.replace(".", "_"): text for key, text in errors.items()}


def _submitted(visit: Visit, form: forms.Form) -> dict[str, str]:
    return {f.name: visit.value(f.name) for f in form.fields if visit.value(f.name) != ""}


async def case_form(visit: Visit) -> web.StreamResponse:
    ref = _ref(visit)
    form = CASE_FORMS.get(visit.request.match_info["form"])
    if form is None:
        return visit.render("error.html", 404, title="Page not found", message="There is no such form.")
    summary = await visit.desk.service.read(lambda uow: pages.panel_summary(uow, ref))  # 404 for an unknown case
    form = await _form_for(visit, form, ref)
    values: dict[str, str] = {}
    errors: dict[str, str] = {}
    banner = None
    if visit.request.method == "POST":
        values = _submitted(visit, form)
        missing = _missing_required(form, values)
        if missing:  # nothing runs; the command's own checks still show beside their fields
            checked = interactions.prepare(form.name, visit.me.id, ref, values)
            errors = {**(checked.errors if isinstance(checked, interactions.Reply) else {}), **missing}
            reply = interactions.Reply(False, "Please correct the highlighted fields.", errors, code="invalid")
        else:
            reply = await interactions.submit(visit.desk.service, form.name, visit.me.id, ref, values)
        if reply.ok:
            return _done(visit, f"/cases/{ref}", reply.text)
        if reply.code == "refused":
            return visit.render("error.html", 403, title="You cannot do this", message=reply.text)
        if reply.code == "not_found" and not reply.errors:
            return visit.render("error.html", 404, title="Page not found", message=reply.text)
        errors, banner = _errors_by_field(form, reply.errors), reply.text
    else:
        values = {k: v for k, v in visit.request.query.items() if k in {f.name for f in form.fields}}
    status = 400 if (errors or banner) else 200
    return visit.render(
        "form.html",
        status,
        form=form,
        ref=ref,
        fields=field_views(form, values, errors),
        errors=error_list(form, errors),
        banner=banner,
        action=f"/cases/{ref}/{form.name}",
        summary=summary,
    )


METHOD_OPTIONS = tuple((key, label.capitalize()) for key, label in RECORD_METHODS.items())
BEHALF_SECTION = "Recorded for someone"


def _behalf_people(cfg: AppConfig, form: forms.Form) -> list[Person] | None:
    """Whom the Business Manager may record this form for (None: not a form recorded for others)."""
    if form is forms.VOTE:
        return [p for p in cfg.roster if p.may_vote]
    if form is forms.SCRUTINY_RECORD:
        return [p for p in cfg.roster if p.has(Role.INDEPENDENT_SCRUTINEER) or p.has(Role.EXECUTIVE_CHAIR)]
    if form is forms.MILESTONE_DONE:
        return [p for p in cfg.roster if not p.has(Role.BUSINESS_MANAGER)]
    return None


async def _form_for(visit: Visit, form: forms.Form, ref: str) -> forms.Form:
    """The form as this person sees it: Mark done lists the case's open obligations they may close;
    a Business Manager's vote, scrutiny and Mark done forms ask whose it is and how it was given."""
    env = visit.desk.service.env
    fields = list(form.fields)
    if form is forms.MILESTONE_DONE:

        async def choices(uow) -> list[tuple[str, str]]:
            case = await load_case(uow, ref)
            return pages.milestone_choices(env, visit.me, await plan.case_obligations(uow, case))

        options = tuple(await visit.desk.service.read(choices))
        fields.insert(0, forms.Field("key", "What is done?", "choice", options=options))
    people = _behalf_people(env.cfg, form) if visit.me.has(Role.BUSINESS_MANAGER) else None
    if people is not None:
        required = form is not forms.MILESTONE_DONE  # the Business Manager may close their own obligations
        whose = tuple((p.id, pages.person_label(env, p.id)) for p in people)
        hint = None if required else "Leave empty if you are recording your own work."
        fields += [
            forms.Field("on_behalf_of", "Whose is this?", "choice", required, whose, hint=hint, section=BEHALF_SECTION),
            forms.Field("method", "How did they give it?", "choice", required, METHOD_OPTIONS, section=BEHALF_SECTION),
        ]
    return forms.Form(form.name, form.title, form.submit, tuple(fields))


def _missing_required(form: forms.Form, values: dict[str, str]) -> dict[str, str]:
    """Required choices the commands do not require themselves (whose vote the Business Manager records)."""
    return {
        f.name: "Choose whose this is." if f.name == "on_behalf_of" else "Choose how they gave it."
        for f in form.fields
        if f.required and f.section == BEHALF_SECTION and not values.get(f.name)
    }


async def press(visit: Visit) -> web.StreamResponse:
    ref, action = _ref(visit), visit.request.match_info["action"]
    if action not in PRESSES:
        return visit.render("error.html", 404, title="Page not found", message="There is no such action.")
    title, question = PRESSES[action]
    await visit.desk.service.read(lambda uow: pages.panel_summary(uow, ref))  # 404 for an unknown case
    if visit.request.method == "POST":
        reply = await interactions.press(visit.desk.service, action, visit.me.id, ref)
        if reply.ok:
            return _done(visit, f"/cases/{ref}", reply.text)
        status = 403 if reply.code == "refused" else 409
        return visit.render(
            "error.html", status, title="You cannot do this" if status == 403 else title, message=reply.text
        )
    return visit.render(
        "confirm.html", title=title, question=question.format(ref=ref), ref=ref, action=f"/cases/{ref}/press/{action}"
    )


async def resend(visit: Visit) -> web.StreamResponse:
    """Send again: a failed message back in the queue (the flow checks it is the Business Manager)."""
    ref = _ref(visit)
    message_id = _int(visit.request.match_info["message"], 0)
    if message_id < 1:
        return visit.render("error.html", 404, title="Page not found", message="There is no such message.")
    row = await visit.desk.service.run(delivery.resend, ResendMessage(by=visit.me.id, ref=ref, message_id=message_id))
    return _done(visit, f"/cases/{ref}#messages", f"The {row.kind.replace('_', ' ')} message will be sent again.")


async def new_referral(visit: Visit) -> web.StreamResponse:
    form = forms.PART_A
    values: dict[str, str] = {}
    errors: dict[str, str] = {}
    banner = None
    if visit.request.method == "POST":
        values = _submitted(visit, form)
        reply = await interactions.submit(visit.desk.service, form.name, visit.me.id, "", values)
        if reply.ok:
            return _done(visit, f"/cases/{reply.ref}", reply.text)
        if reply.code == "refused":
            return visit.render("error.html", 403, title="You cannot do this", message=reply.text)
        errors, banner = _errors_by_field(form, reply.errors), reply.text
    return visit.render(
        "form.html",
        400 if (errors or banner) else 200,
        form=form,
        ref=None,
        fields=field_views(form, values, errors),
        errors=error_list(form, errors),
        banner=banner,
        action="/referrals/new",
        summary=None,
    )


def _done(visit: Visit, location: str, text: str) -> web.Response:
    visit.session = visit.session.with_flash(text)
    return redirect(location)


def _take_flash(visit: Visit) -> str | None:
    flash = visit.session.flash
    if flash:
        visit.session = visit.session.with_flash(None)
    return flash


async def favicon(request: web.Request) -> web.Response:
    return web.Response(status=204)


def routes(app: web.Application) -> None:
    app.router.add_get("/", page(dashboard))
    app.router.add_get("/favicon.ico", favicon)
    app.router.add_get("/digest", page(digest_page))
    app.router.add_get("/cases/{ref}", page(case_page))
    app.router.add_get("/cases/{ref}/part-a", page(part_a_page))
    app.router.add_post("/cases/{ref}/messages/{message}/resend", page(resend))
    for path, handler in (
        ("/referrals/new", new_referral),
        ("/cases/{ref}/press/{action}", press),
        ("/cases/{ref}/{form}", case_form),
    ):
        app.router.add_get(path, page(handler))
        app.router.add_post(path, page(handler))
