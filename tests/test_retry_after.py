"""The one Retry-After parser every sender uses: seconds or an HTTP date, kept between 1 s and 1 h."""

from __future__ import annotations

import datetime as dt

from bot.worker.outbox import retry_after_seconds

NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.UTC)


def test_seconds() -> None:
    assert retry_after_seconds("30") == 30.0
    assert retry_after_seconds(" 7 ") == 7.0


def test_an_http_date_is_counted_from_now() -> None:
    assert retry_after_seconds("Tue, 24 Nov 2026 10:02:00 GMT", NOW) == 120.0


def test_floor_and_ceiling() -> None:
    assert retry_after_seconds("0") == 1.0
    assert retry_after_seconds("Tue, 24 Nov 2026 09:00:00 GMT", NOW) == 1.0  # a date in the past
    assert retry_after_seconds("86400") == 3600.0


def test_absent_or_unreadable_leaves_it_to_the_backoff() -> None:
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("") is None
    assert retry_after_seconds("soon") is None
