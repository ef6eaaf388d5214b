"""The referrer, who is on no roster and is reached only by e-mail: the panel's questions with a link
to answer them, the answer reaching the Business Manager, and the outcome e-mail, sent once the
Independent Scrutineer has responded or their window has passed (not at the moment of decision)."""

from __future__ import annotations

from sqlalchemy import select

from bot.config import Role
from bot.flows.commands import Command, Ref, Text
from bot.flows.common import Conflict, Env, audit, load_case, person_or_refuse, post, post_email, require_role, schedule
from bot.flows.personal import referrer_contact
from bot.flows.screening import notices
from bot.messages import Action, ActionId, Fact, Message, action_value
from bot.sealing import Seal
from bot.states import CaseStatus
from storage.models import AuditEvent, Case, Decision, Obligation, OutboxMessage, Reminder, ScreeningRound
from storage.uow import UnitOfWork

OUTCOME_REMINDER = "referrer_outcome"


def address(uow: UnitOfWork, env: Env, case: Case, purpose: str) -> str | None:
    """The referrer's e-mail, opened from its seal; None if none was given. Sealed and unreadable here (no
    data key, or the wrong one) is audited as `referrer_not_told`, and the message is not sent."""
    state, contact = referrer_contact(env, case)
    if state is not Seal.OPEN:
        audit(uow, env, "panelbot", "referrer_not_told", case, purpose=purpose, reason=f"contact details {state}")
        return None
    return contact.get("email")


# --- the panel's questions -----------------------------------------------------------------


def questions_message(env: Env, case: Case, questions: list[str]) -> Message:
    """To the referrer: the reference and the panel's questions, never the child's details; the
    link to answer is added to the action when the e-mail is queued."""
    return Message(
        kind="referrer_questions",
        ref=case.ref,
        title=f"{env.cfg.partnership.name}: the screening panel has questions about referral {case.ref}",
        text=(
            "Thank you for your referral. Before it can decide, the screening panel of the three statutory "
            "safeguarding partners needs your answers to the questions below. Please answer through the link: "
            "do not reply with personal details by e-mail."
        ),
        facts=[Fact(label="Reference", value=case.ref)] + [Fact(label="Question", value=q) for q in questions],
        actions=[
            Action(id=ActionId.REFERRER_REPLY, label="Answer the panel's questions", value=action_value(case.ref))
        ],
    )


async def ask(uow: UnitOfWork, env: Env, case: Case, rnd: ScreeningRound, questions: list[str]) -> bool:
    """After a "queries to the referrer" decision: the questions go to the referrer at once, unless the
    Business Manager reviews them first (`process.referrer_questions_review`). True if sent."""
    if env.cfg.process.referrer_questions_review or not questions:
        return False
    to = address(uow, env, case, "referrer_questions")
    if not to:
        return False
    send(uow, env, case, rnd, questions, nth=1, to=to)
    return True


def send(uow: UnitOfWork, env: Env, case: Case, rnd: ScreeningRound, questions: list[str], nth: int, to: str) -> None:
    message = questions_message(env, case, questions)
    post_email(uow, env, to, message, f"referrer_questions:{rnd.id}:{nth}", case)
    audit(uow, env, "panelbot", "referrer_questions_sent", case, round=rnd.number, questions=questions)


class SendReferrerQuestions(Command):
    """The Business Manager sends the panel's questions (as reviewed) to the referrer."""

    ref: Ref
    questions: list[Text]


async def send_questions(cmd: SendReferrerQuestions, uow: UnitOfWork, env: Env) -> int:
    bm = person_or_refuse(env, cmd.by)
    require_role(bm, Role.BUSINESS_MANAGER)
    case = await load_case(uow, cmd.ref, lock=True)
    questions = [q for q in cmd.questions if q]
    if case.status != CaseStatus.AWAITING_REFERRER:
        raise Conflict(f"{case.ref} is not waiting for the referrer.")
    state, contact = referrer_contact(env, case)
    if state is not Seal.OPEN:
        raise Conflict(
            f"{case.ref}: the referrer's e-mail is sealed and cannot be opened here ({state}): set PANELBOT_DATA_KEY."
        )
    to = contact.get("email")
    if not to:
        raise Conflict(f"{case.ref} has no e-mail address for the referrer; put the questions to them another way.")
    if not questions:
        raise Conflict("There are no questions to send.")
    rnd = await _latest_round(uow, case)
    nth = 1 + await _count_sent(uow, rnd)
    send(uow, env, case, rnd, questions, nth, to)
    return nth


async def _count_sent(uow: UnitOfWork, rnd: ScreeningRound) -> int:
    sent = select(OutboxMessage.key).where(OutboxMessage.key.like(f"referrer_questions:{rnd.id}:%"))
    return len(list(await uow.session.scalars(sent)))


async def _latest_round(uow: UnitOfWork, case: Case) -> ScreeningRound:
    query = select(ScreeningRound).where(ScreeningRound.case_id == case.id).order_by(ScreeningRound.number.desc())
    rnd = await uow.session.scalar(query.limit(1))
    assert rnd is not None
    return rnd


# --- the referrer's answer -----------------------------------------------------------------


def answer_received(uow: UnitOfWork, env: Env, case: Case, rnd: ScreeningRound, text: str) -> None:
    """The referrer answered through their link: kept in the audit log, and sent to the Business
    Manager, who opens the next round with one press (unless `process.referrer_answer_opens_round`,
    when the caller opens it at once)."""
    audit(uow, env, "referrer", "referrer_answered", case, round=rnd.number, text=text)
    opens = env.cfg.process.referrer_answer_opens_round
    message = Message(
        kind="referrer_answered",
        ref=case.ref,
        title=f"{case.ref}: the referrer has answered the panel's questions",
        text=(
            f"Round {rnd.number + 1} of voting has opened with their answer."
            if opens
            else "Open the next round of voting when you are ready: the answer goes to the panel with it."
        ),
        facts=[Fact(label="Case", value=case.ref), Fact(label="Answer", value=text)],
        actions=[]
        if opens
        else [
            Action(id=ActionId.OPEN_ROUND, label="Open the next round", value=action_value(case.ref), style="primary")
        ],
    )
    for bm in env.cfg.holders(Role.BUSINESS_MANAGER):
        post(uow, env, bm, message, f"referrer_answered:{rnd.id}:{bm.id}", case)


async def latest_answer(uow: UnitOfWork, case: Case, rnd: ScreeningRound) -> str | None:
    """The referrer's answer to the round's questions, as their link recorded it."""
    rows = await uow.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.case_id == case.id, AuditEvent.action == "referrer_answered")
        .order_by(AuditEvent.id.desc())
    )
    for row in rows:
        if row.details.get("round") == rnd.number:
            return str(row.details.get("text") or "")
    return None


async def questions_asked(uow: UnitOfWork, case: Case, rnd: ScreeningRound) -> list[str]:
    """The questions last sent to the referrer for this round."""
    rows = await uow.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.case_id == case.id, AuditEvent.action == "referrer_questions_sent")
        .order_by(AuditEvent.id.desc())
    )
    for row in rows:
        if row.details.get("round") == rnd.number:
            return [str(q) for q in row.details.get("questions") or []]
    return []


class OpenAnsweredRound(Command):
    ref: Ref


# --- the outcome e-mail --------------------------------------------------------------------


async def outcome_after_scrutiny(uow: UnitOfWork, env: Env, case: Case, decision: Decision) -> None:
    """At the decision: the referrer's outcome e-mail waits for the scrutineer's response, or the end
    of their window (the scrutiny obligation's due time), whichever comes first."""
    if not (case.referrer_sealed or case.referrer_email) or decision.pathway == "query_referrer":
        return  # no contact details; or the questions e-mail is what the referrer gets
    ob = await uow.session.scalar(
        select(Obligation).where(Obligation.case_id == case.id, Obligation.key == f"scrutiny:{decision.id}")
    )
    due = ob.due_at if ob else env.now()
    await schedule(uow, OUTCOME_REMINDER, f"{OUTCOME_REMINDER}:{decision.id}", due, case, decision_id=decision.id)


async def send_outcome(uow: UnitOfWork, env: Env, case: Case, decision: Decision) -> None:
    """Send the outcome e-mail once (the outbox key is the decision's)."""
    if decision.pathway == "query_referrer":
        return
    key = f"referrer_outcome:{decision.id}"
    if await uow.session.scalar(select(OutboxMessage.id).where(OutboxMessage.key == key)) is not None:
        return
    to = address(uow, env, case, "referrer_outcome")
    if not to:
        return
    message = notices.referrer_outcome(env, case, decision, env.cfg.partnership.name)
    post_email(uow, env, to, message, key, case)


async def outcome_due(reminder: Reminder, uow: UnitOfWork, env: Env) -> None:
    """Timer: the scrutineer's window has passed without a response; the referrer hears now."""
    decision = await uow.session.get(Decision, reminder.payload["decision_id"])
    case = await uow.session.get(Case, reminder.case_id) if reminder.case_id else None
    if decision is not None and case is not None:
        await send_outcome(uow, env, case, decision)
