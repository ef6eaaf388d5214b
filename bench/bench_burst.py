"""Fast under a burst (issue 13): `panelbot serve` against a bare Bolt app, on 127.0.0.1 only.

Run by hand:  python bench/bench_burst.py [--pg postgresql+psycopg://postgres@127.0.0.1:5432/test]
              [--submissions 1080] [--clicks 300] > bench/results/burst.txt

What it does, on SQLite and (with --pg) PostgreSQL in a throwaway schema:
- registers enough cases, then starts `panelbot serve` (Slack over HTTP, the fake Slack Web API of
  tests/fakes on 127.0.0.1 as its Slack) and `bench/bare_bolt.py` (the floor) on free local ports;
- serve-ready time (spawn to /healthz 200) and idle RSS;
- clicks (a vote button: ack, then views.open) at 1/10/50 clients against both: p50;
- vote submissions (signed view_submission payloads of the real vote modal) at 1/10/50 clients:
  p50, p99, how many were answered after 3 s or not with 200, against the bare app's p50/p99;
- a deciding vote to its decision DM reaching the fake Slack, at idle: p50;
- the Business Manager's Home at 1,000 open cases: queries and time (in-process);
- `panelbot --help` and `panelbot deadlines`: wall time, best of 5.
Reminders per second are measured by bench/bench_reminders.py. Every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import sqlalchemy as sa
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot import forms  # noqa: E402
from bot.clock import SystemClock  # noqa: E402
from bot.flows.commands import RegisterReferral  # noqa: E402
from bot.flows.screening import panel  # noqa: E402
from bot.handlers.slack.modals import FormContext, render_modal  # noqa: E402
from bot.service import Service  # noqa: E402
from bot.views import home_data  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from tests.fakes.slack_api import TOKEN, FakeSlackApi  # noqa: E402
from tests.fakes.slack_steps import BM, RATIONALE, SLACK_IDS, slack_roster_config  # noqa: E402
from tests.fakes.slack_workspace import SIGNING_SECRET, SlackWorkspace  # noqa: E402

VOTERS = [SLACK_IDS["la-dsp"], SLACK_IDS["police-dsp"], SLACK_IDS["health-dsp"]]
CLIENTS = (1, 10, 50)
SLACK_LIMIT = 3.0  # seconds: Slack shows an error past this
FORM = "application/x-www-form-urlencoded"
PHASE_LIMIT = 240.0  # seconds: any one load phase stops by itself after this


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(round(p / 100 * (len(ordered) - 1)), len(ordered) - 1)]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Report:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def row(self, what: str, goal: str, measured: str, floor: str = "", verdict: str = "") -> None:
        line = f"{what:<52} goal {goal:<16} measured {measured:<22} {floor:<26} {verdict}"
        print(line.rstrip(), flush=True)
        self.lines.append(line)

    def note(self, text: str) -> None:
        print(text, flush=True)
        self.lines.append(text)


def verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


# ---------------------------------------------------------------- setup


def pg_schema(url: str) -> tuple[str, Callable[[], None]]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}", drop


async def register_cases(url: str, cfg_path: Path, n: int) -> list[str]:
    cfg, _ = slack_roster_config(cfg_path)
    service = Service.create(cfg, SystemClock(), url)
    await upgrade(service.engine)
    refs = []
    try:
        for i in range(n):
            cmd = RegisterReferral(
                by="bm",
                referrer={"name": "Dr A Referrer", "email": "referrer@example.org"},
                panel_summary=f"Benchmark referral {i}: a child was seriously harmed; known to services.",
            )
            refs.append((await service.run(panel.register_referral, cmd)).ref)
        await mark_delivered_except(service, refs[-KEEP_UNSENT:])
    finally:
        await service.close()
    return refs


KEEP_UNSENT = 30  # cases whose vote requests serve delivers at start: the DMs the clicks are made on


async def mark_delivered_except(service: Service, keep: list[str]) -> None:
    """The other cases' messages are recorded as sent long ago, as in a store that has been running,
    so serve starts without thousands of messages to deliver (their in-place updates post anew)."""
    sql = (
        "UPDATE outbox SET state = 'sent', sent_at = created_at WHERE state = 'pending' "
        "AND (case_id IS NULL OR case_id NOT IN (SELECT id FROM cases WHERE ref IN :refs))"
    )
    stmt = sa.text(sql).bindparams(sa.bindparam("refs", expanding=True))
    await service.transact(lambda uow: uow.session.execute(stmt, {"refs": keep}))


async def wait_healthy(url: str, limit: float = 60.0) -> float:
    start = time.perf_counter()
    async with aiohttp.ClientSession() as http:
        while time.perf_counter() - start < limit:
            try:
                async with http.get(url) as resp:
                    if resp.status == 200:
                        return time.perf_counter() - start
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.02)
    raise RuntimeError(f"{url} not healthy within {limit} s")


async def wait_drained(url: str, limit: float = 600.0) -> float:
    """Until the server has delivered every Slack row (its only channel here): its start-up backlog, a
    burst's messages; the idle state the decision-DM figure is measured from. Returns the seconds waited."""
    engine = sa.create_engine(url.replace("+aiosqlite", ""))
    query = sa.text("SELECT count(*) FROM outbox WHERE channel = 'slack' AND state IN ('pending', 'sending')")
    start = time.perf_counter()
    try:
        while time.perf_counter() - start < limit:
            with engine.connect() as conn:
                if not conn.scalar(query):
                    return time.perf_counter() - start
            await asyncio.sleep(0.5)
    finally:
        engine.dispose()
    return time.perf_counter() - start


async def wait_quiet(api: FakeSlackApi, quiet: float = 2.0, limit: float = 180.0) -> None:
    """Until the server has stopped calling the fake Slack (its start-up backlog delivered)."""
    start, seen, since = time.perf_counter(), -1, time.perf_counter()
    while time.perf_counter() - start < limit:
        if len(api.calls) != seen:
            seen, since = len(api.calls), time.perf_counter()
        elif time.perf_counter() - since >= quiet:
            return
        await asyncio.sleep(0.1)


# ---------------------------------------------------------------- load


async def load(
    url: str, bodies: list[str], clients: int, headers: Callable[[str], dict[str, str]]
) -> tuple[list[float], int]:
    """Post `bodies` with `clients` concurrent clients; latencies and how many were not 200."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    latencies: list[float] = []
    bad = 0
    deadline = time.perf_counter() + PHASE_LIMIT

    async def client(http: aiohttp.ClientSession) -> None:
        nonlocal bad
        while not queue.empty() and time.perf_counter() < deadline:
            body = queue.get_nowait()
            start = time.perf_counter()
            try:
                async with http.post(url, data=body.encode(), headers=headers(body)) as resp:
                    await resp.read()
                    ok = resp.status == 200
            except (aiohttp.ClientError, TimeoutError):
                ok = False
            latencies.append(time.perf_counter() - start)
            bad += 0 if ok else 1

    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    return latencies, bad


def vote_view(api: FakeSlackApi, ref: str) -> dict[str, Any]:
    view = render_modal(forms.VOTE, FormContext(forms.VOTE.name, ref), {"pathway": "no_further_action"})
    return api._store_view(view, f"VB{uuid.uuid4().hex[:10]}")


def submission(ws: SlackWorkspace, user: str, ref: str) -> str:
    view = vote_view(ws.api, ref)
    values = {"pathway": "no_further_action", "notifiable": "no", "rationale": RATIONALE}
    return ws.form_body(ws.submit_payload(user, view, values))


def click_bodies(ws: SlackWorkspace, n: int) -> list[str]:
    requests = [m for m in ws.api.messages.values() if "needs" in (m.get("text") or "") and m.get("blocks")]
    users = {ws.api.dm_channel(u): u for u in VOTERS}
    usable = [m for m in requests if m["channel"] in users]
    if not usable:
        raise RuntimeError("no vote request DMs reached the fake Slack: serve did not deliver")
    out = []
    for i in range(n):
        message = usable[i % len(usable)]
        out.append(ws.form_body(ws.click_payload(users[message["channel"]], message, "No further action")))
    return out


async def decision_latency(ws: SlackWorkspace, events_url: str, refs: list[str]) -> list[float]:
    """Vote on each case one voter at a time; time from the deciding vote's request to its decision DM."""
    found: list[float] = []
    async with aiohttp.ClientSession() as http:
        for ref in refs:
            marker = f"{ref}: the screening panel has decided"
            for user in VOTERS:
                body = submission(ws, user, ref)
                sent = time.perf_counter()
                async with http.post(events_url, data=body.encode(), headers=ws.headers(body, FORM)) as resp:
                    await resp.read()
                arrived = None
                while time.perf_counter() - sent < 3.0:
                    if any(marker in (c.body.get("text") or "") for c in ws.api.calls_to("chat.postMessage")[-50:]):
                        arrived = time.perf_counter()
                        break
                    await asyncio.sleep(0.005)
                if arrived is not None:
                    found.append(arrived - sent)
                    break
            await asyncio.sleep(0.5)  # idle between cases
    return found


# ---------------------------------------------------------------- one backend


async def run_backend(name: str, url: str, args: argparse.Namespace, report: Report) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="panelbot-bench-"))
    _, data = slack_roster_config()
    cfg_path = tmp / "app.yaml"
    cfg_path.write_text(yaml.safe_dump(data), encoding="utf-8")
    per_level = {1: 60, 10: args.submissions_10, 50: args.submissions}
    decision_cases = 10
    cases_needed = sum(per_level.values()) + decision_cases + 1
    t0 = time.perf_counter()
    refs = await register_cases(url, cfg_path, cases_needed)
    report.note(f"[{name}] registered {len(refs)} cases in {time.perf_counter() - t0:.1f} s")

    api = FakeSlackApi()
    await api.start()
    ws = SlackWorkspace(client=None, api=api)  # type: ignore[arg-type]  # only its payload builders
    port, bare_port = free_port(), free_port()
    env = {
        **os.environ,
        "PANELBOT_DATABASE_URL": url,
        "PANELBOT_CONFIG": str(cfg_path),
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": api.url,
    }
    log = (tmp / "serve.log").open("w")
    serve = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    bare = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "bare_bolt.py"), str(bare_port), api.url],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        ready = await wait_healthy(f"http://127.0.0.1:{port}/healthz")
        await wait_healthy(f"http://127.0.0.1:{bare_port}/healthz")
        report.row(f"[{name}] serve ready (/healthz 200)", "< 1.5 s", f"{ready:.2f} s", "", verdict(ready < 1.5))
        drained = await wait_drained(url)  # the start-up backlog (every registered case's vote requests)
        report.note(f"[{name}] start-up backlog of {len(refs)} cases' messages delivered in {drained:.0f} s")
        await wait_quiet(api)
        idle = rss_mb(serve.pid)
        report.row(f"[{name}] serve idle RSS", "< 120 MB", f"{idle:.0f} MB", "", verdict(idle < 120))

        panelbot_url = f"http://127.0.0.1:{port}/slack/events"
        bare_url = f"http://127.0.0.1:{bare_port}/slack/events"

        def signed(body: str) -> dict[str, str]:
            return ws.headers(body, FORM)

        for clients in CLIENTS:
            bodies = click_bodies(ws, args.clicks)
            ours, bad = await load(panelbot_url, bodies, clients, signed)
            floor, _ = await load(bare_url, click_bodies(ws, args.clicks), clients, signed)
            ratio = statistics.median(ours) / statistics.median(floor)
            goal_ok = clients == 1 or ratio <= 1.5
            report.row(
                f"[{name}] click p50, {clients} clients ({len(ours)} clicks, {bad} not 200)",
                "<= 1.5x bare",
                ms(statistics.median(ours)),
                f"bare {ms(statistics.median(floor))} ({ratio:.2f}x)",
                verdict(goal_ok and bad == 0),
            )
            await wait_quiet(api, quiet=1.0)

        cursor = 0
        for clients in CLIENTS:
            n = per_level[clients]
            chosen = refs[cursor : cursor + n]
            cursor += n
            bodies = [submission(ws, VOTERS[i % 3], ref) for i, ref in enumerate(chosen)]
            ours, bad = await load(panelbot_url, bodies, clients, signed)
            floor_bodies = [submission(ws, VOTERS[i % 3], ref) for i, ref in enumerate(chosen)]
            floor, _ = await load(bare_url, floor_bodies, clients, signed)
            late = sum(1 for x in ours if x > SLACK_LIMIT)
            p99 = pct(ours, 99)
            goal = {1: None, 10: 0.5, 50: 1.5}[clients]
            ok = late == 0 and bad == 0 and (goal is None or p99 < goal)
            report.row(
                f"[{name}] submission p99, {clients} clients ({len(ours)} sent)",
                f"< {goal} s" if goal else "-",
                f"p50 {ms(statistics.median(ours))} p99 {ms(p99)}",
                f"bare p50 {ms(statistics.median(floor))} p99 {ms(pct(floor, 99))}",
                verdict(ok),
            )
            report.row(
                f"[{name}] submissions past 3 s or not 200, {clients} clients",
                "0",
                f"{late} late, {bad} not 200",
                "",
                verdict(late == 0 and bad == 0),
            )
            await wait_quiet(api, quiet=1.0)

        drained = await wait_drained(url)
        report.note(f"[{name}] the burst's messages delivered {drained:.0f} s after the last submission")
        await wait_quiet(api)
        lat = await decision_latency(ws, panelbot_url, refs[cursor : cursor + decision_cases])
        p50 = statistics.median(lat) if lat else float("inf")
        report.row(
            f"[{name}] deciding vote -> decision DM, p50 ({len(lat)} cases)",
            "< 500 ms",
            ms(p50),
            "",
            verdict(p50 < 0.5 and len(lat) == decision_cases),
        )
    finally:
        for proc in (serve, bare):
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()
        await api.stop()
    errors = [line for line in (tmp / "serve.log").read_text().splitlines() if " ERROR " in line]
    report.note(f"[{name}] serve log: {len(errors)} ERROR lines" + (f"; first: {errors[0][:200]}" if errors else ""))


# ---------------------------------------------------------------- in-process and CLI


async def home_at_scale(url: str, report: Report, name: str, cases: int = 1000) -> None:
    cfg, _ = slack_roster_config()
    service = Service.create(cfg, SystemClock(), url)
    await upgrade(service.engine)
    existing = await service.read(lambda uow: uow.session.scalar(sa.text("SELECT count(*) FROM cases")))
    for i in range(max(cases - int(existing or 0), 0)):
        cmd = RegisterReferral(
            by="bm", referrer={"name": "Dr A Referrer"}, panel_summary=f"Home benchmark case {i}, seriously harmed."
        )
        await service.run(panel.register_referral, cmd)
    bm = cfg.by_slack_id(BM)
    assert bm is not None
    statements: list[str] = []

    def count(*_: Any) -> None:
        statements.append("q")

    sa.event.listen(service.engine.sync_engine, "before_cursor_execute", count)
    times = []
    data: dict[str, Any] = {}
    for _ in range(5):
        statements.clear()
        start = time.perf_counter()
        data = await service.read(lambda uow: home_data(uow, service.env, bm))
        times.append(time.perf_counter() - start)
    await service.close()
    best = min(times)
    queries = len(statements)
    report.row(
        f"[{name}] BM Home data at {len(data.get('cases', []))} open cases",
        "< 50 ms, fixed",
        f"{ms(best)}, {queries} queries",
        "",
        verdict(best < 0.05 and queries <= 6),
    )


def cli_time(args: list[str]) -> float:
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=ROOT, capture_output=True, check=False)
        best = min(best, time.perf_counter() - start)
    return best


def cli_times(report: Report) -> None:
    helped = cli_time(["--help"])
    report.row("panelbot --help (best of 5)", "< 0.3 s", f"{helped:.2f} s", "", verdict(helped < 0.3))
    due = cli_time(["deadlines", "--received", "2026-12-21T10:00"])
    report.row("panelbot deadlines (best of 5)", "< 0.5 s", f"{due:.2f} s", "", verdict(due < 0.5))


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pg", help="PostgreSQL URL to benchmark as well (a throwaway schema is made and dropped)")
    parser.add_argument("--submissions", type=int, default=1080, help="vote submissions at 50 clients")
    parser.add_argument("--submissions-10", type=int, default=300, help="vote submissions at 10 clients")
    parser.add_argument("--clicks", type=int, default=300, help="clicks per client count")
    parser.add_argument("--skip-serve", action="store_true", help="only the in-process and CLI figures")
    args = parser.parse_args()
    report = Report()
    report.note(f"bench_burst: {time.strftime('%Y-%m-%d %H:%M')} on {os.cpu_count()} cores; {json.dumps(vars(args))}")
    cli_times(report)
    backends: list[tuple[str, str, Callable[[], None] | None]] = []
    tmp = Path(tempfile.mkdtemp(prefix="panelbot-bench-db-"))
    backends.append(("sqlite", f"sqlite+aiosqlite:///{tmp / 'bench.db'}", None))
    if args.pg:
        pg_url, drop = pg_schema(args.pg)
        backends.append(("postgresql", pg_url, drop))
    try:
        for name, url, _ in backends:
            if not args.skip_serve:
                await run_backend(name, url, args, report)
            await home_at_scale(url, report, name)
    finally:
        for _, _, drop in backends:
            if drop is not None:
                drop()


def run(coro: Awaitable[None]) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


if __name__ == "__main__":
    run(main())
