"""Read-only views of cases for the CLI, `simulate`, and chat commands.

`case_view` never includes the child's details (the `children` table): it is what may be shown to
anyone on the roster. Times are ISO 8601 in UTC.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select

from bot.config import Person, Role
from bot.flows.common import Env, load_case
from bot.flows.screening.tally import PATHWAY_LABELS, Pathway
from bot.messages import Fact, Message
from bot.states import SCREENING_STATUSES, ObligationState, OutboxState
from storage.models import Case, Decision, Obligation, OutboxMessage, ScreeningRound, Scrutiny, Vote
from storage.uow import UnitOfWork


def iso(moment: dt.datetime | None) -> str | None:
    return moment.astimezone(dt.UTC).isoformat() if moment else None


async def case_view(uow: UnitOfWork, env: Env, ref: str) -> dict[str, Any]:
    case = await load_case(uow, ref)
    session = uow.session
    rounds = list(
        await session.scalars(
            select(ScreeningRound).where(ScreeningRound.case_id == case.id).order_by(ScreeningRound.number)
        )
    )
    round_no = {r.id: r.number for r in rounds}
    votes = list(await session.scalars(select(Vote).where(Vote.round_id.in_(round_no)).order_by(Vote.id)))
    decisions = list(await session.scalars(select(Decision).where(Decision.case_id == case.id).order_by(Decision.id)))
    scrutiny = list(await session.scalars(select(Scrutiny).where(Scrutiny.case_id == case.id).order_by(Scrutiny.id)))
    messages = list(
        await session.scalars(select(OutboxMessage).where(OutboxMessage.case_id == case.id).order_by(OutboxMessage.id))
    )
    last = decisions[-1] if decisions else None
    return {
        "ref": case.ref,
        "status": case.status,
        "received": iso(case.received_at),
        "screening_due": iso(case.screening_due),
        "notification_due": iso(case.notification_due),
        "notified": iso(case.notified_at),
        "rapid_review_due": iso(case.rapid_review_due),
        "panel_summary": case.panel_summary,
        "pathway": last.pathway if last else None,
        "notifiable": last.notifiable if last else None,
        "method": last.method if last else None,
        "decided_at": iso(last.decided_at) if last else None,
        "rounds": [{"number": r.number, "state": r.state, "opened_at": iso(r.opened_at)} for r in rounds],
        "votes": [_vote(v, round_no[v.round_id], env) for v in votes],
        "decisions": [_decision(d, round_no[d.round_id]) for d in decisions],
        "scrutiny": [
            {
                "by": s.person_id,
                "verdict": s.verdict,
                "comment": s.comment,
                "at": iso(s.at),
                "recorded_by": s.recorded_by,
                "record_method": s.record_method,
            }
            for s in scrutiny
        ],
        "messages": [_message(m) for m in messages],
    }


def _vote(v: Vote, round_number: int, env: Env) -> dict[str, Any]:
    person = env.cfg.person(v.person_id)
    return {
        "round": round_number,
        "agency": v.agency,
        "voter": v.person_id,
        "voter_name": person.name if person else v.person_id,
        "pathway": v.pathway,
        "notifiable": v.notifiable,
        "rationale": v.rationale,
        "abuse_nature": v.abuse_nature,
        "harm_basis": v.harm_basis,
        "time": iso(v.cast_at),
        "after_decision": v.after_decision,
        "recorded_by": v.recorded_by,  # the Business Manager who recorded it for the voter, if anyone
        "record_method": v.record_method,
    }


def _decision(d: Decision, round_number: int) -> dict[str, Any]:
    return {
        "round": round_number,
        "pathway": d.pathway,
        "notifiable": d.notifiable,
        "method": d.method,
        "decided_at": iso(d.decided_at),
        "decided_by": d.decided_by,
        "deciding_votes": d.deciding_votes,
        "rationale": d.rationale,
    }


def _message(m: OutboxMessage) -> dict[str, Any]:
    return {
        "id": m.id,
        "last_error": m.last_error,
        "at": iso(m.created_at),
        "kind": m.kind,
        "to": m.person_id or m.address,
        "channel": m.channel,
        "state": m.state,
        "sent_at": iso(m.sent_at),
    }


async def cases_view(uow: UnitOfWork, env: Env, open_only: bool) -> list[dict[str, Any]]:
    """One row per case with its next deadline: two queries whatever the number of cases, reading
    only the columns shown (the Business Manager's Home draws this for every open case)."""
    query = select(Case.id, Case.ref, Case.status, Case.received_at).order_by(Case.received_at)
    if open_only:  # still screening, or someone still owes something on it
        owed = (
            select(Obligation.id)
            .where(Obligation.case_id == Case.id, Obligation.state == ObligationState.OPEN)
            .exists()
        )
        query = query.where(or_(Case.status.in_(SCREENING_STATUSES), owed))
    cases = (await uow.session.execute(query)).all()
    nexts = await next_deadlines(uow)
    rows = []
    for case_id, ref, status, received_at in cases:
        due_at, what = nexts.get(case_id, (None, None))
        rows.append(
            {
                "ref": ref,
                "status": status,
                "received": iso(received_at),
                "next_deadline": iso(due_at),
                "next_what": what,
            }
        )
    return rows


async def next_deadlines(uow: UnitOfWork) -> dict[int, tuple[dt.datetime, str]]:
    """Each case's earliest open obligation (due time, what), for every case in one query."""
    rank = (
        func.row_number()
        .over(partition_by=Obligation.case_id, order_by=(Obligation.due_at, Obligation.id))
        .label("rank")
    )
    ranked = (
        select(Obligation.case_id, Obligation.due_at, Obligation.what, rank)
        .where(Obligation.state == ObligationState.OPEN)
        .subquery()
    )
    rows = await uow.session.execute(select(ranked.c.case_id, ranked.c.due_at, ranked.c.what).where(ranked.c.rank == 1))
    return {case_id: (due_at, what) for case_id, due_at, what in rows}


@dataclass(frozen=True)
class Owed:
    """Something someone owes on a case: an open obligation."""

    ref: str
    kind: str
    what: str
    due_at: dt.datetime
    agency: str | None


async def open_obligations(uow: UnitOfWork, person: Person | None = None) -> list[Owed]:
    """Open obligations, all of them or those the person's roles (and agency) make theirs."""
    query = (
        select(Case.ref, Obligation.kind, Obligation.what, Obligation.due_at, Obligation.owner_agency)
        .join(Case, Case.id == Obligation.case_id)
        .where(Obligation.state == ObligationState.OPEN)
        .order_by(Obligation.due_at, Obligation.id)
    )
    if person is not None:
        roles = {r.value for r in person.roles}
        if person.may_vote:
            roles.add(Role.PANEL_MEMBER.value)  # vote obligations are owed by the panel member's role
        query = query.where(Obligation.owner_role.in_(roles))
        query = query.where(or_(Obligation.owner_agency.is_(None), Obligation.owner_agency == person.agency))
    rows = await uow.session.execute(query)
    return [Owed(*row) for row in rows]


async def home_data(uow: UnitOfWork, env: Env, person: Person) -> dict[str, Any]:
    """What a person's App Home shows, in a fixed number of queries whatever the number of cases."""
    data: dict[str, Any] = {"mine": await open_obligations(uow, person)}
    if person.has(Role.BUSINESS_MANAGER):
        data["cases"] = await cases_view(uow, env, open_only=True)
        data["owing"] = [o for o in await open_obligations(uow) if o.kind == "vote"]
    return data


async def outbox_waiting(uow: UnitOfWork) -> dict[str, int]:
    """Messages not yet sent, by channel."""
    rows = await uow.session.execute(
        select(OutboxMessage.channel, func.count())
        .where(OutboxMessage.state.in_((OutboxState.PENDING, OutboxState.SENDING)))
        .group_by(OutboxMessage.channel)
    )
    return {channel: count for channel, count in rows}


async def sent_message(uow: UnitOfWork, key: str, person_id: str) -> Message | None:
    """The neutral message behind an outbox row, if it was this person's own."""
    row = await uow.session.scalar(select(OutboxMessage).where(OutboxMessage.key == key))
    if row is None or row.person_id != person_id:
        return None
    return Message.model_validate(row.payload)


def parse_iso(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def pathway_label(value: str | None) -> str:
    return PATHWAY_LABELS[Pathway(value)] if value else "—"


def yes_no_label(value: bool | None) -> str:
    return "—" if value is None else ("Yes" if value else "No")


def case_facts(env: Env, view: dict[str, Any]) -> list[Fact]:
    """A case's status, deadlines and decision as facts, from `case_view`: what `/panel show` and
    Teams' `case REF` both show."""
    facts = [Fact(label="Status", value=view["status"].replace("_", " "))]
    for label, key in (
        ("Received", "received"),
        ("Screening due", "screening_due"),
        ("Notification due", "notification_due"),
        ("Notified", "notified"),
        ("Rapid Review due", "rapid_review_due"),
    ):
        when = parse_iso(view.get(key))
        if when is not None:
            facts.append(Fact(label=label, value=env.local(when)))
    if view["pathway"]:
        decided = parse_iso(view["decided_at"])
        facts.append(
            Fact(
                label="Decision",
                value=f"{pathway_label(view['pathway'])}, notifiable: {yes_no_label(view['notifiable'])} "
                f"({view['method']}, {env.local(decided) if decided else '—'})",
            )
        )
    return facts
