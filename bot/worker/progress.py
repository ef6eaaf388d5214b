"""What a sender notes about an outbox row between its attempts, so a retry after an unknown outcome
can look before it sends again: when the row was queued (Slack looks through the DM from then on),
and what an attempt already made on the platform (Graph mail's draft id). The notes live in the
row's `external_ref` while it is unsent; the outbox overwrites them with the final reference once
the row is sent. Written in its own short transaction, outside the outbox's claim and settle."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from bot.service import Service
from bot.states import OutboxState
from storage.models import OutboxMessage


@dataclass(frozen=True)
class Progress:
    queued_at: dt.datetime  # the row's creation: no attempt can be older
    notes: dict[str, Any]  # what earlier attempts noted (empty on a first attempt)


class SendProgress:
    def __init__(self, service: Service) -> None:
        self.service = service

    async def load(self, row_id: int) -> Progress | None:
        async def read(uow: Any) -> Progress | None:
            row = (
                await uow.session.execute(
                    select(OutboxMessage.created_at, OutboxMessage.external_ref, OutboxMessage.state).where(
                        OutboxMessage.id == row_id
                    )
                )
            ).first()
            if row is None:
                return None
            notes = row.external_ref if row.state != OutboxState.SENT and isinstance(row.external_ref, dict) else {}
            return Progress(row.created_at, dict(notes or {}))

        return await self.service.read(read)

    async def note(self, row_id: int, **notes: Any) -> None:
        """Add to the row's notes, unless it is already sent (then its reference is final)."""
        current = await self.load(row_id)
        if current is None:
            return
        merged = {**current.notes, **notes}

        async def write(uow: Any) -> None:
            await uow.session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row_id, OutboxMessage.state != OutboxState.SENT)
                .values(external_ref=merged)
            )

        await self.service.transact(write)
