"""Obligations: what someone owes by when. Opening one is idempotent by (case, key) and schedules
its chase ladder; closing one cancels the ladder's pending reminders (`bot.flows.chasing`)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from bot.config import Role
from bot.flows.chasing import cancel_ladder, schedule_ladder
from bot.flows.common import Env, audit
from storage.models import Case, Obligation
from storage.uow import UnitOfWork


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
        due_at=due_at,
        plan_day=plan_day,
        state="open",
    )
    uow.session.add(row)
    await uow.session.flush()
    await schedule_ladder(uow, env, case, row)
    return True


async def close_obligation(
    uow: UnitOfWork, env: Env, case: Case, key: str, by: str | None, state: str = "done", note: str | None = None
) -> Obligation | None:
    """Mark an open obligation done (or cancelled). Closing one that is already closed does nothing."""
    row = await uow.session.scalar(select(Obligation).where(Obligation.case_id == case.id, Obligation.key == key))
    if row is None or row.state != "open":
        return None
    await cancel_ladder(uow, row)  # reminders before the obligation row: the ticker locks in that order
    row.state, row.done_at, row.done_by, row.note = state, env.now(), by, note
    audit(uow, env, by or "panelbot", f"obligation_{state}", case, key=key, note=note)
    return row
