"""How fast the desk renders its two heaviest pages, through the real server app and HTTP.

Run by hand:  python bench/bench_web.py [--cases 1000] [--events 500] [--runs 15] [--pg postgresql+psycopg://…]
Seeds N open cases through the referral flow (each with its vote obligations, reminders and messages)
and one of them with E more audit events, signs in as the Business Manager (dev sign-in), then times
GET /cases/{ref} (goal < 150 ms with 500 audit events) and GET / (goal < 300 ms with 1,000 open cases),
on SQLite and, with --pg, PostgreSQL (in a throwaway schema). Prints the median and the worst run
beside each goal.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import re
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer

from bot.clock import ManualClock
from bot.config import load_config
from bot.flows.commands import RegisterReferral
from bot.flows.common import audit, load_case
from bot.flows.screening import panel
from bot.server import build_web_app
from bot.service import Service
from bot.settings import Settings
from storage.migrate import upgrade

ROOT = Path(__file__).resolve().parent.parent
NOW = dt.datetime(2027, 1, 11, 10, 0, tzinfo=dt.UTC)  # a Monday morning
GOALS_MS = {"case page": 150.0, "dashboard": 300.0}
SUMMARY = "A benchmark referral: a child admitted to hospital; the family known to two agencies."


async def seed(service: Service, cases: int, events: int) -> str:
    await upgrade(service.engine)
    cmd = RegisterReferral(by="bm", referrer={"name": "Bench Referrer"}, panel_summary=SUMMARY)
    ref = (await service.run(panel.register_referral, cmd)).ref
    for _ in range(cases - 1):
        await service.run(panel.register_referral, cmd)
    env = service.env

    async def write(uow: Any) -> None:
        case = await load_case(uow, ref)
        for i in range(events):
            audit(uow, env, "bm", "bench_event", case, n=i, note="an audit event with a few details to show")

    await service.transact(write)
    return ref


async def timed(client: TestClient, path: str, runs: int) -> list[float]:
    out = []
    for _ in range(runs + 1):  # the first run warms caches (templates, statements) and is dropped
        start = time.perf_counter()
        resp = await client.get(path)
        body = await resp.text()
        out.append((time.perf_counter() - start) * 1000)
        assert resp.status == 200, (path, resp.status, body[:300])
    return out[1:]


async def bench(url: str, cases: int, events: int, runs: int) -> dict[str, list[float]]:
    service = Service.create(load_config(ROOT / "app.yaml"), ManualClock(NOW), url)
    try:
        started = time.perf_counter()
        ref = await seed(service, cases, events)
        print(f"  seeded {cases} cases and {events} audit events in {time.perf_counter() - started:.1f} s")
        app = build_web_app(service, Settings(panelbot_web_dev_login=True))
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            page = await (await client.get("/sign-in")).text()
            token = re.search(r'name="csrf_token" value="([^"]+)"', page)
            assert token is not None
            resp = await client.post("/sign-in/dev", data={"csrf_token": token.group(1), "person": "bm", "next": "/"})
            assert resp.status == 200
            dashboard = await (await client.get("/")).text()
            assert f"{cases} open cases" in dashboard, "the dashboard does not count every open case"
            return {
                "case page": await timed(client, f"/cases/{ref}", runs),
                "dashboard": await timed(client, "/", runs),
            }
    finally:
        await service.close()


def report(backend: str, results: dict[str, list[float]]) -> None:
    for name, times in results.items():
        median, worst = statistics.median(times), max(times)
        verdict = "ok" if median < GOALS_MS[name] else "SLOWER THAN THE GOAL"
        goal = f"goal < {GOALS_MS[name]:.0f} ms"
        print(f"  {backend:<10} {name:<10} {goal:<14} median {median:6.1f} ms   worst {worst:6.1f} ms   {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--pg", help="PostgreSQL URL (postgresql+psycopg://…) to benchmark as well")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print("sqlite")
        report("sqlite", asyncio.run(bench(f"sqlite+aiosqlite:///{tmp}/bench.db", args.cases, args.events, args.runs)))
    if args.pg:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(args.pg, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        try:
            print("postgresql")
            url = f"{args.pg}?options=-csearch_path%3D{schema}"
            report("postgresql", asyncio.run(bench(url, args.cases, args.events, args.runs)))
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


if __name__ == "__main__":
    main()
