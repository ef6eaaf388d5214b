"""The Slack sender under the delivery loop: rate limits, server errors, timeouts and gone users,
each ending with the outbox row where it should be and no message sent twice."""

from __future__ import annotations

import datetime as dt

from bot.handlers.slack.sender import SlackSender
from bot.runtime import build_senders
from bot.settings import Settings
from storage.models import OutboxMessage
from tests.fakes.slack_api import FakeSlackApi
from tests.fakes.slack_steps import LA, POLICE, RATIONALE, Steps

pytest_plugins = ("tests.fakes.slack_fixtures",)


async def la_request_row(steps: Steps) -> OutboxMessage:
    [row] = [r for r in await steps.outbox(kind="vote_request") if r.person_id == "la-dsp"]
    return row


def la_requests(api: FakeSlackApi) -> list[dict]:
    return [m for m in api.dms(LA) if "needs" in m["text"]]


async def test_429_waits_for_retry_after_and_sends_once(steps: Steps) -> None:
    api = steps.api
    api.fail("chat.postMessage", status=429, retry_after=7)  # the first DM: the LA member's vote request
    await steps.register()
    row = await la_request_row(steps)
    assert (row.state, row.attempts) == ("pending", 1)
    assert "rate limited" in row.last_error
    assert row.next_attempt_at == steps.service.clock.now() + dt.timedelta(seconds=7)
    assert la_requests(api) == []

    steps.service.clock.advance(dt.timedelta(seconds=6))
    await steps.drain()
    assert (await la_request_row(steps)).attempts == 1  # not before Retry-After
    steps.service.clock.advance(dt.timedelta(seconds=1))
    await steps.drain()
    row = await la_request_row(steps)
    assert (row.state, row.attempts) == ("sent", 2)
    assert len(la_requests(api)) == 1
    to_la = [c for c in api.calls_to("chat.postMessage") if c.body["channel"] == LA]
    assert [c.status for c in to_la] == [429, 200]  # slack_sdk did not retry on its own


async def test_500_retries_with_backoff_and_sends_once(steps: Steps) -> None:
    api = steps.api
    api.fail("chat.postMessage", status=500)
    await steps.register()
    row = await la_request_row(steps)
    assert (row.state, row.attempts) == ("pending", 1)
    assert "HTTP 500" in row.last_error
    assert row.next_attempt_at == steps.service.clock.now() + dt.timedelta(seconds=5)

    steps.service.clock.advance(dt.timedelta(seconds=5))
    await steps.drain()
    row = await la_request_row(steps)
    assert (row.state, row.attempts) == ("sent", 2)
    assert len(la_requests(api)) == 1
    # Before posting again, the sender looked for the first attempt in the DM's history.
    assert [c.body["channel"] for c in api.calls_to("conversations.history")] == [api.dm_channel(LA)]


async def test_timeout_that_reached_slack_is_not_posted_twice(steps: Steps) -> None:
    api = steps.api
    api.fail("chat.postMessage", delay=1.0)  # longer than the sender waits; Slack posts it anyway
    await steps.register()
    row = await la_request_row(steps)
    assert (row.state, row.attempts) == ("pending", 1)
    assert "Timeout" in row.last_error
    await api.wait_for("chat.postMessage", len(api.calls_to("chat.postMessage")) + 1)  # the late post lands
    [late] = la_requests(api)

    steps.service.clock.advance(dt.timedelta(seconds=5))
    await steps.drain()
    row = await la_request_row(steps)
    assert (row.state, row.attempts) == ("sent", 2)
    assert row.external_ref == {"channel": late["channel"], "ts": late["ts"]}
    assert la_requests(api) == [late]  # found, not posted again
    assert len([c for c in api.calls_to("chat.postMessage") if c.body["channel"] == LA]) == 1

    # And the vote the LA member then casts updates that very message.
    await steps.vote(LA, row.payload["ref"], "No further action", notifiable="no")
    await steps.drain()
    assert "vote is recorded" in api.messages[(late["channel"], late["ts"])]["text"]


async def test_user_not_found_fails_the_row_and_tells_the_business_manager_elsewhere(steps: Steps) -> None:
    api = steps.api
    api.fail("chat.postMessage", error="user_not_found")
    await steps.register()
    row = await la_request_row(steps)
    assert (row.state, row.attempts, row.last_error) == ("failed", 1, "user_not_found")
    [told] = await steps.outbox(kind="delivery_failed")
    assert (told.person_id, told.channel, told.address) == ("bm", "email", "jo.baker@example.org")
    assert told.payload["ref"] == row.payload["ref"]

    # Never tried again.
    steps.service.clock.advance(dt.timedelta(hours=2))
    await steps.drain()
    assert [c.body["channel"] for c in api.calls_to("chat.postMessage")].count(LA) == 1
    assert (await la_request_row(steps)).state == "failed"


async def test_update_of_a_deleted_message_posts_it_anew(steps: Steps) -> None:
    api = steps.api
    ref = await steps.register()
    request = steps.vote_request(POLICE, ref)
    del api.messages[(request["channel"], request["ts"])]  # someone deleted the DM
    await steps.vote(POLICE, ref, "No further action", message=request)
    await steps.drain()
    [update] = api.calls_to("chat.update")
    assert update.body["ts"] == request["ts"]
    assert "vote is recorded" in api.dms(POLICE)[-1]["text"]
    [row] = [r for r in await steps.outbox(kind="vote_recorded") if r.person_id == "police-dsp"]
    assert row.state == "sent" and row.external_ref["ts"] != request["ts"]


async def test_a_delivered_message_republishes_the_recipients_home(steps: Steps) -> None:
    ref = await steps.register()
    home = steps.api.homes[POLICE]
    assert "Waiting for your vote" in str(home) and ref in str(home)
    await steps.vote(POLICE, ref, "No further action", notifiable="no", rationale=RATIONALE)
    await steps.drain()
    assert ref not in str(steps.api.homes[POLICE])


def test_build_senders_adds_slack_when_a_bot_token_is_set(slack_service) -> None:
    assert "slack" not in build_senders(Settings(slack_bot_token=None), slack_service)
    senders = build_senders(Settings(slack_bot_token="xoxb-x", slack_api_url="http://127.0.0.1:1/api"), slack_service)
    sender = senders["slack"]
    assert isinstance(sender, SlackSender)
    assert sender.client.retry_handlers == []  # the outbox retries; slack_sdk must not
    assert sender.client.base_url == "http://127.0.0.1:1/api/"


async def test_other_permanent_errors_fail_their_rows_at_once(steps: Steps) -> None:
    errors = ["account_inactive", "channel_not_found", "invalid_auth"]
    for error in errors:  # the first three DMs: the LA, police and health vote requests
        steps.api.fail("chat.postMessage", error=error)
    await steps.register()
    rows = {r.person_id: r for r in await steps.outbox(kind="vote_request", channel="slack")}
    got = [(rows[p].state, rows[p].attempts, rows[p].last_error) for p in ("la-dsp", "police-dsp", "health-dsp")]
    assert got == [("failed", 1, e) for e in errors]
    assert len(await steps.outbox(kind="delivery_failed", channel="email")) == 3


async def test_a_post_whose_process_died_before_recording_it_is_not_posted_again(steps: Steps) -> None:
    api = steps.api
    await steps.register()
    row = await la_request_row(steps)
    [posted] = la_requests(api)

    async def as_left_by_a_crash(uow) -> None:  # posted, but the outbox never heard: still leased
        leased = await uow.session.get(OutboxMessage, row.id)
        leased.state, leased.sent_at, leased.external_ref = "sending", None, None
        leased.next_attempt_at = steps.service.clock.now() + dt.timedelta(minutes=2)

    await steps.service.read(as_left_by_a_crash)
    steps.service.clock.advance(dt.timedelta(minutes=2))  # the lease runs out; another worker takes it
    await steps.drain()
    row = await la_request_row(steps)
    assert (row.state, row.attempts) == ("sent", 2)
    assert row.external_ref == {"channel": posted["channel"], "ts": posted["ts"]}
    assert la_requests(api) == [posted]


async def test_lookup_pages_through_a_busy_dm_from_when_the_row_was_queued(steps: Steps) -> None:
    """The post timed out but landed; then the person chatted, 450 messages, before the retry. The
    look-up reads from just before the row was queued (`oldest`), page by page, and finds it."""
    api = steps.api
    api.post_filler(LA, 30)  # older chatter: outside the look-up's window once the clock has moved on
    steps.service.clock.advance(dt.timedelta(hours=1))
    api.fail("chat.postMessage", delay=1.0)
    await steps.register()
    await api.wait_for("chat.postMessage", len(api.calls_to("chat.postMessage")) + 1)
    [late] = la_requests(api)
    api.post_filler(LA, 450)
    steps.service.clock.advance(dt.timedelta(seconds=5))
    await steps.drain()
    row = await la_request_row(steps)
    assert (row.state, row.attempts) == ("sent", 2)
    assert la_requests(api) == [late]  # found, not posted again
    lookups = [c.body for c in api.calls_to("conversations.history") if c.body["channel"] == api.dm_channel(LA)]
    assert len(lookups) >= 3 and "cursor" in lookups[-1]
    queued = row.created_at.timestamp()
    assert all(queued - 600 < float(b["oldest"]) < queued for b in lookups)


async def test_lookup_without_oldest_would_miss_it(steps: Steps) -> None:
    """The control: the newest 50 alone (the old look-up) do not reach the message under 450 newer ones."""
    api = steps.api
    api.fail("chat.postMessage", delay=1.0)
    await steps.register()
    await api.wait_for("chat.postMessage", len(api.calls_to("chat.postMessage")) + 1)
    api.post_filler(LA, 450)
    newest = api._conversations_history({"channel": api.dm_channel(LA), "limit": 50, "include_all_metadata": "1"})
    assert not [m for m in newest["messages"] if m.get("metadata")]
