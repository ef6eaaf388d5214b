"""/livez, /readyz and /metrics through the real aiohttp server: what a load balancer and Prometheus see."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestClient, TestServer

from bot.clock import ManualClock
from bot.config import AppConfig
from bot.flows.common import Refused
from bot.metrics import Metrics
from bot.ops import Ops, metrics_app
from bot.server import build_web_app
from bot.service import Service
from bot.settings import Settings
from bot.worker.outbox import Delivery, RecordingSender
from bot.worker.ticker import Ticker
from tests.helpers import refer, vote

TOKEN = "metrics-test-token-9f2c"
CHANNELS = ("slack", "teams", "email", "calendar")


def workers(service: Service, channels: tuple[str, ...] = CHANNELS) -> Ops:
    metrics = Metrics()
    delivery = Delivery(service, metrics.timed({c: RecordingSender() for c in channels}))
    return Ops(metrics=metrics, ticker=Ticker(service, delivery), delivery=delivery)


async def serve(service: Service, ops: Ops, **settings: object) -> TestClient:
    client = TestClient(TestServer(build_web_app(service, Settings(**settings), ops)))
    await client.start_server()
    return client


@pytest.fixture
async def ops(service: Service) -> Ops:
    return workers(service)


@pytest.fixture
async def client(service: Service, ops: Ops) -> AsyncIterator[TestClient]:
    client = await serve(service, ops, panelbot_metrics_token=TOKEN)
    yield client
    await client.close()


async def ready(client: TestClient) -> tuple[int, dict]:
    answer = await client.get("/readyz")
    return answer.status, await answer.json()


async def test_livez_answers_without_the_database(cfg: AppConfig, clock: ManualClock) -> None:
    broken = Service.create(cfg, clock, "postgresql+psycopg://nobody@127.0.0.1:1/nothing")  # nothing listens
    client = await serve(broken, Ops())
    try:
        live = await client.get("/livez")
        assert live.status == 200
        status, body = await ready(client)
        assert status == 503
        assert "database: unreachable" in body["problems"]
    finally:
        await client.close()
        await broken.close()


async def test_ready_once_the_ticker_and_delivery_have_run(client: TestClient, ops: Ops) -> None:
    status, body = await ready(client)
    assert status == 503
    assert body["problems"] == ["ticker: not running", "delivery: not running"]
    await ops.ticker.tick()
    status, body = await ready(client)
    assert (status, body["status"], body["problems"]) == (200, "ready", [])
    assert body["schema"]["up_to_date"] is True


async def test_a_stalled_ticker_is_not_ready(client: TestClient, ops: Ops) -> None:
    await ops.ticker.tick()
    ops.ticker.last_tick_at = ops.delivery.last_run_at = time.monotonic() - 120
    status, body = await ready(client)
    assert status == 503
    assert any(p.startswith("ticker: no heartbeat for 12") for p in body["problems"]), body
    assert any(p.startswith("delivery: no heartbeat") for p in body["problems"]), body


async def test_schema_behind_is_not_ready(cfg: AppConfig, clock: ManualClock, tmp_path: Path) -> None:
    empty = Service.create(cfg, clock, f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    ops = workers(empty, channels=())
    client = await serve(empty, ops)
    try:
        status, body = await ready(client)
        assert status == 503
        assert any("schema: at None" in p and "panelbot db upgrade" in p for p in body["problems"]), body
    finally:
        await client.close()
        await empty.close()


async def test_an_old_unsent_message_makes_it_unready(
    service: Service, client: TestClient, ops: Ops, clock: ManualClock
) -> None:
    await ops.ticker.tick()
    await refer(service)
    clock.advance(dt.timedelta(minutes=20))
    ops.ticker.last_tick_at = ops.delivery.last_run_at = time.monotonic()  # alive, just not delivering
    status, body = await ready(client)
    assert status == 503
    assert "outbox: oldest unsent message is 1200 s old (limit 900 s)" in body["problems"]
    await ops.ticker.tick()  # delivers them
    status, body = await ready(client)
    assert (status, body["outbox_oldest_unsent_seconds"]) == (200, 0)


async def test_messages_for_a_channel_this_process_does_not_deliver_do_not_count(
    service: Service, clock: ManualClock
) -> None:
    ops = workers(service, channels=("slack",))
    client = await serve(service, ops)
    try:
        await refer(service)
        await ops.ticker.tick()  # sends the Slack ones; e-mail and Teams wait for another replica
        clock.advance(dt.timedelta(hours=2))
        await ops.ticker.tick()
        status, body = await ready(client)
        assert (status, body["problems"]) == (200, [])
    finally:
        await client.close()


async def test_metrics_need_the_bearer_token(client: TestClient, service: Service, ops: Ops) -> None:
    assert (await client.get("/metrics")).status == 401
    assert (await client.get("/metrics", headers={"Authorization": "Bearer wrong"})).status == 401
    answer = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("text/plain")


async def test_metrics_are_not_served_without_a_token_or_port(service: Service, ops: Ops) -> None:
    client = await serve(service, ops)
    try:
        answer = await client.get("/metrics")
        assert answer.status == 404
    finally:
        await client.close()


def value(text: str, series: str) -> float:
    """The value of one series (name with its labels, as Prometheus prints them) in a scrape."""
    match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.M)
    assert match, f"{series} not in the scrape"
    return float(match.group(1))


async def scrape(client: TestClient) -> str:
    answer = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status == 200
    return await answer.text()


async def test_metrics_report_the_panel_the_outbox_and_the_reminders(
    client: TestClient, service: Service, ops: Ops, clock: ManualClock
) -> None:
    case = await refer(service)
    text = await scrape(client)
    assert value(text, 'panelbot_outbox_messages{channel="slack",state="pending"}') >= 1
    assert value(text, 'panelbot_outbox_oldest_pending_age_seconds{channel="slack"}') == 0
    assert value(text, "panelbot_refusals_total") == 0

    await vote(service, "la-dsp", case.ref, "audit_assurance")
    await vote(service, "police-dsp", case.ref, "audit_assurance")
    with pytest.raises(Refused):
        await vote(service, "la-lead", case.ref, "no_further_action")
    clock.advance(dt.timedelta(minutes=3))
    text = await scrape(client)
    assert value(text, 'panelbot_votes_total{agency="la"}') == 1
    assert value(text, 'panelbot_votes_total{agency="police"}') == 1
    assert value(text, 'panelbot_decisions_total{method="majority",pathway="audit_assurance"}') == 1
    assert value(text, "panelbot_refusals_total") == 1
    assert value(text, 'panelbot_outbox_oldest_pending_age_seconds{channel="email"}') == 180

    await ops.ticker.tick()
    clock.advance(dt.timedelta(days=60))  # the audit & assurance decision's week-6 deadline passes
    text = await scrape(client)
    assert value(text, 'panelbot_delivery_duration_seconds_count{channel="slack",outcome="sent"}') >= 1
    assert value(text, "panelbot_reminder_lag_seconds") > 0
    assert re.search(r'^panelbot_reminders_due\{kind="\w+"\} [1-9]', text, re.M)
    assert re.search(r'^panelbot_obligations_overdue\{kind="\w+"\} [1-9]', text, re.M)
    assert value(text, 'panelbot_http_request_duration_seconds_count{method="GET",route="/metrics",status="200"}') >= 2

    await ops.ticker.tick()
    text = await scrape(client)
    assert value(text, "panelbot_reminder_lag_seconds") == 0
    assert re.search(r'^panelbot_reminders_fired_total\{kind="\w+",outcome="\w+"\} [1-9]', text, re.M)


async def test_http_latency_is_by_route_not_by_url(client: TestClient) -> None:
    await client.get("/no/such/page/123")
    await client.get("/livez")
    text = await scrape(client)
    assert value(text, 'panelbot_http_request_duration_seconds_count{method="GET",route="unmatched",status="404"}') == 1
    assert value(text, 'panelbot_http_request_duration_seconds_count{method="GET",route="/livez",status="200"}') == 1
    assert "/no/such/page" not in text


async def test_the_request_id_is_echoed_or_made(client: TestClient) -> None:
    given = await client.get("/livez", headers={"X-Request-ID": "lb-1234"})
    assert given.headers["X-Request-ID"] == "lb-1234"
    made = await client.get("/livez", headers={"X-Request-ID": "bad id\twith spaces"})
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["X-Request-ID"])


async def test_the_metrics_port_serves_metrics_alone(service: Service, ops: Ops) -> None:
    server = TestServer(metrics_app(service, ops))
    await server.start_server()
    try:
        async with ClientSession() as http:
            answer = await http.get(server.make_url("/metrics"))
            assert answer.status == 200
            assert "panelbot_votes_total" in await answer.text() or "panelbot_votes" in await answer.text()
            assert (await http.get(server.make_url("/readyz"))).status == 404
    finally:
        await server.close()
