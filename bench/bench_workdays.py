"""Time the working-day calendar: `python bench/bench_workdays.py [app.yaml] [calls]`.

Not a test: it prints calls per second for the hot paths the scheduler and digests use.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bot.config import Duration, load_config
from bot.workdays import WorkCalendar

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "app.yaml"


def rate(label: str, calls: int, fn: Callable[[int], object]) -> None:
    started = time.perf_counter()
    for i in range(calls):
        fn(i)
    elapsed = time.perf_counter() - started
    print(f"{label:<36} {calls:>8} calls  {elapsed:7.3f} s  {calls / elapsed:>12,.0f} calls/s")


def main(argv: list[str]) -> None:
    config = Path(argv[1]) if len(argv) > 1 else DEFAULT_CONFIG
    calls = int(argv[2]) if len(argv) > 2 else 100_000
    cal = WorkCalendar.from_config(load_config(config))
    # Spread over ten years so the lazily loaded holiday years are exercised too.
    days = [dt.date(2020, 1, 1) + dt.timedelta(days=i % 3650) for i in range(calls)]
    moments = [cal.at(d, dt.time(10, 30)) for d in days]
    started = time.perf_counter()
    for year in range(2020, 2031):
        cal.is_working_day(dt.date(year, 1, 2))
    print(f"loading 11 years of holidays: {time.perf_counter() - started:.3f} s (once per calendar)")
    two, fifteen, hours = Duration(working_days=2), Duration(working_days=15), Duration(hours=48)

    rate("is_working_day", calls, lambda i: cal.is_working_day(days[i]))
    rate("add_working_days(d, 5)", calls, lambda i: cal.add_working_days(days[i], 5))
    rate("due_after(2 working days)", calls, lambda i: cal.due_after(moments[i], two))
    rate("due_after(15 working days)", calls, lambda i: cal.due_after(moments[i], fifteen))
    rate("due_after(48 hours)", calls, lambda i: cal.due_after(moments[i], hours))
    rate("next_working_moment", calls, lambda i: cal.next_working_moment(moments[i]))


if __name__ == "__main__":
    main(sys.argv)
