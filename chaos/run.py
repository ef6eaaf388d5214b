"""Chaos trials: real `panelbot serve` replicas and `panelbot tick` processes, killed with SIGKILL
while people vote and messages are delivered, against fake Slack, Teams and Graph servers on
127.0.0.1 that answer a share of calls with 429, 5xx (some after doing the work) or late.

    python chaos/run.py --trials 20 --backend postgresql --replicas 2 --faults 0.3

Each trial: a fresh case store, `--cases` referrals, every Teams panel member installs the app;
then the panel votes (Police in Slack, signed `view_submission`s; LA and Health in Teams,
`Action.Execute` invokes, anonymous mode) against randomly chosen replicas while one replica is
killed (kill -9) and restarted; the replicas go on delivering under faults for `--soak` seconds;
then `panelbot tick` is killed mid-way, runs twice more under faults, and then with faults off until
the outbox is empty. A voter who was not told their vote was recorded votes again,
as a person would. Then it counts, from the database and from what the fake platforms received:

- lost votes: a voter was told "recorded" but there is no vote;
- duplicate decisions: more than one decision for a round (or a decision a majority does not support);
- messages sent twice: the same outbox message arriving twice on its platform (Teams counted apart:
  panelbot has no way to look a Teams message up yet, so a 5xx after delivery can repeat one);
- never sent: outbox rows not sent at the end, or sent on record but absent from the platform.

Bounded: every loop has a count and a deadline; everything listens on and talks to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import sqlalchemy as sa
from aiohttp import web
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.clock import SystemClock  # noqa: E402
from bot.config import load_config  # noqa: E402
from bot.flows.commands import RegisterReferral  # noqa: E402
from bot.flows.screening import panel  # noqa: E402
from bot.handlers.slack.modals import FormContext  # noqa: E402
from bot.service import Service  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import Case, Decision, OutboxMessage, ScreeningRound, Vote  # noqa: E402
from tests.fakes.graph import FakeGraph  # noqa: E402
from tests.fakes.slack_api import TEAM, TOKEN, FakeSlackApi  # noqa: E402
from tests.fakes.teams_connector import BOT_ID, TENANT, FakeConnector  # noqa: E402

SECRET = "chaos-signing-secret"
SLACK_POLICE = "U0POL0001"
TEAMS = {"la-dsp": "11111111-1111-4111-8111-111111111111", "health-dsp": "22222222-2222-4222-8222-222222222222"}
INSTALLERS = [*TEAMS.values(), "33333333-3333-4333-8333-333333333333"]  # and the LA notifier
RATIONALE = "The criteria are met on what the referral says; chaos trial rationale."
PG_URL = os.environ.get("PANELBOT_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


# ---------------------------------------------------------------- faults in front of each fake


@dataclass
class FaultProxy:
    """Forwards to a fake; a share `rate` of calls is answered 429, 503 (not done), 502 after doing
    it, or late (done, answered after the client gave up)."""

    target: str
    rate: float
    late: float
    rng: random.Random
    counts: Counter = field(default_factory=Counter)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application(client_max_size=10 * 2**20)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        self.session = aiohttp.ClientSession()
        return self.url

    async def stop(self) -> None:
        await self.session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        roll = self.rng.random()
        kind = "ok"
        if roll < self.rate:
            kind = self.rng.choice(["429", "503", "502-after", "late"])
        self.counts[kind] += 1
        if kind == "429":
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "1"})
        if kind == "503":
            return web.json_response({"ok": False, "error": "service_unavailable"}, status=503)
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        url = self.target.rstrip("/") + request.path_qs
        async with self.session.request(request.method, url, data=body, headers=headers) as upstream:
            payload = await upstream.read()
            status, ctype = upstream.status, upstream.headers.get("Content-Type", "application/json")
        if kind == "502-after":
            return web.json_response({"ok": False, "error": "bad_gateway"}, status=502)
        if kind == "late":
            await asyncio.sleep(self.late)
        return web.Response(status=status, body=payload, headers={"Content-Type": ctype})


# ---------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Replica:
    port: int
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen | None = None

    def start(self) -> None:
        cmd = [sys.executable, "-m", "bot.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(cmd, env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    async def ready(self, session: aiohttp.ClientSession, deadline: float = 30) -> bool:
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                async with session.get(f"http://127.0.0.1:{self.port}/healthz") as resp:
                    if resp.status == 200:
                        return True
            await asyncio.sleep(0.2)
        return False


async def tick(env: dict[str, str], kill_after: float | None = None, later: dt.timedelta | None = None) -> int | None:
    """One `panelbot tick` pass; with `kill_after`, SIGKILLed that many seconds in; `later` runs it
    as if that much time had passed (`--now`)."""
    when = ["--now", (dt.datetime.now(dt.UTC) + later).isoformat()] if later else []
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "tick",
        "--json",
        *when,
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    if kill_after is not None:
        try:
            await asyncio.wait_for(proc.wait(), kill_after)
        except TimeoutError:
            proc.kill()
        await proc.wait()
        return None
    out, _ = await asyncio.wait_for(proc.communicate(), 300)
    with contextlib.suppress(ValueError, KeyError):
        return int(json.loads(out)["delivered"])
    return None


# ---------------------------------------------------------------- people


def signed(body: str) -> dict[str, str]:
    ts = str(int(time.time()))
    signature = SignatureVerifier(SECRET).generate_signature(timestamp=ts, body=body)
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature,
        "Content-Type": "application/x-www-form-urlencoded",
    }


def slack_vote(ref: str, pathway: str) -> str:
    state = {
        "pathway": {"pathway": {"type": "static_select", "selected_option": {"value": pathway}}},
        "notifiable": {"notifiable": {"type": "radio_buttons", "selected_option": {"value": "no"}}},
        "rationale": {"rationale": {"type": "plain_text_input", "value": RATIONALE}},
    }
    view = {
        "id": f"V{uuid.uuid4().hex[:10].upper()}",
        "type": "modal",
        "callback_id": "panelbot-form",
        "private_metadata": FormContext("vote", ref).dump(),
        "state": {"values": state},
        "hash": "h",
        "team_id": TEAM,
    }
    payload = {
        "type": "view_submission",
        "team": {"id": TEAM, "domain": "chaos"},
        "user": {"id": SLACK_POLICE, "team_id": TEAM},
        "api_app_id": "A0PANELBOT",
        "view": view,
    }
    return urlencode({"payload": json.dumps(payload)})


def teams_activity(aad: str, connector: str, type_: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": type_,
        "id": f"in-{uuid.uuid4().hex[:8]}",
        "channelId": "msteams",
        "serviceUrl": connector,
        "from": {"id": f"29:{aad}", "aadObjectId": aad, "name": "Chaos"},
        "recipient": {"id": BOT_ID, "name": "panelbot"},
        "conversation": {"id": f"a:personal-{aad}", "conversationType": "personal", "tenantId": TENANT},
        "channelData": {"tenant": {"id": TENANT}},
        **extra,
    }


def teams_vote(aad: str, connector: str, ref: str, pathway: str) -> dict[str, Any]:
    data = {
        "_panelbot": {"ref": ref, "form": "vote", "value": f"{ref}|{pathway}"},
        "pathway": pathway,
        "notifiable": "no",
        "rationale": RATIONALE,
    }
    value = {"action": {"type": "Action.Execute", "verb": "vote", "data": data}, "trigger": "manual"}
    return teams_activity(aad, connector, "invoke", name="adaptiveCard/action", value=value)


# ---------------------------------------------------------------- one trial


@dataclass
class Figures:
    trials: int = 0
    cases: int = 0
    votes_told_recorded: int = 0
    lost_votes: int = 0
    duplicate_decisions: int = 0
    rows: int = 0
    sent_twice: int = 0
    teams_twice: int = 0  # Teams has no look-up (see README): counted apart, not a failure of the run
    never_sent: int = 0
    kills: int = 0
    faults: Counter = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)


class Trial:
    def __init__(self, n: int, args: argparse.Namespace, rng: random.Random, work: Path) -> None:
        self.n, self.args, self.rng, self.work = n, args, rng, work
        self.told: list[tuple[str, str]] = []  # (ref, agency) the voter was told is recorded

    async def database(self) -> tuple[str, Any]:
        if self.args.backend == "sqlite":
            return f"sqlite+aiosqlite:///{self.work / f'trial{self.n}.db'}", None
        schema = f"chaos_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in PG_URL else "?"
        return f"{PG_URL}{sep}options=-csearch_path%3D{schema}", (admin, schema)

    async def run(self, figures: Figures) -> None:
        url, pg = await self.database()
        cfg = load_config(ROOT / "app.yaml")
        service = Service.create(cfg, SystemClock(), url)
        slack, connector = FakeSlackApi(now=time.time), FakeConnector()
        graph = FakeGraph(self.work / f"tls{self.n}")
        proxies: list[FaultProxy] = []
        replicas: list[Replica] = []
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20))
        try:
            await upgrade(service.engine)
            await slack.start()
            await connector.start()
            await graph.start()
            for target in (slack.url.removesuffix("/api/"), connector.url, graph.base_url.removesuffix("/v1.0")):
                proxy = FaultProxy(target, self.args.faults, self.args.late, random.Random(self.rng.random()))
                await proxy.start()
                proxies.append(proxy)
            env = self.environment(url, proxies, graph)
            replicas = [
                Replica(free_port(), env, self.work / f"trial{self.n}-replica{i}.log")
                for i in range(self.args.replicas)
            ]
            for replica in replicas:
                replica.start()
            if not all([await r.ready(session) for r in replicas]):
                figures.notes.append(f"trial {self.n}: a replica did not start (see {self.work})")
                return
            connector_url = proxies[1].url + "/"
            for aad in INSTALLERS:  # the Teams people install the app (stores their conversation)
                await self.post_until(session, replicas, lambda p, a=aad: self.install(session, p, a, connector_url))
            refs = [await self.refer(service, i) for i in range(self.args.cases)]
            killer = asyncio.create_task(self.kill_one(replicas, figures))
            await asyncio.gather(*(self.vote_case(session, replicas, ref, connector_url, slack) for ref in refs))
            await killer
            await asyncio.sleep(self.args.soak)  # the replicas' tickers deliver, under faults
            for replica in replicas:
                replica.stop()
            # a tick killed mid-way, then ticks "later" (--now) so the leases the dead left and the
            # backoffs run out: two under faults, then faults off, until everything has settled
            await tick(env, kill_after=self.rng.uniform(0.5, 2.5))
            figures.kills += 1
            for hour in range(1, 3):
                await tick(env, later=dt.timedelta(hours=hour))
            for proxy in proxies:
                proxy.rate = 0.0
            for hour in range(3, 18):
                if not await self.unsettled(service):
                    break
                await tick(env, later=dt.timedelta(hours=hour))
            await self.count(service, slack, connector, graph, refs, figures)
            for proxy in proxies:
                figures.faults.update(proxy.counts)
        finally:
            for replica in replicas:
                replica.stop()
            for proxy in proxies:
                await proxy.stop()
            await session.close()
            await slack.stop()
            await connector.close()
            await graph.close()
            await service.close()
            if pg is not None:
                admin, schema = pg
                with admin.connect() as conn:
                    conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.dispose()

    def environment(self, url: str, proxies: list[FaultProxy], graph: FakeGraph) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "GRAPH_", "CONNECTIONS__"))}
        return env | {
            "PANELBOT_DATABASE_URL": url,
            "PANELBOT_CONFIG": str(ROOT / "app.yaml"),
            "PANELBOT_LINK_KEY": "chaos-link-key-" + "k" * 32,
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": proxies[0].url + "/api/",
            "ANONYMOUS_ALLOWED": "true",
            **graph.settings(),
            "GRAPH_BASE_URL": proxies[2].url + "/v1.0",
            "SSL_CERT_FILE": graph.ca_path,  # the fake sign-in host's throwaway CA
            "PYTHONPATH": str(ROOT),
        }

    async def refer(self, service: Service, i: int) -> str:
        cmd = RegisterReferral(
            by="bm",
            referrer={"name": "Dr Chaos", "email": f"referrer{i}@example.org"},
            panel_summary=f"Chaos trial {self.n} case {i}: an unexplained injury to a young child.",
        )
        return (await service.run(panel.register_referral, cmd)).ref

    async def post_until(self, session: aiohttp.ClientSession, replicas: list[Replica], attempt: Any) -> Any:
        """Try replicas in turn until one answers (a killed one does not), for at most 60 s."""
        end = time.monotonic() + 60
        while time.monotonic() < end:
            replica = self.rng.choice(replicas)
            with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                result = await attempt(replica.port)
                if result is not None:
                    return result
            await asyncio.sleep(0.2)
        return None

    async def install(self, session: aiohttp.ClientSession, port: int, aad: str, connector: str) -> bool | None:
        activity = teams_activity(aad, connector, "installationUpdate", action="add")
        async with session.post(f"http://127.0.0.1:{port}/api/messages", json=activity) as resp:
            return True if resp.status < 300 else None

    async def vote_case(
        self, session: aiohttp.ClientSession, replicas: list[Replica], ref: str, connector: str, slack: FakeSlackApi
    ) -> None:
        pathways = ["audit_assurance", "audit_assurance", self.rng.choice(["audit_assurance", "no_further_action"])]
        self.rng.shuffle(pathways)
        voters = [("la", TEAMS["la-dsp"]), ("police", None), ("health", TEAMS["health-dsp"])]
        for (agency, aad), pathway in zip(voters, pathways, strict=True):
            await asyncio.sleep(self.rng.uniform(0, 0.5))
            if aad is None:
                told = await self.post_until(session, replicas, lambda p, pw=pathway: self.slack(session, p, ref, pw))
                told = told and await self.slack_outcome(slack, ref)
            else:
                activity = teams_vote(aad, connector, ref, pathway)
                told = await self.post_until(session, replicas, lambda p, a=activity: self.teams(session, p, a))
            if told:
                self.told.append((ref, agency))

    async def slack(self, session: aiohttp.ClientSession, port: int, ref: str, pathway: str) -> bool | None:
        body = slack_vote(ref, pathway)
        async with session.post(f"http://127.0.0.1:{port}/slack/events", data=body, headers=signed(body)) as resp:
            return True if resp.status == 200 else None

    async def slack_outcome(self, slack: FakeSlackApi, ref: str, wait: float = 20) -> bool:
        """The outcome comes after the answer (views.update, or a DM when the modal is gone)."""
        end = time.monotonic() + wait
        while time.monotonic() < end:
            for call in slack.calls_to("chat.postMessage") + slack.calls_to("views.update"):
                text = json.dumps(call.body)
                if f"{ref}: Greater Manchester Police's vote is" in text or f"{ref}: the panel had already" in text:
                    return True
            await asyncio.sleep(0.2)
        return False

    async def teams(self, session: aiohttp.ClientSession, port: int, activity: dict[str, Any]) -> bool | None:
        async with session.post(f"http://127.0.0.1:{port}/api/messages", json=activity) as resp:
            if resp.status != 200:
                return None
            body = await resp.text()
            return "vote is" in body or "already decided" in body or None

    async def kill_one(self, replicas: list[Replica], figures: Figures) -> None:
        await asyncio.sleep(self.rng.uniform(0.3, 2.0))
        victim = self.rng.choice(replicas)
        victim.kill()
        figures.kills += 1
        await asyncio.sleep(self.rng.uniform(0.2, 1.0))
        victim.start()

    async def unsettled(self, service: Service) -> int:
        query = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.state.in_(["pending", "sending"]))
        return await service.read(lambda uow: uow.session.scalar(query))

    async def count(
        self,
        service: Service,
        slack: FakeSlackApi,
        connector: FakeConnector,
        graph: FakeGraph,
        refs: list[str],
        figures: Figures,
    ) -> None:
        async def read(uow: Any) -> tuple[list, list, list, list, dict]:
            ids = {ref: case_id for ref, case_id in await uow.session.execute(select(Case.ref, Case.id))}
            votes = list(await uow.session.execute(select(Vote.round_id, Vote.agency)))
            rounds = list(await uow.session.execute(select(ScreeningRound.id, ScreeningRound.case_id)))
            decisions = list(await uow.session.execute(select(Decision.round_id, Decision.case_id)))
            rows = list(await uow.session.scalars(select(OutboxMessage)))
            return votes, rounds, decisions, rows, ids

        votes, rounds, decisions, rows, ids = await service.read(read)
        round_case = dict(rounds)
        voted = {(round_case[r], a) for r, a in votes}
        figures.trials += 1
        figures.cases += len(refs)
        figures.votes_told_recorded += len(self.told)
        figures.lost_votes += sum((ids[ref], agency) not in voted for ref, agency in self.told)
        per_round = Counter(r for r, _ in decisions)
        figures.duplicate_decisions += sum(n - 1 for n in per_round.values() if n > 1)
        figures.duplicate_decisions += sum(n - 1 for n in Counter(c for _, c in decisions).values() if n > 1)
        self.messages(rows, slack, connector, graph, figures)

    def messages(
        self, rows: list[OutboxMessage], slack: FakeSlackApi, connector: FakeConnector, graph: FakeGraph, f: Figures
    ) -> None:
        slack_keys = Counter(
            (m.get("metadata") or {}).get("event_payload", {}).get("key") for m in slack.messages.values()
        )
        teams_sent = Counter(
            (c.conversation_id, json.dumps(c.card, sort_keys=True)) for c in connector.calls if c.kind != "update"
        )
        for row in rows:
            if row.channel in ("console", "calendar"):
                continue
            f.rows += 1
            if row.state != "sent":
                f.never_sent += 1
                f.notes.append(f"trial {self.n}: {row.key} ({row.channel}) ended {row.state}: {row.last_error}")
                continue
            if (row.external_ref or {}).get("rerouted") or row.replaces_key:
                continue  # sent as e-mail instead (counted there), or an update in place of its original
            if row.channel == "slack":
                seen = slack_keys[row.key]
            elif row.channel == "email":
                seen = len(graph.sent_with_key(row.key))
            else:
                seen = 1  # counted below, by content
            f.never_sent += seen == 0
            f.sent_twice += max(seen - 1, 0)
            if seen != 1:
                f.notes.append(f"trial {self.n}: {row.key} ({row.channel}) arrived {seen} times")
        twice = sum(n - 1 for n in teams_sent.values() if n > 1)
        f.teams_twice += twice
        if twice:
            f.notes.append(f"trial {self.n}: {twice} Teams card(s) arrived twice")


async def main(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    figures = Figures()
    work = Path(tempfile.mkdtemp(prefix="panelbot-chaos-"))
    started = time.monotonic()
    for n in range(args.trials):
        if time.monotonic() - started > args.budget:
            figures.notes.append(f"stopped after {n} trials: the {args.budget} s budget was spent")
            break
        await Trial(n, args, rng, work).run(figures)
        print(f"trial {n + 1}/{args.trials} done ({time.monotonic() - started:.0f} s)", file=sys.stderr)
    report(args, figures, time.monotonic() - started, work)
    bad = figures.lost_votes + figures.duplicate_decisions + figures.sent_twice + figures.never_sent
    return 1 if bad or figures.trials == 0 else 0


def report(args: argparse.Namespace, f: Figures, seconds: float, work: Path) -> None:
    print(f"panelbot chaos: {f.trials} trials on {args.backend}, {args.replicas} serve replica(s), "
          f"{args.faults:.0%} faults on Slack, Teams and Graph, seed {args.seed}, {seconds:.0f} s")  # fmt: skip
    print(f"  processes killed (SIGKILL)    {f.kills}")
    print(f"  cases                         {f.cases}")
    print(f"  votes the voter was told of   {f.votes_told_recorded}")
    print(f"  lost votes                    {f.lost_votes}")
    print(f"  duplicate decisions           {f.duplicate_decisions}")
    print(f"  messages (Slack/Teams/mail)   {f.rows}")
    print(f"  messages sent twice           {f.sent_twice} (Slack and mail, which panelbot looks up)")
    print(f"  Teams cards sent twice        {f.teams_twice} (no look-up on Teams yet: a 5xx after delivery repeats)")
    print(f"  messages never sent           {f.never_sent}")
    print(f"  faults injected               {dict(sorted(f.faults.items()))}")
    for note in f.notes[:20]:
        print(f"  note: {note}")
    print(f"  logs: {work}")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=10)
    p.add_argument("--cases", type=int, default=2, help="referrals per trial")
    p.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    p.add_argument("--replicas", type=int, default=2)
    p.add_argument("--faults", type=float, default=0.3, help="share of platform calls that fail")
    p.add_argument("--late", type=float, default=16.0, help="seconds a late answer takes (clients give up at 15)")
    p.add_argument("--seed", type=int, default=15)
    p.add_argument("--soak", type=float, default=10.0, help="seconds the replicas deliver under faults after voting")
    p.add_argument("--budget", type=float, default=3600, help="stop starting trials after this many seconds")
    return p.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
