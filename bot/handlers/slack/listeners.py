"""Slack through Bolt: buttons, modals, `/panel` and the App Home, over HTTP or Socket Mode.

Thin by design: Bolt verifies the signature (HTTP) or the connection (Socket Mode); this module maps
the Slack user to a roster person and hands over to `bot.interactions`, the dispatcher Teams
uses too, then shows the `Reply`. Who may do what is decided by the flows, from the roster; a
button's value only says which case. Retried deliveries and double clicks are harmless because the
flows are idempotent and every message goes through the outbox, which sends each row once.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot import interactions
from bot.config import Person
from bot.flows.common import FlowError, Refused
from bot.flows.screening import panel
from bot.forms import FORMS, REFERRAL
from bot.handlers.slack import payloads
from bot.handlers.slack.blocks import FORM_CALLBACK, parse_action_id
from bot.handlers.slack.home import list_blocks, publish_home, show_blocks
from bot.handlers.slack.modals import FormContext, modal_errors, notice_modal, render_modal, state_values
from bot.handlers.slack.sender import api_base_url
from bot.messages import ActionId, split_action_value
from bot.service import Service
from bot.settings import Settings, reveal
from bot.views import case_view, cases_view, open_obligations

log = logging.getLogger("panelbot.slack")
SLACK_APP = web.AppKey("slack_bolt", AsyncApp)
EVENTS_PATH = "/slack/events"

# Every neutral action id, optionally suffixed to keep Slack's action ids unique (`panel-vote:rapid_review`).
BUTTONS = re.compile(
    "^(" + "|".join(re.escape(a.value) for a in sorted(ActionId, key=lambda a: -len(a.value))) + r")(:\S*)?$"
)
HELP = (
    "*panelbot* — the screening panel in Slack\n"
    "• `/panel list` — open cases and their next deadline\n"
    "• `/panel show TSCP-2026-001` — a case's status and votes\n"
    "• `/panel new` — register a referral (Business Manager)\n"
    "• `/panel help` — this help\n"
    "Vote requests and other tasks arrive as direct messages from panelbot; your Home tab lists what is "
    "waiting for you."
)

RECORDING = "Recording… this updates in a moment."
GENERIC_ERROR = "Sorry, panelbot could not do that just now. Please try again, or tell the Business Manager."


def _channel_of(body: dict[str, Any]) -> str | None:
    """Where a click happened (a DM with the bot), for an ephemeral answer; None from a modal or Home."""
    channel = payloads.at(body, "channel", "id") or payloads.at(body, "container", "channel_id")
    return channel if isinstance(channel, str) and channel else None


@dataclass
class SlackHandlers:
    service: Service

    def person(self, user_id: str) -> Person | None:
        return self.service.cfg.by_slack_id(user_id)

    async def tell(self, client: AsyncWebClient, user_id: str, channel: str | None, text: str) -> None:
        """An answer only the person sees: ephemeral where they clicked, else a DM."""
        try:
            if channel:
                await client.chat_postEphemeral(channel=channel, user=user_id, text=text)
            else:
                await client.chat_postMessage(channel=user_id, text=text)
        except SlackApiError as exc:
            log.warning("could not tell %s: %s", user_id, exc.response.get("error"))

    async def open_view(self, client: AsyncWebClient, trigger_id: str, view: dict[str, Any]) -> None:
        """Open a modal; a trigger that expired or was used already (a slow or repeated click) is logged."""
        try:
            await client.views_open(trigger_id=trigger_id, view=view)
        except SlackApiError as exc:
            log.warning("could not open a modal: %s", exc.response.get("error"))

    async def stranger(self, user_id: str, what: str) -> str:
        reply = await interactions.refuse_stranger(self.service, "slack", user_id, what)
        return reply.text

    # ------------------------------------------------------------ buttons

    async def on_button(self, ack: Any, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient) -> None:
        user_id, channel = payloads.text(body, "user", "id"), _channel_of(body)
        action_id, value = parse_action_id(action["action_id"]), payloads.optional_text(action, "value")
        await ack()  # Slack wants an answer within 3 s, and the trigger_id lives 3 s
        person = self.person(user_id)
        if person is None:
            await self.tell(client, user_id, channel, await self.stranger(user_id, f"slack button {action_id.value}"))
            return
        form = interactions.form_for(action_id)
        if form is not None:
            ref, _ = split_action_value(value)
            view = render_modal(form, FormContext(form.name, ref), interactions.preset_for(action_id, value))
            await self.open_view(client, payloads.text(body, "trigger_id"), view)
            return
        if action_id not in interactions.PRESSES:
            await self.tell(client, user_id, channel, "This button cannot be used from Slack.")
            return
        reply = await interactions.press(self.service, action_id, person.id, value)
        await self.tell(client, user_id, channel, reply.text)

    async def on_modal_choice(self, ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        """A choice inside a modal that changes which fields it shows (Rapid Review's grounds)."""
        view = payloads.mapping(body, "view")
        view_id, context = payloads.text(view, "id"), FormContext.load(view.get("private_metadata") or "")
        form = FORMS.get(context.form)
        if form is None:
            raise payloads.Malformed("view/private_metadata/form")
        await ack()
        preset = {k: v for k, v in state_values(form, view.get("state")).items() if v}
        view_hash = payloads.optional_text(view, "hash") or None
        await client.views_update(view_id=view_id, hash=view_hash, view=render_modal(form, context, preset))

    # ------------------------------------------------------------ modals

    async def on_submit(self, ack: Any, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient) -> None:
        """A modal's submission. Slack waits at most 3 s for the answer, so what needs no database is
        checked first and answered at once (inline field errors, or "Recording…" in place of the
        form); then the flow runs, and its outcome replaces the modal (views.update), or comes as a DM
        if the modal is gone. Bolt sends the HTTP answer at ack(); the flow never stands before it."""
        user_id, view_id = payloads.text(body, "user", "id"), payloads.text(view, "id")
        context = FormContext.load(view.get("private_metadata") or "")
        form = FORMS.get(context.form)
        person = self.person(user_id)
        if person is None:
            await ack(response_action="update", view=notice_modal("Not allowed", interactions.STRANGER_REPLY.text))
            await self.stranger(user_id, f"slack form {context.form}")
            return
        if form is None or form.name not in interactions.SUBMISSIONS:
            await ack(response_action="update", view=notice_modal("Not available", "This form cannot be sent yet."))
            return
        values = {**dict(context.hidden), **state_values(form, view.get("state"))}
        prepared = interactions.prepare(form.name, person.id, context.ref or "", values)
        if isinstance(prepared, interactions.Reply):
            errors = modal_errors(prepared.errors, view)
            if errors:
                await ack(response_action="errors", errors=errors)
            else:
                await ack(response_action="update", view=notice_modal("Not recorded", prepared.text))
            return
        await ack(response_action="update", view=notice_modal(form.title, RECORDING))
        reply = await interactions.carry_out(self.service, prepared)
        await self.show_outcome(client, view_id, user_id, form.title if reply.ok else "Not recorded", reply.text)

    async def show_outcome(self, client: AsyncWebClient, view_id: str, user_id: str, title: str, text: str) -> None:
        """The flow's answer in place of the "Recording…" modal; by DM when the modal cannot be updated
        (closed, or Slack unreachable), so the person always learns whether it counted."""
        try:
            await client.views_update(view_id=view_id, view=notice_modal(title, text))
        except (SlackApiError, TimeoutError, aiohttp.ClientError) as exc:
            log.info("could not update modal %s (%s); telling %s by DM", view_id, exc, user_id)
            await self.tell(client, user_id, None, text)

    # ------------------------------------------------------------ /panel

    async def on_command(self, ack: Any, command: dict[str, Any], client: AsyncWebClient) -> None:
        user_id = payloads.text(command, "user_id")
        verb, _, rest = payloads.optional_text(command, "text").strip().partition(" ")
        verb = verb.lower()
        person = self.person(user_id)
        if person is None:
            await ack(text=await self.stranger(user_id, f"slack /panel {verb}".strip()), response_type="ephemeral")
            return
        if verb == "new":
            await self.new_referral(ack, command, client, person)
        elif verb == "list":
            await ack(text="Open cases", blocks=await self.list_cases(), response_type="ephemeral")
        elif verb == "show" and rest.strip():
            await self.show_case(ack, rest.strip().split()[0])
        else:
            await ack(text=HELP, response_type="ephemeral")

    async def new_referral(self, ack: Any, command: dict[str, Any], client: AsyncWebClient, person: Person) -> None:
        try:
            panel.check_may_register(person)
        except Refused as refusal:
            await self.service.audit_refusal(refusal, person.id, "slack /panel new")
            await ack(text=refusal.message, response_type="ephemeral")
            return
        await ack()
        view = render_modal(REFERRAL, FormContext(REFERRAL.name))
        await self.open_view(client, payloads.text(command, "trigger_id"), view)

    async def list_cases(self) -> list[dict[str, Any]]:
        env = self.service.env

        async def read(uow: Any) -> list[dict[str, Any]]:
            cases = await cases_view(uow, env, open_only=True)
            owing = [o for o in await open_obligations(uow) if o.kind == "vote"]
            return list_blocks(env, cases, owing)

        return await self.service.read(read)

    async def show_case(self, ack: Any, ref: str) -> None:
        env = self.service.env

        async def read(uow: Any) -> list[dict[str, Any]]:
            view = await case_view(uow, env, ref)
            owing = [o for o in await open_obligations(uow) if o.kind == "vote"]
            return show_blocks(env, view, owing)

        try:
            blocks = await self.service.read(read)
        except FlowError as exc:
            await ack(text=exc.message, response_type="ephemeral")
            return
        await ack(text=f"Case {ref.upper()}", blocks=blocks, response_type="ephemeral")

    async def on_error(
        self, error: Exception, body: dict[str, Any], client: AsyncWebClient, response: BoltResponse | None
    ) -> BoltResponse | None:
        """A malformed payload: 400 if not yet acknowledged, one log line, nothing changed. Any other
        failure: logged with its trace, and the person told plainly, never the trace."""
        if isinstance(error, payloads.Malformed) or payloads.raised_by_bolt(error):
            log.warning("refused a %s", error)
            return BoltResponse(status=400, body='{"error":"malformed payload"}') if response is not None else None
        log.error("Slack listener failed: %s", error, exc_info=error)
        user_id = payloads.at(body, "user", "id") or payloads.at(body, "user_id")
        if isinstance(user_id, str) and user_id:
            await self.tell(client, user_id, None, GENERIC_ERROR)
        return None

    # ------------------------------------------------------------ App Home

    async def on_home_opened(self, event: dict[str, Any], client: AsyncWebClient) -> None:
        if payloads.at(event, "tab") not in (None, "home"):
            return
        await publish_home(self.service, client, payloads.text(event, "user"), audit_strangers=True)


def build_bolt_app(service: Service, settings: Settings) -> AsyncApp:
    """The Bolt app with every listener; the same app serves HTTP and Socket Mode."""
    client = AsyncWebClient(token=reveal(settings.slack_bot_token), base_url=api_base_url(settings.slack_api_url))
    app = AsyncApp(client=client, signing_secret=reveal(settings.slack_signing_secret) or "", name="panelbot.slack")
    handlers = SlackHandlers(service)
    app.action(BUTTONS)(handlers.on_button)
    app.action("pathway")(handlers.on_modal_choice)
    app.view_submission(FORM_CALLBACK)(handlers.on_submit)
    app.command("/panel")(handlers.on_command)
    app.event("app_home_opened")(handlers.on_home_opened)
    app.error(handlers.on_error)
    return app


def mount(web_app: web.Application, service: Service, settings: Settings) -> AsyncApp:
    """The Bolt app, kept on the web app for Socket Mode, and `POST /slack/events` (events,
    interactivity and slash commands on one URL, Bolt's convention) when there is a signing secret:
    without one a signature proves nothing, so the URL is not offered at all."""
    bolt = build_bolt_app(service, settings)
    web_app[SLACK_APP] = bolt
    if not settings.slack_signing_secret:
        log.info("no SLACK_SIGNING_SECRET: %s is not served (Socket Mode only)", EVENTS_PATH)
        return bolt

    verifier = SignatureVerifier(reveal(settings.slack_signing_secret) or "")

    async def slack_events(request: web.Request) -> web.Response:
        """Credentials first (401), then shape (400); only then Bolt, which checks the signature again."""
        raw = await request.read()
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        signature = request.headers.get("X-Slack-Signature", "")
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            return _refuse(400, "the body is not UTF-8")
        if not (timestamp.isascii() and timestamp.isdigit() and signature.isascii()):
            return _refuse(401, "no usable signature or timestamp")
        if not verifier.is_valid(body, timestamp, signature):
            return _refuse(401, "invalid signature or stale timestamp")
        try:
            bolt_request = AsyncBoltRequest(body=body, query=request.query_string, headers=request.headers)  # type: ignore[arg-type]
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:  # Bolt reads the shape here
            return _refuse(400, f"unreadable body ({type(exc).__name__})")
        if not isinstance(bolt_request.body, dict) or not all(isinstance(k, str) for k in bolt_request.body):
            return _refuse(400, "the body is not an object")
        problem = payloads.envelope_problem(bolt_request.body)
        if problem is not None:
            return _refuse(400, f"malformed payload: {problem}")
        try:
            response = await bolt.async_dispatch(bolt_request)
        except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
            # Bolt could not even route it (its error handler failed on the same payload): the shape is the cause
            log.error("Slack payload Bolt could not route", exc_info=exc)
            return _refuse(400, "malformed payload")
        return await to_aiohttp_response(response)

    web_app.router.add_post(EVENTS_PATH, slack_events)
    return bolt


def _refuse(status: int, why: str) -> web.Response:
    log.warning("refused a Slack request (%s): %s", status, why)
    return web.json_response({"error": why}, status=status)


class SocketModeUnavailable(Exception):
    """`--socket-mode` without the tokens it needs."""


async def start_socket_mode(web_app: web.Application, settings: Settings) -> Any:
    """Connect the same Bolt app to Slack over Socket Mode (no public URL needed); returns the handler."""
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    if not (settings.slack_bot_token and settings.slack_app_token) or SLACK_APP not in web_app:
        raise SocketModeUnavailable("Socket Mode needs SLACK_BOT_TOKEN and SLACK_APP_TOKEN (xapp-…)")
    handler = AsyncSocketModeHandler(web_app[SLACK_APP], app_token=reveal(settings.slack_app_token))
    await handler.connect_async()
    log.info("Slack Socket Mode connected")
    return handler
