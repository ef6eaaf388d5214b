"""How long a vote takes in the case store: the database work a Slack or Teams click waits on.

Run by hand:  python bench/bench_votes.py [--cases 200] [--pg postgresql+psycopg://postgres@127.0.0.1:5432/test]
Prints per-operation latency (median, p95) for registering a referral and casting a vote, on SQLite
and, when --pg is given, PostgreSQL (in a throwaway schema).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

from bot.clock import ManualClock
from bot.config import load_config
from bot.flows.commands import CastVote, RegisterReferral
from bot.flows.screening import panel as screening
from bot.service import Service
from storage.migrate import upgrade

ROOT = Path(__file__).resolve().parent.parent
VOTERS = [("la-dsp", "rapid_review"), ("police-dsp", "audit_assurance"), ("health-dsp", "rapid_review")]


async def run(url: str, cases: int) -> dict[str, list[float]]:
    service = Service.create(
        load_config(ROOT / "app.yaml"), ManualClock(dt.datetime(2026, 12, 21, 10, tzinfo=dt.UTC)), url
    )
    await upgrade(service.engine)
    timings: dict[str, list[float]] = {"referral": [], "vote": []}
    try:
        for _ in range(cases):
            start = time.perf_counter()
            case = await service.run(
                screening.register_referral,
                RegisterReferral(
                    by="bm", referrer={"name": "Bench"}, panel_summary="A benchmark referral with enough words."
                ),
            )
            timings["referral"].append(time.perf_counter() - start)
            for voter, pathway in VOTERS:
                extra = {"abuse_nature": "Suspected abuse.", "harm_basis": "Serious harm."}
                cmd = CastVote(
                    by=voter,
                    ref=case.ref,
                    pathway=pathway,
                    notifiable=True,
                    rationale="A benchmark rationale long enough.",
                    **extra,
                )
                start = time.perf_counter()
                await service.run(screening.cast_vote, cmd)
                timings["vote"].append(time.perf_counter() - start)
    finally:
        await service.close()
    return timings


def report(backend: str, timings: dict[str, list[float]]) -> None:
    for name, values in timings.items():
        ms = sorted(v * 1000 for v in values)
        p95 = ms[int(len(ms) * 0.95) - 1]
        print(f"{backend:10} {name:9} n={len(ms):5}  median {statistics.median(ms):6.1f} ms  p95 {p95:6.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--pg", help="PostgreSQL URL (postgresql+psycopg://…) to benchmark as well")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report("sqlite", asyncio.run(run(f"sqlite+aiosqlite:///{tmp}/bench.db", args.cases)))
    if args.pg:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(args.pg, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        try:
            report("postgresql", asyncio.run(run(f"{args.pg}?options=-csearch_path%3D{schema}", args.cases)))
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))


if __name__ == "__main__":
    main()
