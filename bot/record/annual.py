"""`panelbot report annual --year 2026`: the partnership's figures for its reporting year (from
`reports.year_starts`, default 1 April), as an .xlsx workbook with native charts, or CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
import statistics
from collections import Counter, defaultdict
from typing import Any

from dateutil.relativedelta import relativedelta
from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Font
from sqlalchemy import select

from bot.flows.common import Env
from storage.models import AuditEvent, Case, Decision, Obligation, ScreeningRound, Scrutiny, Vote
from storage.uow import UnitOfWork

CLOCKS = ("screening (2 WD)", "notification (5 WD)", "Rapid Review (15 WD)", "CSPR (6 months)", "complaints (20 WD)")


async def figures(uow: UnitOfWork, env: Env, year: int) -> dict[str, Any]:
    """Every figure for the reporting year starting in `year`, for cases received in it."""
    start, end = env.cfg.reports.year(year)
    lo, hi = _utc(env, start), _utc(env, end)
    cases = list(
        await uow.session.scalars(
            select(Case).where(Case.received_at >= lo, Case.received_at < hi).order_by(Case.received_at)
        )
    )
    ids = [c.id for c in cases]
    by_id = {c.id: c for c in cases}
    decisions = list(await uow.session.scalars(select(Decision).where(Decision.case_id.in_(ids)).order_by(Decision.id)))
    rounds = list(await uow.session.scalars(select(ScreeningRound).where(ScreeningRound.case_id.in_(ids))))
    votes = list(await uow.session.scalars(select(Vote).where(Vote.round_id.in_([r.id for r in rounds]))))
    scrutiny = list(await uow.session.scalars(select(Scrutiny).where(Scrutiny.case_id.in_(ids))))
    obligations = list(await uow.session.scalars(select(Obligation).where(Obligation.case_id.in_(ids))))
    events = list(
        await uow.session.scalars(
            select(AuditEvent).where(
                AuditEvent.case_id.in_(ids), AuditEvent.action.in_(("rapid_review_submitted", "delay_recorded"))
            )
        )
    )
    now = env.now()
    first_decision = {}
    for d in decisions:
        first_decision.setdefault(d.case_id, d)
    last_decision = {d.case_id: d for d in decisions}

    months = [start + relativedelta(months=n) for n in range(12)]
    by_month = Counter(env.cal.local_date(c.received_at).strftime("%Y-%m") for c in cases)
    clocks = _clocks(env, cases, first_decision, obligations, events, now)
    round_by_id = {r.id: r for r in rounds}
    waits: dict[str, list[float]] = defaultdict(list)
    for v in votes:
        rnd = round_by_id[v.round_id]
        if not v.after_decision:
            waits[v.agency].append((v.cast_at - rnd.opened_at).total_seconds() / 3600)
    return {
        "year": f"{start.isoformat()} to {(end - dt.timedelta(days=1)).isoformat()}",
        "partnership": env.cfg.partnership.name,
        "referrals": len(cases),
        "by_month": [(m.strftime("%b %Y"), by_month.get(m.strftime("%Y-%m"), 0)) for m in months],
        "by_agency": sorted(Counter(c.referrer_agency or "not given" for c in cases).items()),
        "pathways": sorted(Counter(d.pathway for d in last_decision.values()).items()),
        "notifiable": sum(1 for d in last_decision.values() if d.notifiable),
        "clocks": clocks,
        "delays": [
            (by_id[e.case_id].ref, env.local(e.at), e.details.get("reason", ""), e.details.get("expected", ""))
            for e in events
            if e.action == "delay_recorded"
        ],
        "deadlocks": sum(1 for r in rounds if r.deadlocked_at is not None),
        "consultations": sum(1 for d in decisions if d.method == "consultation"),
        "disagreements": [
            (by_id[s.case_id].ref, s.person_id, env.local(s.at)) for s in scrutiny if s.verdict == "disagree"
        ],
        "actions": {
            "open": sum(1 for o in obligations if o.state == "open" and o.due_at >= now),
            "overdue": sum(1 for o in obligations if o.state == "open" and o.due_at < now),
            "closed": sum(1 for o in obligations if o.state != "open"),
        },
        "vote_hours": sorted(
            (agency, round(statistics.median(hours), 1), len(hours)) for agency, hours in waits.items()
        ),
    }


def _utc(env: Env, day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=env.cfg.tz).astimezone(dt.UTC)


def _clocks(
    env: Env,
    cases: list[Case],
    first_decision: dict[int, Decision],
    obligations: list[Obligation],
    events: list[AuditEvent],
    now: dt.datetime,
) -> list[dict[str, Any]]:
    """Each statutory clock: cases it applied to, on time, late (with the late cases' references)."""
    submitted = {e.case_id: e.at for e in events if e.action == "rapid_review_submitted"}
    results: dict[str, list[tuple[str, bool]]] = {name: [] for name in CLOCKS}
    for case in cases:
        decided = first_decision.get(case.id)
        if decided or case.screening_due < now:
            results[CLOCKS[0]].append((case.ref, bool(decided and decided.decided_at <= case.screening_due)))
        if decided and decided.notifiable and (case.notified_at or case.notification_due < now):
            results[CLOCKS[1]].append((case.ref, bool(case.notified_at and case.notified_at <= case.notification_due)))
        if case.rapid_review_due and (case.id in submitted or case.rapid_review_due < now):
            done = submitted.get(case.id)
            results[CLOCKS[2]].append((case.ref, bool(done and done <= case.rapid_review_due)))
        if case.cspr_decided_on:
            due = case.cspr_decided_on + relativedelta(months=6)
            if case.cspr_publication_on or due < env.cal.local_date(now):
                results[CLOCKS[3]].append(
                    (case.ref, bool(case.cspr_publication_on and case.cspr_publication_on <= due))
                )
    refs = {c.id: c.ref for c in cases}
    for ob in obligations:
        if ob.kind == "complaint" and ob.state != "cancelled" and (ob.done_at or ob.due_at < now):
            results[CLOCKS[4]].append((refs[ob.case_id], bool(ob.done_at and ob.done_at <= ob.due_at)))
    out = []
    for name, rows in results.items():
        on_time = sum(1 for _, ok in rows if ok)
        out.append(
            {
                "clock": name,
                "cases": len(rows),
                "on_time": on_time,
                "rate": round(100 * on_time / len(rows), 1) if rows else None,
                "late": [ref for ref, ok in rows if not ok],
            }
        )
    return out


def rows(data: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """Every figure as (section, item, value): the CSV, and the workbook's Summary sheet."""
    out: list[tuple[str, str, Any]] = [
        ("year", "reporting year", data["year"]),
        ("referrals", "total", data["referrals"]),
    ]
    out += [("referrals by month", month, n) for month, n in data["by_month"]]
    out += [("referrals by agency", agency, n) for agency, n in data["by_agency"]]
    out += [("pathway", pathway, n) for pathway, n in data["pathways"]]
    out.append(("notifiable", "incidents found notifiable", data["notifiable"]))
    for c in data["clocks"]:
        out.append(("on-time rate %", c["clock"], c["rate"] if c["rate"] is not None else "no cases"))
        out.append(("late cases", c["clock"], " ".join(c["late"])))
    out += [("delay", f"{ref} {at}", f"{reason} (expected {expected})") for ref, at, reason, expected in data["delays"]]
    out += [
        ("deadlocks", "rounds deadlocked", data["deadlocks"]),
        ("consultations", "decided by consultation", data["consultations"]),
    ]
    out.append(("scrutineer disagreements", "count", len(data["disagreements"])))
    out += [("actions", state, n) for state, n in data["actions"].items()]
    out += [("median hours from vote request to vote", agency, hours) for agency, hours, _ in data["vote_hours"]]
    return out


def to_csv(data: dict[str, Any]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["section", "item", "value"])
    writer.writerows(rows(data))
    return buffer.getvalue()


def to_xlsx(data: dict[str, Any]) -> bytes:
    book = Workbook()
    summary = book.active
    summary.title = "Summary"
    summary.append([f"{data['partnership']}: {data['year']}"])
    summary["A1"].font = Font(bold=True, size=13)
    summary.append(["section", "item", "value"])
    for row in rows(data):
        summary.append(list(row))
    summary.column_dimensions["A"].width = 38
    summary.column_dimensions["B"].width = 34
    summary.column_dimensions["C"].width = 40

    monthly = book.create_sheet("Referrals by month")
    monthly.append(["month", "referrals"])
    for month, n in data["by_month"]:
        monthly.append([month, n])
    chart = BarChart()
    chart.title, chart.y_axis.title, chart.x_axis.title = "Referrals by month", "referrals", "month"
    chart.add_data(Reference(monthly, min_col=2, min_row=1, max_row=13), titles_from_data=True)
    chart.set_categories(Reference(monthly, min_col=1, min_row=2, max_row=13))
    chart.width, chart.height = 22, 10
    monthly.add_chart(chart, "D2")

    clocks = book.create_sheet("Statutory clocks")
    clocks.append(["clock", "cases", "on time", "on-time rate %", "late cases"])
    for c in data["clocks"]:
        clocks.append([c["clock"], c["cases"], c["on_time"], c["rate"] or 0, " ".join(c["late"])])
    rates = BarChart()
    rates.type = "bar"
    rates.title, rates.x_axis.title, rates.y_axis.title = "On-time rate by statutory clock", "clock", "%"
    rates.y_axis.scaling.min, rates.y_axis.scaling.max = 0, 100
    rates.add_data(Reference(clocks, min_col=4, min_row=1, max_row=1 + len(data["clocks"])), titles_from_data=True)
    rates.set_categories(Reference(clocks, min_col=1, min_row=2, max_row=1 + len(data["clocks"])))
    rates.width, rates.height = 22, 10
    clocks.add_chart(rates, "G2")

    agencies = book.create_sheet("Agencies")
    agencies.append(["referring agency", "referrals"])
    for agency, n in data["by_agency"]:
        agencies.append([agency, n])
    agencies.append([])
    agencies.append(["panel agency", "median hours from vote request to vote", "votes"])
    for row in data["vote_hours"]:
        agencies.append(list(row))

    delays = book.create_sheet("Delays and scrutiny")
    delays.append(["case", "recorded", "reason", "expected"])
    for row in data["delays"]:
        delays.append(list(row))
    delays.append([])
    delays.append(["scrutineer disagreements: case", "by", "when"])
    for row in data["disagreements"]:
        delays.append(list(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
