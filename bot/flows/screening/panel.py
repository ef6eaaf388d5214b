"""Screening panel flows: referral, votes, decision, deadlock, consultation, referrer queries,
scrutiny and the LA's notification. Each is `(command, uow, env)`; none touches the network."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select

from bot.config import Person, Role
from bot.flows.commands import (
    CastVote,
    Reconsider,
    RecordConsultation,
    RecordNotificationSent,
    RecordReferrerAnswer,
    RecordScrutiny,
    RecordScrutinyMeeting,
    RegisterReferral,
)
from bot.flows.common import (
    Conflict,
    Env,
    Refused,
    acting_for,
    audit,
    behalf_details,
    load_case,
    person_or_refuse,
    post,
    require_role,
    schedule,
)
from bot.flows.meetings import invite, invited
from bot.flows.personal import refuse_part_a, seal_child, seal_contact
from bot.flows.screening import notices, referrer
from bot.flows.screening.tally import PATHWAY_LABELS, Ballot, Deadlock, Outcome, Pathway, tally
from bot.flows.timelines import plan
from bot.flows.timelines.chasing import close_obligation, open_obligation, reopen_obligation
from bot.messages import ActionId
from bot.states import CaseStatus, ObligationState, RoundState, VoteStatus
from storage.models import (
    AuditEvent,
    Case,
    Decision,
    OutboxMessage,
    RefCounter,
    Reminder,
    ScreeningRound,
    Scrutiny,
    Vote,
)
from storage.uow import UnitOfWork


def check_may_register(person: Person) -> None:
    """Only the Business Manager registers a referral; fronts ask this before showing the form."""
    if not person.has(Role.BUSINESS_MANAGER):
        raise Refused(f"Only the Business Manager can register a referral; {person.name} is not.")


async def register_referral(cmd: RegisterReferral, uow: UnitOfWork, env: Env) -> Case:
    person = person_or_refuse(env, cmd.by)
    check_may_register(person)
    received = _aware(env, cmd.received_at or env.now())
    aware = _aware(env, cmd.aware_at or received)
    if aware > received:
        raise Conflict("The partnership cannot have become aware of the incident after the referral was received.")
    process = env.cfg.process
    case = Case(
        ref=await _next_reference(uow, env, received.astimezone(env.cfg.tz).year),
        status=CaseStatus.SCREENING,
        received_at=received,
        aware_at=aware,
        incident_date=cmd.incident_date,
        referrer_name=cmd.referrer.name,
        referrer_role=cmd.referrer.role,
        referrer_agency=cmd.referrer.agency,
        referrer_sealed=seal_contact(env, cmd.referrer.phone, cmd.referrer.email),
        event_description=cmd.event_description,
        abuse_detail=cmd.abuse_detail,
        agency_work=cmd.agency_work,
        review_reason=cmd.review_reason,
        additional_info=cmd.additional_info,
        panel_summary=cmd.panel_summary,
        screening_due=env.cal.due_after(received, process.screening_due),
        notification_due=env.cal.due_after(aware, process.notification_due),  # 003: "of becoming aware"
        created_by=person.id,
        created_at=env.now(),
    )
    uow.session.add(case)
    await uow.session.flush()
    uow.session.add(seal_child(env, case, cmd.child.model_dump()))
    audit(uow, env, person.id, "referral_registered", case, received=received.isoformat(), aware=aware.isoformat())
    await _open_round(uow, env, case, number=1)
    await _notification_clock(uow, env, case)
    return case


def _aware(env: Env, moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=env.cfg.tz)


async def _notification_clock(uow: UnitOfWork, env: Env, case: Case) -> None:
    """The notification runs from the moment of referral (003, 004: 5 working days of becoming aware):
    the LA notifier owes it until the panel finds the incident not notifiable. A referral that arrives
    with that date past, or due today or the next working day, is a red warning at once."""
    await open_obligation(
        uow,
        env,
        case,
        key="notification",
        kind="notification",
        owner_role=Role.LA_NOTIFIER,
        due_at=case.notification_due,
        what="Notify the National Panel (if the panel finds the incident notifiable)",
    )
    now = env.now()
    if now <= case.notification_due and env.cal.working_days_left(now, case.notification_due) > 2:
        return
    told = env.cfg.holders(Role.BUSINESS_MANAGER) + env.cfg.holders(Role.LA_NOTIFIER)
    for person in {p.id: p for p in told}.values():
        message = notices.notification_at_risk(env, case)
        post(uow, env, person, message, f"notification_at_risk:{case.id}:{person.id}", case)
    audit(uow, env, "panelbot", "notification_at_risk", case, due=case.notification_due.isoformat())


async def _next_reference(uow: UnitOfWork, env: Env, year: int) -> str:
    prefix = env.cfg.partnership.reference_prefix
    counter = await uow.session.scalar(
        select(RefCounter).where(RefCounter.prefix == prefix, RefCounter.year == year).with_for_update()
    )
    if counter is None:  # a concurrent first-of-the-year insert loses on the primary key and retries
        counter = RefCounter(prefix=prefix, year=year, last=0)
        uow.session.add(counter)
    counter.last += 1
    return f"{prefix}-{year}-{counter.last:03d}"


async def _open_round(uow: UnitOfWork, env: Env, case: Case, number: int, reason: str | None = None) -> ScreeningRound:
    rnd = ScreeningRound(case_id=case.id, number=number, state=RoundState.OPEN, opened_at=env.now(), reason=reason)
    uow.session.add(rnd)
    await uow.session.flush()
    deadline = case.screening_due
    if number > 1:  # the statutory date stays; a new round still gets a full screening period
        deadline = max(deadline, env.cal.due_after(env.now(), env.cfg.process.screening_due))
    asked: list[str] = []
    for agency, info in env.cfg.agencies.items():
        await open_obligation(
            uow,
            env,
            case,
            key=f"vote:{rnd.number}:{agency}",
            kind="vote",
            due_at=deadline,
            what=f"{info.name}'s screening vote (round {rnd.number})",
            owner_role=Role.PANEL_MEMBER,
            agency=agency,
        )
        for person in vote_recipients(env, agency):
            post(uow, env, person, notices.vote_request(env, case, rnd, info.name), request_key(rnd, person), case)
            asked.append(person.name)
    # 004: the Business Manager alerts the LA Head of Safeguarding & QA (the LA notifier) at referral
    told = env.cfg.holders(Role.BUSINESS_MANAGER) + env.cfg.holders(Role.LA_NOTIFIER)
    for person in {p.id: p for p in told}.values():
        post(uow, env, person, notices.panel_convened(env, case, rnd, asked), f"convened:{rnd.id}:{person.id}", case)
    await schedule(uow, "screening_deadline", f"screening_deadline:{rnd.id}", deadline, case, round_id=rnd.id)
    audit(uow, env, "panelbot", "round_opened", case, round=number, deadline=deadline.isoformat())
    return rnd


def vote_recipients(env: Env, agency: str) -> list[Person]:
    members = env.cfg.holders(Role.PANEL_MEMBER, agency)
    if env.cfg.process.vote_requests_to_deputies:
        members += [p for p in env.cfg.holders(Role.DEPUTY, agency) if p not in members]
    return members


def request_key(rnd: ScreeningRound, person: Person) -> str:
    return f"vote_request:{rnd.id}:{person.id}"


async def current_round(uow: UnitOfWork, case: Case, lock: bool = True) -> ScreeningRound:
    """The case's latest round, row-locked so that votes on it are counted one at a time."""
    query = select(ScreeningRound).where(ScreeningRound.case_id == case.id).order_by(ScreeningRound.number.desc())
    if lock:
        query = query.with_for_update()
    rnd = await uow.session.scalar(query.limit(1))
    assert rnd is not None, f"case {case.ref} has no screening round"
    return rnd


@dataclass(frozen=True)
class VoteResult:
    ref: str
    agency: str
    status: VoteStatus
    decision: Decision | None  # the round's decision, if there is one now


async def cast_vote(cmd: CastVote, uow: UnitOfWork, env: Env) -> VoteResult:
    person, recorder = acting_for(env, cmd)
    case = await load_case(uow, cmd.ref)
    if not person.may_vote:
        raise Refused(f"Only an agency's panel member or deputy can vote; {person.name} is neither.", ref=case.ref)
    await refuse_part_a(
        uow, env, case, rationale=cmd.rationale, abuse_nature=cmd.abuse_nature, harm_basis=cmd.harm_basis
    )
    rnd = await current_round(uow, case)
    vote = await uow.session.scalar(select(Vote).where(Vote.round_id == rnd.id, Vote.agency == person.agency))
    if rnd.state == RoundState.DECIDED:
        return await _vote_after_decision(cmd, uow, env, case, rnd, person, vote)
    status = _apply_vote(cmd, uow, env, rnd, person, vote)
    if status == VoteStatus.UNCHANGED:
        return VoteResult(case.ref, person.agency, status, None)
    await uow.session.flush()
    vote = await uow.session.scalar(select(Vote).where(Vote.round_id == rnd.id, Vote.agency == person.agency))
    assert vote is not None
    audit(
        uow,
        env,
        person.id,
        f"vote_{status}",
        case,
        round=rnd.number,
        agency=person.agency,
        pathway=vote.pathway,
        notifiable=vote.notifiable,
        rationale=vote.rationale,
        abuse_nature=vote.abuse_nature,
        harm_basis=vote.harm_basis,
        version=vote.version,
        **behalf_details(recorder, cmd),
    )
    await close_obligation(uow, env, case, f"vote:{rnd.number}:{person.agency}", person.id)
    if recorder is not None:
        what = f"{env.cfg.agencies[person.agency].name}'s vote: {PATHWAY_LABELS[cmd.pathway]}"
        message = notices.recorded_for_you(env, case, what, recorder.name, cmd.method, ActionId.CHANGE_VOTE)
        post(uow, env, person, message, f"recorded_for:vote:{vote.id}:v{vote.version}", case)
    decision = await _count(uow, env, case, rnd)
    if decision is None:
        _tell_agency_vote(uow, env, case, rnd, vote, person)
    return VoteResult(case.ref, person.agency, status, decision)


def _vote_fields(cmd: CastVote) -> dict[str, object]:
    return dict(
        recorded_by=cmd.by if cmd.on_behalf_of else None,
        record_method=cmd.method,
        pathway=cmd.pathway.value,
        notifiable=cmd.notifiable,
        rationale=cmd.rationale,
        abuse_nature=cmd.abuse_nature,
        harm_basis=cmd.harm_basis,
    )


def _new_vote(cmd: CastVote, env: Env, rnd: ScreeningRound, person: Person, after_decision: bool) -> Vote:
    return Vote(
        round_id=rnd.id,
        agency=person.agency,
        person_id=person.id,
        cast_at=env.now(),
        version=1,
        after_decision=after_decision,
        **_vote_fields(cmd),
    )


def _apply_vote(
    cmd: CastVote, uow: UnitOfWork, env: Env, rnd: ScreeningRound, person: Person, vote: Vote | None
) -> str:
    fields = _vote_fields(cmd)
    if vote is None:
        uow.session.add(_new_vote(cmd, env, rnd, person, after_decision=False))
        return VoteStatus.RECORDED
    if vote.person_id == person.id and all(getattr(vote, k) == v for k, v in fields.items()):
        return "unchanged"  # a double click or a retried delivery: nothing new to record
    for name, value in fields.items():
        setattr(vote, name, value)
    vote.person_id, vote.cast_at, vote.version = person.id, env.now(), vote.version + 1
    return VoteStatus.CHANGED


def _tell_agency_vote(uow: UnitOfWork, env: Env, case: Case, rnd: ScreeningRound, vote: Vote, voter: Person) -> None:
    """Update the agency's vote requests in place to show the vote that stands."""
    assert voter.agency is not None
    agency_name = env.cfg.agencies[voter.agency].name
    for person in vote_recipients(env, voter.agency):
        message = notices.vote_recorded(env, case, vote, agency_name, voter.name, can_change=True)
        key = f"vote_recorded:{rnd.id}:{person.id}:v{vote.version}"
        post(uow, env, person, message, key, case, replaces_key=request_key(rnd, person))


async def _vote_after_decision(
    cmd: CastVote, uow: UnitOfWork, env: Env, case: Case, rnd: ScreeningRound, person: Person, vote: Vote | None
) -> VoteResult:
    assert person.agency is not None
    decision = await _decision_for(uow, rnd)
    if vote is None:
        uow.session.add(_new_vote(cmd, env, rnd, person, after_decision=True))
    audit(
        uow,
        env,
        person.id,
        "vote_after_decision",
        case,
        round=rnd.number,
        agency=person.agency,
        pathway=cmd.pathway.value,
        notifiable=cmd.notifiable,
        rationale=cmd.rationale,
        recorded_as_vote=vote is None,
    )
    late_count = await _count_audits(uow, case, person.id, "vote_after_decision")
    post(uow, env, person, notices.late_vote(env, case, decision), f"late_vote:{rnd.id}:{person.id}:{late_count}", case)
    return VoteResult(case.ref, person.agency, VoteStatus.AFTER_DECISION, decision)


async def _count_audits(uow: UnitOfWork, case: Case, actor: str, action: str) -> int:
    return (
        await uow.session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.case_id == case.id, AuditEvent.actor == actor, AuditEvent.action == action)
        )
        or 0
    )


async def _decision_for(uow: UnitOfWork, rnd: ScreeningRound) -> Decision:
    decision = await uow.session.scalar(select(Decision).where(Decision.round_id == rnd.id))
    assert decision is not None, f"round {rnd.id} is decided but has no decision row"
    return decision


async def round_votes(uow: UnitOfWork, rnd: ScreeningRound) -> list[Vote]:
    return list(await uow.session.scalars(select(Vote).where(Vote.round_id == rnd.id).order_by(Vote.id)))


async def _count(uow: UnitOfWork, env: Env, case: Case, rnd: ScreeningRound) -> Decision | None:
    votes = [v for v in await round_votes(uow, rnd) if not v.after_decision]
    ballots = [Ballot(v.agency, Pathway(v.pathway), v.notifiable) for v in votes]
    result = tally(ballots, list(env.cfg.agencies), env.cfg.process.decision_rule)
    if isinstance(result, Outcome):
        deciding = [_vote_summary(v) for v in votes if v.agency in result.deciding]
        return await _decide(uow, env, case, rnd, result.pathway, result.notifiable, result.method, deciding)
    if isinstance(result, Deadlock) and rnd.state == RoundState.OPEN:
        await _deadlock(uow, env, case, rnd, result.reason)
    return None


def _vote_summary(v: Vote) -> dict[str, object]:
    return {"agency": v.agency, "person": v.person_id, "pathway": v.pathway, "notifiable": v.notifiable}


async def _decide(
    uow: UnitOfWork,
    env: Env,
    case: Case,
    rnd: ScreeningRound,
    pathway: Pathway,
    notifiable: bool,
    method: str,
    deciding: list[dict[str, object]],
    by: str | None = None,
    rationale: str | None = None,
) -> Decision:
    decision = Decision(
        round_id=rnd.id,
        case_id=case.id,
        pathway=pathway.value,
        notifiable=notifiable,
        method=method,
        decided_at=env.now(),
        decided_by=by,
        deciding_votes=deciding,
        rationale=rationale,
    )
    uow.session.add(decision)
    rnd.state = RoundState.DECIDED
    case.status = CaseStatus.AWAITING_REFERRER if pathway is Pathway.QUERY_REFERRER else CaseStatus.DECIDED
    await uow.session.flush()
    audit(
        uow,
        env,
        by or "panelbot",
        "decision",
        case,
        round=rnd.number,
        pathway=pathway.value,
        notifiable=notifiable,
        method=method,
        deciding=deciding,
    )
    for agency in env.cfg.agencies:
        await close_obligation(uow, env, case, f"vote:{rnd.number}:{agency}", None, state=ObligationState.CANCELLED)
    await _withdraw_consultation(uow, env, case, rnd, decision)
    await _announce(uow, env, case, rnd, decision)
    if rnd.reason is not None:  # a reconsideration: its outcome goes back to the National Panel
        await _report_back(uow, env, case, rnd)
    if pathway is Pathway.QUERY_REFERRER:
        await _ask_referrer(uow, env, case, rnd)
    if notifiable:
        await _ask_for_notification(uow, env, case)
    elif pathway is not Pathway.QUERY_REFERRER:
        await _not_notifiable(uow, env, case, decision)
    await plan.decision_made(uow, env, case, decision)
    return decision


async def _announce(uow: UnitOfWork, env: Env, case: Case, rnd: ScreeningRound, decision: Decision) -> None:
    voters = {v.person_id for v in await round_votes(uow, rnd)}
    for agency in env.cfg.agencies:
        for person in vote_recipients(env, agency):
            post(
                uow,
                env,
                person,
                notices.round_closed(env, case, decision),
                f"vote_closed:{rnd.id}:{person.id}",
                case,
                replaces_key=request_key(rnd, person),
            )
            if person.id in voters or person.has(Role.PANEL_MEMBER):
                post(
                    uow,
                    env,
                    person,
                    notices.decision_notice(env, case, decision, False),
                    f"decision:{decision.id}:{person.id}",
                    case,
                )
    for role in (Role.BUSINESS_MANAGER, Role.EXECUTIVE_CHAIR, Role.INDEPENDENT_SCRUTINEER):
        for person in env.cfg.holders(role):
            scrutiny = role is Role.INDEPENDENT_SCRUTINEER and _for_scrutiny(decision)
            post(
                uow,
                env,
                person,
                notices.decision_notice(env, case, decision, scrutiny),
                f"decision:{decision.id}:{person.id}",
                case,
            )
    if not _for_scrutiny(decision):
        return
    await open_obligation(
        uow,
        env,
        case,
        key=f"scrutiny:{decision.id}",
        kind="scrutiny",
        owner_role=Role.INDEPENDENT_SCRUTINEER,
        due_at=env.cal.due_after(decision.decided_at, env.cfg.process.screening_due),
        what="Independent Scrutineer's view on the screening outcome",
    )
    await referrer.outcome_after_scrutiny(uow, env, case, decision)


def _for_scrutiny(decision: Decision) -> bool:
    """Every outcome goes to the scrutineer for a view, except a query to the referrer: that is not an
    outcome yet, and the decision after the answer is scrutinised instead."""
    return decision.pathway != Pathway.QUERY_REFERRER.value


async def _report_back(uow: UnitOfWork, env: Env, case: Case, rnd: ScreeningRound) -> None:
    await open_obligation(
        uow,
        env,
        case,
        key=f"reconsideration:{rnd.number}",
        kind="reconsideration",
        owner_role=Role.BUSINESS_MANAGER,
        due_at=env.cal.due_after(env.now(), env.cfg.process.reconsideration_report_due),
        what=f"Report the reconsideration's outcome (round {rnd.number}) back to the National Panel",
    )


async def reconsider(cmd: Reconsider, uow: UnitOfWork, env: Env) -> ScreeningRound:
    """The National Panel asks the partnership to reconsider, or new information emerges (003): the
    Business Manager reopens screening as a new round with the reason; the scrutineer is involved, and
    the new round's decision becomes a task to report back to the National Panel."""
    person = person_or_refuse(env, cmd.by)
    require_role(person, Role.BUSINESS_MANAGER)
    case = await load_case(uow, cmd.ref, lock=True)
    previous = await current_round(uow, case)
    if previous.state != RoundState.DECIDED or case.status == CaseStatus.AWAITING_REFERRER:
        raise Conflict(f"{case.ref} is still being screened (round {previous.number}); there is nothing to reconsider.")
    await refuse_part_a(uow, env, case, reason=cmd.reason)
    audit(uow, env, person.id, "reconsideration", case, reason=cmd.reason, source=cmd.source, round=previous.number + 1)
    case.status = CaseStatus.SCREENING
    rnd = await _open_round(uow, env, case, previous.number + 1, reason=cmd.reason)
    for scrutineer in env.cfg.holders(Role.INDEPENDENT_SCRUTINEER):
        message = notices.reconsideration_opened(env, case, rnd, cmd.reason, cmd.source)
        post(uow, env, scrutineer, message, f"reconsideration:{rnd.id}:{scrutineer.id}", case)
    return rnd


async def _ask_referrer(uow: UnitOfWork, env: Env, case: Case, rnd: ScreeningRound) -> None:
    questions = [v.rationale for v in await round_votes(uow, rnd) if v.pathway == Pathway.QUERY_REFERRER.value]
    sent = await referrer.ask(uow, env, case, rnd, questions)
    for bm in env.cfg.holders(Role.BUSINESS_MANAGER):
        message = notices.referrer_query(env, case, questions, sent)
        post(uow, env, bm, message, f"referrer_query:{rnd.id}:{bm.id}", case)


async def _ask_for_notification(uow: UnitOfWork, env: Env, case: Case) -> None:
    """The panel found it notifiable: the LA notifier's task (open since the referral, or reopened
    after a reconsideration) gets its button, once per case."""
    if case.notified_at is not None:
        return
    await reopen_obligation(uow, env, case, "notification", what="Notify the National Panel")
    for person in env.cfg.holders(Role.LA_NOTIFIER):
        key = f"notification_due:{case.id}:{person.id}"
        if await uow.session.scalar(select(OutboxMessage.id).where(OutboxMessage.key == key)) is None:
            post(uow, env, person, notices.notification_due(env, case), key, case)


async def _not_notifiable(uow: UnitOfWork, env: Env, case: Case, decision: Decision) -> None:
    if case.notified_at is None:
        note = "the screening panel found the incident not notifiable"
        await close_obligation(uow, env, case, "notification", None, ObligationState.CANCELLED, note)


async def _deadlock(uow: UnitOfWork, env: Env, case: Case, rnd: ScreeningRound, reason: str) -> None:
    rnd.state, rnd.deadlocked_at = RoundState.DEADLOCK, env.now()
    case.status = CaseStatus.DEADLOCK
    audit(uow, env, "panelbot", "deadlock", case, round=rnd.number, reason=reason)
    chairs = _chairs(env)
    others = env.cfg.holders(Role.BUSINESS_MANAGER) + [p for a in env.cfg.agencies for p in vote_recipients(env, a)]
    for person in chairs:
        post(uow, env, person, notices.deadlock_notice(env, case, reason, True), f"deadlock:{rnd.id}:{person.id}", case)
    for person in others:
        if person not in chairs:
            post(
                uow,
                env,
                person,
                notices.deadlock_notice(env, case, reason, False),
                f"deadlock:{rnd.id}:{person.id}",
                case,
            )
    await open_obligation(
        uow,
        env,
        case,
        key=f"consultation:{rnd.number}",
        kind="consultation",
        owner_role=Role.EXECUTIVE_CHAIR,
        due_at=env.cal.due_after(env.now(), env.cfg.process.screening_due),
        what=f"Consultation outcome for the deadlocked round {rnd.number}",
    )


def _chairs(env: Env) -> list[Person]:
    return env.cfg.holders(Role.EXECUTIVE_CHAIR) + env.cfg.holders(Role.INDEPENDENT_SCRUTINEER)


async def _withdraw_consultation(
    uow: UnitOfWork, env: Env, case: Case, rnd: ScreeningRound, decision: Decision
) -> None:
    """A deadlock the panel resolved itself (a changed or late vote): the chair's consultation task is
    closed, and the chair told, in place of the deadlock message, that it is no longer needed."""
    note = "no longer needed: the panel reached a decision by vote"
    key = f"consultation:{rnd.number}"
    if await close_obligation(uow, env, case, key, None, ObligationState.CANCELLED, note) is None:
        return
    for person in _chairs(env):
        message = notices.consultation_withdrawn(env, case, decision)
        key, replaces = f"consultation_withdrawn:{rnd.id}:{person.id}", f"deadlock:{rnd.id}:{person.id}"
        post(uow, env, person, message, key, case, replaces_key=replaces)


async def screening_deadline_passed(reminder: Reminder, uow: UnitOfWork, env: Env) -> None:
    """Timer: the round's deadline has come. If it is still open without a majority, it is deadlocked."""
    rnd = await uow.session.get(ScreeningRound, reminder.payload["round_id"], with_for_update=True)
    if rnd is None or rnd.state != RoundState.OPEN:
        return
    case = await uow.session.get(Case, rnd.case_id)
    assert case is not None
    await _deadlock(uow, env, case, rnd, "the screening deadline passed without a majority")


async def record_consultation(cmd: RecordConsultation, uow: UnitOfWork, env: Env) -> Decision:
    person = person_or_refuse(env, cmd.by)
    require_role(person, Role.EXECUTIVE_CHAIR, Role.INDEPENDENT_SCRUTINEER, Role.BUSINESS_MANAGER)
    case = await load_case(uow, cmd.ref)
    await refuse_part_a(uow, env, case, rationale=cmd.rationale)
    rnd = await current_round(uow, case)
    if rnd.state != RoundState.DEADLOCK:
        raise Conflict(f"{case.ref} is not deadlocked (its round {rnd.number} is {rnd.state}).")
    await close_obligation(uow, env, case, f"consultation:{rnd.number}", person.id)
    deciding = [{"consulted_by": person.id, "how": cmd.how}]
    return await _decide(
        uow,
        env,
        case,
        rnd,
        cmd.pathway,
        cmd.notifiable,
        "consultation",
        deciding,
        by=person.id,
        rationale=cmd.rationale,
    )


async def record_referrer_answer(cmd: RecordReferrerAnswer, uow: UnitOfWork, env: Env) -> ScreeningRound:
    person = person_or_refuse(env, cmd.by)
    require_role(person, Role.BUSINESS_MANAGER)
    case = await load_case(uow, cmd.ref, lock=True)
    await refuse_part_a(uow, env, case, text=cmd.text)
    if case.status != CaseStatus.AWAITING_REFERRER:
        raise Conflict(f"{case.ref} is not waiting for the referrer (it is {case.status.replace('_', ' ')}).")
    return await open_round_after_answer(uow, env, case, cmd.text, person.id)


async def open_round_after_answer(uow: UnitOfWork, env: Env, case: Case, text: str, by: str) -> ScreeningRound:
    previous = await current_round(uow, case)
    case.status = CaseStatus.SCREENING
    audit(uow, env, by, "referrer_answer", case, round=previous.number, text=text)
    return await _open_round(uow, env, case, previous.number + 1)


async def open_answered_round(cmd: referrer.OpenAnsweredRound, uow: UnitOfWork, env: Env) -> ScreeningRound:
    """One press by the Business Manager: the next round, with the answer the referrer gave through their link."""
    person = person_or_refuse(env, cmd.by)
    require_role(person, Role.BUSINESS_MANAGER)
    case = await load_case(uow, cmd.ref, lock=True)
    if case.status != CaseStatus.AWAITING_REFERRER:
        raise Conflict(f"{case.ref} is not waiting for the referrer (it is {case.status.replace('_', ' ')}).")
    answer = await referrer.latest_answer(uow, case, await current_round(uow, case))
    if answer is None:
        raise Conflict(f"The referrer has not answered {case.ref} through their link; record their answer instead.")
    return await open_round_after_answer(uow, env, case, answer, person.id)


async def record_scrutiny(cmd: RecordScrutiny, uow: UnitOfWork, env: Env) -> Scrutiny:
    person, recorder = acting_for(env, cmd)
    require_role(person, Role.INDEPENDENT_SCRUTINEER, Role.EXECUTIVE_CHAIR)
    case = await load_case(uow, cmd.ref)
    await refuse_part_a(uow, env, case, comment=cmd.comment)
    decision = await uow.session.scalar(
        select(Decision).where(Decision.case_id == case.id).order_by(Decision.id.desc()).limit(1)
    )
    if decision is None:
        raise Conflict(f"{case.ref} has no screening decision to scrutinise yet.")
    if not _for_scrutiny(decision):
        raise Conflict(f"{case.ref}'s panel has questions for the referrer; that is not sent for scrutiny.")
    row = await uow.session.scalar(
        select(Scrutiny).where(Scrutiny.decision_id == decision.id, Scrutiny.person_id == person.id)
    )
    if row is None:
        row = Scrutiny(
            decision_id=decision.id,
            case_id=case.id,
            person_id=person.id,
            verdict=cmd.verdict,
            comment=cmd.comment,
            at=env.now(),
        )
        uow.session.add(row)
    elif (row.verdict, row.comment) == (cmd.verdict, cmd.comment):
        return row  # the same answer twice: nothing new
    else:
        row.verdict, row.comment, row.at = cmd.verdict, cmd.comment, env.now()
    row.recorded_by, row.record_method = (recorder.id, cmd.method) if recorder else (None, None)
    await uow.session.flush()
    audit(
        uow,
        env,
        person.id,
        f"scrutiny_{cmd.verdict}",
        case,
        decision=decision.id,
        comment=cmd.comment,
        **behalf_details(recorder, cmd),
    )
    if recorder is not None:
        what = "You concur with the screening outcome" if cmd.verdict == "concur" else "You disagree with the outcome"
        action = ActionId.DISAGREE if cmd.verdict == "concur" else ActionId.CONCUR
        message = notices.recorded_for_you(env, case, what, recorder.name, cmd.method, action)
        post(uow, env, person, message, f"recorded_for:scrutiny:{row.id}:{env.now().isoformat()}", case)
    await close_obligation(uow, env, case, f"scrutiny:{decision.id}", person.id)
    await referrer.send_outcome(uow, env, case, decision)
    if cmd.verdict == "concur":  # 003: the scrutineer "will offer a view to the DSPs"
        for dsp in env.cfg.holders(Role.PANEL_MEMBER):
            message = notices.scrutiny_view(env, case, person.name, cmd.comment)
            post(uow, env, dsp, message, f"scrutiny_view:{row.id}:{dsp.id}:{row.at.timestamp():.0f}", case)
    if cmd.verdict == "disagree":
        await open_obligation(
            uow,
            env,
            case,
            key=f"scrutiny_meeting:{decision.id}",
            kind="scrutiny_meeting",
            owner_role=Role.BUSINESS_MANAGER,
            due_at=env.cal.due_after(env.now(), env.cfg.process.scrutiny_meeting_due),
            what="Record the outcome of the panel's meeting with the scrutineer (decision stands or changed)",
        )
        for bm in env.cfg.holders(Role.BUSINESS_MANAGER):
            message = notices.scrutiny_disagreement(env, case, person.name, cmd.comment or "")
            nth = await _count_audits(uow, case, person.id, "scrutiny_disagree")
            post(uow, env, bm, message, f"scrutiny_disagreement:{row.id}:{bm.id}:{nth}", case)
        await _meet_after_disagreement(uow, env, case, decision, person)
    return row


async def record_scrutiny_meeting(cmd: RecordScrutinyMeeting, uow: UnitOfWork, env: Env) -> Decision:
    """The meeting after a disagreement closes the loop (003): the decision stands, or it changed (the
    Business Manager then reconsiders the case to record the new decision), with the rationale."""
    person = person_or_refuse(env, cmd.by)
    require_role(person, Role.BUSINESS_MANAGER, Role.INDEPENDENT_SCRUTINEER, Role.EXECUTIVE_CHAIR)
    case = await load_case(uow, cmd.ref, lock=True)
    decision = await uow.session.scalar(
        select(Decision).where(Decision.case_id == case.id).order_by(Decision.id.desc()).limit(1)
    )
    await refuse_part_a(uow, env, case, rationale=cmd.rationale)
    key = f"scrutiny_meeting:{decision.id}" if decision else ""
    if decision is None or await close_obligation(uow, env, case, key, person.id, note=cmd.rationale) is None:
        raise Conflict(f"{case.ref} has no disagreement meeting waiting for its outcome.", ref=case.ref)
    audit(uow, env, person.id, "scrutiny_meeting_outcome", case, outcome=cmd.outcome, rationale=cmd.rationale)
    told = env.cfg.holders(Role.PANEL_MEMBER) + env.cfg.holders(Role.INDEPENDENT_SCRUTINEER)
    told += env.cfg.holders(Role.BUSINESS_MANAGER)
    for p in {p.id: p for p in told}.values():
        message = notices.scrutiny_meeting_outcome(env, case, cmd.outcome, cmd.rationale)
        post(uow, env, p, message, f"scrutiny_meeting_outcome:{decision.id}:{p.id}", case)
    return decision


MEETING_AT = dt.time(10, 0)  # the invite after a disagreement: the next working day, 10:00-11:00 local


async def _meet_after_disagreement(uow: UnitOfWork, env: Env, case: Case, decision: Decision, by: Person) -> None:
    """A disagreement means a meeting of the panel with the scrutineer (003): one Outlook invite per
    decision, whoever disagrees and however often, for the Business Manager to move if need be."""
    purpose = f"scrutiny:{decision.id}"
    if await invited(uow, case, purpose):
        return
    day = env.cal.add_working_days(env.cal.local_date(env.now()), 1)
    attendees = [*env.cfg.holders(Role.PANEL_MEMBER), by, *env.cfg.holders(Role.BUSINESS_MANAGER)]
    note = (
        f"{by.name} disagrees with the screening panel's outcome for {case.ref}. This meeting of the panel with "
        "the scrutineer is to discuss its rationale. panelbot proposed the time; the Business Manager may move it."
    )
    subject = f"{case.ref}: screening panel meeting on the scrutineer's disagreement"
    invite(uow, env, case, purpose, subject, env.cal.at(day, MEETING_AT), 60, attendees, note)


async def record_notification_sent(cmd: RecordNotificationSent, uow: UnitOfWork, env: Env) -> Case:
    person = person_or_refuse(env, cmd.by)
    require_role(person, Role.LA_NOTIFIER, Role.BUSINESS_MANAGER)
    case = await load_case(uow, cmd.ref, lock=True)
    if case.notified_at is not None:
        return case  # already recorded: a second click changes nothing
    decision = await uow.session.scalar(
        select(Decision).where(Decision.case_id == case.id).order_by(Decision.id.desc()).limit(1)
    )
    if decision is None or not decision.notifiable:
        raise Conflict(f"{case.ref} has no decision that it is notifiable, so there is nothing to notify.")
    sent = cmd.sent_at or env.now()
    if sent.tzinfo is None:
        sent = sent.replace(tzinfo=env.cfg.tz)
    case.notified_at = sent
    case.rapid_review_due = env.cal.due_after(sent, env.cfg.process.rapid_review_due)
    audit(uow, env, person.id, "notification_sent", case, sent_at=sent.isoformat())
    await close_obligation(uow, env, case, "notification", person.id)
    for bm in env.cfg.holders(Role.BUSINESS_MANAGER):
        post(uow, env, bm, notices.notification_recorded(env, case, person.name), f"notified:{case.id}:{bm.id}", case)
    await plan.start_rapid_review(uow, env, case, by=person.id)  # a notified incident has a Rapid Review
    return case
