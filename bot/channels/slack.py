"""Slack: neutral messages and forms as Block Kit, and the outbox sender that delivers them.

Built with `slack_sdk.models` so Slack's field limits are checked when a block is serialised; the
limits slack_sdk does not check (50 blocks per message, 2000 characters per section field) are kept
here. Only what the neutral message carries goes out: the case reference, the panel summary the
Business Manager wrote for sharing, and facts. Never the child's details.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DatePickerElement,
    DateTimePickerElement,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    RadioButtonsElement,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View
from slack_sdk.web.async_client import AsyncWebClient

from bot.delivery import Outgoing, SendResult
from bot.forms import Field, Form
from bot.messages import Action, ActionId, Fact, Message, split_action_value

log = logging.getLogger("panelbot.slack")

MAX_MESSAGE_BLOCKS = 50
MAX_MODAL_BLOCKS = 100
HEADER_MAX = 150
SECTION_TEXT_MAX = 3000
FIELD_MAX = 2000
FIELDS_PER_SECTION = 10
BUTTONS_PER_ACTIONS = 25
BUTTON_TEXT_MAX = 75
SHORT_FACT = 120  # longer facts get a section of their own instead of a side-by-side field
MODAL_TEXT_MAX = 24
FORM_CALLBACK = "panelbot-form"
OUTBOX_EVENT = "panelbot_outbox"  # message metadata: which outbox row a message came from


# ---------------------------------------------------------------- text


def clip(text: str, limit: int) -> str:
    """Cut to `limit` characters, marking the cut with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def short_label(text: str, limit: int = MODAL_TEXT_MAX) -> str:
    """Modal titles and buttons allow 24 characters: cut at a word boundary, no ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit + 1].rsplit(" ", 1)[0]
    return cut if 0 < len(cut) <= limit else text[:limit]


def escape(text: str) -> str:
    """mrkdwn control characters: user-written text cannot mention @channel or fake a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mrkdwn(text: str, limit: int = SECTION_TEXT_MAX) -> MarkdownTextObject:
    return MarkdownTextObject(text=clip(text, limit), verbatim=True)


def plain(text: str, limit: int) -> PlainTextObject:
    return PlainTextObject(text=clip(text, limit), emoji=False)


# ---------------------------------------------------------------- messages


def fact_text(fact: Fact, limit: int) -> str:
    return clip(f"*{escape(fact.label)}*\n{escape(fact.value)}", limit)


def fact_blocks(facts: Iterable[Fact]) -> list[Block]:
    """Short facts side by side (10 per section), long ones (rationales) as sections of their own."""
    blocks: list[Block] = []
    fields: list[MarkdownTextObject] = []

    def flush() -> None:
        if fields:
            blocks.append(SectionBlock(fields=list(fields)))
            fields.clear()

    for fact in facts:
        if len(fact.value) > SHORT_FACT:
            flush()
            blocks.append(SectionBlock(text=mrkdwn(fact_text(fact, SECTION_TEXT_MAX))))
            continue
        fields.append(mrkdwn(fact_text(fact, FIELD_MAX), FIELD_MAX))
        if len(fields) == FIELDS_PER_SECTION:
            flush()
    flush()
    return blocks


def button_action_ids(actions: list[Action]) -> list[str]:
    """Slack wants action ids unique within a message: repeated ones get the value's tail as suffix."""
    counts = Counter(a.id for a in actions)
    ids: list[str] = []
    for i, action in enumerate(actions):
        action_id = action.id.value
        if counts[action.id] > 1:
            _, parts = split_action_value(action.value)
            suffix = re.sub(r"[^A-Za-z0-9_.-]", "-", "-".join(parts)) or str(i)
            action_id = f"{action_id}:{suffix}"
        if action_id in ids:
            action_id = f"{action_id}:{i}"
        ids.append(action_id)
    return ids


def parse_action_id(action_id: str) -> ActionId:
    """The neutral action behind a button's action id (`panel-vote:rapid_review` → VOTE)."""
    return ActionId(action_id.split(":", 1)[0])


def action_blocks(actions: list[Action]) -> list[Block]:
    buttons = [
        ButtonElement(
            action_id=action_id,
            text=plain(action.label, BUTTON_TEXT_MAX),
            value=action.value,
            style=action.style if action.style in ("primary", "danger") else None,
        )
        for action, action_id in zip(actions, button_action_ids(actions), strict=True)
    ]
    return [
        ActionsBlock(block_id=f"actions-{n}", elements=buttons[i : i + BUTTONS_PER_ACTIONS])
        for n, i in enumerate(range(0, len(buttons), BUTTONS_PER_ACTIONS))
    ]


def render_message(message: Message) -> list[dict[str, Any]]:
    """A neutral message as Block Kit: header, text, facts, buttons; never more than 50 blocks."""
    head: list[Block] = [HeaderBlock(text=plain(message.title, HEADER_MAX))]
    if message.text:
        head.append(SectionBlock(text=mrkdwn(escape(message.text))))
    tail = action_blocks(message.actions)
    facts = fact_blocks(message.facts)
    room = MAX_MESSAGE_BLOCKS - len(head) - len(tail)
    if len(facts) > room:
        hidden = len(facts) - (room - 1)
        more = f"{hidden} more item{'s' if hidden != 1 else ''} not shown"
        if message.ref:
            more += f": see `/panel show {message.ref}`"
        facts = [*facts[: room - 1], ContextBlock(elements=[mrkdwn(more)])]
    return [b.to_dict() for b in [*head, *facts, *tail]]


def fallback_text(message: Message) -> str:
    """The notification text shown where blocks are not (push notifications, screen readers)."""
    return clip(escape(message.title), 3000)


# ---------------------------------------------------------------- modals

# Fields shown only when another field has a value: the Rapid Review grounds (Part B 2.2 a, b).
SHOWN_WHEN: dict[str, tuple[str, str]] = {
    "abuse_nature": ("pathway", "rapid_review"),
    "harm_basis": ("pathway", "rapid_review"),
}
MODAL_TITLES = {"scrutiny_disagree": "Disagree", "referrer_answer": "Referrer's answer"}
YES_NO = (("yes", "Yes"), ("no", "No"))


@dataclass(frozen=True)
class FormContext:
    """What a modal must remember between opening and submission (its private_metadata)."""

    form: str
    ref: str | None = None
    hidden: tuple[tuple[str, str], ...] = ()  # action values the form carries but does not show

    def dump(self) -> str:
        data = {"form": self.form, "ref": self.ref, "hidden": dict(self.hidden)}
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def load(cls, raw: str) -> FormContext:
        data = json.loads(raw or "{}")
        hidden = tuple(sorted((str(k), str(v)) for k, v in (data.get("hidden") or {}).items()))
        return cls(str(data["form"]), data.get("ref"), hidden)


def _options(pairs: Iterable[tuple[str, str]]) -> list[Option]:
    return [Option(value=value, text=plain(label, 75)) for value, label in pairs]


def _initial(options: list[Option], value: str | None) -> Option | None:
    return next((o for o in options if o.value == value), None)


def field_element(field: Field, preset: str | None) -> Any:
    """The Block Kit input element for a neutral form field; action_id is the field name."""
    if field.kind in ("choice", "yes_no"):
        options = _options(field.options if field.kind == "choice" else YES_NO)
        cls = StaticSelectElement if field.kind == "choice" else RadioButtonsElement
        extra = {"placeholder": plain("Choose…", 150)} if cls is StaticSelectElement else {}
        return cls(action_id=field.name, options=options, initial_option=_initial(options, preset), **extra)
    if field.kind == "date":
        return DatePickerElement(action_id=field.name, initial_date=preset or None)
    if field.kind == "datetime":
        return DateTimePickerElement(action_id=field.name)
    return PlainTextInputElement(
        action_id=field.name,
        multiline=field.kind == "multiline",
        min_length=field.min_length,
        max_length=field.max_length,
        initial_value=preset or None,
    )


def visible_fields(form: Form, preset: dict[str, str]) -> list[Field]:
    names = {f.name for f in form.fields}
    return [
        f
        for f in form.fields
        if f.name not in SHOWN_WHEN
        or SHOWN_WHEN[f.name][0] not in names
        or preset.get(SHOWN_WHEN[f.name][0]) == SHOWN_WHEN[f.name][1]
    ]


def render_modal(form: Form, context: FormContext, preset: dict[str, str] | None = None) -> dict[str, Any]:
    """A neutral form as a modal: one input block per field, block_id = action_id = field name, so
    `response_action: errors` maps straight from a `Reply`'s per-field errors."""
    preset = dict(preset or {})
    names = {f.name for f in form.fields}
    controllers = {SHOWN_WHEN[n][0] for n in names if n in SHOWN_WHEN}
    blocks: list[Block] = []
    if context.ref:
        blocks.append(ContextBlock(elements=[mrkdwn(f"Case *{escape(context.ref)}*")]))
    for field in visible_fields(form, preset):
        blocks.append(
            InputBlock(
                block_id=field.name,
                label=plain(field.label, 2000),
                hint=plain(field.hint, 2000) if field.hint else None,
                optional=not field.required,
                dispatch_action=field.name in controllers or None,
                element=field_element(field, preset.get(field.name)),
            )
        )
    hidden = tuple(sorted((k, v) for k, v in preset.items() if k not in names))
    context = FormContext(context.form, context.ref, hidden or context.hidden)
    view = View(
        type="modal",
        callback_id=FORM_CALLBACK,
        title=plain(MODAL_TITLES.get(form.name) or short_label(form.title), MODAL_TEXT_MAX),
        submit=plain(short_label(form.submit), MODAL_TEXT_MAX),
        close=plain("Cancel", MODAL_TEXT_MAX),
        private_metadata=context.dump(),
        blocks=blocks[:MAX_MODAL_BLOCKS],
    )
    return view.to_dict()


def notice_modal(title: str, text: str) -> dict[str, Any]:
    """What a modal turns into after submission: the outcome, and a Close button."""
    view = View(
        type="modal",
        title=plain(short_label(title), MODAL_TEXT_MAX),
        close=plain("Close", MODAL_TEXT_MAX),
        blocks=[SectionBlock(text=mrkdwn(escape(text)))],
    )
    return view.to_dict()


def state_values(form: Form, state: dict[str, Any]) -> dict[str, str | None]:
    """A submitted modal's values as `{field name: string}`, the shape `actions.submit` takes."""
    names = {f.name for f in form.fields}
    out: dict[str, str | None] = {}
    for block_id, elements in (state.get("values") or {}).items():
        if block_id not in names:
            continue
        for element in elements.values():
            out[block_id] = element_value(element)
    return out


def element_value(element: dict[str, Any]) -> str | None:
    kind = element.get("type")
    if kind in ("static_select", "radio_buttons"):
        return (element.get("selected_option") or {}).get("value")
    if kind == "datepicker":
        return element.get("selected_date")
    if kind == "datetimepicker":
        stamp = element.get("selected_date_time")
        return dt.datetime.fromtimestamp(int(stamp), dt.UTC).isoformat() if stamp else None
    if kind == "timepicker":
        return element.get("selected_time")
    return element.get("value")


def modal_errors(errors: dict[str, str], view: dict[str, Any]) -> dict[str, str]:
    """Per-field errors keyed by block id; an error about a field the modal lacks goes on the first input."""
    inputs = [b["block_id"] for b in view.get("blocks", []) if b.get("type") == "input" and b.get("block_id")]
    out: dict[str, str] = {}
    for name, message in errors.items():
        target = name if name in inputs else (inputs[0] if inputs else None)
        if target is None:
            continue
        text = message if target == name else f"{name.replace('_', ' ')}: {message}"
        out[target] = clip(f"{out[target]} {text}" if target in out else text, 1000)
    return out


# ---------------------------------------------------------------- sending

# Errors that no retry can fix: the loop marks the row failed and tells the Business Manager.
PERMANENT_ERRORS = frozenset(
    {
        "user_not_found",
        "account_inactive",
        "user_disabled",
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "cannot_dm_bot",
        "invalid_auth",
        "not_authed",
        "token_revoked",
        "token_expired",
        "no_permission",
        "missing_scope",
        "not_allowed_token_type",
        "team_access_not_granted",
        "access_denied",
        "restricted_action",
        "ekm_access_denied",
        "invalid_blocks",
        "invalid_arguments",
        "msg_too_long",
        "no_text",
    }
)
# chat.update cannot find or edit the original: post the message anew instead.
UPDATE_GONE = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})

HomePublisher = Callable[[AsyncWebClient, str], Awaitable[None]]


class SlackSender:
    """Delivers outbox rows to Slack DMs. Never retries by itself: the outbox does, so a retry that
    succeeded is recorded once and never repeated. A post whose outcome is unknown (timeout, 5xx)
    is looked up by its outbox key in the DM's history before it is posted again; so is any row on
    its second or later attempt, which covers a process that died after posting but before the
    outbox recorded it."""

    def __init__(self, client: AsyncWebClient, publish_home: HomePublisher | None = None) -> None:
        self.client = client
        self.publish_home = publish_home
        self._uncertain: set[str] = set()
        self._dm: dict[str, str] = {}  # user id → DM channel id
        self._homes: dict[str, asyncio.Task[None]] = {}  # user id → Home republishing in flight
        self._homes_again: set[str] = set()  # changed again while being republished

    async def send(self, item: Outgoing) -> SendResult:
        try:
            ref = await self._deliver(item)
        except SlackApiError as exc:
            return self._api_error(item, exc)
        except (TimeoutError, aiohttp.ClientError) as exc:
            self._uncertain.add(item.key)
            return SendResult.retry(f"{type(exc).__name__}: {exc}".rstrip(": "))
        self._uncertain.discard(item.key)
        self._refresh_home(item)
        return SendResult.sent(ref)

    async def _deliver(self, item: Outgoing) -> dict[str, str]:
        text, blocks = fallback_text(item.message), render_message(item.message)
        original = item.replaces or {}
        if original.get("channel") and original.get("ts"):
            try:
                resp = await self.client.chat_update(
                    channel=original["channel"], ts=original["ts"], text=text, blocks=blocks
                )
                return {"channel": resp["channel"], "ts": resp["ts"]}
            except SlackApiError as exc:
                if _error(exc) not in UPDATE_GONE:
                    raise
                log.info("outbox row %s: original message gone (%s); posting anew", item.id, _error(exc))
        if item.key in self._uncertain or item.attempts > 1:
            found = await self._find_posted(item)
            if found is not None:
                return found
        resp = await self.client.chat_postMessage(
            channel=item.address,
            text=text,
            blocks=blocks,
            unfurl_links=False,
            unfurl_media=False,
            metadata={"event_type": OUTBOX_EVENT, "event_payload": {"key": item.key}},
        )
        self._dm[item.address] = resp["channel"]
        return {"channel": resp["channel"], "ts": resp["ts"]}

    async def _find_posted(self, item: Outgoing) -> dict[str, str] | None:
        """Did an earlier attempt that timed out reach Slack after all? Look for its outbox key."""
        channel = self._dm.get(item.address)
        if channel is None:
            opened = await self.client.conversations_open(users=item.address)
            channel = self._dm[item.address] = opened["channel"]["id"]
        history = await self.client.conversations_history(channel=channel, limit=50, include_all_metadata=True)
        for msg in history.get("messages", []):
            meta = msg.get("metadata") or {}
            if meta.get("event_type") == OUTBOX_EVENT and (meta.get("event_payload") or {}).get("key") == item.key:
                log.info("outbox row %s was delivered by an earlier attempt (ts %s)", item.id, msg.get("ts"))
                return {"channel": channel, "ts": msg["ts"]}
        return None

    def _api_error(self, item: Outgoing, exc: SlackApiError) -> SendResult:
        status, error = exc.response.status_code, _error(exc)
        if status == 429 or error == "ratelimited":
            return SendResult.retry(f"rate limited ({error or status})", after=_retry_after(exc))
        if status >= 500:
            self._uncertain.add(item.key)
            return SendResult.retry(f"Slack answered HTTP {status} ({error or 'no error code'})")
        if error in PERMANENT_ERRORS:
            return SendResult.failed(error)
        return SendResult.retry(error or f"HTTP {status}")

    def _refresh_home(self, item: Outgoing) -> None:
        """A delivered message means the person's to-do list changed: republish their App Home, in
        the background so the row is recorded as sent at once, and once for a burst of messages."""
        if self.publish_home is None or item.person_id is None:
            return
        user = item.address
        if user in self._homes:
            self._homes_again.add(user)
            return
        self._homes[user] = asyncio.create_task(self._republish(user))

    async def _republish(self, user: str) -> None:
        assert self.publish_home is not None
        try:
            while True:
                self._homes_again.discard(user)
                try:
                    await self.publish_home(self.client, user)
                except Exception:  # the message is sent; a stale Home is redrawn when next opened
                    log.warning("could not republish the App Home of %s", user, exc_info=True)
                if user not in self._homes_again:
                    return
        finally:
            self._homes.pop(user, None)

    async def idle(self) -> None:
        """Wait until no Home is being republished (tests; a clean shutdown)."""
        while self._homes:
            await asyncio.gather(*self._homes.values(), return_exceptions=True)


def _error(exc: SlackApiError) -> str:
    data = exc.response.data if exc.response is not None else None
    return str(data.get("error", "")) if isinstance(data, dict) else ""


def _retry_after(exc: SlackApiError) -> float | None:
    value = exc.response.headers.get("Retry-After") if exc.response is not None else None
    try:
        return max(float(value), 1.0) if value is not None else None
    except ValueError:
        return None


def api_base_url(url: str | None) -> str:
    return (url or AsyncWebClient.BASE_URL).rstrip("/") + "/"


def sending_client(token: str, base_url: str | None, timeout: float = 15) -> AsyncWebClient:
    """A Web API client with no retry handlers: outbox rows are retried by the delivery loop only."""
    return AsyncWebClient(token=token, base_url=api_base_url(base_url), timeout=timeout, retry_handlers=[])  # type: ignore[arg-type]
