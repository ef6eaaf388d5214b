"""Reading the audit trail back: verifying the chain and exporting events (JSON Lines or CSV)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from bot.flows.common import Env, load_case
from storage import audit_chain
from storage.models import AuditEvent, Case
from storage.uow import UnitOfWork

COLUMNS = ("id", "at", "actor", "action", "case", "details", "prev_hash", "hash")


async def verify(uow: UnitOfWork) -> audit_chain.Verdict:
    return await audit_chain.verify(uow.session)


async def events(
    uow: UnitOfWork, env: Env, ref: str | None = None, since: dt.date | None = None, until: dt.date | None = None
) -> list[dict[str, Any]]:
    """Audit events as plain rows, oldest first; `since`/`until` are local (London) dates, inclusive."""
    query = select(AuditEvent, Case.ref).outerjoin(Case, Case.id == AuditEvent.case_id).order_by(AuditEvent.id)
    if ref is not None:
        case = await load_case(uow, ref)
        query = query.where(AuditEvent.case_id == case.id)
    if since is not None:
        query = query.where(AuditEvent.at >= _day_start(env, since))
    if until is not None:
        query = query.where(AuditEvent.at < _day_start(env, until + dt.timedelta(days=1)))
    return [_row(event, case_ref) for event, case_ref in (await uow.session.execute(query)).all()]


def _day_start(env: Env, day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=env.cfg.tz).astimezone(dt.UTC)


def _row(event: AuditEvent, case_ref: str | None) -> dict[str, Any]:
    return {
        "id": event.id,
        "at": event.at.astimezone(dt.UTC).isoformat(),
        "actor": event.actor,
        "action": event.action,
        "case": case_ref,
        "details": event.details,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


def to_jsonl(rows: Iterable[dict[str, Any]]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False, sort_keys=False, default=str) + "\n" for row in rows)


def to_csv(rows: Iterable[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "details": json.dumps(row["details"], ensure_ascii=False, sort_keys=True)})
    return buffer.getvalue()
