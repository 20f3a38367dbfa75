from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from timeline.activities.deadlines import WorkWeek, add_delay, firm_today

SAUDI = WorkWeek(weekend=frozenset({4, 5}))  # Friday, Saturday
THURSDAY = date(2026, 3, 5)


def test_business_days_skip_the_saudi_weekend():
    # Thursday + 1 business day: Friday and Saturday are off, so Sunday.
    assert add_delay(THURSDAY, 1, "business_days", SAUDI) == date(2026, 3, 8)
    # Thursday + 3 business days: Sunday, Monday, Tuesday.
    assert add_delay(THURSDAY, 3, "business_days", SAUDI) == date(2026, 3, 10)


def test_business_days_skip_a_holiday_too():
    week = WorkWeek(weekend=frozenset({4, 5}), holidays=frozenset({date(2026, 3, 8)}))
    assert add_delay(THURSDAY, 1, "business_days", week) == date(2026, 3, 9)
    assert add_delay(THURSDAY, 3, "business_days", week) == date(2026, 3, 11)


def test_a_western_weekend_gives_other_dates():
    western = WorkWeek(weekend=frozenset({5, 6}))
    assert add_delay(THURSDAY, 1, "business_days", western) == date(2026, 3, 6)  # Friday works there


def test_zero_business_days_is_the_start_date():
    assert add_delay(THURSDAY, 0, "business_days", SAUDI) == THURSDAY


@pytest.mark.parametrize(
    ("count", "unit", "expected"),
    [
        (3, "days", date(2026, 3, 8)),
        (2, "weeks", date(2026, 3, 19)),
        (1, "months", date(2026, 4, 5)),
    ],
)
def test_calendar_delays(count, unit, expected):
    assert add_delay(THURSDAY, count, unit) == expected


def test_a_month_after_the_31st_is_the_end_of_the_next_month():
    assert add_delay(date(2026, 1, 31), 1, "months") == date(2026, 2, 28)


def test_unknown_unit_is_refused():
    with pytest.raises(ValueError):
        add_delay(THURSDAY, 1, "fortnights")


def test_today_is_the_firm_local_date_not_utc():
    riyadh = ZoneInfo("Asia/Riyadh")
    # 21:30 UTC on the 4th is 00:30 on the 5th in Riyadh.
    assert firm_today(datetime(2026, 3, 4, 21, 30, tzinfo=UTC), riyadh) == date(2026, 3, 5)
    assert firm_today(datetime(2026, 3, 4, 20, 30, tzinfo=UTC), riyadh) == date(2026, 3, 4)
