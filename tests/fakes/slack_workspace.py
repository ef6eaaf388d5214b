"""Slack's side of the conversation: signed requests to `/slack/events`, shaped as Slack sends them.

Everything a request refers to (action ids, values, block ids, view ids, hashes, private metadata)
is taken from what the bot sent to the fake Web API, never made up by the test.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import itertools
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from slack_sdk.signature import SignatureVerifier

from tests.fakes.slack_api import TEAM, FakeSlackApi

SIGNING_SECRET = "test-signing-secret"
APP_ID = "A0PANELBOT"


async def settle_listeners(timeout: float = 5.0) -> None:
    """Wait for Bolt's listeners still running after their ack() (Bolt runs them as background
    tasks once the HTTP answer is out), so a test sees everything a request caused."""
    current = asyncio.current_task()
    running = [
        t
        for t in asyncio.all_tasks()
        if t is not current and not t.done() and "run_ack_function_asynchronously" in repr(t.get_coro())
    ]
    if running:
        await asyncio.wait(running, timeout=timeout)


@dataclass
class Answer:
    status: int
    body: Any
    modal: Any = None  # a submission's modal as the person finally sees it (after any views.update)


def buttons(message: Mapping[str, Any]) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """A message's buttons by label: (actions block, button element)."""
    out = {}
    for block in message.get("blocks") or []:
        if block.get("type") == "actions":
            for element in block["elements"]:
                if element.get("type") == "button":
                    out[element["text"]["text"]] = (block, element)
    return out


def shown_text(blocks: Any) -> str:
    """The text a person reads in blocks (or a view), mrkdwn escapes undone."""
    if isinstance(blocks, Mapping):
        blocks = blocks.get("blocks", [])
    parts: list[str] = []
    for block in blocks or []:
        for item in [block.get("text"), *(block.get("fields") or []), *(block.get("elements") or [])]:
            if isinstance(item, Mapping) and isinstance(item.get("text"), str):
                parts.append(item["text"])
    return html.unescape("\n".join(parts))


def input_blocks(view: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["block_id"]: b for b in view.get("blocks", []) if b.get("type") == "input"}


def _option(element: Mapping[str, Any], value: str) -> dict[str, Any]:
    options = element.get("options") or []
    found = next((o for o in options if o["value"] == value), None)
    assert found is not None, f"{value!r} is not an option of {element.get('action_id')}: {options}"
    return found


def state_for(view: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """`view.state` as Slack builds it: every input block, with what the person entered or the
    initial value the bot set. Only block ids the view actually has can be filled in."""
    blocks = input_blocks(view)
    unknown = set(values) - set(blocks)
    assert not unknown, f"the modal has no input {sorted(unknown)}; it has {sorted(blocks)}"
    state: dict[str, Any] = {}
    for block_id, block in blocks.items():
        element = block["element"]
        kind, entered = element["type"], values.get(block_id)
        if kind in ("static_select", "radio_buttons"):
            chosen = _option(element, entered) if entered is not None else element.get("initial_option")
            item: dict[str, Any] = {"type": kind, "selected_option": chosen}
        elif kind == "datepicker":
            item = {"type": kind, "selected_date": entered or element.get("initial_date")}
        elif kind == "datetimepicker":
            stamp = int(entered.timestamp()) if isinstance(entered, dt.datetime) else entered
            item = {"type": kind, "selected_date_time": stamp}
        else:
            item = {"type": kind, "value": entered if entered is not None else element.get("initial_value")}
        state[block_id] = {element["action_id"]: item}
    return {"values": state}


@dataclass
class SlackWorkspace:
    """Posts what Slack would post, signed with the app's signing secret."""

    client: TestClient
    api: FakeSlackApi
    secret: str = SIGNING_SECRET
    path: str = "/slack/events"
    _triggers: itertools.count = field(default_factory=lambda: itertools.count(1))

    def trigger_id(self) -> str:
        return f"{next(self._triggers)}.4242.{int(time.time())}"

    # ------------------------------------------------------------ raw

    def headers(self, body: str, content_type: str, timestamp: int | None = None) -> dict[str, str]:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        signature = SignatureVerifier(self.secret).generate_signature(timestamp=ts, body=body)
        return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature, "Content-Type": content_type}

    async def post(
        self,
        body: str,
        content_type: str,
        *,
        timestamp: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
        signature: str | None = None,
        settle: bool = True,
    ) -> Answer:
        headers = self.headers(body, content_type, timestamp) | dict(extra_headers or {})
        if signature is not None:
            headers["X-Slack-Signature"] = signature
        resp: ClientResponse = await self.client.post(self.path, data=body.encode(), headers=headers)
        text = await resp.text()
        if settle:
            await settle_listeners()
        try:
            parsed: Any = json.loads(text) if text else None
        except ValueError:
            parsed = text
        return Answer(resp.status, parsed)

    @staticmethod
    def form_body(payload: Mapping[str, Any]) -> str:
        return urlencode({"payload": json.dumps(payload)})

    async def interaction(self, payload: Mapping[str, Any], **kwargs: Any) -> Answer:
        return await self.post(self.form_body(payload), "application/x-www-form-urlencoded", **kwargs)

    # ------------------------------------------------------------ what people do

    @staticmethod
    def user(user_id: str) -> dict[str, str]:
        return {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": TEAM}

    def click_payload(self, user_id: str, message: Mapping[str, Any], label: str) -> dict[str, Any]:
        found = buttons(message)
        assert label in found, f"no button {label!r}; the message has {sorted(found)}"
        block, element = found[label]
        return {
            "type": "block_actions",
            "user": self.user(user_id),
            "api_app_id": APP_ID,
            "token": "legacy-verification-token",
            "container": {
                "type": "message",
                "message_ts": message["ts"],
                "channel_id": message["channel"],
                "is_ephemeral": False,
            },
            "trigger_id": self.trigger_id(),
            "team": {"id": TEAM, "domain": "test"},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": message["channel"], "name": "directmessage"},
            "message": {
                "type": "message",
                "ts": message["ts"],
                "text": message.get("text"),
                "blocks": message["blocks"],
            },
            "state": {"values": {}},
            "response_url": "https://hooks.slack.com/actions/T0TEST001/1/xyz",
            "actions": [
                {
                    "action_id": element["action_id"],
                    "block_id": block["block_id"],
                    "text": element["text"],
                    "value": element.get("value"),
                    "type": "button",
                    "action_ts": f"{time.time():.6f}",
                    **({"style": element["style"]} if element.get("style") else {}),
                }
            ],
        }

    async def click(self, user_id: str, message: Mapping[str, Any], label: str, **kwargs: Any) -> Answer:
        return await self.interaction(self.click_payload(user_id, message, label), **kwargs)

    def submit_payload(self, user_id: str, view: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
        submitted = dict(view) | {"state": state_for(view, values), "app_id": APP_ID, "bot_id": "B0BOT0001"}
        return {
            "type": "view_submission",
            "team": {"id": TEAM, "domain": "test"},
            "user": self.user(user_id),
            "api_app_id": APP_ID,
            "token": "legacy-verification-token",
            "trigger_id": self.trigger_id(),
            "view": submitted,
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }

    async def submit(self, user_id: str, view: Mapping[str, Any], values: Mapping[str, Any], **kw: Any) -> Answer:
        """Submit a modal. `Answer.modal` is what the modal shows once the listener is done: the
        acknowledgement's view, or the view panelbot put in its place afterwards with views.update."""
        before = len(self.api.calls_to("views.update"))
        answer = await self.interaction(self.submit_payload(user_id, view, values), **kw)
        answer.modal = self.modal_after(view["id"], before, answer.body)
        return answer

    def modal_after(self, view_id: str, updates_before: int, ack: Any) -> Any:
        updates = [c for c in self.api.calls_to("views.update")[updates_before:] if c.body.get("view_id") == view_id]
        if updates and "_view" in updates[-1].body:
            return updates[-1].body["_view"]
        return ack.get("view") if isinstance(ack, dict) else None

    async def choose(self, user_id: str, view: Mapping[str, Any], block_id: str, value: str) -> Answer:
        """Pick an option in a modal's select that dispatches its action (Slack sends block_actions)."""
        block = input_blocks(view)[block_id]
        assert block.get("dispatch_action"), f"{block_id} does not dispatch an action"
        element = block["element"]
        payload = {
            "type": "block_actions",
            "user": self.user(user_id),
            "api_app_id": APP_ID,
            "token": "legacy-verification-token",
            "container": {"type": "view", "view_id": view["id"]},
            "trigger_id": self.trigger_id(),
            "team": {"id": TEAM, "domain": "test"},
            "is_enterprise_install": False,
            "view": dict(view) | {"state": state_for(view, {block_id: value})},
            "actions": [
                {
                    "type": element["type"],
                    "action_id": element["action_id"],
                    "block_id": block_id,
                    "selected_option": _option(element, value),
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        return await self.interaction(payload)

    def command_body(self, user_id: str, text: str, channel: str = "C0GENERAL1") -> str:
        return urlencode(
            {
                "token": "legacy-verification-token",
                "team_id": TEAM,
                "team_domain": "test",
                "channel_id": channel,
                "channel_name": "general",
                "user_id": user_id,
                "user_name": user_id.lower(),
                "command": "/panel",
                "text": text,
                "api_app_id": APP_ID,
                "is_enterprise_install": "false",
                "response_url": "https://hooks.slack.com/commands/T0TEST001/1/xyz",
                "trigger_id": self.trigger_id(),
            }
        )

    async def command(self, user_id: str, text: str, **kwargs: Any) -> Answer:
        return await self.post(self.command_body(user_id, text), "application/x-www-form-urlencoded", **kwargs)

    def event_body(self, event: Mapping[str, Any], event_id: str = "Ev0001") -> str:
        return json.dumps(
            {
                "token": "legacy-verification-token",
                "team_id": TEAM,
                "api_app_id": APP_ID,
                "event": dict(event),
                "type": "event_callback",
                "event_id": event_id,
                "event_time": int(time.time()),
                "authorizations": [{"team_id": TEAM, "user_id": "U0BOT0001", "is_bot": True}],
            }
        )

    async def open_home(self, user_id: str, **kwargs: Any) -> Answer:
        event = {
            "type": "app_home_opened",
            "user": user_id,
            "channel": self.api.dm_channel(user_id),
            "tab": "home",
            "event_ts": f"{time.time():.6f}",
        }
        return await self.post(self.event_body(event), "application/json", **kwargs)
