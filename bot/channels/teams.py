"""Microsoft Teams through the Microsoft 365 Agents SDK: the connection from the environment,
stored conversation references, and the proactive sender for outbox rows on the `teams` channel.

A Teams person is reached in their personal chat with the bot, which needs the conversation
reference Teams gave us when the app was installed for them or they wrote to it. Someone with no
stored reference is not skipped: the message goes to them by e-mail instead, and the Business
Manager is asked (once per person) to have the app installed for them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import aiohttp
from microsoft_agents.activity import Activity, ActivityTypes, Attachment, ConversationReference
from microsoft_agents.authentication.msal import MsalConnectionManager
from microsoft_agents.hosting.aiohttp import CloudAdapter
from microsoft_agents.hosting.core import AgentAuthConfiguration, ClaimsIdentity, TurnContext
from sqlalchemy import select

from bot.channels.teams_cards import CARD_CONTENT_TYPE, message_card
from bot.config import Channel, Person, Role
from bot.delivery import Outgoing, SendResult
from bot.flows.common import Env, post
from bot.messages import Fact, Message
from bot.service import Service
from bot.settings import Settings
from storage.models import Case, ConversationRef, OutboxMessage
from storage.uow import UnitOfWork

log = logging.getLogger("panelbot.teams")
TRANSIENT = {408, 429, 500, 502, 503, 504}


# --- the SDK connection ---------------------------------------------------------------------


def auth_configuration(settings: Settings) -> AgentAuthConfiguration:
    """The bot's Entra app registration, from CONNECTIONS__SERVICE_CONNECTION__SETTINGS__*."""
    return AgentAuthConfiguration(
        client_id=settings.teams_client_id,
        tenant_id=settings.teams_tenant_id,
        client_secret=settings.teams_client_secret,
        anonymous_allowed=settings.teams_anonymous_allowed,
    )


def connection_manager(config: AgentAuthConfiguration) -> MsalConnectionManager:
    return MsalConnectionManager(connections_configurations={"SERVICE_CONNECTION": config})


def build_adapter(config: AgentAuthConfiguration) -> CloudAdapter:
    return CloudAdapter(connection_manager=connection_manager(config))


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


# --- sending ---------------------------------------------------------------------------------


def card_activity(message: Message, key: str | None) -> Activity:
    return Activity(
        type=ActivityTypes.message,
        summary=message.title,
        attachments=[Attachment(content_type=CARD_CONTENT_TYPE, content=message_card(message, key))],
    )


@dataclass
class TeamsSender:
    """Sends outbox rows proactively with the stored conversation reference."""

    service: Service
    adapter: CloudAdapter
    app_id: str | None
    anonymous: bool = False  # local tests only: no token on calls to the connector

    def __post_init__(self) -> None:
        self.adapter.on_turn_error = None  # let a failed send reach us, not the person as a chat message

    async def send(self, item: Outgoing) -> SendResult:
        person = self.service.cfg.person(item.person_id) if item.person_id else None
        tenant = person.teams_tenant if person else None
        reference = await self.service.read(lambda uow: find_reference(uow, item.address, tenant))
        if reference is None:
            return await self._by_email_instead(item, person)
        try:
            return SendResult.sent(await self._deliver(reference, item))
        except aiohttp.ClientResponseError as exc:
            return _classify(exc)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return SendResult.retry(f"Teams connector unreachable: {type(exc).__name__}: {exc}")

    async def _deliver(self, reference: dict, item: Outgoing) -> dict[str, Any]:
        ref = ConversationReference.model_validate(reference)
        activity = card_activity(item.message, item.key)
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

    async def _by_email_instead(self, item: Outgoing, person: Person | None) -> SendResult:
        if person is None:
            return SendResult.failed(f"no Teams conversation with {item.address} and no roster person to e-mail")

        async def work(uow: UnitOfWork) -> str:
            return await reroute_to_email(uow, self.service.env, item, person)

        email_key = await self.service.read(work)
        log.warning("no Teams conversation reference for %s; sent by e-mail instead", person.id)
        return SendResult.sent({"rerouted": "email", "key": email_key})


def _classify(exc: aiohttp.ClientResponseError) -> SendResult:
    error = f"Teams connector answered {exc.status}: {exc.message}"
    if exc.status in TRANSIENT:
        return SendResult.retry(error, after=retry_after(exc.headers))
    return SendResult.failed(error)


def retry_after(headers: Any) -> float | None:
    value = (headers or {}).get("Retry-After")
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None  # an HTTP date: let the outbox's own backoff decide


async def _exists(uow: UnitOfWork, key: str) -> bool:
    return await uow.session.scalar(select(OutboxMessage.id).where(OutboxMessage.key == key)) is not None


async def reroute_to_email(uow: UnitOfWork, env: Env, item: Outgoing, person: Person) -> str:
    """Queue the message to the person by e-mail, and (once per person) ask the Business Manager to
    have the Teams app installed for them. Returns the e-mail row's key."""
    row = await uow.session.get(OutboxMessage, item.id)
    case = await uow.session.get(Case, row.case_id) if row and row.case_id else None
    email_key = f"{item.key}:email"
    if not await _exists(uow, email_key):
        post(uow, env, person, item.message, email_key, case, channel=Channel.EMAIL.value)
    for bm in env.cfg.holders(Role.BUSINESS_MANAGER):
        key = f"teams_app_missing:{person.id}:{bm.id}"
        if not await _exists(uow, key):
            post(uow, env, bm, app_missing_notice(person), key, None)
    return email_key


def app_missing_notice(person: Person) -> Message:
    return Message(
        kind="teams_app_missing",
        title=f"panelbot cannot reach {person.name} in Teams",
        text=(
            f"{person.name} has not installed the panelbot app in Teams (or has never opened it), so panelbot "
            "cannot message them there. Their messages are going to them by e-mail meanwhile. Please have the "
            "app installed for them (Teams admin centre: Manage apps, or ask them to add panelbot), then ask "
            "them to say hello to it once."
        ),
        facts=[Fact(label="Person", value=f"{person.name} ({person.email})")],
    )
