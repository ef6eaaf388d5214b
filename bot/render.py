"""Human-readable terminal output for the CLI (rich). Scripts use `--json` instead."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from bot.config import AppConfig
from bot.flows.screening.tally import PATHWAY_LABELS, Pathway
from bot.worker.outbox import Outgoing

LONDON = ZoneInfo("Europe/London")


def local(cfg_tz: Any, iso_time: str | None) -> str:
    if not iso_time:
        return "—"
    return dt.datetime.fromisoformat(iso_time).astimezone(cfg_tz).strftime("%a %d %b %Y %H:%M")


def pathway(value: str | None) -> str:
    return PATHWAY_LABELS[Pathway(value)] if value else "—"


def case(out: Console, view: dict[str, Any], tz: Any = None) -> None:
    tz = tz or LONDON
    head = Table.grid(padding=(0, 2))
    for label, value in [
        ("Case", view["ref"]),
        ("Status", view["status"].replace("_", " ")),
        ("Received", local(tz, view["received"])),
        ("Screening due", local(tz, view["screening_due"])),
        ("Notification due", local(tz, view["notification_due"])),
        ("Notified", local(tz, view["notified"])),
        ("Rapid Review due", local(tz, view["rapid_review_due"])),
        (
            "Decision",
            f"{pathway(view['pathway'])}, notifiable: {_yes(view['notifiable'])}, "
            f"by {view['method'] or '—'} at {local(tz, view['decided_at'])}"
            if view["pathway"]
            else "none yet",
        ),
    ]:
        head.add_row(f"[bold]{label}[/bold]", value)
    out.print(Panel(head, title=view["ref"], expand=False))
    out.print("[bold]Votes[/bold]")
    for v in view["votes"]:
        late = " [yellow](after the decision)[/yellow]" if v["after_decision"] else ""
        out.print(
            f"  round {v['round']} · {v['agency']} · {v['voter_name']} · {pathway(v['pathway'])}{late} · "
            f"notifiable {_yes(v['notifiable'])} · {local(tz, v['time'])}\n    “{v['rationale']}”"
        )
    for s in view["scrutiny"]:
        out.print(
            f"Scrutiny: {s['by']} {s['verdict']}s ({local(tz, s['at'])}){': ' + s['comment'] if s['comment'] else ''}"
        )
    msgs = Table("at", "kind", "to", "channel", "state", title="Messages")
    for m in view["messages"]:
        msgs.add_row(local(tz, m["at"]), m["kind"], m["to"], m["channel"], m["state"])
    out.print(msgs)


def _yes(value: bool | None) -> str:
    return "—" if value is None else ("yes" if value else "no")


def cases(out: Console, rows: list[dict[str, Any]]) -> None:
    tz = LONDON
    table = Table("case", "status", "received", "next deadline", "what")
    for r in rows:
        table.add_row(
            r["ref"],
            r["status"].replace("_", " "),
            local(tz, r["received"]),
            local(tz, r["next_deadline"]),
            r["next_what"] or "—",
        )
    out.print(table)


def step(out: Console, cfg: AppConfig, at: dt.datetime, kind: str, data: dict[str, Any]) -> None:
    person = cfg.person(str(data.get("by", "")))
    who = person.name if person else data.get("by", "the Business Manager")
    detail = ""
    if data.get("via") == "link":
        who += " (through the link in their e-mail)"
    if kind == "vote":
        detail = f": {data.get('pathway', '?').replace('_', ' ')}, notifiable {data.get('notifiable')}"
    elif kind == "scrutiny":
        detail = f": {data.get('verdict')}"
    when = at.astimezone(cfg.tz).strftime("%a %d %b %H:%M")
    out.rule(f"[bold]{when}[/bold] — {who} — {kind.replace('_', ' ')}{detail}", align="left")


def delivered(out: Console, cfg: AppConfig, item: Outgoing) -> None:
    person = cfg.person(item.person_id) if item.person_id else None
    who = f"{person.name} ({', '.join(r.value for r in person.roles)})" if person else item.address
    verb = "updated in place" if item.replaces else "new message"
    body = item.message.plain_text()
    if item.channel == "email":  # the e-mail's own links, one line each, as the mail renderer puts them
        grouped: dict[str, list[str]] = {}
        for a in item.message.actions:
            if a.url:
                grouped.setdefault(a.url, []).append(a.label)
        body += "".join(f"\nLink ({' / '.join(labels)}): {url}" for url, labels in grouped.items())
    out.print(Panel(body, title=f"to {who} via {item.channel} — {verb}", title_align="left", expand=False))


def link_opened(out: Console, url: str, page: Any) -> None:
    """A link's page as its person sees it (`panelbot demo`)."""
    lines = [f"[bold]{page.title}[/bold]", page.who] if page.who else [f"[bold]{page.title}[/bold]", page.reason]
    out.print(Panel("\n".join(lines), title=f"opens {url}", title_align="left", expand=False))


def simulation(out: Console, cfg: AppConfig, result: dict[str, Any]) -> None:
    for view in result["cases"]:
        case(out, view, cfg.tz)
    if result["rejected"]:
        table = Table("at", "step", "refused because", title="Rejected steps")
        for r in result["rejected"]:
            table.add_row(local(cfg.tz, r["at"]), r["step"], r["error"])
        out.print(table)


def fresh_link_json(made: Any) -> dict[str, Any]:
    return {"purpose": made.purpose.value, "person": made.person, "url": made.url, "expires": made.expires_at}


def fresh_links(out: Console, made: list[Any], tz: Any = None) -> None:
    """New single-purpose links, one per open purpose and person (`case show --links`)."""
    tz = tz or LONDON
    out.print("[bold]Links[/bold] (new; each works for its person and purpose only — hand on with care)")
    if not made:
        out.print("  nothing is open on this case")
    for m in made:
        out.print(
            f"  {m.purpose.value} · {m.person} · until {local(tz, m.expires_at.isoformat())}\n    {m.url}",
            soft_wrap=True,
        )
