"""Conversation references: how Teams lets the bot reach a person in their personal chat later."""

from __future__ import annotations

from typing import Any

from microsoft_agents.activity import Activity
from sqlalchemy import select

from bot.flows.common import Env
from storage.models import ConversationRef
from storage.uow import UnitOfWork

# --- conversation references ----------------------------------------------------------------


def reference_of(activity: Activity) -> dict[str, Any]:
    """The reference to store for proactive messages: where the chat is, not which message it was."""
    ref = activity.get_conversation_reference()
    ref.activity_id = None
    return ref.model_dump(mode="json", by_alias=True, exclude_none=True)


def tenant_of(activity: Activity) -> str | None:
    if activity.conversation and activity.conversation.tenant_id:
        return activity.conversation.tenant_id
    data = activity.channel_data if isinstance(activity.channel_data, dict) else {}
    return (data.get("tenant") or {}).get("id")


async def save_reference(uow: UnitOfWork, env: Env, aad_object_id: str, tenant_id: str, reference: dict) -> None:
    aad_object_id = aad_object_id.lower()
    row = await uow.session.scalar(
        select(ConversationRef).where(
            ConversationRef.aad_object_id == aad_object_id, ConversationRef.tenant_id == tenant_id
        )
    )
    if row is None:
        uow.session.add(
            ConversationRef(aad_object_id=aad_object_id, tenant_id=tenant_id, reference=reference, updated_at=env.now())
        )
    elif row.reference != reference:
        row.reference, row.updated_at = reference, env.now()


async def find_reference(uow: UnitOfWork, aad_object_id: str, tenant_id: str | None) -> dict | None:
    query = select(ConversationRef).where(ConversationRef.aad_object_id == aad_object_id.lower())
    if tenant_id:
        query = query.where(ConversationRef.tenant_id == tenant_id)
    row = await uow.session.scalar(query.order_by(ConversationRef.updated_at.desc()).limit(1))
    return row.reference if row else None
