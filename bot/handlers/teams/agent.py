"""The Teams agent (Microsoft 365 Agents SDK): `POST /api/messages`.

Thin, as every handler: the SDK checks the Bot Framework token (`jwt_authorization_decorator`);
we check the tenant is allowed, map the verified `from.aadObjectId` to a roster person, and hand
the click or the form to `bot.interactions`. Card data names the case and the form, never who
is acting. Messages and installs store the conversation reference used for proactive messages.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import jwt
from aiohttp import web
from microsoft_agents.activity import (
    Activity,
    ActivityTypes,
    AdaptiveCardInvokeResponse,
    AdaptiveCardInvokeValue,
    Attachment,
)
from microsoft_agents.hosting.aiohttp import CloudAdapter, jwt_authorization_decorator
from microsoft_agents.hosting.core import AgentApplication, MemoryStorage, TurnContext, TurnState
from pydantic import ValidationError

from bot import forms, interactions
from bot.config import Person
from bot.flows.common import Refused
from bot.flows.screening import notices
from bot.handlers.teams import commands, connection, references
from bot.handlers.teams.cards import (
    CARD_CONTENT_TYPE,
    META,
    OpenForm,
    desk_of,
    form_card,
    message_card,
    notice_card,
    result_card,
    values_facts,
)
from bot.messages import Fact, Message, split_action_value
from bot.service import Service
from bot.settings import Settings
from bot.views import sent_message

log = logging.getLogger("panelbot.teams")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CARD_ACTION = "adaptiveCard/action"  # the one invoke panelbot answers: a card's Action.Execute
AUTH_CONFIG_KEY = "agent_configuration"  # where the SDK's JWT decorator looks for the auth settings

GENERIC_ERROR = "Sorry, panelbot could not do that just now. Please try again, or tell the Business Manager."


@dataclass(frozen=True)
class Actor:
    person: Person | None
    aad_object_id: str
    tenant_id: str | None
    refusal: str | None  # why this user may not act, if they may not


def identify(service: Service, activity: Activity) -> Actor:
    """Who is acting, from the verified activity alone."""
    aad = (activity.from_property.aad_object_id or "") if activity.from_property else ""
    tenant = references.tenant_of(activity)
    allowed = service.cfg.teams.allowed_tenants
    person = service.cfg.by_teams_id(aad) if aad else None
    refusal = None
    if allowed and tenant not in allowed:
        refusal = "Your organisation's Teams tenant is not one this partnership works with."
    elif person is not None and person.teams_tenant and tenant != person.teams_tenant:
        refusal = "This Teams account is not the one the roster has for you."
    return Actor(person, aad, tenant, refusal)


class TeamsAgent:
    def __init__(self, service: Service, settings: Settings) -> None:
        self.service = service
        self.desk = desk_of(service.cfg)
        self.auth_config = connection.auth_configuration(settings)
        manager = connection.connection_manager(self.auth_config)
        self.adapter = CloudAdapter(connection_manager=manager)
        self.adapter.on_turn_error = self._on_turn_error
        self.app = AgentApplication[TurnState](
            storage=MemoryStorage(), connection_manager=manager, start_typing_timer=False
        )
        self.app.activity("message")(self.on_message)
        self.app.installation_update()(self.on_installed)
        self.app.conversation_update("membersAdded")(self.on_installed)
        self.app.adaptive_card.action_execute(re.compile(".+"))(self.on_execute)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        response = await self.adapter.process(request, self.app)
        return response if response is not None else web.Response(status=HTTPStatus.ACCEPTED)

    # --- messages and installs ------------------------------------------------------------

    async def on_message(self, context: TurnContext, state: TurnState) -> None:
        actor = await self._remember(context.activity)
        if actor.refusal or actor.person is None:
            reply = await self._refuse(actor, "teams message")
            await context.send_activity(reply)
            return
        answer = await commands.answer(self.service, actor.person, context.activity.text, self.desk)
        await context.send_activity(answer_activity(answer))

    async def on_installed(self, context: TurnContext, state: TurnState) -> None:
        activity = context.activity
        if activity.type == "installationUpdate" and (activity.action or "").startswith("remove"):
            return
        actor = await self._remember(activity)
        if actor.person is not None and not actor.refusal:
            prefix = self.service.cfg.partnership.reference_prefix
            await context.send_activity(answer_activity(commands.Answer(card=commands.help_card(prefix))))

    async def _remember(self, activity: Activity) -> Actor:
        actor = identify(self.service, activity)
        personal = activity.conversation is not None and activity.conversation.conversation_type in (
            None,
            "personal",
        )
        if actor.person is None or actor.refusal or not personal or not actor.tenant_id:
            return actor  # only a roster person's own chat with the bot is ever used to reach them
        reference = references.reference_of(activity)
        env = self.service.env
        await self.service.transact(
            lambda uow: references.save_reference(uow, env, actor.aad_object_id, actor.tenant_id, reference)
        )
        return actor

    async def _refuse(self, actor: Actor, what: str) -> str:
        if actor.refusal:
            details = {"platform": "teams", "platform_id": actor.aad_object_id, "tenant": actor.tenant_id}
            await self.service.audit_refusal(Refused(actor.refusal, **details), f"teams:{actor.aad_object_id}", what)
            return actor.refusal
        reply = await interactions.refuse_stranger(self.service, "teams", actor.aad_object_id, what)
        return reply.text

    # --- card actions ---------------------------------------------------------------------

    async def on_execute(self, context: TurnContext, state: TurnState, data: Any) -> AdaptiveCardInvokeResponse:
        verb = context.activity.value.get("action", {}).get("verb", "")
        data = data if isinstance(data, dict) else {}
        actor = identify(self.service, context.activity)
        if actor.refusal or actor.person is None:
            return card_response(notice_card(await self._refuse(actor, f"card action {verb}")))
        info = data.get(META) if isinstance(data.get(META), dict) else {}
        original = await self._original(info.get("card"), actor.person.id)
        if verb in interactions.SUBMISSIONS:
            return await self._submit(verb, actor.person, info, data, original)
        if verb in interactions.PRESSES:
            reply = await interactions.press(self.service, verb, actor.person.id, str(info.get("value") or ""))
            if reply.ok:
                return card_response(result_card(reply.text, [], original, link=self.desk.case(reply.ref)))
            if original is None:
                return card_response(notice_card(reply.text))
            return card_response(message_card(original, info.get("card"), banner=reply.text, desk=self.desk))
        return card_response(notice_card("panelbot does not know that button. Please use a newer card."))

    async def _submit(
        self, verb: str, person: Person, info: dict, data: dict, original: Message | None
    ) -> AdaptiveCardInvokeResponse:
        form = forms.FORMS[verb]
        values = {f.name: data[f.name] for f in form.fields if isinstance(data.get(f.name), str)}
        values |= hidden_values(form, str(info.get("value") or ""))
        ref = str(info.get("ref") or "")
        reply = await interactions.submit(self.service, verb, person.id, ref, values)
        link = self.desk.case(split_action_value(reply.ref or ref)[0] or None)
        if not reply.ok:
            state = OpenForm(verb, values, reply.errors)
            if original is not None and any(interactions.form_for(a.id) is form for a in original.actions):
                return card_response(message_card(original, info.get("card"), state, reply.text, self.desk))
            return card_response(form_card(form, ref, info.get("card"), state, reply.text, link))
        if getattr(reply.result, "status", None) == "after_decision":
            facts = self._decision_facts(reply.result)
            return card_response(result_card(reply.text, facts, None, ok=False, link=link))
        facts = values_facts(form, values) + self._decision_facts(reply.result)
        return card_response(result_card(reply.text, facts, link=link))

    def _decision_facts(self, result: Any) -> list[Fact]:
        decision = getattr(result, "decision", None)
        return notices.decision_facts(self.service.env, decision) if decision is not None else []

    async def _original(self, key: Any, person_id: str) -> Message | None:
        """The message a card was rendered from, if it was this person's own."""
        if not isinstance(key, str) or not key:
            return None

        return await self.service.read(lambda uow: sent_message(uow, key, person_id))

    async def _on_turn_error(self, context: TurnContext, error: Exception) -> None:
        log.error("Teams turn failed: %s", error, exc_info=error)
        await context.send_activity(GENERIC_ERROR)


def hidden_values(form: forms.Form, value: str) -> dict[str, str]:
    """What the button that opened the form carries besides its inputs (a milestone's key): never a
    form field, so nothing a person typed or chose is overridden."""
    fields = {f.name for f in form.fields}
    openers = [a for a, f in interactions.FORM_FOR_ACTION.items() if f is form]
    return {k: v for a in openers for k, v in interactions.preset_for(a, value).items() if k not in fields}


def answer_activity(answer: commands.Answer) -> Activity:
    """A reply in the chat: the answer's card (with its text as the notification's summary), or text."""
    if answer.card is None:
        return Activity(type=ActivityTypes.message, text=answer.text or "")
    attachment = Attachment(content_type=CARD_CONTENT_TYPE, content=answer.card)
    summary = {"summary": answer.text} if answer.text else {}
    return Activity(type=ActivityTypes.message, attachments=[attachment], **summary)


def card_response(card: dict[str, Any]) -> AdaptiveCardInvokeResponse:
    return AdaptiveCardInvokeResponse(status_code=HTTPStatus.OK, type=CARD_CONTENT_TYPE, value=card)


def token_problem(authorization: str | None) -> str | None:
    """What is wrong with a bearer token's header, checked before the SDK's validator (which raises
    `KeyError` on a token without `kid`): Azure Bot Service signs RS256 with a key id, so `alg=none`,
    HS256 and a missing `kid` are refused here. The signature itself is the SDK's to check."""
    if authorization is None:
        return None
    parts = authorization.split()
    if len(parts) != 2 or parts[0].lower() != "bearer":
        return None  # the SDK answers a malformed header with 401 itself
    try:
        header = jwt.get_unverified_header(parts[1])
    except jwt.PyJWTError:
        return "unreadable token"
    if header.get("alg") != "RS256":
        return "token not signed with RS256"
    if not isinstance(header.get("kid"), str) or not header["kid"]:
        return "token without a key id"
    return None


async def activity_problem(request: web.Request) -> str | None:
    """Why the body is not an activity the SDK can take, or None."""
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        return "the body is not JSON"
    if not isinstance(body, dict):
        return "the body is not a JSON object"
    try:
        activity = Activity.model_validate(body)
    except ValidationError as exc:
        return f"not an activity ({exc.error_count()} problems)"
    missing = [name for name, value in _required(activity).items() if not isinstance(value, str) or not value]
    if missing:
        return "missing " + ", ".join(missing)
    if activity.type == "invoke" and activity.name != CARD_ACTION:
        return "an invoke panelbot does not handle"
    if activity.type == "invoke":
        return _card_action_problem(activity.value)
    return None


def _card_action_problem(value: Any) -> str | None:
    """An Action.Execute invoke must name its verb, and its data (if any) must be an object."""
    try:
        action = AdaptiveCardInvokeValue.model_validate(value).action
    except ValidationError:
        return "not a card action"
    if action is None or action.type != "Action.Execute" or not isinstance(action.verb, str) or not action.verb:
        return "a card action without a verb"
    if action.data is not None and not isinstance(action.data, dict):
        return "card action data that is not an object"
    return None


def _required(activity: Activity) -> dict[str, Any]:
    """What every turn needs to answer at all (the SDK raises deep inside without them)."""
    return {
        "type": activity.type,
        "channelId": activity.channel_id,
        "serviceUrl": activity.service_url,
        "conversation.id": activity.conversation.id if activity.conversation else None,
        "from.id": activity.from_property.id if activity.from_property else None,
        "recipient.id": activity.recipient.id if activity.recipient else None,
    }


def guarded(handler: Handler) -> Handler:
    """Bad credentials get 401 and a malformed body 400, logged once, before the SDK sees them."""

    async def guard(request: web.Request) -> web.StreamResponse:
        problem = token_problem(request.headers.get("Authorization"))
        if problem is not None:
            log.warning("refused a Teams request (401): %s", problem)
            return web.json_response({"error": "Invalid token or authentication failed."}, status=401)
        return await handler(request)

    return guard


def checked_body(handler: Handler) -> Handler:
    async def check(request: web.Request) -> web.StreamResponse:
        problem = await activity_problem(request)
        if problem is not None:
            log.warning("refused a Teams request (400): %s", problem)
            return web.json_response({"error": problem}, status=400)
        return await handler(request)

    return check


def mount(app: web.Application, service: Service, settings: Settings) -> TeamsAgent:
    """Add `POST /api/messages`: the token's header is checked first, then the SDK's JWT validation,
    then the body's shape; only then the agent."""
    agent = TeamsAgent(service, settings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the SDK looks the settings up by this plain string key
        app[AUTH_CONFIG_KEY] = agent.auth_config
    app.router.add_post("/api/messages", guarded(jwt_authorization_decorator(checked_body(agent.handle))))
    return agent
