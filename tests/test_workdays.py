"""Working-day arithmetic, checked against dates known from the gov.uk bank-holiday lists."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import holidays
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from bot.config import AppConfig, ConfigError, Duration, load_config, parse_config
from bot.workdays import WorkCalendar, add_months

APP_YAML = Path(__file__).resolve().parent.parent / "app.yaml"
LONDON = ZoneInfo("Europe/London")
D = dt.date.fromisoformat
CAL = WorkCalendar.from_config(load_config(APP_YAML))


def raw_config() -> dict[str, Any]:
    return yaml.safe_load(APP_YAML.read_text(encoding="utf-8"))


def config_with(**changes: Any) -> AppConfig:
    """app.yaml with top-level sections shallow-merged with `changes`."""
    data = raw_config()
    for section, values in changes.items():
        data[section] = {**data.get(section, {}), **values}
    return parse_config(data)


@pytest.fixture
def cal() -> WorkCalendar:
    return CAL


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def london(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=LONDON)


# --- working days -----------------------------------------------------------------------------


@pytest.mark.parametrize("day", ["2026-12-19", "2026-12-20", "2026-03-28", "2026-03-29"])
def test_weekends_are_not_working_days(cal: WorkCalendar, day: str) -> None:
    assert not cal.is_working_day(D(day))


@pytest.mark.parametrize("day", ["2026-12-21", "2026-12-24", "2026-12-29", "2026-03-27", "2026-03-30"])
def test_ordinary_weekdays_are_working_days(cal: WorkCalendar, day: str) -> None:
    assert cal.is_working_day(D(day))


@pytest.mark.parametrize(
    "day",
    [
        "2026-01-01",  # New Year's Day
        "2026-04-03",  # Good Friday
        "2026-04-06",  # Easter Monday (England and Wales only)
        "2026-05-04",  # Early May bank holiday
        "2026-05-25",  # Spring bank holiday
        "2026-08-31",  # Summer bank holiday (England and Wales only)
        "2026-12-25",  # Christmas Day
        "2026-12-28",  # Boxing Day substitute (26th is a Saturday)
        "2027-03-29",  # Easter Monday 2027
        "2027-08-30",  # Summer bank holiday 2027
    ],
)
def test_bank_holidays_are_not_working_days(cal: WorkCalendar, day: str) -> None:
    assert not cal.is_working_day(D(day))


@pytest.mark.parametrize(
    "day",
    [
        "2020-12-28",  # Boxing Day substitute
        "2021-12-27",  # Christmas Day substitute
        "2021-12-28",  # Boxing Day substitute
        "2022-01-03",  # New Year's Day substitute
        "2022-12-26",  # Boxing Day
        "2022-12-27",  # Christmas Day substitute
    ],
)
def test_substitute_days_are_not_working_days(cal: WorkCalendar, day: str) -> None:
    assert not cal.is_working_day(D(day))


@pytest.mark.parametrize(
    "day",
    [
        "2020-05-08",  # early May bank holiday moved to Friday for VE Day 75
        "2022-06-02",  # spring bank holiday moved for the Platinum Jubilee
        "2022-06-03",  # Platinum Jubilee bank holiday
        "2022-09-19",  # State Funeral of Queen Elizabeth II
        "2023-05-08",  # Coronation of King Charles III
    ],
)
def test_one_off_bank_holidays_are_not_working_days(cal: WorkCalendar, day: str) -> None:
    assert not cal.is_working_day(D(day))


@pytest.mark.parametrize("day", ["2020-05-04", "2022-05-30"])
def test_days_whose_bank_holiday_was_moved_are_working_days(cal: WorkCalendar, day: str) -> None:
    assert cal.is_working_day(D(day))


def test_without_subdiv_eng_easter_monday_and_summer_bank_holiday_are_missed() -> None:
    whole_uk = WorkCalendar.from_config(config_with(calendar={"subdiv": None}))
    # The UK-wide list lacks the England-and-Wales-only days: this is why app.yaml says ENG.
    assert whole_uk.is_working_day(D("2026-04-06"))
    assert whole_uk.is_working_day(D("2026-08-31"))
    assert not whole_uk.is_working_day(D("2026-12-25"))


def test_local_closures_are_not_working_days() -> None:
    closed = WorkCalendar.from_config(config_with(calendar={"closures": ["2026-12-29"]}))
    assert not closed.is_working_day(D("2026-12-29"))
    assert closed.is_working_day(D("2026-12-30"))
    # 2 working days after Thu 24 Dec: 25, 28 holidays, 29 closed -> 30, 31.
    assert closed.add_working_days(D("2026-12-24"), 2) == D("2026-12-31")


def test_calendars_are_cached_per_config() -> None:
    cfg = load_config(APP_YAML)
    assert WorkCalendar.from_config(cfg) is WorkCalendar.from_config(load_config(APP_YAML))
    other = config_with(calendar={"closures": ["2026-12-29"]})
    assert WorkCalendar.from_config(other) is not WorkCalendar.from_config(cfg)


# --- adding working days ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        ("2026-12-18", 1, "2026-12-21"),  # Fri -> Mon
        ("2026-12-21", 2, "2026-12-23"),
        ("2026-12-21", 5, "2026-12-30"),  # over Christmas and the Boxing Day substitute
        ("2026-12-19", 1, "2026-12-21"),  # from a Saturday
        ("2026-04-02", 1, "2026-04-07"),  # over Good Friday, the weekend and Easter Monday
        ("2026-12-21", 0, "2026-12-21"),  # zero: a working day is itself
        ("2026-12-25", 0, "2026-12-29"),  # zero: a holiday rolls forward
        ("2026-12-19", 0, "2026-12-21"),  # zero: a Saturday rolls forward
        ("2026-12-21", -1, "2026-12-18"),  # Mon -> previous Fri
        ("2026-12-29", -1, "2026-12-24"),  # back over the Boxing Day substitute and Christmas
        ("2026-04-07", -2, "2026-04-01"),  # back over Easter
        ("2026-12-26", -1, "2026-12-24"),  # from a Saturday backwards
    ],
)
def test_add_working_days(cal: WorkCalendar, start: str, n: int, expected: str) -> None:
    assert cal.add_working_days(D(start), n) == D(expected)


@pytest.mark.parametrize(
    ("anchor", "n", "expected"),
    [
        ("2026-12-24", 1, "2026-12-24"),
        ("2026-12-24", 2, "2026-12-29"),
        ("2026-12-24", 15, "2027-01-18"),
        ("2026-12-19", 1, "2026-12-19"),  # Saturday anchor: Day 1 is the Saturday itself (issue 12)
        ("2026-12-19", 2, "2026-12-21"),  # Day 2 is the next working day after it
        ("2026-12-25", 1, "2026-12-25"),  # Christmas anchor: Day 1 is Christmas Day
        ("2026-12-25", 3, "2026-12-30"),  # Day 2 Tue 29th, Day 3 Wed 30th
        ("2026-04-03", 1, "2026-04-03"),  # Good Friday anchor
        ("2026-04-03", 2, "2026-04-07"),
    ],
)
def test_plan_day(cal: WorkCalendar, anchor: str, n: int, expected: str) -> None:
    assert cal.plan_day(D(anchor), n) == D(expected)


def test_plan_day_zero_is_rejected(cal: WorkCalendar) -> None:
    with pytest.raises(ValueError, match="Day 1"):
        cal.plan_day(D("2026-12-24"), 0)


@pytest.mark.parametrize(
    ("notified", "day15", "statutory"),
    [
        ("2026-12-24", "2027-01-18", "2027-01-19"),
        ("2026-12-26", "2027-01-18", "2027-01-19"),  # a Saturday: the spare day is kept (issue 12)
        ("2026-03-30", "2026-04-21", "2026-04-22"),  # across Easter
        ("2026-08-17", "2026-09-07", "2026-09-08"),  # across the summer bank holiday
    ],
)
def test_plan_day_15_is_one_working_day_before_the_statutory_limit(
    cal: WorkCalendar, notified: str, day15: str, statutory: str
) -> None:
    rr = cal.due_after(cal.start_of_day(D(notified)), Duration(working_days=15))
    assert cal.plan_day(D(notified), 15) == D(day15)
    assert cal.local_date(rr) == D(statutory)
    assert cal.add_working_days(D(day15), 1) == D(statutory)


def test_weeks_and_months_after(cal: WorkCalendar) -> None:
    assert cal.weeks_after(D("2026-01-05"), 6) == D("2026-02-16")
    assert cal.weeks_after(D("2026-11-20"), 5) == D("2026-12-29")  # lands on Christmas, rolls on
    assert cal.months_after(D("2026-01-31"), 1) == D("2026-03-02")  # 28 Feb is a Saturday
    assert cal.months_after(D("2027-06-26"), 6) == D("2027-12-29")  # Christmas substitutes
    assert cal.months_after(D("2026-03-12"), 6) == D("2026-09-14")  # a Saturday
    assert cal.months_after(D("2026-06-10"), 6) == D("2026-12-10")


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        ("2026-01-31", 1, "2026-02-28"),
        ("2028-01-31", 1, "2028-02-29"),
        ("2026-08-31", 1, "2026-09-30"),
        ("2026-11-15", 3, "2027-02-15"),
        ("2026-03-31", -1, "2026-02-28"),
        ("2026-01-15", -1, "2025-12-15"),
        ("2026-05-31", 12, "2027-05-31"),
    ],
)
def test_add_months_clamps_the_day(start: str, months: int, expected: str) -> None:
    assert add_months(D(start), months) == D(expected)


# --- instants and clock changes ------------------------------------------------------------------


def test_end_of_day_follows_gmt_and_bst(cal: WorkCalendar) -> None:
    # Clocks go forward on Sunday 29 March 2026.
    assert cal.end_of_day(D("2026-03-27")) == utc("2026-03-27T17:00")
    assert cal.end_of_day(D("2026-03-30")) == utc("2026-03-30T16:00")
    # ...and back on Sunday 25 October 2026.
    assert cal.end_of_day(D("2026-10-23")) == utc("2026-10-23T16:00")
    assert cal.end_of_day(D("2026-10-26")) == utc("2026-10-26T17:00")
    assert cal.end_of_day(D("2026-03-30")).utcoffset() == dt.timedelta(0)


def test_at_gives_utc(cal: WorkCalendar) -> None:
    assert cal.at(D("2026-07-01"), dt.time(9, 0)) == utc("2026-07-01T08:00")
    assert cal.at(D("2026-01-05"), dt.time(9, 0)) == utc("2026-01-05T09:00")


def test_local_date_of_an_instant(cal: WorkCalendar) -> None:
    # 23:30 UTC in summer is already the next day in London.
    assert cal.local_date(utc("2026-07-01T23:30")) == D("2026-07-02")
    assert cal.local_date(utc("2026-01-01T23:30")) == D("2026-01-01")
    new_york = dt.timezone(dt.timedelta(hours=-5))
    assert cal.local_date(dt.datetime(2026, 1, 1, 20, 0, tzinfo=new_york)) == D("2026-01-02")


def test_naive_datetimes_are_refused(cal: WorkCalendar) -> None:
    with pytest.raises(ValueError, match="no timezone"):
        cal.local_date(dt.datetime(2026, 1, 1, 12, 0))


def test_received_on_the_saturday_of_a_clock_change(cal: WorkCalendar) -> None:
    # Saturday 28 March 2026 (GMT); the deadline lands in BST.
    received = utc("2026-03-28T12:00")
    assert cal.due_after(received, Duration(working_days=2)) == utc("2026-03-31T16:00")
    # Saturday 24 October 2026 (BST); the deadline lands in GMT.
    received = utc("2026-10-24T12:00")
    assert cal.due_after(received, Duration(working_days=2)) == utc("2026-10-27T17:00")


def test_received_late_evening_counts_from_the_london_date(cal: WorkCalendar) -> None:
    # 23:30 UTC on Sunday 5 July is 00:30 BST on Monday 6 July: counting starts from Monday.
    assert cal.due_after(utc("2026-07-05T23:30"), Duration(working_days=1)) == utc("2026-07-07T16:00")


# --- hour-based durations -----------------------------------------------------------------------


def test_hours_48_is_a_valid_config() -> None:
    cfg = config_with(process={"screening_due": {"hours": 48}})
    assert cfg.process.screening_due == Duration(hours=48)


def test_duration_needs_exactly_one_unit() -> None:
    with pytest.raises(ConfigError, match="exactly one"):
        config_with(process={"screening_due": {"hours": 48, "working_days": 2}})


@pytest.mark.parametrize(
    ("received", "due"),
    [
        ("2026-01-05T10:00", "2026-01-07T10:00"),  # Mon 10:00 GMT -> Wed 10:00
        ("2026-07-06T10:00", "2026-07-08T09:00"),  # BST: 10:00 local is 09:00 UTC
        ("2026-01-08T10:00", "2026-01-12T09:00"),  # Thu -> Sat 10:00 -> Mon 09:00
        ("2026-01-07T18:30", "2026-01-12T09:00"),  # Wed 18:30 -> Fri 18:30 -> Mon 09:00
        ("2026-01-05T08:00", "2026-01-07T09:00"),  # Mon 08:00 -> Wed 08:00 -> Wed 09:00
        ("2026-01-05T17:00", "2026-01-07T17:00"),  # exactly the end of the day stays
        ("2026-12-23T11:00", "2026-12-29T09:00"),  # Fri 25th is Christmas -> Tue 29th
        ("2026-03-26T10:00", "2026-03-30T08:00"),  # Sat 28th -> Mon 30th 09:00 BST
    ],
)
def test_hours_rule(cal: WorkCalendar, received: str, due: str) -> None:
    assert cal.due_after(london(received), Duration(hours=48)) == utc(due)


def test_hours_are_elapsed_time_across_a_clock_change(cal: WorkCalendar) -> None:
    # 72 elapsed hours from Fri 27 March 12:00 GMT is Mon 30 March 12:00 UTC = 13:00 BST; counting
    # wall-clock hours instead would give 12:00 BST = 11:00 UTC.
    assert cal.due_after(utc("2026-03-27T12:00"), Duration(hours=72)) == utc("2026-03-30T12:00")


def test_hours_config_computes_through_to_the_deadline() -> None:
    cfg = config_with(process={"screening_due": {"hours": 48}})
    cal = WorkCalendar.from_config(cfg)
    # Received Friday 10:00 GMT -> Sunday 10:00 -> Monday 09:00.
    assert cal.due_after(london("2026-01-09T10:00"), cfg.process.screening_due) == utc("2026-01-12T09:00")


# --- quiet hours and days left -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        ("2026-01-05T10:00", "2026-01-05T10:00"),  # inside: unchanged
        ("2026-01-05T09:00", "2026-01-05T09:00"),  # start is inside
        ("2026-01-05T17:00", "2026-01-06T09:00"),  # end is not
        ("2026-01-05T07:00", "2026-01-05T09:00"),  # early: later the same day
        ("2026-01-09T18:00", "2026-01-12T09:00"),  # Friday evening -> Monday
        ("2026-12-24T17:30", "2026-12-29T09:00"),  # Christmas Eve evening -> Tuesday 29th
        ("2026-07-04T12:00", "2026-07-06T08:00"),  # Saturday in summer -> Monday 09:00 BST
    ],
)
def test_next_working_moment(cal: WorkCalendar, moment: str, expected: str) -> None:
    got = cal.next_working_moment(london(moment))
    assert got == utc(expected)
    assert got.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize(
    ("now", "due", "left"),
    [
        ("2026-12-21T10:00", "2026-12-23T17:00", 3),  # Mon, Tue, Wed
        ("2026-12-23T10:00", "2026-12-23T17:00", 1),  # due today
        ("2026-12-23T17:00", "2026-12-23T17:00", 0),  # exactly due
        ("2026-12-24T09:00", "2026-12-23T17:00", 0),  # overdue
        ("2026-12-24T10:00", "2026-12-30T17:00", 3),  # Thu 24, Tue 29, Wed 30
        ("2026-12-26T10:00", "2026-12-30T17:00", 2),  # Saturday: today does not count
        ("2026-12-22T20:00", "2026-12-23T17:00", 2),  # evening: today still counts
    ],
)
def test_working_days_left(cal: WorkCalendar, now: str, due: str, left: int) -> None:
    assert cal.working_days_left(london(now), london(due)) == left


# --- property -----------------------------------------------------------------------------------

# The oracle is the holidays package read directly, not the calendar under test.
ENG_HOLIDAYS = holidays.country_holidays("GB", subdiv="ENG", years=range(2019, 2033))


def oracle_working(d: dt.date) -> bool:
    return d.weekday() < 5 and d not in ENG_HOLIDAYS


@given(d=st.dates(min_value=dt.date(2019, 1, 1), max_value=dt.date(2031, 12, 31)), n=st.integers(1, 40))
def test_add_working_days_lands_on_the_nth_working_day(d: dt.date, n: int) -> None:
    got = CAL.add_working_days(d, n)
    assert got > d
    assert oracle_working(got)
    between = [d + dt.timedelta(days=i) for i in range(1, (got - d).days)]
    assert sum(oracle_working(x) for x in between) == n - 1
    back = CAL.add_working_days(got, -n)
    assert back == d if oracle_working(d) else back < d
