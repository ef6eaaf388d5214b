"""The delivery loop's promises: sent once, retried on transient errors, given up loudly, updates in order."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from bot.worker.outbox import Delivery, Outgoing, SendResult
from tests.helpers import outbox, refer, vote


@dataclass
class ScriptedSender:
    """Stands in for a chat platform: answers sends to scripted keys from their script, else succeeds."""

    script: dict[str, list[SendResult]] = field(default_factory=dict)
    calls: list[Outgoing] = field(default_factory=list)

    async def send(self, item: Outgoing) -> SendResult:
        self.calls.append(item)
        if self.script.get(item.key):
            return self.script[item.key].pop(0)
        return SendResult.sent({"channel": "D1", "ts": item.key})

    def sends_of(self, key: str) -> int:
        return [c.key for c in self.calls].count(key)


POLICE_REQUEST = "vote_request:1:police-dsp"


def everywhere(sender) -> dict:
    return dict.fromkeys(("slack", "teams", "email"), sender)


async def test_every_row_is_sent_once(service):
    await refer(service)
    sender = ScriptedSender()
    await Delivery(service, everywhere(sender)).drain()
    await Delivery(service, everywhere(sender)).drain()
    keys = [c.key for c in sender.calls]
    assert len(keys) == len(set(keys)) == 6  # four vote requests; panel convened to the BM and the LA notifier
    assert {r.state for r in await outbox(service)} == {"sent"}


async def test_a_rate_limit_waits_for_retry_after(service):
    await refer(service)
    sender = ScriptedSender({POLICE_REQUEST: [SendResult.retry("ratelimited", after=30)]})
    delivery = Delivery(service, everywhere(sender))
    await delivery.drain()
    first = POLICE_REQUEST
    row = next(r for r in await outbox(service) if r.key == first)
    assert (row.state, row.attempts, row.last_error) == ("pending", 1, "ratelimited")
    assert row.next_attempt_at == service.clock.now() + dt.timedelta(seconds=30)
    service.clock.advance(dt.timedelta(seconds=29))
    await delivery.drain()
    assert sender.sends_of(first) == 1
    service.clock.advance(dt.timedelta(seconds=1))
    await delivery.drain()
    assert sender.sends_of(first) == 2
    assert {r.state for r in await outbox(service)} == {"sent"}


async def test_a_permanent_failure_is_given_up_and_reported_on_another_channel(service):
    await refer(service)
    sender = ScriptedSender({POLICE_REQUEST: [SendResult.failed("user_not_found")]})
    await Delivery(service, everywhere(sender)).drain()
    failed = [r for r in await outbox(service) if r.state == "failed"]
    assert [(r.key, r.last_error, r.attempts) for r in failed] == [(POLICE_REQUEST, "user_not_found", 1)]
    [report] = await outbox(service, "delivery_failed")
    # the BM's own channel is Slack, the one that failed, so the report goes by e-mail
    assert (report.person_id, report.channel, report.state) == ("bm", "email", "sent")
    assert "police-dsp via slack" in str(report.payload)


async def test_transient_errors_back_off_then_give_up(service):
    await refer(service)
    sender = ScriptedSender({POLICE_REQUEST: [SendResult.retry("HTTP 500")] * 20})
    delivery = Delivery(service, everywhere(sender))
    await delivery.drain()
    row = next(r for r in await outbox(service) if r.key == POLICE_REQUEST)
    assert row.next_attempt_at - service.clock.now() == dt.timedelta(seconds=5)
    for _ in range(15):
        service.clock.advance(dt.timedelta(hours=2))
        await delivery.drain()
    row = next(r for r in await outbox(service) if r.key == POLICE_REQUEST)
    assert (row.state, row.attempts, sender.sends_of(POLICE_REQUEST)) == ("failed", 12, 12)


async def test_an_update_waits_for_its_original_and_targets_it(service):
    case = await refer(service)
    await vote(service, "police-dsp", case.ref, "audit_assurance")  # updates police-dsp's vote request in place
    sender = ScriptedSender({POLICE_REQUEST: [SendResult.retry("HTTP 503", after=60)]})
    delivery = Delivery(service, everywhere(sender))
    await delivery.drain()
    assert not [c for c in sender.calls if c.kind == "vote_recorded" and c.person_id == "police-dsp"]
    service.clock.advance(dt.timedelta(seconds=61))
    await delivery.drain()  # the original goes; the update, claimed alongside it, waits one more beat
    service.clock.advance(dt.timedelta(seconds=5))
    await delivery.drain()
    [update] = [c for c in sender.calls if c.kind == "vote_recorded" and c.person_id == "police-dsp"]
    assert update.replaces == {"channel": "D1", "ts": POLICE_REQUEST}
    assert sender.calls.index(update) > [c.key for c in sender.calls].index(POLICE_REQUEST, 1)


async def test_rows_for_a_channel_without_a_sender_wait(service):
    await refer(service)
    sender = ScriptedSender()
    await Delivery(service, {"slack": sender}).drain()
    waiting = [r for r in await outbox(service) if r.state == "pending"]
    assert {r.channel for r in waiting} == {"teams", "email"}
