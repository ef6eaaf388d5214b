"""Timelines: the Rapid Review's Day 1–15 plan, milestones marked done, delays, audit & assurance,
local CSPRs and complaints. Flows are `(command, uow, env)`, reminder handlers `(reminder, uow,
env)`; like every flow they only write rows (obligations, reminders, outbox, audit).

Obligation keys: `rr:{milestone}` and `rr:{milestone}:{agency}` for the plan, `delay_notice:{n}`,
`aa:decision` / `aa:report`, `cspr:report` / `cspr:copy:{date}` / `cspr:publish:{date}`,
`complaint:{n}`. Opening any of them schedules its chase ladder (`bot.flows.chasing`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select

from bot.config import Milestone, Person, Role
from bot.flows import meetings
from bot.flows.commands import MarkDone, RecordComplaint, RecordCspr, RecordDelay
from bot.flows.common import (
    Conflict,
    Env,
    NotFound,
    Refused,
    acting_for,
    audit,
    behalf_details,
    load_case,
    person_or_refuse,
    post,
    require_role,
)
from bot.flows.common import schedule as schedule_reminder
from bot.flows.personal import refuse_part_a
from bot.flows.screening.notices import recorded_for_you
from bot.flows.timelines import notices
from bot.flows.timelines.chasing import case_status, close_obligation, open_obligation
from bot.flows.timelines.obligations import (
    RR_PREFIX,
    may_act_for,
    owner_label,
    owners,
    plan_last_day,
    plan_risk,
    rag,
    risk_day,
)
from bot.messages import ActionId
from bot.states import CaseStatus, ObligationState, ReminderState
from bot.workdays import add_months
from storage.models import Case, Decision, Obligation, RapidReviewOutcome, Reminder, SignOff
from storage.uow import UnitOfWork

NOTIFY_KEY = "notify"  # the plan milestone that recording the notification itself completes
MEETING_PURPOSE = "practice_review_panel"


def rr_key(milestone: str, agency: str | None = None) -> str:
    return f"{RR_PREFIX}{milestone}" + (f":{agency}" if agency else "")


async def obligation(uow: UnitOfWork, case: Case, key: str) -> Obligation | None:
    return await uow.session.scalar(select(Obligation).where(Obligation.case_id == case.id, Obligation.key == key))


async def case_obligations(uow: UnitOfWork, case: Case, state: str | None = None) -> list[Obligation]:
    query = select(Obligation).where(Obligation.case_id == case.id)
    if state is not None:
        query = query.where(Obligation.state == state)
    return list(await uow.session.scalars(query.order_by(Obligation.due_at, Obligation.plan_day, Obligation.key)))


# --- the Rapid Review plan -----------------------------------------------------------------


async def start_rapid_review(uow: UnitOfWork, env: Env, case: Case, by: str | None = None) -> None:
    """The notification was sent: Day 1 is its date (working day or not), so open the plan."""
    if case.notified_at is None or case.rapid_review_due is None:
        return
    await _start_plan(uow, env, case, env.cal.local_date(case.notified_at), notified=True, by=by)


async def start_without_notification(uow: UnitOfWork, env: Env, case: Case, decision: Decision) -> None:
    """A Rapid Review the panel did not find notifiable: the same plan, anchored on the decision's day
    (`process.rapid_review_without_notification`), with a target date in place of the statutory one."""
    if env.cfg.process.rapid_review_without_notification.anchor != "decision" or case.rr_day1 is not None:
        return
    case.rapid_review_due = env.cal.due_after(decision.decided_at, env.cfg.process.rapid_review_due)
    await _start_plan(uow, env, case, env.cal.local_date(decision.decided_at), notified=False, by=None)


async def _start_plan(uow: UnitOfWork, env: Env, case: Case, day1: dt.date, notified: bool, by: str | None) -> None:
    """Open the plan's milestones with their owners and dates, schedule the delay checks and the
    meeting invite, and tell each owner. Without a notification there is no `notify` milestone."""
    case.rr_day1 = day1
    for m in env.cfg.process.rapid_review_plan:
        if notified or m.key != NOTIFY_KEY:
            await _open_milestone(uow, env, case, m, day1)
    if notified:
        await close_obligation(uow, env, case, rr_key(NOTIFY_KEY), by, note="recorded with the notification")
    await _schedule_delay_checks(uow, env, case, day1)
    await _schedule_invite(uow, env, case, day1)
    await _announce_plan(uow, env, case)
    audit(uow, env, by or "panelbot", "rapid_review_started", case, day1=day1.isoformat(), notified=notified)


async def _open_milestone(uow: UnitOfWork, env: Env, case: Case, m: Milestone, notified: dt.date) -> None:
    due = env.cal.end_of_day(env.cal.plan_day(notified, m.day))
    for agency in list(env.cfg.agencies) if m.per_agency else [None]:
        what = f"{env.cfg.agencies[agency].name}: {m.what}" if agency else m.what
        await open_obligation(
            uow,
            env,
            case,
            key=rr_key(m.key, agency),
            kind="milestone",
            what=what,
            owner_role=m.owner,
            due_at=due,
            agency=agency,
            plan_day=m.day,
        )


async def _schedule_delay_checks(uow: UnitOfWork, env: Env, case: Case, notified: dt.date) -> None:
    """One check per plan day, at the first working morning on which that day's milestones, if still
    open, leave fewer working days than the rest of the plan needs."""
    assert case.rapid_review_due is not None
    last = plan_last_day(env)
    for day in sorted({m.day for m in env.cfg.process.rapid_review_plan if m.key != NOTIFY_KEY}):
        due = env.cal.end_of_day(env.cal.plan_day(notified, day))
        risky = env.cal.start_of_day(risk_day(env, case.rapid_review_due, last - day + 1))
        at = max(risky, env.cal.next_working_moment(due + dt.timedelta(seconds=1)))
        await schedule_reminder(uow, "delay_check", f"delay_check:{case.id}:{day}", at, case, day=day)


async def _schedule_invite(uow: UnitOfWork, env: Env, case: Case, notified: dt.date) -> None:
    meeting = env.cfg.process.rapid_review_meeting
    plan = {m.key: m for m in env.cfg.process.rapid_review_plan}
    if meeting.milestone not in plan:
        return
    start = env.cal.at(env.cal.plan_day(notified, plan[meeting.milestone].day), meeting.at)
    send_at = env.cal.start_of_day(env.cal.plan_day(notified, meeting.invite_on_day))
    await schedule_reminder(
        uow,
        "rr_invite",
        f"rr_invite:{case.id}",
        send_at,
        case,
        start=start.isoformat(),
        minutes=meeting.minutes,
        milestone=rr_key(meeting.milestone),
        day=plan[meeting.milestone].day,
    )


async def _announce_plan(uow: UnitOfWork, env: Env, case: Case) -> None:
    """`milestone_due`: each owner hears, once, which open milestones are theirs and when."""
    mine: dict[str, tuple[Person, list[Obligation]]] = {}
    for ob in await case_obligations(uow, case, "open"):
        if ob.key.startswith(RR_PREFIX):
            for person in owners(env, ob):
                mine.setdefault(person.id, (person, []))[1].append(ob)
    for person, obs in mine.values():
        message = notices.milestone_due(env, case, person, obs)
        post(uow, env, person, message, f"milestone_due:{case.id}:{person.id}", case)


async def invite_due(reminder: Reminder, uow: UnitOfWork, env: Env) -> None:
    """Handler, plan Day 3: the Outlook invite for the Day 13 Practice Review Panel meeting."""
    case = await uow.session.get(Case, reminder.case_id)
    ob = await obligation(uow, case, reminder.payload["milestone"]) if case else None
    if case is None or ob is None or ob.state != ObligationState.OPEN:
        reminder.outcome = "closed"
        return
    attendees = env.cfg.holders(Role.PANEL_MEMBER)
    attendees += [p for p in env.cfg.holders(Role.RR_CHAIR) if p not in attendees]
    start = dt.datetime.fromisoformat(reminder.payload["start"])
    subject = f"{case.ref}: Practice Review Panel (Rapid Review Day {reminder.payload['day']})"
    note = "Rapid Review Practice Review Panel meeting: learning, immediate actions, whether a local CSPR is needed."
    meetings.invite(uow, env, case, MEETING_PURPOSE, subject, start, reminder.payload["minutes"], attendees, note)
    audit(uow, env, "panelbot", "meeting_invite", case, start=start.isoformat(), to=[p.id for p in attendees])
    reminder.outcome = "sent"


async def delay_check_due(reminder: Reminder, uow: UnitOfWork, env: Env) -> None:
    """Handler: if a milestone is overdue and the rest of the plan no longer fits before the statutory
    date, ask the Business Manager to record a delay (`delay_prompt`), once per check. After
    downtime, only the latest check that fell due speaks."""
    case = await uow.session.get(Case, reminder.case_id, with_for_update=True)  # one check at a time
    if case is None or case.delay_recorded_at is not None:
        reminder.outcome = "delay_recorded"
        return
    now = env.now()
    if await _later_check_due(uow, reminder, now):
        reminder.outcome = "superseded"
        return
    open_obs = await case_obligations(uow, case, "open")
    risk = plan_risk(env, case, open_obs, now)
    if risk is None or not risk.slipped(now):
        reminder.outcome = "on_track"
        return
    go_at = env.cal.next_working_moment(now)
    if go_at > now:
        reminder.due_at, reminder.outcome = go_at, "deferred"
        return
    overdue = [o for o in open_obs if o.key.startswith(RR_PREFIX) and now > o.due_at]
    day = reminder.payload["day"]
    for bm in env.cfg.holders(Role.BUSINESS_MANAGER):
        message = notices.delay_prompt(env, case, overdue, risk.left, risk.need)
        post(uow, env, bm, message, f"delay_prompt:{case.id}:{day}:{bm.id}", case)
    audit(uow, env, "panelbot", "delay_prompt", case, day=day, left=risk.left, need=risk.need)
    reminder.outcome = "sent"


async def _later_check_due(uow: UnitOfWork, reminder: Reminder, now: dt.datetime) -> bool:
    checks = await uow.session.scalars(
        select(Reminder).where(
            Reminder.case_id == reminder.case_id,
            Reminder.kind == "delay_check",
            Reminder.id != reminder.id,
            Reminder.state != ReminderState.CANCELLED,
            Reminder.due_at <= now,
        )
    )
    return any((c.due_at, c.id) > (reminder.due_at, reminder.id) for c in checks)


# --- marking things done -------------------------------------------------------------------


async def mark_done(cmd: MarkDone, uow: UnitOfWork, env: Env) -> Obligation:
    """The owner marks their obligation done, or the Business Manager records what happened
    (for the owner, `on_behalf_of`, when the owner told them by phone, e-mail or in a meeting)."""
    person, recorder = acting_for(env, cmd)
    case = await load_case(uow, cmd.ref)
    await refuse_part_a(uow, env, case, note=cmd.note)
    ob = await _find(uow, case, cmd.key, person)
    if ob is None:
        raise NotFound(f"{case.ref} has nothing called {cmd.key!r} to mark done.", ref=case.ref)
    if ob.kind == "notification":
        raise Conflict("Record the notification with Notification sent: it starts the Rapid Review clock.")
    if ob.key == rr_key(last_milestone(env)) and ob.state == ObligationState.OPEN:
        raise Conflict(
            "Record the submission with Submission recorded, once the three partners have agreed the report."
        )
    if ob.key == rr_key(write_up_milestone(env)) and ob.state == ObligationState.OPEN:
        raise Conflict("Record the Rapid Review outcome: it is the write-up the three partners sign off.")
    if ob.kind == "action" and len((cmd.note or "").strip()) < 10:
        raise Conflict("Closing an action needs the evidence that it was done (a note of at least 10 characters).")
    if not may_act_for(env, ob, person):
        who = "the Business Manager"
        if ob.owner_role != Role.BUSINESS_MANAGER.value:
            who = f"the {owner_label(env, ob)} or {who}"
        raise Refused(f"Only {who} can mark this done; {person.name} cannot.", ref=case.ref, key=ob.key)
    if ob.state != ObligationState.OPEN:
        return ob  # already done: a second click changes nothing
    await close_obligation(uow, env, case, ob.key, person.id, note=cmd.note, **behalf_details(recorder, cmd))
    if recorder is not None:
        ob.recorded_by, ob.record_method = recorder.id, cmd.method
        message = recorded_for_you(env, case, f"Done: {ob.what}", recorder.name, cmd.method, ActionId.MILESTONE_DONE)
        post(uow, env, person, message, f"recorded_for:obligation:{ob.id}", case)
    return ob


async def _find(uow: UnitOfWork, case: Case, key: str, person: Person) -> Obligation | None:
    """`templates` means `rr:templates`; an agency lead's `agency_return` means their agency's."""
    candidates = [key, rr_key(key)]
    if person.agency:
        candidates += [f"{key}:{person.agency}", rr_key(key, person.agency)]
    for candidate in candidates:
        found = await obligation(uow, case, candidate)
        if found is not None:
            return found
    return None


def write_up_milestone(env: Env) -> str:
    """The Rapid Review chair's last milestone (Day 14's write-up): recording the outcome completes it."""
    chair = [m for m in env.cfg.process.rapid_review_plan if m.owner is Role.RR_CHAIR and not m.per_agency]
    return max(chair, key=lambda m: m.day).key if chair else ""


def last_milestone(env: Env) -> str:
    plan = [m for m in env.cfg.process.rapid_review_plan if not m.per_agency]
    return max(plan, key=lambda m: m.day).key if plan else ""


async def complete_rapid_review(uow: UnitOfWork, env: Env, case: Case, person: Person) -> None:
    """The report went to the National Panel: the Rapid Review is over; what is left of the plan is moot."""
    case.status = CaseStatus.SUBMITTED
    for ob in await case_obligations(uow, case, "open"):
        if ob.key.startswith(RR_PREFIX):
            await close_obligation(uow, env, case, ob.key, person.id, "cancelled", "the report was submitted")
    audit(uow, env, person.id, "rapid_review_submitted", case)


# --- delays, audit & assurance, CSPR, complaints -------------------------------------------


async def record_delay(cmd: RecordDelay, uow: UnitOfWork, env: Env) -> Obligation:
    """The Rapid Review will be late: record why and when, and task telling the National Panel."""
    person = person_or_refuse(env, cmd.by)
    require_role(person, Role.BUSINESS_MANAGER)
    case = await load_case(uow, cmd.ref, lock=True)
    await refuse_part_a(uow, env, case, reason=cmd.reason)
    if case.rapid_review_due is None or case.status == CaseStatus.SUBMITTED:
        raise Conflict(f"{case.ref} has no Rapid Review running, so there is no delay to record.")
    statutory = env.cal.local_date(case.rapid_review_due)
    if cmd.expected <= statutory:
        raise Conflict(f"{cmd.expected.isoformat()} is not after the statutory date {statutory.isoformat()}.")
    case.delay_reason, case.delay_expected_on, case.delay_recorded_at = cmd.reason, cmd.expected, env.now()
    audit(uow, env, person.id, "delay_recorded", case, reason=cmd.reason, expected=cmd.expected.isoformat())
    n = await _count(uow, case, "delay_notice") + 1
    expected = cmd.expected.strftime("%a %d %b %Y")
    ob = await _open_for_bm(
        uow,
        env,
        case,
        f"delay_notice:{n}",
        "delay_notice",
        f"Tell the National Panel the Rapid Review is delayed (expected {expected})",
        env.cal.due_after(env.now(), env.cfg.process.delay_notice_due),
    )
    for bm in env.cfg.holders(Role.BUSINESS_MANAGER):
        post(uow, env, bm, notices.delay_notice(env, case, ob), f"delay_notice:{case.id}:{n}:{bm.id}", case)
    return ob


async def decision_made(uow: UnitOfWork, env: Env, case: Case, decision: Decision) -> None:
    """Hook from the screening decision: audit & assurance gets its week 6 and week 12 steps; a Rapid
    Review without a notification gets its plan now (a notified one starts with the notification)."""
    if decision.pathway == "rapid_review" and not decision.notifiable:
        await start_without_notification(uow, env, case, decision)
    if decision.pathway != "audit_assurance":
        return
    aa, decided = env.cfg.process.audit_assurance, env.cal.local_date(decision.decided_at)
    steps = [
        ("aa:decision", f"the Practice Review Panel decides (week {aa.decision_weeks})", aa.decision_weeks),
        ("aa:report", f"report ready for scrutiny (week {aa.report_weeks})", aa.report_weeks),
    ]
    for key, what, weeks in steps:
        due = env.cal.end_of_day(env.cal.weeks_after(decided, weeks))
        await _open_for_bm(uow, env, case, key, "audit_assurance", f"Audit & assurance: {what}", due)


async def record_cspr(cmd: RecordCspr, uow: UnitOfWork, env: Env) -> Case:
    """A local CSPR: its decision date gives the 6-month report; its publication date the copy to the
    National Panel and the Secretary of State 7 working days before, and the publication itself."""
    person = person_or_refuse(env, cmd.by)
    require_role(person, Role.BUSINESS_MANAGER)
    case = await load_case(uow, cmd.ref, lock=True)
    cspr = env.cfg.process.cspr
    await _require_cspr_source(uow, case)
    if cmd.decided_on is not None and case.cspr_decided_on not in (None, cmd.decided_on):
        raise Conflict(f"{case.ref}'s local CSPR is already recorded as decided on {case.cspr_decided_on}.")
    if cmd.decided_on is not None and case.cspr_decided_on is None:
        case.cspr_decided_on = cmd.decided_on
        due = env.cal.end_of_day(env.cal.months_after(cmd.decided_on, cspr.report_months))
        what = f"Local CSPR: final report (within {cspr.report_months} months of the decision)"
        await _open_for_bm(uow, env, case, "cspr:report", "cspr", what, due)
    if cmd.publication_on is not None and cmd.publication_on != case.cspr_publication_on:
        if case.cspr_decided_on is None:
            raise Conflict(f"Record when {case.ref}'s local CSPR was decided before its publication date.")
        await _set_publication(uow, env, case, person, cmd.publication_on)
    if cmd.reviewer is not None and cmd.reviewer != case.cspr_reviewer:
        await _reviewer_appointed(uow, env, case, cmd.reviewer)
    dates = {"decided_on": _iso(cmd.decided_on), "publication_on": _iso(cmd.publication_on)}
    audit(uow, env, person.id, "cspr_recorded", case, reviewer=cmd.reviewer, **dates)
    return case


async def _require_cspr_source(uow: UnitOfWork, case: Case) -> None:
    """A local CSPR follows a Rapid Review (003): refused on a case whose decision does not lead to one,
    or whose Rapid Review outcome found the criteria unmet and recommended something else."""
    pathway = await uow.session.scalar(
        select(Decision.pathway).where(Decision.case_id == case.id).order_by(Decision.id.desc()).limit(1)
    )
    if pathway != "rapid_review" and case.rr_day1 is None:
        raise Conflict(f"{case.ref} has no Rapid Review decision, so no local CSPR follows from it.", ref=case.ref)
    outcome = await uow.session.scalar(select(RapidReviewOutcome).where(RapidReviewOutcome.case_id == case.id))
    if outcome is not None and outcome.recommendation != "local_cspr" and not outcome.cspr_criteria_met:
        raise Conflict(f"{case.ref}'s Rapid Review did not recommend a local CSPR.", ref=case.ref)


async def _reviewer_appointed(uow: UnitOfWork, env: Env, case: Case, reviewer: str) -> None:
    """003: the independent reviewer's name goes to the National Panel, Ofsted and the DfE when appointed."""
    case.cspr_reviewer = reviewer
    what = f"Local CSPR: tell the National Panel, Ofsted and the DfE the independent reviewer's name ({reviewer})"
    n = await _count(uow, case, "cspr_reviewer") + 1
    due = env.cal.due_after(env.now(), env.cfg.process.delay_notice_due)
    await _open_for_bm(uow, env, case, f"cspr:reviewer:{n}", "cspr_reviewer", what, due)


async def _set_publication(uow: UnitOfWork, env: Env, case: Case, person: Person, published: dt.date) -> None:
    cspr = env.cfg.process.cspr
    if case.cspr_publication_on is not None:
        old = case.cspr_publication_on.isoformat()
        for key in (f"cspr:copy:{old}", f"cspr:publish:{old}", f"cspr:available:{old}", f"cspr:late:{old}"):
            await close_obligation(uow, env, case, key, person.id, "cancelled", "publication date changed")
    case.cspr_publication_on = published
    n = cspr.copy_working_days_before_publication
    copy_due = env.cal.end_of_day(env.cal.add_working_days(published, -n))
    what = (
        "Local CSPR: final report to the National Panel and the Secretary of State, and a copy to Ofsted "
        f"({n} working days before publication)"
    )
    await _open_for_bm(uow, env, case, f"cspr:copy:{published.isoformat()}", "cspr", what, copy_due)
    until = add_months(published, cspr.published_months).strftime("%d %b %Y")
    what = f"Local CSPR: publish the final report (and keep it published until at least {until})"
    publish_due = env.cal.end_of_day(published)
    await _open_for_bm(uow, env, case, f"cspr:publish:{published.isoformat()}", "cspr", what, publish_due)
    available = env.cal.end_of_day(add_months(published, cspr.published_months))
    what = f"Local CSPR: the report has been available for {cspr.published_months} months; confirm it stayed published"
    await _open_for_bm(uow, env, case, f"cspr:available:{published.isoformat()}", "cspr", what, available)
    assert case.cspr_decided_on is not None
    limit = env.cal.months_after(case.cspr_decided_on, cspr.report_months)
    if published > limit:  # later than 6 months after the decision: the National Panel wants the reasons
        what = f"Local CSPR: send the National Panel the reasons publication is later than {limit.strftime('%d %b %Y')}"
        due = env.cal.due_after(env.now(), env.cfg.process.delay_notice_due)
        ob = await _open_for_bm(uow, env, case, f"cspr:late:{published.isoformat()}", "cspr_late", what, due)
        for bm in env.cfg.holders(Role.BUSINESS_MANAGER):
            post(uow, env, bm, notices.cspr_late(env, case, ob, limit), f"cspr_late:{ob.id}:{bm.id}", case)


async def record_complaint(cmd: RecordComplaint, uow: UnitOfWork, env: Env) -> Obligation:
    """A complaint about the case's handling: a written response within 20 working days."""
    person = person_or_refuse(env, cmd.by)
    require_role(person, Role.BUSINESS_MANAGER)
    case = await load_case(uow, cmd.ref, lock=True)
    await refuse_part_a(uow, env, case, summary=cmd.summary)
    received = cmd.received_on or env.cal.local_date(env.now())
    n = await _count(uow, case, "complaint") + 1
    due = env.cal.due_after(env.cal.start_of_day(received), env.cfg.process.complaint_response)
    what = f"Written response to the complaint received {received.strftime('%a %d %b %Y')}"
    what += f": {cmd.summary}" if cmd.summary else ""
    ob = await _open_for_bm(uow, env, case, f"complaint:{n}", "complaint", what, due)
    audit(uow, env, person.id, "complaint_recorded", case, received_on=received.isoformat(), summary=cmd.summary)
    return ob


async def _open_for_bm(
    uow: UnitOfWork, env: Env, case: Case, key: str, kind: str, what: str, due: dt.datetime
) -> Obligation:
    await open_obligation(uow, env, case, key=key, kind=kind, what=what, owner_role=Role.BUSINESS_MANAGER, due_at=due)
    ob = await obligation(uow, case, key)
    assert ob is not None
    return ob


async def _count(uow: UnitOfWork, case: Case, kind: str) -> int:
    query = select(func.count()).select_from(Obligation).where(Obligation.case_id == case.id, Obligation.kind == kind)
    return await uow.session.scalar(query) or 0


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


# --- seeing it -----------------------------------------------------------------------------


async def timeline(uow: UnitOfWork, env: Env, ref: str) -> dict[str, Any]:
    """A case's obligations in order with owner, due, state and RAG: `panelbot timeline`."""
    case = await load_case(uow, ref)
    now = env.now()
    obs = await case_obligations(uow, case)
    status = case_status(env, case, [o for o in obs if o.state == ObligationState.OPEN], now)
    return {
        "ref": case.ref,
        "status": case.status,
        "rag": status["rag"] if any(o.state == ObligationState.OPEN for o in obs) else None,
        "note": status["note"],
        "received_at": case.received_at.isoformat(),
        "notified_at": case.notified_at.isoformat() if case.notified_at else None,
        "rapid_review_due": case.rapid_review_due.isoformat() if case.rapid_review_due else None,
        "delay": {"reason": case.delay_reason, "expected": _iso(case.delay_expected_on)} if case.delay_reason else None,
        "cspr": {"decided_on": _iso(case.cspr_decided_on), "publication_on": _iso(case.cspr_publication_on)},
        "rr_day1": _iso(case.rr_day1),
        "outcome": await _outcome_view(uow, case),
        "submitted_at": case.submitted_at.isoformat() if case.submitted_at else None,
        "obligations": [_row(env, ob, now) for ob in obs],
    }


async def _outcome_view(uow: UnitOfWork, case: Case) -> dict[str, Any] | None:
    outcome = await uow.session.scalar(select(RapidReviewOutcome).where(RapidReviewOutcome.case_id == case.id))
    if outcome is None:
        return None
    rows = await uow.session.scalars(select(SignOff).where(SignOff.outcome_id == outcome.id).order_by(SignOff.agency))
    return {
        "recommendation": outcome.recommendation,
        "version": outcome.version,
        "recorded_by": outcome.recorded_by,
        "recorded_at": outcome.recorded_at.isoformat(),
        "agreed_at": outcome.agreed_at.isoformat() if outcome.agreed_at else None,
        "signoffs": [
            {"agency": s.agency, "verdict": s.verdict, "by": s.person_id, "at": s.at.isoformat(), "comment": s.comment}
            for s in rows
        ],
    }


def _row(env: Env, ob: Obligation, now: dt.datetime) -> dict[str, Any]:
    return {
        "key": ob.key,
        "kind": ob.kind,
        "plan_day": ob.plan_day,
        "what": ob.what,
        "owner_role": ob.owner_role,
        "owner_agency": ob.owner_agency,
        "owner": owner_label(env, ob),
        "owner_person": ob.owner_person,
        "due_at": ob.due_at.isoformat(),
        "due_local": env.local(ob.due_at),
        "state": ob.state,
        "late": ob.done_at is not None and ob.state == ObligationState.DONE and ob.done_at > ob.due_at,
        "rag": rag(env, ob, now),
        "done_at": ob.done_at.isoformat() if ob.done_at else None,
        "done_by": ob.done_by,
        "note": ob.note,
        "recorded_by": ob.recorded_by,
        "record_method": ob.record_method,
    }
