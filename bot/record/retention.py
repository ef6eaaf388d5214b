"""`panelbot retention apply`: erase Part A (the child's details and the referral's narrative) and the
referrer's contact details of cases closed longer than `retention.personal_data_after_months`, leaving
the rest of the record (votes, decisions, timeline, messages' kinds and times) and the audit chain
intact, and auditing each erasure."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from dateutil.relativedelta import relativedelta
from sqlalchemy import func, select, update

from bot.flows.common import Env, audit
from bot.flows.personal import LEGACY_COLUMNS
from bot.states import CaseStatus, ObligationState
from storage.models import Case, Child, Decision, Obligation, OutboxMessage
from storage.uow import UnitOfWork

NARRATIVE = ("event_description", "abuse_detail", "agency_work", "review_reason", "additional_info")
CLOSED_STATUSES = (CaseStatus.DECIDED, CaseStatus.SUBMITTED)


class NoRetentionPolicy(ValueError):
    pass


@dataclass(frozen=True)
class Due:
    ref: str
    closed_at: dt.datetime


async def due(uow: UnitOfWork, env: Env) -> list[Due]:
    """Cases closed (decided or submitted, nothing left open) before the cut-off, not yet erased."""
    if env.cfg.retention is None:
        raise NoRetentionPolicy(
            "retention: is not set in app.yaml (there is no default): the records officer sets "
            "`retention: {personal_data_after_months: N}`"
        )
    cutoff = env.now() - relativedelta(months=env.cfg.retention.personal_data_after_months)
    open_cases = select(Obligation.case_id).where(Obligation.state == ObligationState.OPEN)
    candidates = await uow.session.scalars(
        select(Case)
        .where(Case.status.in_(CLOSED_STATUSES), Case.personal_erased_at.is_(None), Case.id.not_in(open_cases))
        .order_by(Case.id)
    )
    found = []
    for case in candidates:
        closed_at = await _closed_at(uow, case)
        if closed_at <= cutoff:
            found.append(Due(case.ref, closed_at))
    return found


async def _closed_at(uow: UnitOfWork, case: Case) -> dt.datetime:
    """The last thing that happened to the case: its last obligation done, or its last decision."""
    done = await uow.session.scalar(select(func.max(Obligation.done_at)).where(Obligation.case_id == case.id))
    decided = await uow.session.scalar(select(func.max(Decision.decided_at)).where(Decision.case_id == case.id))
    moments = [m for m in (done, decided, case.received_at) if m is not None]
    return max(m if m.tzinfo else m.replace(tzinfo=dt.UTC) for m in moments)


async def apply(uow: UnitOfWork, env: Env, actor: str, dry_run: bool) -> list[Due]:
    cases = await due(uow, env)
    if dry_run:
        return cases
    months = env.cfg.retention.personal_data_after_months if env.cfg.retention else 0
    for item in cases:
        case = await uow.session.scalar(select(Case).where(Case.ref == item.ref).with_for_update())
        assert case is not None
        await _erase(uow, env, case)
        audit(
            uow,
            env,
            actor,
            "personal_data_erased",
            case,
            closed_at=item.closed_at.isoformat(),
            retention_months=months,
            erased=["part_a_section_4", "part_a_narrative", "referrer_contact", "referrer_email_addresses"],
        )
    return cases


async def _erase(uow: UnitOfWork, env: Env, case: Case) -> None:
    await uow.session.execute(
        update(Child).where(Child.case_id == case.id).values(sealed=None, **dict.fromkeys(LEGACY_COLUMNS))
    )
    for name in NARRATIVE:
        setattr(case, name, None)
    case.referrer_sealed = case.referrer_phone = case.referrer_email = None
    case.personal_erased_at = env.now()
    await uow.session.execute(  # the referrer's address on the e-mails sent to them (roster people's stay)
        update(OutboxMessage)
        .where(OutboxMessage.case_id == case.id, OutboxMessage.person_id.is_(None), OutboxMessage.channel == "email")
        .values(address="(erased)")
    )
