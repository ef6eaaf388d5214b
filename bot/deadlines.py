"""The statutory clocks for one referral, as pure functions behind `panelbot deadlines`.

Counting rules live in `bot.workdays`; this module only applies them to a referral's anchors
(received, and the date the National Panel was notified) and shapes the answer.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from rich.table import Table

from bot.config import AppConfig, Milestone
from bot.workdays import UTC, WorkCalendar

_LONDON = ZoneInfo("Europe/London")
_FORMATS_HELP = "use ISO 8601, for example 2026-12-21, 2026-12-21T10:00 or 2026-12-21T10:00+00:00"


def parse_when(text: str, tz: dt.tzinfo, *, day_start: dt.time = dt.time(9, 0)) -> dt.datetime:
    """Read a moment typed by a person, returned in UTC.

    - a date-time with an offset (`2026-12-21T10:00+00:00`, `...Z`) is taken as given;
    - a date-time without one (`2026-12-21T10:00`) is local time in `tz`;
    - a bare date (`2026-12-21`) means the start of that working day, `day_start` local (pass
      `cfg.working_hours.start`). Working-day clocks only look at the date, so this only matters
      for hour-based ones.
    """
    cleaned = text.strip()
    try:
        day = dt.date.fromisoformat(cleaned)
    except ValueError:
        pass
    else:
        return dt.datetime.combine(day, day_start, tzinfo=tz).astimezone(UTC)
    try:
        moment = dt.datetime.fromisoformat(cleaned)
    except ValueError:
        raise ValueError(f"{text!r} is not a date or date-time: {_FORMATS_HELP}.") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(UTC)


def check_order(received: dt.datetime, notified: dt.date | None, tz: dt.tzinfo = _LONDON) -> None:
    """Raise ValueError if the notification date is before the local date the referral arrived.

    Pass `cfg.tz`; the default is the partnership default, Europe/London.
    """
    if notified is None:
        return
    received_day = received.astimezone(tz).date()
    if notified < received_day:
        raise ValueError(f"notified ({notified.isoformat()}) is before received ({received_day.isoformat()})")


def referral_deadlines(cfg: AppConfig, received: dt.datetime, notified: dt.date | None) -> dict[str, Any]:
    """The referral's deadlines as a JSON-ready dict. Every moment is ISO 8601 with its offset in the
    partnership's timezone (Europe/London: `+00:00` in winter, `+01:00` in summer), never a bare date
    for a time of day and never UTC; `notified` and a milestone's `date` are days, and stay dates.

    `notified`, `rapid_review_due` and `milestones` are present only when `notified` is given. The
    Rapid Review clock starts at the start of the working day the notification was sent, so with
    `working_days: 15` it is the 15th working day strictly after that date. Raises ValueError
    when `notified` is before the day the referral was received.
    """
    check_order(received, notified, cfg.tz)
    cal = WorkCalendar.from_config(cfg)
    process = cfg.process
    out: dict[str, Any] = {
        "received": _local(cfg, received),
        "screening_due": _local(cfg, cal.due_after(received, process.screening_due)),
        "notification_due": _local(cfg, cal.due_after(received, process.notification_due)),
    }
    if notified is None:
        return out
    clock_start = cal.start_of_day(notified)
    out["notified"] = notified.isoformat()
    out["rapid_review_due"] = _local(cfg, cal.due_after(clock_start, process.rapid_review_due))
    out["milestones"] = [_milestone(cfg, cal, notified, m) for m in process.rapid_review_plan]
    return out


def _local(cfg: AppConfig, moment: dt.datetime) -> str:
    return moment.astimezone(cfg.tz).isoformat()


def _milestone(cfg: AppConfig, cal: WorkCalendar, notified: dt.date, m: Milestone) -> dict[str, Any]:
    day = cal.plan_day(notified, m.day)
    return {
        "day": m.day,
        "key": m.key,
        "date": day.isoformat(),
        "due": _local(cfg, cal.end_of_day(day)),
        "what": m.what,
        "owner": m.owner.value,
    }


def deadlines_table(d: dict[str, Any]) -> Table:
    """The human-readable form of `referral_deadlines`' answer: what, date, owner."""
    table = Table(title="Deadlines")
    table.add_column("what")
    table.add_column("date")
    table.add_column("owner")
    table.add_row("Referral received", d["received"], "business_manager")
    table.add_row("Screening decision due", d["screening_due"], "business_manager")
    table.add_row("National Panel notification due", d["notification_due"], "la_notifier")
    if "notified" in d:
        table.add_row("National Panel notified", d["notified"], "la_notifier")
        for m in d["milestones"]:
            table.add_row(f"Day {m['day']}: {m['what']}", m["date"], m["owner"])
        table.add_row("Rapid Review due (statutory)", d["rapid_review_due"], "business_manager")
    return table
