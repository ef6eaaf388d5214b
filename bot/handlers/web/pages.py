"""What the desk's pages show, read in one transaction each: the dashboard, the case page, Part A."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from bot.config import Person, Role
from bot.flows import personal
from bot.flows.commands import RECORD_METHODS
from bot.flows.common import Env, load_case
from bot.flows.screening.tally import PATHWAY_LABELS, Pathway
from bot.flows.timelines import chasing, notices, plan
from bot.flows.timelines.obligations import AMBER, RED, may_act_for, owner_label, rag
from bot.messages import ActionId
from bot.states import SCREENING_STATUSES, CaseStatus, ObligationState
from bot.views import case_view, open_obligations
from storage.models import AuditEvent, Case, Obligation
from storage.uow import UnitOfWork

AUDIT_PAGE = 25
RAG_ORDER = {RED: 0, AMBER: 1}
STATUS_LABELS = {
    CaseStatus.SCREENING: "Screening",
    CaseStatus.DEADLOCK: "Deadlock: consultation needed",
    CaseStatus.AWAITING_REFERRER: "Waiting for the referrer",
    CaseStatus.DECIDED: "Decided",
    CaseStatus.SUBMITTED: "Submitted to the National Panel",
}


def pathway_label(value: str | None) -> str:
    if not value:
        return ""
    try:
        return PATHWAY_LABELS[Pathway(value)]
    except ValueError:
        return value


@dataclass(frozen=True)
class CaseRow:
    ref: str
    status: str
    rag: str | None
    next_due: dt.datetime | None
    next_what: str | None
    owes: list[str]
    note: str | None


@dataclass(frozen=True)
class OpenOb:
    """The columns of an open obligation the dashboard needs, read without building ORM objects
    (a thousand cases have four thousand of them). Same attribute names as `Obligation`, so the
    timelines' pure functions (`rag`, `case_status`, `what`) read it as they read a row."""

    key: str
    kind: str
    what: str
    owner_role: str
    owner_agency: str | None
    due_at: dt.datetime
    plan_day: int | None
    owner_person: str | None
    state: str = ObligationState.OPEN


@dataclass(frozen=True)
class CaseDates:
    """What `case_status` reads of a case."""

    ref: str
    status: str
    rapid_review_due: dt.datetime | None
    delay_expected_on: dt.date | None


DASHBOARD_PAGE = 50


async def dashboard_data(
    uow: UnitOfWork, env: Env, person: Person, page: int = 1, digest: bool = False
) -> dict[str, Any]:
    """Open cases (overdue first, 50 a page) with RAG, next deadline and who owes what; what this
    person owes; with `digest`, the Business Manager's morning digest over every open case."""
    now = env.now()
    grouped = await _open_by_case(uow)
    labels: dict[tuple[str, str | None], str] = {}
    whens: dict[dt.datetime, str] = {}
    rags: dict[dt.datetime, str | None] = {}
    rows: list[CaseRow] = []
    for case, obs in grouped.values():
        for ob in obs:
            if ob.due_at not in rags:
                rags[ob.due_at] = rag(env, ob, now)
        status = chasing.case_status(env, case, obs, now, [rags[ob.due_at] for ob in obs])
        owes = []
        for ob in obs:
            label = labels.get((ob.owner_role, ob.owner_agency))
            if label is None:
                label = labels[(ob.owner_role, ob.owner_agency)] = owner_label(env, ob)
            when = whens.get(ob.due_at) or whens.setdefault(ob.due_at, notices.when(env, ob.due_at))
            owes.append(f"{label}: {notices.what(ob)} — {when}")
        first = obs[0]
        rows.append(
            CaseRow(case.ref, case.status, status["rag"], first.due_at, notices.what(first), owes, status["note"])
        )
    digest_rows = list(rows)
    waiting = (
        select(Case.ref, Case.status)
        .where(Case.status.in_(SCREENING_STATUSES))
        .where(
            ~select(Obligation.id)
            .where(Obligation.case_id == Case.id, Obligation.state == ObligationState.OPEN)
            .exists()
        )
    )
    for ref, case_status in await uow.session.execute(waiting):  # screening with nothing owed: a deadlock
        rows.append(CaseRow(ref, case_status, None, None, None, [], None))
    never = dt.datetime.max.replace(tzinfo=dt.UTC)
    rows.sort(key=lambda r: (RAG_ORDER.get(r.rag or "", 2), r.next_due or never, r.ref))
    pages = max(1, -(-len(rows) // DASHBOARD_PAGE))
    page = min(max(1, page), pages)
    data: dict[str, Any] = {
        "rows": rows[(page - 1) * DASHBOARD_PAGE : page * DASHBOARD_PAGE],
        "total": len(rows),
        "page": page,
        "pages": pages,
        "mine": await open_obligations(uow, person),
        "digest": None,
    }
    if digest and digest_rows:
        cases = [
            notices.DigestCase(r.ref, r.rag or "green", r.next_due, r.next_what or "", r.owes, r.note)
            for r in digest_rows
        ]
        cases.sort(key=lambda c: (RAG_ORDER.get(c.rag, 2), c.next_due, c.ref))
        data["digest"] = notices.digest(env, env.cal.local_date(now), cases)
    return data


async def _open_by_case(uow: UnitOfWork) -> dict[int, tuple[CaseDates, list[OpenOb]]]:
    query = (
        select(
            Case.id,
            Case.ref,
            Case.status,
            Case.rapid_review_due,
            Case.delay_expected_on,
            Obligation.key,
            Obligation.kind,
            Obligation.what,
            Obligation.owner_role,
            Obligation.owner_agency,
            Obligation.due_at,
            Obligation.plan_day,
            Obligation.owner_person,
        )
        .join(Case, Case.id == Obligation.case_id)
        .where(Obligation.state == ObligationState.OPEN)
        .order_by(Case.id, Obligation.due_at, Obligation.id)
    )
    grouped: dict[int, tuple[CaseDates, list[OpenOb]]] = {}
    for case_id, ref, status, rr_due, delay_on, *ob in await uow.session.execute(query):
        if case_id not in grouped:
            grouped[case_id] = (CaseDates(ref, status, rr_due, delay_on), [])
        grouped[case_id][1].append(OpenOb(*ob))
    return grouped


async def case_data(uow: UnitOfWork, env: Env, ref: str, person: Person, audit_page: int) -> dict[str, Any]:
    view = await case_view(uow, env, ref)  # raises NotFound for an unknown case
    timeline = await plan.timeline(uow, env, ref)
    case = await load_case(uow, ref)
    total = await uow.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.case_id == case.id))
    pages = max(1, -(-(total or 0) // AUDIT_PAGE))
    audit_page = min(max(1, audit_page), pages)
    events = list(
        await uow.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.case_id == case.id)
            .order_by(AuditEvent.id.desc())
            .offset((audit_page - 1) * AUDIT_PAGE)
            .limit(AUDIT_PAGE)
        )
    )
    obligations = await plan.case_obligations(uow, case)
    for vote in view["votes"]:
        agency = env.cfg.agencies.get(vote["agency"])
        vote["agency_name"] = agency.name if agency else vote["agency"]
        vote["by_line"] = by_line(env, vote["voter"], vote["recorded_by"], vote["record_method"], vote["time"])
    for row in view["scrutiny"]:
        row["by_line"] = by_line(env, row["by"], row["recorded_by"], row["record_method"], row["at"])
    for row in timeline["obligations"]:
        if row["done_by"]:
            row["by_line"] = by_line(env, row["done_by"], row["recorded_by"], row["record_method"], row["done_at"])
    return {
        "case": view,
        "timeline": timeline,
        "audit": events,
        "audit_page": audit_page,
        "audit_pages": pages,
        "audit_total": total or 0,
        "actions": actions_for(env, person, case, view, obligations),
        "may_read_part_a": may_read_part_a(env, person),
    }


@dataclass(frozen=True)
class DeskAction:
    label: str
    href: str  # a form page, or a press's confirmation
    secondary: bool = False


def actions_for(env: Env, person: Person, case: Case, view: dict[str, Any], obligations: list) -> list[DeskAction]:
    """The buttons this person sees on the case page. Only a guide: the flows decide, and refuse."""
    out: list[DeskAction] = []
    ref = case.ref
    status = case.status
    current_round = view["rounds"][-1]["number"] if view["rounds"] else None
    if status in (CaseStatus.SCREENING, CaseStatus.DEADLOCK) and person.may_vote:
        voted = any(v["round"] == current_round and v["agency"] == person.agency for v in view["votes"])
        out.append(DeskAction("Change your agency's vote" if voted else "Vote", f"/cases/{ref}/vote"))
    if status in (CaseStatus.SCREENING, CaseStatus.DEADLOCK) and person.has(Role.BUSINESS_MANAGER):
        out.append(DeskAction("Record a vote given by phone, e-mail or in a meeting", f"/cases/{ref}/vote", True))
    if status == CaseStatus.DEADLOCK and any(
        person.has(r) for r in (Role.EXECUTIVE_CHAIR, Role.INDEPENDENT_SCRUTINEER, Role.BUSINESS_MANAGER)
    ):
        out.append(DeskAction("Record the consultation outcome", f"/cases/{ref}/consultation"))
    if status == CaseStatus.AWAITING_REFERRER and person.has(Role.BUSINESS_MANAGER):
        out.append(DeskAction("Record the referrer's answer", f"/cases/{ref}/referrer_answer"))
    if view["decisions"] and (person.has(Role.INDEPENDENT_SCRUTINEER) or person.has(Role.EXECUTIVE_CHAIR)):
        out.append(DeskAction("Concur with the outcome", f"/cases/{ref}/press/{ActionId.CONCUR.value}"))
        out.append(DeskAction("Disagree with the outcome", f"/cases/{ref}/scrutiny_disagree", True))
    if view["decisions"] and person.has(Role.BUSINESS_MANAGER):
        label = "Record a scrutiny view given by phone, e-mail or in a meeting"
        out.append(DeskAction(label, f"/cases/{ref}/scrutiny_record", True))
    open_obs = [o for o in obligations if o.state == ObligationState.OPEN]
    if any(o.kind == "notification" for o in open_obs) and (
        person.has(Role.LA_NOTIFIER) or person.has(Role.BUSINESS_MANAGER)
    ):
        out.append(
            DeskAction("The National Panel has been notified", f"/cases/{ref}/press/{ActionId.NOTIFICATION_SENT.value}")
        )
    if any(o.kind not in ("vote", "notification") and may_act_for(env, o, person) for o in open_obs):
        out.append(DeskAction("Mark something done", f"/cases/{ref}/milestone_done", True))
    if person.has(Role.BUSINESS_MANAGER):
        if case.rapid_review_due is not None and status != CaseStatus.SUBMITTED:
            out.append(DeskAction("Record a Rapid Review delay", f"/cases/{ref}/rapid_review_delay", True))
        out.append(DeskAction("Local CSPR dates", f"/cases/{ref}/cspr", True))
        out.append(DeskAction("Record a complaint", f"/cases/{ref}/complaint", True))
    return out


ROLE_LABELS = {
    Role.BUSINESS_MANAGER: "Business Manager",
    Role.PANEL_MEMBER: "panel member",
    Role.DEPUTY: "deputy",
    Role.INDEPENDENT_SCRUTINEER: "Independent Scrutineer",
    Role.EXECUTIVE_CHAIR: "Executive Chair",
    Role.LA_NOTIFIER: "LA Head of Safeguarding & QA",
    Role.AGENCY_LEAD: "agency lead",
    Role.RR_CHAIR: "Rapid Review chair",
}


def person_label(env: Env, person_id: str | None) -> str:
    """`Alex Morgan (LA deputy)`: how a roster person is named on the desk."""
    if not person_id:
        return ""
    person = env.cfg.person(person_id)
    if person is None:
        return person_id
    roles = ", ".join(ROLE_LABELS.get(r, r.value) for r in person.roles)
    if person.agency is None:
        return f"{person.name} ({roles})"
    agency = person.agency.upper() if len(person.agency) <= 3 else env.cfg.agencies[person.agency].name
    return f"{person.name} ({roles if roles.startswith(agency) else f'{agency} {roles}'})"


def by_line(env: Env, person_id: str, recorded_by: str | None, method: str | None, at: str | None) -> str:
    """`recorded by Jo Baker for Alex Morgan (LA deputy), by phone, Tue 24 Nov 2026 11:05`, or
    `Sam Patel (LA panel member), Mon 23 Nov 2026 10:00` when the person did it themselves."""
    when = env.local(dt.datetime.fromisoformat(at)) if at else ""
    if recorded_by:
        recorder = env.cfg.person(recorded_by)
        name = recorder.name if recorder else recorded_by
        how = RECORD_METHODS.get(method or "", method or "")
        return f"recorded by {name} for {person_label(env, person_id)}, {how}, {when}"
    return f"{person_label(env, person_id)}, {when}"


def may_read_part_a(env: Env, person: Person) -> bool:
    return any(person.has(role) for role in env.cfg.web.part_a_readers)


async def part_a_data(uow: UnitOfWork, env: Env, ref: str) -> dict[str, Any]:
    """Part A as registered, the child's details (section 4, opened with PANELBOT_DATA_KEY when
    sealed) and the referrer's contact details included. Callers audit the reading."""
    case = await load_case(uow, ref)
    child = await personal.part_a(uow, env, case)
    contact_state, contact = personal.referrer_contact(env, case)
    details = dict(child.details or {})
    if details.get("date_of_birth"):
        details["date_of_birth"] = dt.date.fromisoformat(details["date_of_birth"]).strftime("%d %b %Y")
    return {"case": case, "child": child, "details": details, "contact": contact, "contact_state": contact_state}


async def panel_summary(uow: UnitOfWork, ref: str) -> str:
    """The case's summary for the panel; NotFound (a 404 page) for an unknown case."""
    return (await load_case(uow, ref)).panel_summary


def milestone_choices(env: Env, person: Person, obligations: list) -> list[tuple[str, str]]:
    """Open obligations this person may mark done here (votes and the notification have their own forms)."""
    return [
        (o.key, f"{o.what} (due {env.local(o.due_at)})")
        for o in obligations
        if o.state == ObligationState.OPEN and o.kind not in ("vote", "notification") and may_act_for(env, o, person)
    ]


def audit_details(details: dict[str, Any]) -> str:
    parts = []
    for key, value in details.items():
        if value in (None, "", [], {}):
            continue
        text = str(value)
        parts.append(f"{key.replace('_', ' ')}: {text if len(text) <= 160 else text[:157] + '…'}")
    return "; ".join(parts)
