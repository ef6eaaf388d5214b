"""Delivery lanes: woken by the commit that wrote the rows, one per channel so a slow platform never
holds another, and a lease per row so no row is ever in two senders' hands."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from bot.clock import ManualClock
from bot.config import AppConfig
from bot.service import Service
from bot.worker.outbox import LEASE, Delivery, Outgoing, SendResult
from storage.migrate import upgrade
from storage.notify import listen
from tests.conftest import PG_URL
from tests.helpers import outbox, refer


@dataclass
class Platform:
    """A sender that records what it got, and can be held (a slow platform) until released."""

    sent: list[Outgoing] = field(default_factory=list)
    gate: asyncio.Event | None = None
    delay: float = 0.0

    async def send(self, item: Outgoing) -> SendResult:
        if self.gate is not None:
            await self.gate.wait()
        if self.delay:
            await asyncio.sleep(self.delay)
        self.sent.append(item)
        return SendResult.sent({"channel": "D1", "ts": item.key})


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


async def channels_of(service: Service) -> Counter[str]:
    return Counter(r.channel for r in await outbox(service))


async def test_a_commit_that_writes_outbox_rows_wakes_delivery_at_once(service: Service) -> None:
    platform = Platform()
    delivery = Delivery(service, dict.fromkeys(("slack", "teams", "email"), platform))
    delivery.start()  # no ticker, no drain: only the commit can wake the lanes before a minute passes
    try:
        await asyncio.sleep(0.05)  # the lanes have looked once and found nothing; now they sleep
        await refer(service)
        expected = sum((await channels_of(service)).values())
        await until(lambda: len(platform.sent) == expected)
    finally:
        await delivery.stop()
    assert {r.state for r in await outbox(service)} == {"sent"}


async def test_a_slow_platform_does_not_hold_another(service: Service) -> None:
    await refer(service)
    per_channel = await channels_of(service)
    assert per_channel["email"] and per_channel["teams"]
    stuck = Platform(gate=asyncio.Event())  # Teams is not answering
    mail = Platform()
    delivery = Delivery(service, {"teams": stuck, "email": mail})
    delivery.start()
    try:
        await until(lambda: len(mail.sent) == per_channel["email"])
        assert stuck.sent == []
        stuck.gate.set()
        await until(lambda: len(stuck.sent) == per_channel["teams"])
    finally:
        await delivery.stop()


async def test_one_persons_messages_leave_in_order_within_a_lane(service: Service) -> None:
    for _ in range(3):
        await refer(service)
    platform = Platform(delay=0.01)
    await Delivery(service, {"email": platform}, concurrency={"email": 4}).drain()
    by_address: dict[str, list[int]] = {}
    for item in platform.sent:
        by_address.setdefault(item.address, []).append(item.id)
    assert by_address and all(ids == sorted(ids) for ids in by_address.values())


async def test_two_workers_never_send_the_same_row(service: Service) -> None:
    for _ in range(4):
        await refer(service)
    first, second = Platform(delay=0.005), Platform(delay=0.005)
    one = Delivery(service, dict.fromkeys(("slack", "teams", "email"), first), worker="one")
    two = Delivery(service, dict.fromkeys(("slack", "teams", "email"), second), worker="two")
    await asyncio.gather(one.drain(), two.drain())
    keys = [i.key for i in first.sent + second.sent]
    assert len(keys) == len(set(keys)) == len(await outbox(service))
    assert first.sent and second.sent  # both took part
    assert {r.state for r in await outbox(service)} == {"sent"}


async def test_a_lease_taken_over_is_not_settled_by_its_first_holder(service: Service, clock: ManualClock) -> None:
    await refer(service)
    slow = Delivery(service, {"email": Platform()}, worker="slow")
    fast = Delivery(service, {"email": Platform()}, worker="fast")
    item = await slow.claim("email")
    assert item is not None
    assert await fast.claim("email", busy={a.address for a in [item]}) != item  # leased: not handed out again
    clock.advance(LEASE + dt.timedelta(seconds=1))  # the slow worker's lease ran out
    again = await fast.claim("email")
    assert again is not None and again.id == item.id and again.lease != item.lease
    await slow.settle(item, SendResult.failed("too late"))  # the first holder's outcome is ignored
    await fast.settle(again, SendResult.sent({"id": "m1"}))
    [row] = [r for r in await outbox(service) if r.id == item.id]
    assert (row.state, row.external_ref, row.attempts) == ("sent", {"id": "m1"}, 2)


async def test_a_rate_limit_pauses_only_its_own_lane(service: Service, clock: ManualClock) -> None:
    await refer(service)
    per_channel = await channels_of(service)

    @dataclass
    class Throttled(Platform):
        async def send(self, item: Outgoing) -> SendResult:
            self.sent.append(item)
            return SendResult.retry("ratelimited", after=20)

    throttled, mail = Throttled(), Platform()
    delivery = Delivery(service, {"teams": throttled, "email": mail}, concurrency={"teams": 1})
    await delivery.drain()
    assert per_channel["teams"] > 1 and len(throttled.sent) == 1  # the 429 paused the Teams lane
    assert len(mail.sent) == per_channel["email"]  # e-mail went on regardless
    clock.advance(dt.timedelta(seconds=10))
    await delivery.drain()
    assert len(throttled.sent) == 1
    clock.advance(dt.timedelta(seconds=11))
    await delivery.drain()
    assert len(throttled.sent) == 2


@pytest.mark.skipif(not PG_URL, reason="LISTEN/NOTIFY is PostgreSQL's: set PANELBOT_TEST_DATABASE_URL")
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_notify_wakes_another_replica(cfg: AppConfig, clock: ManualClock, db_url: str) -> None:
    writer, replica = Service.create(cfg, clock, db_url), Service.create(cfg, clock, db_url)
    await upgrade(writer.engine)
    platform = Platform()
    delivery = Delivery(replica, dict.fromkeys(("slack", "teams", "email"), platform), worker="replica")
    listening = asyncio.create_task(listen(replica.engine, replica.outbox_signal))
    delivery.start()
    try:
        await asyncio.sleep(0.3)  # LISTEN is in place, and the lanes have gone to sleep
        await refer(writer)  # committed by another process's service: only NOTIFY can wake the replica
        expected = len(await outbox(writer))
        await until(lambda: len(platform.sent) == expected)
    finally:
        listening.cancel()
        await delivery.stop()
        await writer.close()
        await replica.close()
