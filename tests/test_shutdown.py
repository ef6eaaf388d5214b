"""SIGTERM to a real `panelbot serve` in the middle of a slow Slack send: it stops taking requests, lets
the send in flight finish, hands back its other leases and exits within 10 s; after a restart every
message is delivered exactly once. On the way, /livez, /readyz and /metrics answer on the real server
and its JSON logs carry no secret."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import sys
import time
from collections import Counter
from pathlib import Path

import aiohttp
import pytest
import yaml

from bot.clock import SystemClock
from bot.service import Service
from storage.migrate import upgrade
from tests.fakes.slack_api import TOKEN, FakeSlackApi
from tests.fakes.slack_steps import slack_roster_config
from tests.fakes.slack_workspace import SIGNING_SECRET
from tests.helpers import refer

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
METRICS_TOKEN = "shutdown-test-metrics-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def outbox_states(db: Path) -> Counter[str]:
    with sqlite3.connect(db) as conn:
        return Counter(dict(conn.execute("SELECT state, count(*) FROM outbox WHERE channel='slack' GROUP BY state")))


class Serve:
    """`panelbot serve` as a subprocess, JSON logs to a file."""

    def __init__(self, tmp: Path, fake: FakeSlackApi) -> None:
        self.port, self.log = free_port(), tmp / "serve.log"
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "PANELBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'panelbot.db'}",
            "PANELBOT_CONFIG": str(tmp / "app.yaml"),
            "PANELBOT_LOG_FORMAT": "json",
            "PANELBOT_METRICS_TOKEN": METRICS_TOKEN,
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": fake.url,
        }
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("a") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot.cli", "serve", "--port", str(self.port), env=self.env, stderr=log
            )
        async with aiohttp.ClientSession() as http:
            for _ in range(200):
                try:
                    async with http.get(f"{self.url}/livez") as answer:
                        if answer.status == 200:
                            return
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
        raise AssertionError(f"serve did not start: {self.log.read_text()}")

    async def terminate(self) -> float:
        assert self.proc is not None
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.proc.wait(), 15)
        assert code == 0, self.log.read_text()[-3000:]
        return time.monotonic() - started


async def wait_until(check, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize(
    "slow",
    [
        pytest.param(2.5, id="the-send-in-flight-finishes"),
        pytest.param(8.0, id="a-send-too-slow-is-cut-short-and-looked-for-after-restart"),
    ],
)
async def test_sigterm_mid_delivery_then_restart_sends_everything_once(tmp_path: Path, slow: float) -> None:
    cfg, data = slack_roster_config()
    (tmp_path / "app.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    db = tmp_path / "panelbot.db"
    service = Service.create(cfg, SystemClock(), f"sqlite+aiosqlite:///{db}")
    await upgrade(service.engine)
    for _ in range(2):
        await refer(service)
    await service.close()
    slack_rows = sum(outbox_states(db).values())
    assert slack_rows >= 4

    fake = FakeSlackApi(now=time.time)  # serve runs on the system clock: Slack timestamps follow it
    await fake.start()
    fake.fail("chat.postMessage", delay=slow)  # the first message: slow, but it lands
    serve = Serve(tmp_path, fake)
    try:
        await serve.start()
        await wait_until(lambda: outbox_states(db)["sending"] >= 1)
        async with aiohttp.ClientSession() as http:
            auth = {"Authorization": f"Bearer {METRICS_TOKEN}"}
            async with http.get(f"{serve.url}/metrics", headers=auth) as answer:
                assert answer.status == 200
                assert 'panelbot_outbox_messages{channel="slack",state="sending"}' in await answer.text()
            async with http.get(f"{serve.url}/readyz") as answer:
                body = await answer.json()
                assert body["database"] == "ok" and body["schema"]["up_to_date"], body
            await asyncio.sleep(0.3)  # the slow send is in flight now
            elapsed_task = asyncio.create_task(serve.terminate())
            await asyncio.sleep(0.5)
            with pytest.raises(aiohttp.ClientConnectionError):
                await http.get(f"{serve.url}/livez")  # no longer taking requests
            elapsed = await elapsed_task
        assert elapsed < 10
        states = outbox_states(db)
        assert states["sending"] == 0, states  # no lease left behind
        # The Slack lane sends other people's messages beside the slow one (delivery lanes, README "Fast
        # under a burst"); the slow one finishes when it can, else it is cut short and handed back.
        assert states["sent"] + states["pending"] == slack_rows, states
        if slow >= 5:
            assert states["pending"] >= 1, states

        restarted = Serve(tmp_path, fake)
        await restarted.start()
        await wait_until(lambda: outbox_states(db)["sent"] == slack_rows, timeout=30)
        await restarted.terminate()
    finally:
        for s in (serve, restarted if "restarted" in locals() else None):
            if s is not None and s.proc is not None and s.proc.returncode is None:
                s.proc.kill()
                await s.proc.wait()
        await fake.stop()

    keys = Counter((m.get("metadata") or {}).get("event_payload", {}).get("key") for m in fake.messages.values())
    assert len(keys) == slack_rows and set(keys.values()) == {1}, keys  # each message once, none twice

    log_lines = [json.loads(line) for line in serve.log.read_text().splitlines() if line.startswith("{")]
    events = {entry["event"] for entry in log_lines}
    assert {"shutdown.start", "shutdown.done", "outbox.send"} <= events, events
    text = serve.log.read_text()
    for secret in (TOKEN, SIGNING_SECRET, METRICS_TOKEN):
        assert secret not in text
