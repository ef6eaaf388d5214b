"""`panelbot deadlines`: a referral's clocks, checked against dates counted by hand."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from rich.console import Console

from bot.config import AppConfig, load_config, parse_config
from bot.deadlines import check_order, deadlines_table, parse_when, referral_deadlines

APP_YAML = Path(__file__).resolve().parent.parent / "app.yaml"
LONDON = ZoneInfo("Europe/London")
D = dt.date.fromisoformat


def raw_config() -> dict[str, Any]:
    return yaml.safe_load(APP_YAML.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def cfg() -> AppConfig:
    return load_config(APP_YAML)


def london(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=LONDON)


# Notified Thu 24 Dec 2026: Fri 25 Christmas, Mon 28 Boxing Day substitute, Fri 1 Jan New Year.
EXPECTED_PLAN = [
    (1, "notify", "2026-12-24", "la_notifier"),
    (2, "recommend", "2026-12-29", "la_notifier"),
    (3, "templates", "2026-12-30", "business_manager"),
    (10, "agency_return", "2027-01-11", "agency_lead"),
    (11, "collate", "2027-01-12", "business_manager"),
    (12, "circulate", "2027-01-13", "business_manager"),
    (13, "panel_meeting", "2027-01-14", "rr_chair"),
    (14, "write_up", "2027-01-15", "rr_chair"),
    (15, "submit", "2027-01-18", "business_manager"),
]


def test_the_christmas_example_exactly(cfg: AppConfig) -> None:
    whats = {m["key"]: m["what"] for m in raw_config()["process"]["rapid_review_plan"]}
    expected = {
        "received": "2026-12-21T10:00:00+00:00",
        "screening_due": "2026-12-23T17:00:00+00:00",
        "notification_due": "2026-12-30T17:00:00+00:00",
        "notified": "2026-12-24",
        "rapid_review_due": "2027-01-19T17:00:00+00:00",
        "milestones": [
            {"day": day, "key": key, "date": date, "due": f"{date}T17:00:00+00:00", "what": whats[key], "owner": owner}
            for day, key, date, owner in EXPECTED_PLAN
        ],
    }
    got = referral_deadlines(cfg, london("2026-12-21T10:00"), D("2026-12-24"))
    assert got == expected
    assert list(got) == list(expected)
    assert [list(m) for m in got["milestones"]] == [["day", "key", "date", "due", "what", "owner"]] * 9


def test_without_notification_only_the_referral_clocks(cfg: AppConfig) -> None:
    got = referral_deadlines(cfg, london("2026-12-21T10:00"), None)
    assert got == {
        "received": "2026-12-21T10:00:00+00:00",
        "screening_due": "2026-12-23T17:00:00+00:00",
        "notification_due": "2026-12-30T17:00:00+00:00",
    }


def test_received_is_given_in_london_time_with_its_offset(cfg: AppConfig) -> None:
    got = referral_deadlines(cfg, london("2026-07-06T10:00"), None)
    assert got["received"] == "2026-07-06T10:00:00+01:00"


def test_received_just_after_midnight_in_summer_counts_from_the_london_date(cfg: AppConfig) -> None:
    # 23:30 UTC Sunday 5 July = 00:30 BST Monday 6 July.
    received = dt.datetime(2026, 7, 5, 23, 30, tzinfo=dt.UTC)
    got = referral_deadlines(cfg, received, None)
    assert got["screening_due"] == "2026-07-08T17:00:00+01:00"
    assert got["notification_due"] == "2026-07-13T17:00:00+01:00"


def test_easter_referral(cfg: AppConfig) -> None:
    # Thu 2 April 2026; Good Friday 3rd and Easter Monday 6th are bank holidays.
    got = referral_deadlines(cfg, london("2026-04-02T15:00"), D("2026-04-09"))
    assert got["screening_due"] == "2026-04-08T17:00:00+01:00"
    assert got["notification_due"] == "2026-04-13T17:00:00+01:00"
    assert got["rapid_review_due"] == "2026-04-30T17:00:00+01:00"
    assert got["milestones"][-1]["date"] == "2026-04-29"


def test_notified_on_a_weekend_is_day_1_and_day_2_is_monday(cfg: AppConfig) -> None:
    got = referral_deadlines(cfg, london("2026-01-05T10:00"), D("2026-01-10"))
    assert got["milestones"][0]["date"] == "2026-01-10"
    assert got["milestones"][1]["date"] == "2026-01-12"
    assert got["milestones"][-1]["date"] == "2026-01-29"  # one working day before the statutory date
    # The statutory clock counts from the Saturday: 15 working days strictly after it.
    assert got["rapid_review_due"] == "2026-01-30T17:00:00+00:00"


def test_screening_due_in_hours() -> None:
    data = raw_config()
    data["process"]["screening_due"] = {"hours": 48}
    cfg = parse_config(data)
    # Friday 10:00 + 48 h is Sunday: rolls to Monday.
    assert referral_deadlines(cfg, london("2026-01-09T10:00"), None)["screening_due"] == "2026-01-12T09:00:00+00:00"
    # Monday 10:00 + 48 h is Wednesday 10:00.
    assert referral_deadlines(cfg, london("2026-01-05T10:00"), None)["screening_due"] == "2026-01-07T10:00:00+00:00"


@pytest.mark.parametrize(
    ("hours", "due"),
    [
        (80, "2026-01-08T17:00:00+00:00"),  # Mon 5 Jan 09:00 + 80 h = Thu 17:00: still Thursday
        (81, "2026-01-09T09:00:00+00:00"),  # Thu 18:00 is after hours: Fri 09:00 (from midnight: Thursday)
    ],
)
def test_rapid_review_due_in_hours_counts_from_the_start_of_the_notified_day(hours: int, due: str) -> None:
    data = raw_config()
    data["process"]["rapid_review_due"] = {"hours": hours}
    cfg = parse_config(data)
    got = referral_deadlines(cfg, london("2026-01-05T08:00"), D("2026-01-05"))
    assert got["rapid_review_due"] == due


def test_local_closure_moves_the_deadlines() -> None:
    data = raw_config()
    data["calendar"]["closures"] = ["2026-12-29"]
    cfg = parse_config(data)
    got = referral_deadlines(cfg, london("2026-12-21T10:00"), D("2026-12-24"))
    assert got["notification_due"] == "2026-12-31T17:00:00+00:00"
    assert got["rapid_review_due"] == "2027-01-20T17:00:00+00:00"
    assert got["milestones"][1]["date"] == "2026-12-30"


# --- parse_when ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-21T10:00", "2026-12-21T10:00:00+00:00"),  # local, GMT
        ("2026-07-06T10:00", "2026-07-06T09:00:00+00:00"),  # local, BST
        ("2026-07-06 10:00", "2026-07-06T09:00:00+00:00"),
        ("2026-07-06T10:00+02:00", "2026-07-06T08:00:00+00:00"),  # offset taken as given
        ("2026-07-06T10:00Z", "2026-07-06T10:00:00+00:00"),
        ("2026-12-21", "2026-12-21T09:00:00+00:00"),  # bare date: start of the working day
        ("2026-07-06", "2026-07-06T08:00:00+00:00"),
        ("  2026-12-21T10:00  ", "2026-12-21T10:00:00+00:00"),
    ],
)
def test_parse_when(text: str, expected: str) -> None:
    got = parse_when(text, LONDON)
    assert got.isoformat() == expected


def test_parse_when_bare_date_uses_the_given_day_start() -> None:
    got = parse_when("2026-12-21", LONDON, day_start=dt.time(8, 30))
    assert got.isoformat() == "2026-12-21T08:30:00+00:00"


@pytest.mark.parametrize("text", ["", "yesterday", "21/12/2026", "2026-13-01", "2026-12-21T25:00"])
def test_parse_when_rejects_bad_input_in_one_sentence(text: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_when(text, LONDON)
    message = str(info.value)
    assert "ISO 8601" in message
    assert message.count(". ") == 0 and message.endswith(".")


# --- check_order --------------------------------------------------------------------------------


def test_notified_before_received_is_refused(cfg: AppConfig) -> None:
    with pytest.raises(ValueError, match=r"^notified \(2026-12-20\) is before received \(2026-12-21\)$"):
        check_order(london("2026-12-21T10:00"), D("2026-12-20"), cfg.tz)
    with pytest.raises(ValueError, match="is before received"):
        referral_deadlines(cfg, london("2026-12-21T10:00"), D("2026-12-20"))


def test_notified_the_same_day_or_later_is_fine(cfg: AppConfig) -> None:
    check_order(london("2026-12-21T16:00"), D("2026-12-21"), cfg.tz)
    check_order(london("2026-12-21T16:00"), None, cfg.tz)


def test_check_order_compares_london_dates() -> None:
    # 23:30 UTC on 5 July is 6 July in London, so notified on 5 July is before it.
    received = dt.datetime(2026, 7, 5, 23, 30, tzinfo=dt.UTC)
    with pytest.raises(ValueError, match=r"notified \(2026-07-05\) is before received \(2026-07-06\)"):
        check_order(received, D("2026-07-05"))


# --- table --------------------------------------------------------------------------------------


def render(table: Any) -> str:
    console = Console(width=200, record=True, color_system=None)
    console.print(table)
    return console.export_text()


def test_table_lists_every_deadline(cfg: AppConfig) -> None:
    table = deadlines_table(referral_deadlines(cfg, london("2026-12-21T10:00"), D("2026-12-24")))
    assert [c.header for c in table.columns] == ["what", "date", "owner"]
    assert table.row_count == 4 + 9 + 1
    text = render(table)
    for date in ["2026-12-23", "2026-12-30", "2026-12-24", "2027-01-19", "2027-01-18", "2027-01-11"]:
        assert date in text
    assert "Day 13" in text and "rr_chair" in text


def test_table_without_notification(cfg: AppConfig) -> None:
    table = deadlines_table(referral_deadlines(cfg, london("2026-12-21T10:00"), None))
    assert table.row_count == 3
    assert "2027-01-19" not in render(table)
