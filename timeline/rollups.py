"""Stat rollups, kept in step with live entries inside the writing transaction (ADR 0013).

Each live entry counts in four rows: its firm-local day and month, each once for its performer and
once for everybody (``StatRollup.ALL``), with the count and sum of known durations. Writers pass
signed deltas, appended at the transaction's commit and folded into the counters every minute
(ADR 0030); readers add whole months, whole days (counters plus unfolded deltas), and aggregate
the partial days at the edges of a range directly, so the result always equals a direct
aggregate (a test proves it).
``rollup_rebuild`` recomputes everything (after a firm changes its timezone, or to repair).
"""

import zoneinfo
from collections import defaultdict
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db import connection, transaction

from timeline.models import StatRollup, StatRollupDelta
from traf3li.core.commit_work import commit_work_add, commit_work_discard, commit_work_register

DAY, MONTH = StatRollup.Span.DAY, StatRollup.Span.MONTH
TABLE, DELTAS = StatRollup._meta.db_table, StatRollupDelta._meta.db_table


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


def local_midnight(day: date, tz: zoneinfo.ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=tz)


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


class RollupDeltas:
    """Signed changes to rollup rows, summed per key and written in one statement."""

    def __init__(self):
        self.tz = firm_tz()
        self.rows: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0])

    def add_entry(self, entry, sign: int) -> None:
        day = entry.occurred_at.astimezone(self.tz).date()
        performer = entry.performed_by_id or StatRollup.NOBODY
        for span, start in ((DAY, day), (MONTH, month_start(day))):
            for who in (performer, StatRollup.ALL):
                row = self.rows[(span, who, start, entry.kind, entry.subject_type)]
                row[0] += sign
                if entry.duration_seconds is not None:
                    row[1] += sign
                    row[2] += sign * entry.duration_seconds

    def apply(self) -> None:
        """Owe these deltas to the transaction's commit, where all of its deltas are written at once."""
        rows = {key: value for key, value in self.rows.items() if any(value)}
        self.rows.clear()
        if rows:
            commit_work_add(COMMIT_WORK_KEY, rows)


def _flush(owed: list[dict], batch) -> None:
    """Append a transaction's rollup deltas, merged per key: one INSERT, no row lock (ADR 0030).

    Upserting the counters made today's firm-wide row of each kind a lock every writer queued on
    from its flush to its COMMIT. Appended deltas conflict with nothing; readers add them, and
    ``rollup_fold`` moves them into the counters.
    """
    merged: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0])
    for rows in owed:
        for key, value in rows.items():
            total = merged[key]
            for i in range(3):
                total[i] += value[i]
    rows = sorted((key, value) for key, value in merged.items() if any(value))
    if not rows:
        return
    columns = [list(column) for column in zip(*(key + tuple(value) for key, value in rows), strict=True)]
    append = f"INSERT INTO {DELTAS} ({COLUMNS}) SELECT * FROM unnest({ARRAYS})"
    batch.add(append, columns, bulk=len(rows) > BULK_ROWS)  # an import's chunk goes bound by the server


COLUMNS = "span, performer_id, day, kind, subject_type, count, duration_count, duration_seconds"
ARRAYS = "%s::varchar[], %s::bigint[], %s::date[], %s::varchar[], %s::varchar[], %s::int[], %s::int[], %s::bigint[]"
BULK_ROWS = 64


def rollup_fold() -> int:
    """Move the committed deltas into the counters; returns how many deltas went (beat, every minute).

    One statement: a reader's snapshot sees each delta either still appended or already added,
    never both. Deltas of transactions still open are not visible yet and wait for the next fold.
    The counters are locked in key order, and only folds and the rebuild lock them.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH moved AS (DELETE FROM {DELTAS} RETURNING {COLUMNS}),
            summed AS (
                SELECT span, performer_id, day, kind, subject_type,
                       sum(count) AS count, sum(duration_count) AS duration_count,
                       sum(duration_seconds) AS duration_seconds, count(*) AS deltas
                  FROM moved GROUP BY 1, 2, 3, 4, 5
            ),
            added AS (
                INSERT INTO {TABLE} ({COLUMNS})
                SELECT span, performer_id, day, kind, subject_type, count, duration_count, duration_seconds
                  FROM summed ORDER BY span, performer_id, day, kind, subject_type
                ON CONFLICT (span, performer_id, day, kind, subject_type) DO UPDATE SET
                    count = {TABLE}.count + EXCLUDED.count,
                    duration_count = {TABLE}.duration_count + EXCLUDED.duration_count,
                    duration_seconds = {TABLE}.duration_seconds + EXCLUDED.duration_seconds
                RETURNING 1
            )
            SELECT coalesce(sum(deltas), 0)::bigint FROM summed, (SELECT count(*) FROM added) AS done
            """
        )
        return cursor.fetchone()[0]


COMMIT_WORK_KEY = "timeline.rollups"
commit_work_register(COMMIT_WORK_KEY, rank=10, flush=_flush)  # before the audit head (rank 100)


@transaction.atomic
def rollup_rebuild(tz: zoneinfo.ZoneInfo | None = None) -> int:
    """Recompute every rollup row from the live entries; returns the number of rows written.

    ``tz`` cuts the days (the current firm's timezone by default). A timezone change passes the new
    one: the connection's tenant may be a copy loaded before the change.
    """
    local_day = "(occurred_at AT TIME ZONE %(tz)s)::date"
    with connection.cursor() as cursor:
        # Writers append deltas and folds add them in their own transactions; make both wait.
        cursor.execute(f"LOCK TABLE {TABLE}, {DELTAS} IN EXCLUSIVE MODE")
        # This transaction's own entries are counted below: the deltas it owes would count them twice.
        commit_work_discard(COMMIT_WORK_KEY)
        cursor.execute(f"DELETE FROM {DELTAS}")
        cursor.execute(f"DELETE FROM {TABLE}")
        cursor.execute(
            f"""
            WITH days AS (
                SELECT {local_day} AS day, coalesce(performed_by_id, 0) AS performer_id, kind, subject_type,
                       count(*) AS n, count(duration_seconds) AS dn, coalesce(sum(duration_seconds), 0) AS ds
                FROM timeline_entry WHERE deleted_at IS NULL
                GROUP BY 1, 2, 3, 4
            ), spans AS (
                SELECT 'd' AS span, day, performer_id, kind, subject_type, n, dn, ds FROM days
                UNION ALL
                SELECT 'm', date_trunc('month', day)::date, performer_id, kind, subject_type, n, dn, ds FROM days
            )
            INSERT INTO {TABLE} (span, performer_id, day, kind, subject_type, count, duration_count, duration_seconds)
            SELECT span, who, day, kind, subject_type, sum(n), sum(dn), sum(ds)
            FROM spans, LATERAL (VALUES (performer_id), (%(all)s)) AS w(who)
            GROUP BY span, who, day, kind, subject_type
            """,
            {"tz": str(tz or firm_tz()), "all": StatRollup.ALL},
        )
        return cursor.rowcount


def rollup_plan(since: datetime | None, until: datetime | None, tz) -> tuple[list, list]:
    """Split [since, until) into rollup pieces and directly aggregated edges.

    Returns ``(pieces, edges)``: pieces are ``(span, first_day, end_day)`` covering whole
    firm-local days (months where whole months fit), edges are ``(since, until)`` datetimes.
    """
    if since is not None and until is not None and since >= until:
        return [], []
    first = None
    edges = []
    if since is not None:
        local = since.astimezone(tz)
        first = local.date()
        if local != local_midnight(first, tz):
            first += timedelta(days=1)
            edges.append((since, local_midnight(first, tz)))
    end = None
    if until is not None:
        end = until.astimezone(tz).date()
        if until.astimezone(tz) != local_midnight(end, tz):
            edges.append((local_midnight(end, tz), until))
    if first is not None and end is not None and first >= end:
        # The range sits inside one or two days: aggregate it directly.
        return [], [(since, until)]
    if first is None or end is None:
        # Open-ended: whole months of everything before/after, plus days up to the month edge.
        return _open_pieces(first, end), edges
    return _closed_pieces(first, end), edges


def _closed_pieces(first: date, end: date) -> list:
    pieces = []
    month_a = first if first.day == 1 else next_month(first)
    month_b = month_start(end)
    if month_a < month_b:
        if first < month_a:
            pieces.append((DAY, first, month_a))
        pieces.append((MONTH, month_a, month_b))
        if month_b < end:
            pieces.append((DAY, month_b, end))
    else:
        pieces.append((DAY, first, end))
    return pieces


def _open_pieces(first: date | None, end: date | None) -> list:
    if first is None and end is None:
        return [(MONTH, None, None)]
    if first is None:
        month_b = month_start(end)
        return [(MONTH, None, month_b)] + ([(DAY, month_b, end)] if month_b < end else [])
    month_a = first if first.day == 1 else next_month(first)
    return ([(DAY, first, month_a)] if first < month_a else []) + [(MONTH, month_a, None)]


def rollup_totals(pieces: list, *, performers: list[int] | None, kinds: list[str] | None, subject_types) -> list:
    """Rows of (kind, subject_type, count, duration_count, duration_seconds) summed over ``pieces``.

    One UNION ALL arm per piece and table (counters and unfolded deltas): each is a range of a
    covering index, read without the table (an OR of ranges would become a bitmap scan that
    visits every row's page).
    """
    if not pieces:
        return []
    common = ["performer_id = ANY(%s)"]
    common_params: list = [[int(p) for p in performers] if performers else [StatRollup.ALL]]
    if kinds:
        common.append("kind = ANY(%s)")
        common_params.append(list(kinds))
    if subject_types:
        common.append("subject_type = ANY(%s)")
        common_params.append(list(subject_types))
    arms, params = [], []
    for span, first, end in pieces:
        where, arm_params = ["span = %s", *common], [span, *common_params]
        if first is not None:
            where.append("day >= %s")
            arm_params.append(first)
        if end is not None:
            where.append("day < %s")
            arm_params.append(end)
        for table in (TABLE, DELTAS):  # the counters, and the deltas not folded into them yet
            arms.append(
                f"SELECT kind, subject_type, count, duration_count, duration_seconds FROM {table} "
                f"WHERE {' AND '.join(where)}"
            )
            params += arm_params
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT kind, subject_type, sum(count), sum(duration_count), sum(duration_seconds)
            FROM ({" UNION ALL ".join(arms)}) AS pieces GROUP BY 1, 2
            """,
            params,
        )
        return cursor.fetchall()
