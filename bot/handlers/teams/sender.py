"""Teams' outbox sender: a proactive card in the person's personal chat with the bot, through the stored
conversation reference. A person with none yet is reported unreachable; the outbox then sends by e-mail."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import aiohttp
from microsoft_agents.activity import Activity, ActivityTypes, Attachment, ConversationReference
from microsoft_agents.hosting.aiohttp import CloudAdapter
from microsoft_agents.hosting.core import ClaimsIdentity, TurnContext

from bot.handlers.teams.cards import CARD_CONTENT_TYPE, Desk, desk_of, message_card
from bot.handlers.teams.references import find_reference
from bot.messages import Message
from bot.service import Service
from bot.worker.outbox import Outgoing, SendResult, retry_after_seconds

log = logging.getLogger("panelbot.teams")
TRANSIENT = {408, 429, 500, 502, 503, 504}
CONNECTOR_TIMEOUT = 15.0  # the SDK's connector session would wait aiohttp's default 300 s


def card_activity(message: Message, key: str | None, desk: Desk = Desk()) -> Activity:
    card = message_card(message, key, desk=desk)
    return Activity(
        type=ActivityTypes.message,
        summary=message.title,
        attachments=[Attachment(content_type=CARD_CONTENT_TYPE, content=card)],
    )


@dataclass
class TeamsSender:
    """Sends outbox rows proactively with the stored conversation reference."""

    service: Service
    adapter: CloudAdapter
    app_id: str | None
    anonymous: bool = False  # local tests only: no token on calls to the connector
    timeout: float = CONNECTOR_TIMEOUT  # seconds for the whole send, sign-in included: a hung connector holds no lane

    def __post_init__(self) -> None:
        self.adapter.on_turn_error = None  # let a failed send reach us, not the person as a chat message

    async def send(self, item: Outgoing) -> SendResult:
        person = self.service.cfg.person(item.person_id) if item.person_id else None
        tenant = person.teams_tenant if person else None
        reference = await self.service.read(lambda uow: find_reference(uow, item.address, tenant))
        if reference is None:
            return SendResult.not_reachable(f"no Teams conversation reference for {item.person_id or item.address}")
        try:
            return SendResult.sent(await asyncio.wait_for(self._deliver(reference, item), self.timeout))
        except aiohttp.ClientResponseError as exc:
            return _classify(exc)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return SendResult.retry(f"Teams connector unreachable: {type(exc).__name__}: {exc}")

    async def _deliver(self, reference: dict, item: Outgoing) -> dict[str, Any]:
        ref = ConversationReference.model_validate(reference)
        activity = card_activity(item.message, item.key, desk_of(self.service.cfg))
        replaces = item.replaces or {}
        same_chat = replaces.get("conversation_id") == ref.conversation.id
        sent: dict[str, Any] = {}

        async def callback(context: TurnContext) -> None:
            if replaces.get("activity_id") and same_chat:
                activity.id = replaces["activity_id"]
                await context.update_activity(activity)
                sent["activity_id"] = replaces["activity_id"]
            else:
                response = await context.send_activity(activity)
                sent["activity_id"] = response.id

        continuation = ref.get_continuation_activity()
        continuation.id = None  # a new message in the chat (POST …/activities), not a reply to this stand-in
        if self.anonymous and not self.app_id:
            await self.adapter.continue_conversation_with_claims(ClaimsIdentity(), continuation, callback)
        else:
            await self.adapter.continue_conversation(self.app_id or "", continuation, callback)
        return {"activity_id": sent.get("activity_id"), "conversation_id": ref.conversation.id}


def _classify(exc: aiohttp.ClientResponseError) -> SendResult:
    error = f"Teams connector answered {exc.status}: {exc.message}"
    if exc.status in TRANSIENT:
        return SendResult.retry(error, after=retry_after_seconds((exc.headers or {}).get("Retry-After")))
    return SendResult.failed(error)
