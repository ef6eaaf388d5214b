"""The chase ladder and the Business Manager's digest, as reminder handlers.

Opening an obligation schedules one reminder per rung of `chase.ladder` (key `ladder:{obligation}:
{rung}`, so scheduling twice is harmless). Each rung decides at fire time, under a lock on its
obligation, whether it still has anything to say:

- the obligation is closed: nothing (closing also cancels the pending rungs);
- a later rung of the same obligation is also due (the bot was down): nothing — that rung speaks
  for both, to everyone either would have reached, so each person gets one message per obligation;
- outside working hours: it waits for the next working moment, unless the obligation falls due
  sooner than that;
- otherwise it sends to the people it names who still owe the thing (owner by role and agency),
  plus the agency's deputies and the Business Manager where the rung says so.

The digest is one self-rescheduling reminder per working day (`digest:{date}`).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from sqlalchemy import select

from bot.config import ChaseStep, Person, Role
from bot.flows.common import Env, audit, post, schedule
from bot.flows.timelines import notices
from bot.flows.timelines.obligations import AMBER, RED, deputies, owner_label, owners, plan_risk, rag, worst
from bot.states import ObligationState, ReminderState
from storage.models import Case, Obligation, OutboxMessage, Reminder
from storage.uow import UnitOfWork

LADDER_KINDS = ("chase", "escalation")
DIGEST = "digest"


# --- when ----------------------------------------------------------------------------------


def quiet_hours(env: Env, moment: dt.datetime, due: dt.datetime) -> dt.datetime:
    """When a reminder meant for `moment` may go out: at once within working hours on a working
    day, else at the start of the next working period — unless the obligation falls due before
    that, when waiting would only make the reminder late, so it goes at `moment`."""
    later = env.cal.next_working_moment(moment)
    return moment if moment < due < later else later


def rung_time(env: Env, due: dt.datetime, step: ChaseStep) -> dt.datetime:
    """The rung's moment: `working_days` from the due date at `at` local (or the due time's own
    time of day), moved out of quiet hours."""
    day = env.cal.add_working_days(env.cal.local_date(due), step.working_days)
    local_time = step.at or due.astimezone(env.cfg.tz).time()
    return quiet_hours(env, env.cal.at(day, local_time), due)


def ladder_key(obligation_id: int, rung: int) -> str:
    return f"ladder:{obligation_id}:{rung}"


async def schedule_ladder(uow: UnitOfWork, env: Env, case: Case, ob: Obligation) -> int:
    """Schedule the obligation's rungs that are still ahead; returns how many. `rank` orders the
    rungs by time, which is what "a later rung" means when one fires."""
    timed = sorted(
        ((rung_time(env, ob.due_at, step), i, step) for i, step in enumerate(env.cfg.chase.ladder)),
        key=lambda t: (t[0], t[1]),
    )
    count = 0
    for rank, (at, i, step) in enumerate(timed):
        if at <= env.now():
            continue  # a rung already behind us when the obligation opened would only be noise
        await schedule(uow, step.kind, ladder_key(ob.id, i), at, case, ob.id, rank=rank, to=list(step.to))
        count += 1
    return count


async def cancel_ladder(uow: UnitOfWork, ob: Obligation) -> None:
    """Cancel the obligation's pending rungs (call before changing the obligation row, so the lock
    order matches the ticker's: reminder first, then obligation)."""
    pending = await uow.session.scalars(
        select(Reminder)
        .where(Reminder.obligation_id == ob.id, Reminder.state == ReminderState.PENDING)
        .with_for_update()
    )
    for reminder in pending:
        reminder.state, reminder.outcome = ReminderState.CANCELLED, "closed"


# --- the chase -----------------------------------------------------------------------------


async def rung_due(reminder: Reminder, uow: UnitOfWork, env: Env) -> None:
    """Handler for `chase` and `escalation` reminders; records what it did in `outcome`."""
    ob = await uow.session.get(Obligation, reminder.obligation_id, with_for_update=True)
    if ob is None or ob.state != ObligationState.OPEN:
        reminder.outcome = "closed"
        return
    now = env.now()
    siblings = await _siblings(uow, reminder)
    if any(_rank(s) > _rank(reminder) and s.due_at <= now and s.state != ReminderState.CANCELLED for s in siblings):
        reminder.outcome = "superseded"
        return
    go_at = quiet_hours(env, now, ob.due_at)
    if go_at > now:
        reminder.due_at, reminder.outcome = go_at, "deferred"  # the ticker leaves it pending
        return
    people = recipients(env, ob, _reach(reminder, siblings, now))
    if not people:
        reminder.outcome = "nobody"
        return
    case = await uow.session.get(Case, ob.case_id)
    assert case is not None
    for person in people:
        message = notices.chase(env, case, ob, person, reminder.kind)
        post(uow, env, person, message, f"{reminder.key}:{person.id}", case)
    audit(uow, env, "panelbot", reminder.kind, case, obligation=ob.key, to=[p.id for p in people])
    reminder.outcome = "sent"


def _rank(reminder: Reminder) -> int:
    return int(reminder.payload.get("rank", 0))


async def _siblings(uow: UnitOfWork, reminder: Reminder) -> list[Reminder]:
    rows = await uow.session.scalars(
        select(Reminder).where(
            Reminder.obligation_id == reminder.obligation_id,
            Reminder.kind.in_(LADDER_KINDS),
            Reminder.id != reminder.id,
        )
    )
    return list(rows)


def _reach(reminder: Reminder, siblings: list[Reminder], now: dt.datetime) -> list[str]:
    """Whom this rung reaches: its own `to`, plus that of the earlier rungs it swallowed (those
    superseded, or due and about to be) back to the last one that spoke."""
    reach = list(reminder.payload.get("to", ["owner"]))
    for s in sorted((s for s in siblings if _rank(s) < _rank(reminder)), key=_rank, reverse=True):
        if s.state == ReminderState.CANCELLED:
            continue
        swallowed = s.outcome == "superseded" or (s.state == ReminderState.PENDING and s.due_at <= now)
        if not swallowed:
            break
        reach += [t for t in s.payload.get("to", ["owner"]) if t not in reach]
    return reach


def recipients(env: Env, ob: Obligation, reach: list[str]) -> list[Person]:
    people: list[Person] = []
    for who in reach:
        if who == "owner":
            group = owners(env, ob)
        elif who == "deputies":
            group = deputies(env, ob)
        else:
            group = env.cfg.holders(Role.BUSINESS_MANAGER)
        people += [p for p in group if p not in people]
    return people


# --- the digest ----------------------------------------------------------------------------


def next_digest_at(env: Env, after: dt.datetime) -> dt.datetime | None:
    """The first digest time strictly after `after`, on a working day; None if there is no digest."""
    at = env.cfg.chase.digest_at
    if at is None:
        return None
    day = env.cal.local_date(after)
    if not (env.cal.is_working_day(day) and env.cal.at(day, at) > after):
        day = env.cal.add_working_days(day, 1)
    return env.cal.at(day, at)


async def ensure_digest(uow: UnitOfWork, env: Env, after: dt.datetime | None = None) -> None:
    """Make sure the next digest is scheduled (idempotent: one reminder per date). By default the
    next one at or after now; the digest handler asks for the one after itself."""
    at = next_digest_at(env, after or env.now() - dt.timedelta(microseconds=1))
    if at is not None:
        await schedule(uow, DIGEST, f"digest:{env.cal.local_date(at).isoformat()}", at)


def _digest_window(env: Env, now: dt.datetime) -> bool:
    """A digest goes out from its time until the end of that working day (at least an hour), so
    one that fell due while the bot was down is sent late on start, but never at night."""
    at = env.cfg.chase.digest_at
    today = env.cal.local_date(now)
    if at is None or not env.cal.is_working_day(today):
        return False
    start = env.cal.at(today, at)
    return start <= now < max(env.cal.end_of_day(today), start + dt.timedelta(hours=1))


async def digest_due(reminder: Reminder, uow: UnitOfWork, env: Env) -> None:
    """Handler: today's digest to each Business Manager (nothing if nothing is open), then the next."""
    now = env.now()
    if not _digest_window(env, now):
        reminder.outcome = "stale"
    else:
        cases = await digest_cases(uow, env, now)
        reminder.outcome = "sent" if cases else "empty"
        today = env.cal.local_date(now)
        for bm in env.cfg.holders(Role.BUSINESS_MANAGER) if cases else []:
            key = f"digest:{today.isoformat()}:{bm.id}"
            if await uow.session.scalar(select(OutboxMessage.id).where(OutboxMessage.key == key)) is None:
                post(uow, env, bm, notices.digest(env, today, cases), key)
    await ensure_digest(uow, env, after=now)


async def open_obligations(uow: UnitOfWork) -> dict[int, tuple[Case, list[Obligation]]]:
    rows = await uow.session.execute(
        select(Obligation, Case)
        .join(Case, Case.id == Obligation.case_id)
        .where(Obligation.state == ObligationState.OPEN)
        .order_by(Case.ref, Obligation.due_at, Obligation.id)
    )
    grouped: dict[int, tuple[Case, list[Obligation]]] = {}
    for ob, case in rows:
        grouped.setdefault(case.id, (case, []))[1].append(ob)
    return grouped


def case_status(
    env: Env, case: Case, obs: list[Obligation], now: dt.datetime, rags: list[str | None] | None = None
) -> dict[str, Any]:
    """A case's RAG, and why: the worst of its open obligations, amber at least when its Rapid
    Review has no spare working day left. `rags`: the obligations' RAGs, when the caller has them
    (the desk's dashboard works each due time's out once for a thousand cases)."""
    risk = plan_risk(env, case, obs, now)
    note = None
    if case.delay_expected_on is not None:
        note = f"Delay recorded: expected {case.delay_expected_on.strftime('%a %d %b %Y')}"
    elif risk is not None and risk.at_risk:
        note = f"Plan at risk: {risk.left} working days left to the statutory date, the plan needs {risk.need}"
    rags = rags if rags is not None else [rag(env, ob, now) for ob in obs]
    status = worst(rags + ([AMBER] if risk is not None and risk.at_risk else []))
    return {"rag": status, "note": note, "risk": risk}


async def digest_cases(uow: UnitOfWork, env: Env, now: dt.datetime) -> list[notices.DigestCase]:
    out = []
    for case, obs in (await open_obligations(uow)).values():
        status = case_status(env, case, obs, now)
        owes = [f"{owner_label(env, ob)}: {notices.what(ob)} — {notices.when(env, ob.due_at)}" for ob in obs]
        first = obs[0]
        out.append(notices.DigestCase(case.ref, status["rag"], first.due_at, notices.what(first), owes, status["note"]))
    order = defaultdict(lambda: 2, {RED: 0, AMBER: 1})
    return sorted(out, key=lambda c: (order[c.rag], c.next_due, c.ref))


# --- opening and closing obligations -------------------------------------------------------


async def open_obligation(
    uow: UnitOfWork,
    env: Env,
    case: Case,
    *,
    key: str,
    kind: str,
    what: str,
    owner_role: Role,
    due_at: dt.datetime,
    agency: str | None = None,
    plan_day: int | None = None,
    owner_person: str | None = None,
) -> bool:
    """Open the obligation unless it exists; True if it was created now."""
    existing = await uow.session.scalar(select(Obligation).where(Obligation.case_id == case.id, Obligation.key == key))
    if existing is not None:
        return False
    row = Obligation(
        case_id=case.id,
        key=key,
        kind=kind,
        what=what,
        owner_role=owner_role.value,
        owner_agency=agency,
        owner_person=owner_person,
        due_at=due_at,
        plan_day=plan_day,
        state=ObligationState.OPEN,
    )
    uow.session.add(row)
    await uow.session.flush()
    await schedule_ladder(uow, env, case, row)
    return True


async def close_obligation(
    uow: UnitOfWork,
    env: Env,
    case: Case,
    key: str,
    by: str | None,
    state: str = ObligationState.DONE,
    note: str | None = None,
    **details: Any,
) -> Obligation | None:
    """Mark an open obligation done (or cancelled). Closing one that is already closed does nothing.
    `details` go into the audit event (who recorded it for the owner, and how)."""
    row = await uow.session.scalar(select(Obligation).where(Obligation.case_id == case.id, Obligation.key == key))
    if row is None or row.state != ObligationState.OPEN:
        return None
    await cancel_ladder(uow, row)  # reminders before the obligation row: the ticker locks in that order
    row.state, row.done_at, row.done_by, row.note = state, env.now(), by, note
    audit(uow, env, by or "panelbot", f"obligation_{state}", case, key=key, note=note, **details)
    return row


async def reopen_obligation(
    uow: UnitOfWork,
    env: Env,
    case: Case,
    key: str,
    what: str | None = None,
    states: tuple[str, ...] = (ObligationState.CANCELLED,),
) -> bool:
    """Open a closed obligation again (a reconsideration changed the answer, an agency withdrew its
    agreement), with its ladder; True if it was reopened. Only rows in `states` are reopened."""
    row = await uow.session.scalar(select(Obligation).where(Obligation.case_id == case.id, Obligation.key == key))
    if row is None or row.state not in states:
        return False
    row.state, row.done_at, row.done_by, row.note = ObligationState.OPEN, None, None, None
    if what is not None:
        row.what = what
    await schedule_ladder(uow, env, case, row)
    audit(uow, env, "panelbot", "obligation_reopened", case, key=key)
    return True
