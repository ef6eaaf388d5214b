"""Small helpers for driving flows in tests, as a handler would."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.flows.commands import CastVote, RegisterReferral
from bot.flows.screening import panel as screening
from bot.service import Service
from storage.models import AuditEvent, OutboxMessage

SUMMARY = "A young child was admitted with an unexplained serious injury; family known to early help."
GROUNDS = {"abuse_nature": "Suspected physical abuse.", "harm_basis": "Serious injury, long-term impairment likely."}


async def refer(service: Service, **overrides: Any):
    data: dict[str, Any] = {
        "by": "bm",
        "referrer": {"name": "Dr A Referrer", "email": "referrer@example.org"},
        "panel_summary": SUMMARY,
        "child": {"forenames": "Zebedee", "last_name": "Quixotic", "home_address": "1 Secret Lane"},
    }
    data.update(overrides)
    return await service.run(screening.register_referral, RegisterReferral.model_validate(data))


async def vote(service: Service, by: str, ref: str, pathway: str, notifiable: bool = False, **extra: Any):
    fields: dict[str, Any] = {"rationale": f"{by} thinks {pathway} is right for this case."}
    if pathway == "rapid_review":
        fields.update(GROUNDS)
    fields.update(extra)
    cmd = CastVote(by=by, ref=ref, pathway=pathway, notifiable=notifiable, **fields)
    return await service.run(screening.cast_vote, cmd)


async def outbox(service: Service, kind: str | None = None) -> list[OutboxMessage]:
    async def work(uow):
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if kind:
            query = query.where(OutboxMessage.kind == kind)
        return list(await uow.session.scalars(query))

    return await service.read(work)


async def audits(service: Service, action: str | None = None) -> list[AuditEvent]:
    async def work(uow):
        query = select(AuditEvent).order_by(AuditEvent.id)
        if action:
            query = query.where(AuditEvent.action == action)
        return list(await uow.session.scalars(query))

    return await service.read(work)


def recipients(rows: list[OutboxMessage]) -> set[str]:
    return {r.person_id or r.address for r in rows}


async def current_votes(service: Service, case) -> list:
    async def work(uow):
        rnd = await screening.current_round(uow, case, lock=False)
        return await screening.round_votes(uow, rnd)

    return await service.read(work)
