"""After the Day 13 meeting: the Rapid Review's outcome, the three partners' sign-off, the submission
to the National Panel, and the actions arising (003: "monitor actions arising from Rapid Review
decisions to ensure completion"). Flows are `(command, uow, env)`; they only write rows.

Obligation keys: `signoff:{agency}` (the agency's panel member, or a deputy, agrees the report),
`action:{n}` (an action's owner agency and named person).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from bot.config import Person, Role
from bot.flows.commands import AddAction, RecordOutcome, RecordSubmission, SignOff
from bot.flows.common import Conflict, Env, Refused, audit, load_case, person_or_refuse, post, require_role
from bot.flows.personal import refuse_part_a
from bot.flows.timelines import notices, plan
from bot.flows.timelines.chasing import close_obligation, open_obligation, reopen_obligation
from bot.flows.timelines.obligations import RR_PREFIX, owners
from bot.states import ObligationState
from storage.models import Case, Decision, Obligation, RapidReviewOutcome
from storage.models import SignOff as SignOffRow
from storage.uow import UnitOfWork

OUTCOME_FIELDS = (
    "immediate_actions",
    "single_agency_learning",
    "multi_agency_learning",
    "cspr_criteria_met",
    "recommendation",
    "no_review_reason",
    "wider_system_issues",
    "summary",
)


def signoff_key(agency: str) -> str:
    return f"signoff:{agency}"


async def current_outcome(uow: UnitOfWork, case: Case) -> RapidReviewOutcome | None:
    return await uow.session.scalar(select(RapidReviewOutcome).where(RapidReviewOutcome.case_id == case.id))


async def signoffs(uow: UnitOfWork, outcome: RapidReviewOutcome) -> dict[str, SignOffRow]:
    rows = await uow.session.scalars(select(SignOffRow).where(SignOffRow.outcome_id == outcome.id))
    return {row.agency: row for row in rows}


# --- the outcome ---------------------------------------------------------------------------


async def record_outcome(cmd: RecordOutcome, uow: UnitOfWork, env: Env) -> RapidReviewOutcome:
    """The chair (or the Business Manager) records what the Rapid Review found. The first time, each
    agency is asked to sign the report off; an amended outcome asks again those who asked for amendments."""
    person = person_or_refuse(env, cmd.by)
    require_role(person, Role.RR_CHAIR, Role.BUSINESS_MANAGER)
    case = await load_case(uow, cmd.ref, lock=True)
    if case.rr_day1 is None:
        raise Conflict(f"{case.ref} has no Rapid Review running, so there is no outcome to record.", ref=case.ref)
    if case.submitted_at is not None:
        raise Conflict(f"{case.ref}'s Rapid Review was already submitted; reconsider it to change it.", ref=case.ref)
    fields = {name: getattr(cmd, name) for name in OUTCOME_FIELDS}
    await refuse_part_a(uow, env, case, **{k: v for k, v in fields.items() if isinstance(v, str)})
    outcome = await current_outcome(uow, case)
    if outcome is not None and outcome.agreed_at is not None:
        raise Conflict(f"All three partners have agreed {case.ref}'s report; it can no longer change.", ref=case.ref)
    if outcome is not None and all(getattr(outcome, k) == v for k, v in fields.items()):
        return outcome  # the same outcome twice: nothing new
    if outcome is None:
        outcome = RapidReviewOutcome(case_id=case.id, version=1, recorded_by=person.id, recorded_at=env.now(), **fields)
        uow.session.add(outcome)
    else:
        for name, value in fields.items():
            setattr(outcome, name, value)
        outcome.version, outcome.recorded_by, outcome.recorded_at = outcome.version + 1, person.id, env.now()
    await uow.session.flush()
    audit(uow, env, person.id, "rr_outcome_recorded", case, version=outcome.version, **fields)
    for ob in await plan.case_obligations(uow, case, ObligationState.OPEN):
        if ob.key.startswith(RR_PREFIX) and ob.owner_role == Role.RR_CHAIR.value:  # the meeting and the write-up
            await close_obligation(uow, env, case, ob.key, person.id, note="Rapid Review outcome recorded")
    await _ask_for_signoff(uow, env, case, outcome)
    return outcome


async def _ask_for_signoff(uow: UnitOfWork, env: Env, case: Case, outcome: RapidReviewOutcome) -> None:
    """Day 15: each statutory partner agrees the report or asks for amendments (003). Chased like any
    obligation; those who already agreed are not asked again."""
    standing = await signoffs(uow, outcome)
    due = _signoff_due(env, case)
    for agency, info in env.cfg.agencies.items():
        if agency in standing and standing[agency].verdict == "agree":
            continue
        await open_obligation(
            uow,
            env,
            case,
            key=signoff_key(agency),
            kind="signoff",
            what=f"{info.name}: agree the Rapid Review report, or ask for amendments",
            owner_role=Role.PANEL_MEMBER,
            due_at=due,
            agency=agency,
        )
        for person in env.cfg.voters_for(agency):
            message = notices.signoff_request(env, case, outcome, info.name)
            post(uow, env, person, message, f"signoff_request:{outcome.id}:v{outcome.version}:{person.id}", case)


def _signoff_due(env: Env, case: Case) -> dt.datetime:
    """The end of the plan's last day (Day 15), or the next working day's end if that is past."""
    assert case.rr_day1 is not None
    due = env.cal.end_of_day(env.cal.plan_day(case.rr_day1, max(m.day for m in env.cfg.process.rapid_review_plan)))
    return due if due > env.now() else env.cal.end_of_day(env.cal.add_working_days(env.cal.local_date(env.now()), 1))


# --- sign-off ------------------------------------------------------------------------------


async def sign_off(cmd: SignOff, uow: UnitOfWork, env: Env) -> SignOffRow:
    """An agency's panel member or deputy agrees the report or asks for amendments: one standing answer
    per agency, changeable until all three agree. When they do, the Business Manager is asked to submit."""
    person = person_or_refuse(env, cmd.by)
    case = await load_case(uow, cmd.ref, lock=True)
    if not person.may_vote or person.agency is None:
        raise Refused(
            f"Only an agency's panel member or deputy can sign off its report; {person.name} is neither.", ref=case.ref
        )
    outcome = await current_outcome(uow, case)
    if outcome is None:
        raise Conflict(f"{case.ref} has no Rapid Review outcome to sign off yet.", ref=case.ref)
    if outcome.agreed_at is not None:
        raise Conflict(f"All three partners have already agreed {case.ref}'s report; the sign-off is closed.")
    await refuse_part_a(uow, env, case, comment=cmd.comment)
    standing = await signoffs(uow, outcome)
    row = standing.get(person.agency)
    if row is not None and (row.verdict, row.comment, row.person_id) == (cmd.verdict, cmd.comment, person.id):
        return row  # a double click
    if row is None:
        row = SignOffRow(outcome_id=outcome.id, agency=person.agency, version=0, person_id=person.id, at=env.now())
        uow.session.add(row)
    row.verdict, row.comment, row.person_id, row.at, row.version = (
        cmd.verdict,
        cmd.comment,
        person.id,
        env.now(),
        row.version + 1,
    )
    await uow.session.flush()
    audit(uow, env, person.id, f"signoff_{cmd.verdict}", case, agency=person.agency, comment=cmd.comment)
    key = signoff_key(person.agency)
    if cmd.verdict == "agree":
        await close_obligation(uow, env, case, key, person.id, note="agreed")
    else:
        await reopen_obligation(uow, env, case, key, states=(ObligationState.DONE,))
        _tell_amendments(uow, env, case, person, row)
    standing[person.agency] = row
    if all(a in standing and standing[a].verdict == "agree" for a in env.cfg.agencies):
        outcome.agreed_at = env.now()
        audit(uow, env, "panelbot", "rr_signed_off", case, version=outcome.version)
        for bm in env.cfg.holders(Role.BUSINESS_MANAGER):
            post(uow, env, bm, notices.submission_due(env, case), f"submission_due:{outcome.id}:{bm.id}", case)
    return row


def _tell_amendments(uow: UnitOfWork, env: Env, case: Case, by: Person, row: SignOffRow) -> None:
    assert by.agency is not None
    agency = env.cfg.agencies[by.agency].name
    people = env.cfg.holders(Role.RR_CHAIR) + env.cfg.holders(Role.BUSINESS_MANAGER)
    for person in {p.id: p for p in people}.values():
        message = notices.amendments_asked(env, case, agency, by.name, row.comment or "")
        post(uow, env, person, message, f"signoff_amend:{row.id}:v{row.version}:{person.id}", case)


# --- submission ----------------------------------------------------------------------------


async def record_submission(cmd: RecordSubmission, uow: UnitOfWork, env: Env) -> Case:
    """The Business Manager sent the agreed report to the National Panel: the Rapid Review is over, and
    the DSPs and the Independent Scrutineer are told the outcome, the decision summary and the next steps."""
    person = person_or_refuse(env, cmd.by)
    require_role(person, Role.BUSINESS_MANAGER)
    case = await load_case(uow, cmd.ref, lock=True)
    if case.submitted_at is not None:
        return case  # already recorded
    outcome = await current_outcome(uow, case)
    if outcome is None or outcome.agreed_at is None:
        waiting = await _waiting_for(uow, env, outcome)
        raise Conflict(f"{case.ref}'s report is not agreed yet: waiting for {waiting}.", ref=case.ref)
    sent = cmd.submitted_at or env.now()
    if sent.tzinfo is None:
        sent = sent.replace(tzinfo=env.cfg.tz)
    case.submitted_at, case.submitted_by = sent, person.id
    await close_obligation(uow, env, case, plan.rr_key(plan.last_milestone(env)), person.id, note=cmd.note)
    await plan.complete_rapid_review(uow, env, case, person)
    audit(uow, env, person.id, "rr_submission_recorded", case, submitted_at=sent.isoformat())
    decision = await uow.session.scalar(
        select(Decision).where(Decision.case_id == case.id).order_by(Decision.id.desc()).limit(1)
    )
    actions = await plan.case_obligations(uow, case)
    told = env.cfg.holders(Role.PANEL_MEMBER) + env.cfg.holders(Role.INDEPENDENT_SCRUTINEER)
    for p in {p.id: p for p in told}.values():
        message = notices.rr_outcome(env, case, outcome, decision, [a for a in actions if a.kind == "action"])
        post(uow, env, p, message, f"rr_outcome:{outcome.id}:{p.id}", case)
    return case


async def _waiting_for(uow: UnitOfWork, env: Env, outcome: RapidReviewOutcome | None) -> str:
    if outcome is None:
        return "the Rapid Review chair's outcome"
    standing = await signoffs(uow, outcome)
    names = [info.name for a, info in env.cfg.agencies.items() if a not in standing or standing[a].verdict != "agree"]
    return ", ".join(names) + " to agree"


# --- actions arising -----------------------------------------------------------------------


async def add_action(cmd: AddAction, uow: UnitOfWork, env: Env) -> Obligation:
    """An action arising, with its owner agency, named person and due date: an obligation like any
    other, chased by the ladder (the named person if on the roster, else the agency lead), closed with
    evidence of completion."""
    person = person_or_refuse(env, cmd.by)
    require_role(person, Role.BUSINESS_MANAGER, Role.RR_CHAIR)
    case = await load_case(uow, cmd.ref, lock=True)
    if cmd.agency not in env.cfg.agencies:
        raise Conflict(f"{cmd.agency!r} is not one of the agencies ({', '.join(env.cfg.agencies)}).", field="agency")
    if not await _has_actions_source(uow, case):
        raise Conflict(
            f"{case.ref} has no Rapid Review, audit & assurance decision or local CSPR for actions to arise from.",
            ref=case.ref,
        )
    await refuse_part_a(uow, env, case, what=cmd.what, owner=cmd.owner)
    named = env.cfg.person(cmd.owner)
    if named is not None and named.agency not in (None, cmd.agency):
        raise Conflict(f"{named.name} is not in {env.cfg.agencies[cmd.agency].name}.", field="owner")
    n = await _count_actions(uow, case) + 1
    key = f"action:{n}"
    await open_obligation(
        uow,
        env,
        case,
        key=key,
        kind="action",
        what=f"Action {n}: {cmd.what}",
        owner_role=Role.AGENCY_LEAD,
        due_at=env.cal.end_of_day(cmd.due),
        agency=cmd.agency,
        owner_person=cmd.owner,
    )
    ob = await plan.obligation(uow, case, key)
    assert ob is not None
    audit(uow, env, person.id, "action_added", case, key=key, what=cmd.what, agency=cmd.agency, owner=cmd.owner)
    for owner in owners(env, ob):
        post(
            uow, env, owner, notices.action_assigned(env, case, ob, owner), f"action_assigned:{ob.id}:{owner.id}", case
        )
    return ob


async def _has_actions_source(uow: UnitOfWork, case: Case) -> bool:
    if case.rr_day1 is not None or case.cspr_decided_on is not None:
        return True
    pathway = await uow.session.scalar(
        select(Decision.pathway).where(Decision.case_id == case.id).order_by(Decision.id.desc()).limit(1)
    )
    return pathway == "audit_assurance"


async def _count_actions(uow: UnitOfWork, case: Case) -> int:
    query = (
        select(func.count()).select_from(Obligation).where(Obligation.case_id == case.id, Obligation.kind == "action")
    )
    return await uow.session.scalar(query) or 0
