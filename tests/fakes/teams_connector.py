"""A fake Bot Connector service on 127.0.0.1, and Teams users who post activities as Teams would.

The connector answers the REST routes the Agents SDK calls (`v3/conversations/{id}/activities`,
with or without a reply-to id, and `PUT …/activities/{id}` for updates) and records each call. A
test can make the next calls fail (429 with Retry-After, 5xx) to see the outbox retry.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

TENANT = "9c5e2f4a-1b2c-4d3e-8f90-a1b2c3d4e5f6"
BOT_ID = "28:panelbot-test-bot"
CARD_TYPE = "application/vnd.microsoft.card.adaptive"
# Every Adaptive Card any test showed a Teams user (sent to a fake connector, or returned from an
# Action.Execute), for the session-wide check against Microsoft's card library (tests/conftest.py).
SEEN_CARDS: list[dict[str, Any]] = []


@dataclass
class Call:
    kind: str  # send | reply | update
    conversation_id: str
    activity_id: str  # the id of the activity created or updated
    body: dict[str, Any]
    authorization: str | None

    @property
    def card(self) -> dict[str, Any] | None:
        for attachment in self.body.get("attachments") or []:
            if attachment.get("contentType") == CARD_TYPE:
                return attachment["content"]
        return None

    @property
    def text(self) -> str | None:
        return self.body.get("text")


@dataclass
class FakeConnector:
    calls: list[Call] = field(default_factory=list)
    answers: list[dict[str, Any]] = field(default_factory=list)  # cards returned to Action.Execute
    failures: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    hangs: list[float] = field(default_factory=list)  # per call, in order: seconds to wait before answering
    server: TestServer | None = None
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/"))

    def fail_next(self, status: int, times: int = 1, retry_after: str | None = None) -> None:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self.failures += [(status, headers)] * times

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v3/conversations/{cid}/activities", self._send)
        app.router.add_post("/v3/conversations/{cid}/activities/{aid}", self._reply)
        app.router.add_put("/v3/conversations/{cid}/activities/{aid}", self._update)
        return app

    async def start(self) -> FakeConnector:
        self.server = TestServer(self.app(), host="127.0.0.1")
        await self.server.start_server()
        return self

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()

    async def _record(self, request: web.Request, kind: str, activity_id: str | None = None) -> web.Response:
        if self.hangs:
            await asyncio.sleep(self.hangs.pop(0))
        if self.failures:
            status, headers = self.failures.pop(0)
            return web.json_response({"error": {"code": "Throttled"}}, status=status, headers=headers)
        body = await request.json()
        new_id = activity_id or f"act-{next(self._ids)}"
        cid = request.match_info["cid"]
        call = Call(kind, cid, new_id, body, request.headers.get("Authorization"))
        self.calls.append(call)
        if call.card is not None:
            SEEN_CARDS.append(call.card)
        return web.json_response({"id": new_id}, status=200 if kind == "update" else 201)

    async def _send(self, request: web.Request) -> web.Response:
        return await self._record(request, "send")

    async def _reply(self, request: web.Request) -> web.Response:
        return await self._record(request, "reply")

    async def _update(self, request: web.Request) -> web.Response:
        return await self._record(request, "update", request.match_info["aid"])

    # --- what was recorded -------------------------------------------------------------------

    def to(self, user: TeamsUser) -> list[Call]:
        return [c for c in self.calls if c.conversation_id == user.conversation_id]

    def cards_to(self, user: TeamsUser) -> list[Call]:
        return [c for c in self.to(user) if c.card is not None]

    def latest_card(self, user: TeamsUser, activity_id: str) -> dict[str, Any]:
        """The card as the user now sees it: the last send or update of that activity."""
        cards = [c.card for c in self.to(user) if c.activity_id == activity_id and c.card is not None]
        assert cards, f"no card {activity_id} in {user.name}'s chat"
        return cards[-1]


@dataclass
class TeamsUser:
    """A person in Teams, posting activities to the bot as the Teams service would."""

    client: TestClient
    connector: FakeConnector
    aad_object_id: str
    name: str = "Test User"
    tenant: str = TENANT
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def conversation_id(self) -> str:
        return f"a:personal-{self.aad_object_id}"

    def activity(self, type_: str, **extra: Any) -> dict[str, Any]:
        return {
            "type": type_,
            "id": f"in-{uuid.uuid4().hex[:8]}",
            "channelId": "msteams",
            "serviceUrl": self.connector.url,
            "from": {"id": f"29:{self.aad_object_id}", "aadObjectId": self.aad_object_id, "name": self.name},
            "recipient": {"id": BOT_ID, "name": "panelbot"},
            "conversation": {
                "id": self.conversation_id,
                "conversationType": "personal",
                "tenantId": self.tenant,
            },
            "channelData": {"tenant": {"id": self.tenant}},
            "locale": "en-GB",
            **extra,
        }

    async def post(self, activity: dict[str, Any]) -> tuple[int, Any]:
        response = await self.client.post("/api/messages", json=activity, headers=self.headers)
        body = await response.json() if response.content_type == "application/json" else await response.text()
        return response.status, body

    async def install(self) -> int:
        status, _ = await self.post(self.activity("installationUpdate", action="add"))
        return status

    async def say(self, text: str) -> int:
        status, _ = await self.post(self.activity("message", text=text))
        return status

    async def execute(self, card: dict[str, Any], verb: str, inputs: dict[str, Any] | None = None) -> dict:
        """Press the card's Action.Execute with this verb, the way Teams does: inputs merged into data."""
        action = find_execute(card, verb)
        data = {**(action.get("data") or {}), **(inputs or {})}
        value = {"action": {"type": "Action.Execute", "verb": verb, "data": data}, "trigger": "manual"}
        status, body = await self.post(self.activity("invoke", name="adaptiveCard/action", value=value))
        assert status == 200, (status, body)
        assert body["statusCode"] == 200 and body["type"] == CARD_TYPE, body
        self.connector.answers.append(body["value"])
        SEEN_CARDS.append(body["value"])
        return body["value"]


def find_execute(card: dict[str, Any], verb: str) -> dict[str, Any]:
    found = [a for a in walk_actions(card) if a.get("type") == "Action.Execute" and a.get("verb") == verb]
    assert found, f"no Action.Execute with verb {verb!r} on the card"
    return found[0]


def walk_actions(card: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for action in card.get("actions") or []:
        out.append(action)
        if action.get("type") == "Action.ShowCard":
            out += walk_actions(action["card"])
    return out


def card_text(card: dict[str, Any]) -> str:
    """Every piece of text on a card, for assertions."""
    parts: list[str] = []

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            for key in ("text", "title", "value", "label"):
                if isinstance(node.get(key), str):
                    parts.append(node[key])
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for item in node:
                visit(item)

    visit(card)
    return "\n".join(parts)


def inputs_of(card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The card's inputs by id (top level body only)."""
    return {item["id"]: item for item in card.get("body", []) if str(item.get("type", "")).startswith("Input.")}
