"""Slack's outbox sender: posts and updates DMs, and finds an earlier attempt before posting again."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.handlers.slack.blocks import OUTBOX_EVENT, fallback_text, render_message
from bot.worker.outbox import Outgoing, SendResult, retry_after_seconds
from bot.worker.progress import SendProgress

log = logging.getLogger("panelbot.slack")


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
HISTORY_PAGE, HISTORY_PAGES = 200, 25  # up to 5,000 messages in one DM since the row was queued
CLOCK_SKEW = dt.timedelta(minutes=5)  # our clock against Slack's: look a little further back
HOME_INTERVAL = 3.0  # seconds: a person's App Home is redrawn at most this often after messages


class SlackSender:
    """Delivers outbox rows to Slack DMs. Never retries by itself: the outbox does, so a retry that
    succeeded is recorded once and never repeated. A post whose outcome is unknown (timeout, 5xx)
    is looked up by its outbox key in the DM's history before it is posted again; so is any row on
    its second or later attempt, which covers a process that died after posting but before the
    outbox recorded it."""

    def __init__(
        self,
        client: AsyncWebClient,
        publish_home: HomePublisher | None = None,
        progress: SendProgress | None = None,
        home_interval: float = HOME_INTERVAL,
    ) -> None:
        self.client = client
        self.publish_home = publish_home
        self.progress = progress  # when the row was queued: the look-up reads the DM from just before
        self.home_interval = home_interval
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
        """Did an earlier attempt reach Slack after all? Look for its outbox key in the DM, page by
        page, from just before the row was queued (so a busy DM cannot push it out of sight)."""
        channel = self._dm.get(item.address)
        if channel is None:
            opened = await self.client.conversations_open(users=item.address)
            channel = self._dm[item.address] = opened["channel"]["id"]
        query: dict[str, Any] = {"channel": channel, "limit": HISTORY_PAGE, "include_all_metadata": True}
        oldest = await self._oldest(item)
        if oldest is not None:
            query["oldest"] = oldest
        for _ in range(HISTORY_PAGES):
            history = await self.client.conversations_history(**query)
            for msg in history.get("messages", []):
                meta = msg.get("metadata") or {}
                if meta.get("event_type") == OUTBOX_EVENT and (meta.get("event_payload") or {}).get("key") == item.key:
                    log.info("outbox row %s was delivered by an earlier attempt (ts %s)", item.id, msg.get("ts"))
                    return {"channel": channel, "ts": msg["ts"]}
            cursor = (history.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None
            query["cursor"] = cursor
        log.warning("outbox row %s: %s pages of DM history read without finding it", item.id, HISTORY_PAGES)
        return None

    async def _oldest(self, item: Outgoing) -> str | None:
        if self.progress is None:
            return None
        progress = await self.progress.load(item.id)
        if progress is None:
            return None
        return f"{(progress.queued_at - CLOCK_SKEW).timestamp():.6f}"

    def _api_error(self, item: Outgoing, exc: SlackApiError) -> SendResult:
        status, error = exc.response.status_code, _error(exc)
        if status == 429 or error == "ratelimited":
            return SendResult.retry(
                f"rate limited ({error or status})", after=retry_after_seconds(exc.response.headers.get("Retry-After"))
            )
        if status >= 500:
            self._uncertain.add(item.key)
            return SendResult.retry(f"Slack answered HTTP {status} ({error or 'no error code'})")
        if error in PERMANENT_ERRORS:
            return SendResult.failed(error)
        return SendResult.retry(error or f"HTTP {status}")

    def _refresh_home(self, item: Outgoing) -> None:
        """A delivered message means the person's to-do list changed: republish their App Home, in
        the background so the row is recorded as sent at once; at once for the first message, then at
        most once per `home_interval` seconds however many more arrive (the Business Manager gets many)."""
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
                await asyncio.sleep(self.home_interval)  # what arrives meanwhile makes one more redraw
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


def api_base_url(url: str | None) -> str:
    return (url or AsyncWebClient.BASE_URL).rstrip("/") + "/"


def sending_client(token: str, base_url: str | None, timeout: float = 15) -> AsyncWebClient:
    """A Web API client with no retry handlers: outbox rows are retried by the delivery loop only."""
    return AsyncWebClient(token=token, base_url=api_base_url(base_url), timeout=timeout, retry_handlers=[])  # type: ignore[arg-type]
