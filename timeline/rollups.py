"""Daily stat rollups, kept in step with live entries inside the writing transaction (ADR 0013).

A row counts the live entries of one firm-local day, kind, subject type and performer, with the
count and sum of their known durations. Writers pass signed deltas; ``rollup_rebuild`` recomputes
everything from the entries (after a firm changes its timezone, or to repair).
"""

import zoneinfo
from collections import defaultdict
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction

from timeline.models import DailyStat

ROLLUP_KEY = tuple[object, str, str, int]  # (day, kind, subject_type, performer_id)


def firm_tz() -> zoneinfo.ZoneInfo:
    """The current firm's timezone: its day boundaries are the rollups' day boundaries."""
    name = getattr(connection.tenant, "timezone", None)
    if name is None:  # schema_context() installs a stand-in tenant without the firm's fields
        from traf3li.firms.models import Firm

        name = (
            Firm.objects.filter(schema_name=connection.schema_name).values_list("timezone", flat=True).first()
            or settings.DEFAULT_FIRM_TIMEZONE
        )
    return zoneinfo.ZoneInfo(name)


def firm_day(moment: datetime, tz: zoneinfo.ZoneInfo):
    return moment.astimezone(tz).date()


class RollupDeltas:
    """Signed changes to rollup rows, summed per key and written in one statement."""

    def __init__(self):
        self.tz = firm_tz()
        self.rows: dict[ROLLUP_KEY, list[int]] = defaultdict(lambda: [0, 0, 0])

    def add(self, *, occurred_at, kind, subject_type, performer_id, duration_seconds, sign: int) -> None:
        row = self.rows[(firm_day(occurred_at, self.tz), kind, subject_type, performer_id or 0)]
        row[0] += sign
        if duration_seconds is not None:
            row[1] += sign
            row[2] += sign * duration_seconds

    def add_entry(self, entry, sign: int) -> None:
        self.add(
            occurred_at=entry.occurred_at,
            kind=entry.kind,
            subject_type=entry.subject_type,
            performer_id=entry.performed_by_id,
            duration_seconds=entry.duration_seconds,
            sign=sign,
        )

    def apply(self) -> None:
        rows = sorted((key, value) for key, value in self.rows.items() if any(value))
        if not rows:
            return
        # Sorted keys: two transactions touching the same rows lock them in the same order.
        values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * len(rows))
        params = [item for key, value in rows for item in (*key, *value)]
        table = DailyStat._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                INSERT INTO {table} (day, kind, subject_type, performer_id, count, duration_count, duration_seconds)
                VALUES {values}
                ON CONFLICT (day, kind, subject_type, performer_id) DO UPDATE SET
                    count = {table}.count + EXCLUDED.count,
                    duration_count = {table}.duration_count + EXCLUDED.duration_count,
                    duration_seconds = {table}.duration_seconds + EXCLUDED.duration_seconds
                """,
                params,
            )
        self.rows.clear()


@transaction.atomic
def rollup_rebuild() -> int:
    """Recompute every rollup row from the live entries; returns the number of rows written."""
    table = DailyStat._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
        cursor.execute(f"DELETE FROM {table}")
        cursor.execute(
            f"""
            INSERT INTO {table} (day, kind, subject_type, performer_id, count, duration_count, duration_seconds)
            SELECT (occurred_at AT TIME ZONE %s)::date, kind, subject_type, coalesce(performed_by_id, 0),
                   count(*), count(duration_seconds), coalesce(sum(duration_seconds), 0)
            FROM timeline_entry WHERE deleted_at IS NULL
            GROUP BY 1, 2, 3, 4
            """,
            [str(firm_tz())],
        )
        return cursor.rowcount
