"""``timeline_isotime`` writes what Python's isoformat() writes, in any timezone."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

CASES = [
    (datetime(2026, 1, 5, 7, 0, tzinfo=UTC), "Asia/Riyadh"),
    (datetime(2026, 7, 1, 2, 15, 30, 123456, tzinfo=UTC), "America/St_Johns"),  # -02:30 in summer
    (datetime(2026, 12, 31, 23, 59, 59, 1, tzinfo=UTC), "UTC"),
    (datetime(2026, 3, 29, 1, 30, tzinfo=UTC), "Europe/London"),  # the hour the clocks go forward
]


@pytest.mark.parametrize(("instant", "tz"), CASES)
def test_matches_python(in_firm_a, instant, tz):
    with connection.cursor() as cursor:
        cursor.execute("SELECT timeline_isotime(%s, %s)", [instant, tz])
        assert cursor.fetchone()[0] == instant.astimezone(ZoneInfo(tz)).isoformat()
