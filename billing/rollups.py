"""Money rollups for the stats: counters per (measure, currency, day), kept by appended deltas (ADR 0044).

Writers append signed deltas in their own transaction: an INSERT into a table without unique keys,
which waits for no one. The sweep folds them into the counters in one statement; readers add the
counters and the unfolded deltas, so what they see always equals a direct aggregate over invoices
and payments (a test proves it), and a read costs a few hundred rows however many invoices there are.
"""

from collections import defaultdict
from datetime import date
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from billing.choices import ISSUED_STATUSES, OPEN_STATUSES
from billing.models import Invoice, Payment, Rollup, RollupDelta
from timeline.rollups import firm_tz

INVOICED, COLLECTED, OPEN = Rollup.Measure.INVOICED, Rollup.Measure.COLLECTED, Rollup.Measure.OPEN
TABLE, DELTAS = Rollup._meta.db_table, RollupDelta._meta.db_table
# Aging buckets by days past due: (name, fewest days late, most days late or None).
AGING = (("0_30", 1, 30), ("31_60", 31, 60), ("61_90", 61, 90), ("90_plus", 91, None))


def invoice_shares(invoice: Invoice) -> dict[tuple, tuple[Decimal, int]]:
    """What one invoice counts in the rollups as it stands now."""
    shares = {}
    if invoice.status in ISSUED_STATUSES:
        shares[(INVOICED, invoice.currency, invoice.issue_date)] = (invoice.total_amount, 1)
    if invoice.status in OPEN_STATUSES:
        shares[(OPEN, invoice.currency, invoice.due_date)] = (invoice.balance_due, 1)
    return shares


def payment_share(payment: Payment, currency: str) -> dict[tuple, tuple[Decimal, int]]:
    return {(COLLECTED, currency, timezone.localdate(payment.paid_at, firm_tz())): (payment.amount, 1)}


def rollup_change(before: dict, after: dict) -> None:
    """Append the difference between two sets of shares (``invoice_shares`` before and after a write)."""
    deltas: dict[tuple, list] = defaultdict(lambda: [Decimal(0), 0])
    for sign, shares in ((-1, before), (1, after)):
        for key, (amount, count) in shares.items():
            deltas[key][0] += sign * amount
            deltas[key][1] += sign * count
    rows = [
        RollupDelta(measure=m, currency=c, day=d, amount=amount, count=count)
        for (m, c, d), (amount, count) in sorted(deltas.items())
        if amount or count
    ]
    if rows:
        RollupDelta.objects.bulk_create(rows)


COLUMNS = "measure, currency, day, amount, count"


def rollup_fold() -> int:
    """Move committed deltas into the counters in one statement; returns how many deltas went."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH moved AS (DELETE FROM {DELTAS} RETURNING {COLUMNS}),
            summed AS (
                SELECT measure, currency, day, sum(amount) AS amount, sum(count) AS count, count(*) AS deltas
                  FROM moved GROUP BY 1, 2, 3
            ),
            added AS (
                INSERT INTO {TABLE} ({COLUMNS})
                SELECT measure, currency, day, amount, count FROM summed ORDER BY measure, currency, day
                ON CONFLICT (measure, currency, day) DO UPDATE SET
                    amount = {TABLE}.amount + EXCLUDED.amount, count = {TABLE}.count + EXCLUDED.count
                RETURNING 1
            )
            SELECT coalesce(sum(deltas), 0)::bigint FROM summed, (SELECT count(*) FROM added) AS done
            """
        )
        return cursor.fetchone()[0]


@transaction.atomic
def rollup_rebuild() -> int:
    """Recompute every counter from the invoices and payments (repair, or after a timezone change)."""
    with connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {TABLE}, {DELTAS} IN EXCLUSIVE MODE")
        cursor.execute(f"DELETE FROM {DELTAS}")
        cursor.execute(f"DELETE FROM {TABLE}")
        cursor.execute(
            f"""
            INSERT INTO {TABLE} ({COLUMNS})
            SELECT 'invoiced', currency, issue_date, sum(total_amount), count(*) FROM {Invoice._meta.db_table}
             WHERE status = ANY(%(issued)s) GROUP BY 2, 3
            UNION ALL
            SELECT 'open', currency, due_date, sum(balance_due), count(*) FROM {Invoice._meta.db_table}
             WHERE status = ANY(%(open)s) GROUP BY 2, 3
            UNION ALL
            SELECT 'collected', i.currency, (p.paid_at AT TIME ZONE %(tz)s)::date, sum(p.amount), count(*)
              FROM {Payment._meta.db_table} p JOIN {Invoice._meta.db_table} i ON i.id = p.invoice_id
             GROUP BY 2, 3
            """,
            {"issued": list(ISSUED_STATUSES), "open": list(OPEN_STATUSES), "tz": str(firm_tz())},
        )
        return cursor.rowcount


def rollup_stats(*, today: date, since: date | None = None, until: date | None = None) -> dict:
    """Per currency: revenue (collected), invoiced, outstanding and the overdue aging buckets.

    ``since``/``until`` (firm-local days, inclusive) bound revenue and invoiced; outstanding and aging
    are as of ``today``.
    """
    bucket_sql, params = [], {"today": today, "since": since, "until": until}
    for name, first, last in AGING:
        params[f"late_{name}"] = first
        condition = f"day <= %(today)s::date - %(late_{name})s"
        if last is not None:
            params[f"upto_{name}"] = last
            condition += f" AND day >= %(today)s::date - %(upto_{name})s"
        bucket_sql.append(f"coalesce(sum(amount) FILTER (WHERE measure = 'open' AND {condition}), 0)")
        bucket_sql.append(f"coalesce(sum(count) FILTER (WHERE measure = 'open' AND {condition}), 0)")
    in_range = "(%(since)s::date IS NULL OR day >= %(since)s) AND (%(until)s::date IS NULL OR day <= %(until)s)"
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT currency,
                   coalesce(sum(amount) FILTER (WHERE measure = 'collected' AND {in_range}), 0),
                   coalesce(sum(amount) FILTER (WHERE measure = 'invoiced' AND {in_range}), 0),
                   coalesce(sum(count) FILTER (WHERE measure = 'invoiced' AND {in_range}), 0),
                   coalesce(sum(amount) FILTER (WHERE measure = 'open'), 0),
                   coalesce(sum(count) FILTER (WHERE measure = 'open'), 0),
                   {", ".join(bucket_sql)}
              FROM (SELECT {COLUMNS} FROM {TABLE} UNION ALL SELECT {COLUMNS} FROM {DELTAS}) AS pieces
             GROUP BY currency ORDER BY currency
            """,
            params,
        )
        rows = cursor.fetchall()
    stats = {}
    for currency, revenue, invoiced, invoiced_count, outstanding, open_count, *buckets in rows:
        if not any((revenue, invoiced, outstanding, open_count, invoiced_count)):
            continue  # every share of this currency has been reversed
        aging = {name: {"amount": buckets[2 * i], "count": buckets[2 * i + 1]} for i, (name, _, _) in enumerate(AGING)}
        stats[currency] = {
            "revenue": revenue,
            "invoiced": invoiced,
            "invoiced_count": invoiced_count,
            "outstanding": outstanding,
            "outstanding_count": open_count,
            "overdue": sum((bucket["amount"] for bucket in aging.values()), Decimal("0.00")),
            "aging": aging,
        }
    return stats
