"""Working-day arithmetic: the one place the partnership's clocks are counted.

See DESIGN.md, "Counting, stated once and used everywhere". A working day is Monday–Friday, not a
bank holiday for the configured country/subdivision (the `holidays` package; `subdiv="ENG"` is
what adds Easter Monday and the summer bank holiday) and not a local closure from `app.yaml`.

Every datetime taken or returned is timezone-aware. Inputs may be in any zone; instants are
returned in UTC, calendar dates are the partnership's local (Europe/London) dates.
"""

from __future__ import annotations

import calendar as _calendar
import datetime as dt
import threading
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from bot.config import AppConfig, Duration

UTC = dt.UTC
_ONE_DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class CalendarKey:
    """Everything a `WorkCalendar` depends on, hashable so calendars can be cached per config."""

    country: str
    subdiv: str | None
    closures: frozenset[dt.date]
    start: dt.time
    end: dt.time
    timezone: str

    @classmethod
    def of(cls, cfg: AppConfig) -> CalendarKey:
        return cls(
            country=cfg.calendar.country,
            subdiv=cfg.calendar.subdiv,
            closures=frozenset(cfg.calendar.closures),
            start=cfg.working_hours.start,
            end=cfg.working_hours.end,
            timezone=cfg.partnership.timezone,
        )


def _require_aware(moment: dt.datetime) -> None:
    if moment.tzinfo is None or moment.tzinfo.utcoffset(moment) is None:
        raise ValueError(f"datetime {moment.isoformat()} has no timezone; panelbot only counts aware times")


class WorkCalendar:
    """Working days, working hours and deadlines for one partnership's calendar."""

    def __init__(self, key: CalendarKey) -> None:
        self.key = key
        self.tz = ZoneInfo(key.timezone)
        self.start = key.start
        self.end = key.end
        # Days off: the local closures, plus bank holidays for every year in `_years` (loaded lazily).
        self._off: set[dt.date] = set(key.closures)
        self._years: set[int] = set()
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, cfg: AppConfig) -> WorkCalendar:
        return _calendar_for(CalendarKey.of(cfg))

    # --- days -------------------------------------------------------------------------------

    def is_working_day(self, d: dt.date) -> bool:
        if d.weekday() >= 5:
            return False
        if d.year not in self._years:
            self._load_year(d.year)
        return d not in self._off

    def _load_year(self, year: int) -> None:
        with self._lock:
            if year in self._years:
                return
            bank = holidays.country_holidays(self.key.country, subdiv=self.key.subdiv, years=year)
            self._off.update(bank)
            self._years.add(year)

    def add_working_days(self, d: dt.date, n: int) -> dt.date:
        """n > 0: the n-th working day strictly after `d`; n < 0: the |n|-th strictly before;
        n == 0: `d` itself if it is a working day, else the next working day."""
        if n == 0:
            return d if self.is_working_day(d) else self.add_working_days(d, 1)
        step = _ONE_DAY if n > 0 else -_ONE_DAY
        remaining = abs(n)
        while remaining:
            d += step
            if self.is_working_day(d):
                remaining -= 1
        return d

    def plan_day(self, anchor: dt.date, n: int) -> dt.date:
        """Day `n` of a plan: Day 1 is `anchor` itself (the day the notification was sent), working day
        or not; Day n (n ≥ 2) is the (n−1)-th working day after it. So a plan of 15 days ends one working
        day before a limit of 15 working days after the anchor, whatever day the anchor is."""
        if n < 1:
            raise ValueError(f"plan days start at Day 1, not Day {n}")
        return anchor if n == 1 else self.add_working_days(anchor, n - 1)

    def working_days_between(self, first: dt.date, last: dt.date) -> int:
        """How many working days lie in `first`..`last`, both included (0 if last < first)."""
        count = 0
        d = first
        while d <= last:
            count += self.is_working_day(d)
            d += _ONE_DAY
        return count

    def weeks_after(self, d: dt.date, weeks: int) -> dt.date:
        """`d` plus whole calendar weeks, rolled forward to a working day if it lands off one."""
        return self.add_working_days(d + dt.timedelta(weeks=weeks), 0)

    def months_after(self, d: dt.date, months: int) -> dt.date:
        """`d` plus calendar months (31 Jan + 1 month = 28/29 Feb), rolled forward to a working day."""
        return self.add_working_days(add_months(d, months), 0)

    # --- instants ---------------------------------------------------------------------------

    def at(self, d: dt.date, t: dt.time) -> dt.datetime:
        """Local time `t` on date `d`, in UTC. Nonexistent or ambiguous local times (clock
        changes) resolve as zoneinfo does with fold=0."""
        return dt.datetime.combine(d, t.replace(tzinfo=None), tzinfo=self.tz).astimezone(UTC)

    def end_of_day(self, d: dt.date) -> dt.datetime:
        return self.at(d, self.end)

    def start_of_day(self, d: dt.date) -> dt.datetime:
        return self.at(d, self.start)

    def local_date(self, moment: dt.datetime) -> dt.date:
        _require_aware(moment)
        return moment.astimezone(self.tz).date()

    def next_working_moment(self, moment: dt.datetime) -> dt.datetime:
        """`moment` (in UTC) if it is within working hours, start included and end excluded, on a
        working day; otherwise the start of the next working period. Used for quiet hours."""
        return self._roll_forward(moment, end_included=False)

    def _roll_forward(self, moment: dt.datetime, *, end_included: bool) -> dt.datetime:
        _require_aware(moment)
        local = moment.astimezone(self.tz)
        day, clock = local.date(), local.time()
        if self.is_working_day(day):
            before_end = clock <= self.end if end_included else clock < self.end
            if self.start <= clock and before_end:
                return moment.astimezone(UTC)
            if clock < self.start:
                return self.start_of_day(day)
        return self.start_of_day(self.add_working_days(day, 1))

    # --- deadlines --------------------------------------------------------------------------

    def due_after(self, received: dt.datetime, duration: Duration) -> dt.datetime:
        """When something received at `received` falls due, in UTC.

        `working_days=N`: the end of the working day (`working_hours.end`, local) of the N-th
        working day strictly after the local date of `received`.

        `hours=N`: `received` plus N elapsed clock hours (so a clock change does not stretch or
        shrink it). If that instant is outside working time — a non-working day, before
        `working_hours.start` or after `working_hours.end` — the deadline moves forward to the start
        of the next working period: nobody can be expected to act overnight or at a weekend, and
        moving it back would shorten the time allowed. Exactly `working_hours.end` is inside
        working time, matching the end-of-day rule for working days.
        """
        if duration.working_days is not None:
            return self.end_of_day(self.add_working_days(self.local_date(received), duration.working_days))
        assert duration.hours is not None  # Duration guarantees exactly one is set
        _require_aware(received)
        return self._roll_forward(received + dt.timedelta(hours=duration.hours), end_included=True)

    def working_days_left(self, now: dt.datetime, due: dt.datetime) -> int:
        """Working days left before `due`, as shown in chases and digests.

        0 once `now` is at or past `due`. Otherwise the number of working days from `now`'s local
        date to `due`'s local date, both included: today counts if it is a working day (even late
        in the day), so a deadline at 17:00 today gives 1 and one at 17:00 tomorrow gives 2. A due
        date that is itself not a working day adds nothing.
        """
        _require_aware(now)
        _require_aware(due)
        if now >= due:
            return 0
        return self.working_days_between(self.local_date(now), self.local_date(due))


@lru_cache(maxsize=32)
def _calendar_for(key: CalendarKey) -> WorkCalendar:
    return WorkCalendar(key)


def add_months(d: dt.date, months: int) -> dt.date:
    """Calendar months, clamping the day to the target month's length (31 Jan + 1 = 28/29 Feb)."""
    index = d.year * 12 + (d.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    return d.replace(year=year, month=month, day=min(d.day, _calendar.monthrange(year, month)[1]))
