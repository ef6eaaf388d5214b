"""A fake Slack Web API on 127.0.0.1: answers the methods panelbot uses, records every call, keeps
the DMs and views it was given (updated in place as Slack would), and fails on demand.

    fake = FakeSlackApi(); await fake.start()   # fake.url is the SLACK_API_URL
    fake.fail("chat.postMessage", status=429, retry_after=7)
    fake.fail("chat.postMessage", error="user_not_found")
    fake.fail("chat.postMessage", status=500)
    fake.fail("chat.postMessage", delay=1.0)      # answers late; the call still takes effect
    await fake.push(envelope)                      # Socket Mode: over the socket apps.connections.open gave
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-test-token"
TEAM = "T0TEST001"
BOT_USER = "U0BOT0001"


@dataclass
class Call:
    method: str
    body: dict[str, Any]
    status: int = 200  # what the fake answered


@dataclass
class Failure:
    status: int = 200
    error: str | None = None
    retry_after: int | None = None
    delay: float = 0.0


@dataclass
class FakeSlackApi:
    calls: list[Call] = field(default_factory=list)
    messages: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (channel, ts) → message
    ephemerals: list[dict[str, Any]] = field(default_factory=list)
    views: dict[str, dict[str, Any]] = field(default_factory=dict)  # view id → view (modals)
    homes: dict[str, dict[str, Any]] = field(default_factory=dict)  # user id → App Home view
    triggers_used: list[str] = field(default_factory=list)
    now: Callable[[], float] | None = None  # the clock message timestamps follow (default: a fixed time)

    def __post_init__(self) -> None:
        self._failures: dict[str, deque[Failure]] = defaultdict(deque)
        self._last_ts = 0
        self._ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._sockets: list[web.WebSocketResponse] = []
        self.socket_acks: list[dict[str, Any]] = []  # what the app answered over Socket Mode
        self.url = self.socket_url = ""

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._handle)
        app.router.add_get("/link/", self._socket)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/api/"
        self.socket_url = f"ws://127.0.0.1:{port}/link/?ticket=test"
        return self.url

    async def stop(self) -> None:
        for ws in self._sockets:
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # ------------------------------------------------------------ Socket Mode

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        """The WebSocket apps.connections.open points to: says hello, then carries envelopes and acks."""
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_json({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0PANELBOT"}})
        async for msg in ws:
            if msg.type.name == "TEXT":
                async with self._changed:
                    self.socket_acks.append(json.loads(msg.data))
                    self._changed.notify_all()
        return ws

    async def wait_connected(self, timeout: float = 5.0) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: bool(self._sockets)), timeout)

    async def push(self, envelope: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
        """Deliver an envelope over the open socket; returns the app's acknowledgement of it."""
        await self._sockets[-1].send_json(envelope)

        def acked() -> dict[str, Any] | None:
            return next((a for a in self.socket_acks if a.get("envelope_id") == envelope["envelope_id"]), None)

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: acked() is not None), timeout)
        found = acked()
        assert found is not None
        return found

    # ------------------------------------------------------------ programming and reading

    def fail(
        self,
        method: str,
        *,
        status: int = 200,
        error: str | None = None,
        retry_after: int | None = None,
        delay: float = 0.0,
        times: int = 1,
    ) -> None:
        for _ in range(times):
            self._failures[method].append(Failure(status, error, retry_after, delay))

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def ok_calls(self, method: str) -> list[Call]:
        return [c for c in self.calls_to(method) if c.status == 200]

    async def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Call]:
        """Wait until `method` has been called `count` times (listeners run on after ack())."""

        def enough() -> bool:
            return len(self.calls_to(method)) >= count

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(enough), timeout)
        return self.calls_to(method)

    @staticmethod
    def dm_channel(user: str) -> str:
        return "D" + user[1:]

    def dms(self, user: str) -> list[dict[str, Any]]:
        """The bot's messages in its DM with `user`, oldest first, as they stand now."""
        channel = self.dm_channel(user)
        return [m for (c, _), m in sorted(self.messages.items(), key=lambda kv: float(kv[0][1])) if c == channel]

    def last_dm(self, user: str, kind_title: str = "") -> dict[str, Any]:
        found = [m for m in self.dms(user) if kind_title in m.get("text", "")]
        assert found, f"no DM to {user} with {kind_title!r}; have: {[m.get('text') for m in self.dms(user)]}"
        return found[-1]

    def last_view(self) -> dict[str, Any]:
        return self.calls_to("views.open")[-1].body["_view"]

    # ------------------------------------------------------------ the API

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        body = await self._body(request)
        failure = self._failures[method].popleft() if self._failures[method] else None
        if failure is not None and failure.delay:
            await asyncio.sleep(failure.delay)  # the caller gives up; the call still takes effect
            failure = None if failure.status == 200 and failure.error is None else failure
        token = APP_TOKEN if method == "apps.connections.open" else TOKEN
        if request.headers.get("Authorization") != f"Bearer {token}":
            return await self._answer(method, body, 200, {"ok": False, "error": "invalid_auth"})
        if failure is not None:
            headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
            payload = {"ok": False, "error": failure.error or ("ratelimited" if failure.status == 429 else "")}
            if failure.status >= 500:
                return await self._answer(method, body, failure.status, "upstream error", text=True)
            return await self._answer(method, body, failure.status, payload, headers)
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return await self._answer(method, body, 200, {"ok": False, "error": "unknown_method"})
        return await self._answer(method, body, 200, handler(body))

    @staticmethod
    async def _body(request: web.Request) -> dict[str, Any]:
        data: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            data.update(await request.json())
        elif request.can_read_body:
            data.update(dict(await request.post()))
        for key in ("blocks", "view", "metadata"):
            if isinstance(data.get(key), str):
                data[key] = json.loads(data[key])
        return data

    async def _answer(
        self,
        method: str,
        body: dict[str, Any],
        status: int,
        payload: Any,
        headers: dict[str, str] | None = None,
        text: bool = False,
    ) -> web.Response:
        async with self._changed:
            self.calls.append(Call(method, body, status))
            self._changed.notify_all()
        if text:
            return web.Response(status=status, text=str(payload), headers=headers)
        return web.json_response(payload, status=status, headers=headers)

    def _ts_next(self) -> str:
        """Slack's message timestamps: seconds from `now` (the test's clock, when given), made unique."""
        seconds = int(self.now()) if self.now is not None else 1766311200
        self._last_ts = max(self._last_ts + 1, seconds * 1_000_000)
        return f"{self._last_ts // 1_000_000}.{self._last_ts % 1_000_000:06d}"

    def _auth_test(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": "https://test.slack.com/", "team": "Test", "user": "panelbot",
                "team_id": TEAM, "user_id": BOT_USER, "bot_id": "B0BOT0001"}  # fmt: skip

    def _apps_connections_open(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": self.socket_url}

    def _chat_postMessage(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = str(body["channel"])
        if channel[0] in "UW":
            channel = self.dm_channel(channel)
        ts = self._ts_next()
        message = {k: body.get(k) for k in ("text", "blocks", "metadata")} | {"channel": channel, "ts": ts}
        self.messages[(channel, ts)] = message
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _chat_update(self, body: dict[str, Any]) -> dict[str, Any]:
        key = (str(body["channel"]), str(body["ts"]))
        if key not in self.messages:
            return {"ok": False, "error": "message_not_found"}
        self.messages[key].update({k: body.get(k) for k in ("text", "blocks")})
        return {"ok": True, "channel": key[0], "ts": key[1], "text": body.get("text")}

    def _chat_postEphemeral(self, body: dict[str, Any]) -> dict[str, Any]:
        self.ephemerals.append(body)
        return {"ok": True, "message_ts": self._ts_next()}

    def _conversations_open(self, body: dict[str, Any]) -> dict[str, Any]:
        users = str(body.get("users", ""))
        return {"ok": True, "channel": {"id": self.dm_channel(users.split(",")[0])}}

    def _conversations_history(self, body: dict[str, Any]) -> dict[str, Any]:
        """Newest first, after `oldest` (exclusive) when given, in pages of `limit` with a cursor."""
        channel = str(body["channel"])
        oldest = float(body.get("oldest") or 0)
        found = [m for (c, _), m in self.messages.items() if c == channel and float(m["ts"]) > oldest]
        found.sort(key=lambda m: float(m["ts"]), reverse=True)
        keep_meta = str(body.get("include_all_metadata", "")).lower() in ("1", "true")
        out = [{k: v for k, v in m.items() if k != "metadata" or keep_meta} for m in found]
        start, limit = int(body.get("cursor") or 0), min(int(body.get("limit", 100)), 999)
        page, more = out[start : start + limit], start + limit < len(out)
        cursor = str(start + limit) if more else ""
        return {"ok": True, "messages": page, "has_more": more, "response_metadata": {"next_cursor": cursor}}

    def post_filler(self, user: str, count: int) -> None:
        """Messages in a DM that are not panelbot's (the person chatting), to push a message down the history."""
        channel = self.dm_channel(user)
        for _ in range(count):
            ts = self._ts_next()
            self.messages[(channel, ts)] = {"type": "message", "ts": ts, "channel": channel, "text": "filler"}

    def _users_info(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "user": {"id": body.get("user"), "team_id": TEAM, "deleted": False}}

    def _views_open(self, body: dict[str, Any]) -> dict[str, Any]:
        trigger = str(body.get("trigger_id", ""))
        if not trigger or trigger in self.triggers_used:
            return {"ok": False, "error": "expired_trigger_id"}
        self.triggers_used.append(trigger)
        view = self._store_view(body["view"], f"V{next(self._ids):08d}")
        body["_view"] = view
        return {"ok": True, "view": view}

    def _views_update(self, body: dict[str, Any]) -> dict[str, Any]:
        current = self.views.get(str(body.get("view_id")))
        if current is None:
            return {"ok": False, "error": "not_found"}
        if body.get("hash") and body["hash"] != current["hash"]:
            return {"ok": False, "error": "hash_conflict"}
        view = self._store_view(body["view"], current["id"])
        body["_view"] = view
        return {"ok": True, "view": view}

    def _views_publish(self, body: dict[str, Any]) -> dict[str, Any]:
        view = dict(body["view"]) | {"id": f"V{next(self._ids):08d}"}
        self.homes[str(body["user_id"])] = view
        return {"ok": True, "view": view}

    def _store_view(self, view: dict[str, Any], view_id: str) -> dict[str, Any]:
        stored = dict(view) | {"id": view_id, "hash": f"{view_id}.{next(self._ids)}", "team_id": TEAM}
        stored.setdefault("private_metadata", "")
        stored.setdefault("callback_id", "")
        self.views[view_id] = stored
        return stored
