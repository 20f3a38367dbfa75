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
    (datetime(2026, 1, 15, 3, 4, 5, 120000, tzinfo=UTC), "America/New_York"),  # -05:00; ".120000", not ".12"
    (datetime(2026, 1, 15, 3, 4, 5, tzinfo=UTC), "America/St_Johns"),  # -03:30 in winter
    (datetime(2026, 6, 1, 12, 0, tzinfo=UTC), "Asia/Kathmandu"),  # +05:45
    (datetime(2026, 6, 1, 12, 0, tzinfo=UTC), "Pacific/Chatham"),  # +12:45 in winter there
    (datetime(2026, 6, 1, 12, 0, tzinfo=UTC), "Pacific/Kiritimati"),  # +14:00
    (datetime(2026, 6, 1, 12, 0, tzinfo=UTC), "Pacific/Pago_Pago"),  # -11:00
]


@pytest.mark.parametrize(("instant", "tz"), CASES)
def test_matches_python(in_firm_a, instant, tz):
    with connection.cursor() as cursor:
        cursor.execute("SELECT timeline_isotime(%s, %s)", [instant, tz])
        assert cursor.fetchone()[0] == instant.astimezone(ZoneInfo(tz)).isoformat()


def test_it_is_inlined_into_the_query_not_called_per_row(in_firm_a):
    # A body PostgreSQL can inline (one expression, no FROM): a page of 50 rows calls it 100 times,
    # and a separate SQL-function execution per call was most of the page's time.
    with connection.cursor() as cursor:
        cursor.execute(
            "EXPLAIN VERBOSE SELECT timeline_isotime(now() + g * interval '1 s', 'Asia/Riyadh')"
            " FROM generate_series(1, 3) g"
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "to_char" in plan and "timeline_isotime" not in plan, plan
