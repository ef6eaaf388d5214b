"""The Business Manager's digest: each working day at `chase.digest_at`, every open case with its next
deadline, who owes what and a RAG status; nothing when nothing is open; once after downtime."""

from __future__ import annotations

from bot.flows.commands import RecordScrutiny
from bot.flows.screening.panel import record_scrutiny
from bot.flows.timelines.chasing import ensure_digest
from bot.service import Service
from bot.worker.outbox import Delivery
from bot.worker.ticker import Ticker
from tests.helpers import refer, vote
from tests.timeline_support import CHANNELS, Run, TimedSender, london


async def start(run: Run) -> None:
    env = run.service.env
    await run.service.read(lambda uow: ensure_digest(uow, env))


def facts(sent) -> dict[str, str]:
    return {f.label: f.value for f in sent.item.message.facts}


async def test_nothing_open_means_no_digest(service: Service):
    run = Run(service)
    run.clock.set(london(2026, 12, 21, 8, 0))
    await start(run)
    await run.until(london(2026, 12, 22, 12, 0))
    assert run.messages("digest") == []
    digests = await run.reminders("digest")
    assert [(r.key, r.state, r.outcome) for r in digests] == [
        ("digest:2026-12-21", "done", "empty"),
        ("digest:2026-12-22", "done", "empty"),
        ("digest:2026-12-23", "pending", None),
    ]


async def test_the_digest_shows_each_open_case_with_its_rag(service: Service):
    run = Run(service)
    await start(run)
    # Red: received last Friday, its screening was due Tue 22 Dec 17:00 and health has not voted.
    red = await refer(service, received_at=london(2026, 12, 18, 10, 0))
    await vote(service, "la-dsp", red.ref, "audit_assurance")
    # Amber: received today, screening due Wed 23 Dec 17:00.
    amber = await refer(service)
    # Green: decided (audit & assurance) and scrutinised; its week-6 step is far off.
    green = await refer(service)
    await vote(service, "la-dsp", green.ref, "audit_assurance")
    await vote(service, "police-dsp", green.ref, "audit_assurance")
    await service.run(record_scrutiny, RecordScrutiny(by="scrutineer", ref=green.ref, verdict="concur"))
    await run.until(london(2026, 12, 23, 12, 0))

    digests = run.messages("digest")
    assert [(d.at, d.to) for d in digests] == [(london(2026, 12, 22, 8, 30), "bm"), (london(2026, 12, 23, 8, 30), "bm")]
    wednesday = facts(digests[-1])
    assert list(wednesday) == [f"{red.ref} — RED", f"{amber.ref} — AMBER", f"{green.ref} — GREEN"]
    assert "Greater Manchester Police panel member (Chris Lee)" in wednesday[f"{red.ref} — RED"]
    assert "Tameside MBC panel member" not in wednesday[f"{red.ref} — RED"]  # the LA has voted
    assert "overdue" in wednesday[f"{red.ref} — RED"]
    assert wednesday[f"{green.ref} — GREEN"].startswith("Next: Audit & assurance: the Practice Review Panel decides")
    assert "due Mon 01 Feb 2027 17:00" in wednesday[f"{green.ref} — GREEN"]  # week 6 after Mon 21 Dec
    assert digests[-1].item.message.text.startswith("1 red, 1 amber, 1 green")


async def test_no_digest_on_bank_holidays_or_weekends(service: Service):
    run = Run(service)
    await refer(service)
    run.clock.set(london(2026, 12, 24, 7, 0))
    await start(run)
    await run.until(london(2026, 12, 30, 12, 0))
    days = [d.at.strftime("%a %d %b %H:%M") for d in run.messages("digest")]
    assert days == ["Thu 24 Dec 08:30", "Tue 29 Dec 08:30", "Wed 30 Dec 08:30"]


async def test_after_downtime_one_digest_goes_out_late(service: Service, db_url: str):
    run = Run(service)
    await refer(service)
    await start(run)  # the next digest: Tue 22 Dec 08:30
    run.clock.set(london(2026, 12, 24, 11, 0))  # down until Thursday 11:00
    restarted = Service.create(service.cfg, run.clock, db_url)
    sender = TimedSender(run.clock)
    ticker = Ticker(restarted, Delivery(restarted, dict.fromkeys(CHANNELS, sender), "replica"), "replica")
    try:
        await ticker.tick()
        await ticker.tick()
    finally:
        await restarted.close()
    assert [(s.at, s.to, s.item.key) for s in sender.sent if s.kind == "digest"] == [
        (london(2026, 12, 24, 11, 0), "bm", "digest:2026-12-24:bm")
    ]
    pending = [r.key for r in await run.reminders("digest") if r.state == "pending"]
    assert pending == ["digest:2026-12-29"]
