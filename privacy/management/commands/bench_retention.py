"""Purging a month of email events: DELETE of its rows against the retention purge's partition drop.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/traf3li_bench_h1 python manage.py bench_retention [--rows 1000000]

In a throwaway firm ``benchretention`` of a benchmark database (the command refuses a database
whose name lacks ``bench``), it loads ``--rows`` email events into one month two months back (one
in a thousand of them the events of an email whose client is under legal hold), then removes that
month twice, reloading in between:

Each load is vacuumed before it is purged, as a year-old month would have been.

1. ``DELETE`` of the month's unheld rows, one statement, committed;
2. ``privacy.retention.retention_purge`` with "now" a year and a day after that month: the month's
   partition is dropped, the held rows moved to DEFAULT first, the receipt written (the digest of a
   million ids included), and the months ahead created.

Before each, a ``CHECKPOINT`` (skip it with ``--no-checkpoint``): a year-old month has been through
many checkpoints, so the first change to each of its pages writes the whole page to the WAL; without
one, the pages the load just wrote are changed for a few bytes each, which is not what a purge meets.
After the DELETE, the ``VACUUM`` that makes its space reusable (it also cleans the five indexes) is
timed too: a DELETE's cost is not over when it commits. For each: wall seconds, and the WAL written
from before the statement to after its commit (``pg_current_wal_lsn()`` difference: the cluster's,
so other sessions' writes at the same time are counted too), and for the DELETE also the statement's
own WAL as ``EXPLAIN (ANALYZE, WAL)`` reports it.
"""

import json
import time
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from messaging.models import EmailEvent, EmailMessage
from privacy import retention
from traf3li.crm import services as crm
from traf3li.crm.models import Client
from traf3li.firms.services import firm_create

FIRM = "benchretention"
HELD_EVERY = 1000
LOAD_SQL = """
    INSERT INTO {table} (provider, idempotency_key, message_id, event, occurred_at, device, machine_open, url, ip,
                         user_agent, bounce_type, reason)
    SELECT 'sendgrid', %(run)s || '-' || g || ':open', CASE WHEN g %% {held_every} = 0 THEN %(held)s ELSE %(free)s END,
           'open', %(month)s + (g %% (28 * 86400)) * interval '1 second', 'desktop', false,
           'https://example.sa/newsletter/' || (g %% 50), '203.0.113.' || (g %% 250),
           'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0', '', ''
      FROM generate_series(1, %(rows)s) AS g
"""


def _lsn() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()")
        return cursor.fetchone()[0]


def _wal_since(lsn: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)::bigint", [lsn])
        return cursor.fetchone()[0]


class Command(BaseCommand):
    help = "Purging a month of email events: DELETE of its rows against the partition drop (seconds, WAL)."

    def add_arguments(self, parser):
        parser.add_argument("--rows", type=int, default=1_000_000)
        parser.add_argument("--no-checkpoint", dest="checkpoint", action="store_false")

    def handle(self, *args, rows, checkpoint, **options):
        if "bench" not in connection.settings_dict["NAME"]:
            raise CommandError("bench_retention drops and reloads data: point DATABASE_URL at a benchmark database.")
        firm = firm_create(slug=FIRM, name="Bench retention").firm
        with schema_context(firm.schema_name):
            connection.set_tenant(firm)
            held_client = Client.objects.filter(name="Bench held client").first() or crm.record_create(
                instance=Client(name="Bench held client", legal_hold=True)
            )
            free_client = Client.objects.filter(name="Bench client").first() or crm.record_create(
                instance=Client(name="Bench client")
            )
            held, free = (
                EmailMessage.objects.get_or_create(
                    provider="sendgrid", message_id=f"bench-{client.pk}",
                    defaults={"subject_type": "client", "subject_id": client.pk},
                )[0]
                for client in (held_client, free_client)
            )  # fmt: skip
            month = retention._month_start(retention._month_start(timezone.now()) - timedelta(days=45))
            upper = retention._next_month(month)
            schema = firm.schema_name
            retention.partitions_ensure(schema, now=month, months_ahead=0)
            partition = retention._qualified(schema, retention._partition_name(month))
            with connection.cursor() as cursor:
                cursor.execute(f"DELETE FROM {EmailEvent._meta.db_table}")  # what an earlier run left
            results, timings, background = {}, {}, {}
            for method in ("delete", "drop"):
                self._load(rows=rows, month=month, held=held.pk, free=free.pk, method=method)
                if method == "drop":
                    retention.partitions_ensure(schema, now=month, months_ahead=0)  # the month again
                if checkpoint:
                    with connection.cursor() as cursor:
                        cursor.execute("CHECKPOINT")
                lsn, started = _lsn(), time.perf_counter()
                explain_wal = vacuum = None
                if method == "delete":
                    with transaction.atomic(), connection.cursor() as cursor:
                        cursor.execute(
                            f"EXPLAIN (ANALYZE, WAL, FORMAT JSON) DELETE FROM {partition} WHERE message_id <> %s",
                            [held.pk],
                        )
                        plan = cursor.fetchone()[0]
                        plan = plan if isinstance(plan, list) else json.loads(plan)
                        explain_wal = plan[0]["Plan"].get("WAL Bytes")
                else:
                    receipt = retention.retention_purge(now=upper + timedelta(days=366), timings=timings)
                seconds, wal = time.perf_counter() - started, _wal_since(lsn)
                # The cluster's WAL over as long again with nothing of ours running: other sessions' share.
                lsn = _lsn()
                time.sleep(seconds)
                background[method] = _wal_since(lsn)
                if method == "delete":
                    lsn, started = _lsn(), time.perf_counter()
                    with connection.cursor() as cursor:
                        cursor.execute(f"VACUUM {partition}")
                    vacuum = (time.perf_counter() - started, _wal_since(lsn))
                left = EmailEvent.objects.filter(occurred_at__gte=month, occurred_at__lt=upper).count()
                results[method] = (seconds, wal, explain_wal, left, vacuum)
                with connection.cursor() as cursor:
                    cursor.execute(f"DELETE FROM {EmailEvent._meta.db_table}")  # untimed: the held rows left
            table = next(t for t in receipt["tables"] if t["model"] == "messaging.EmailEvent")
        delete_s, delete_wal, delete_explain_wal, delete_left, (vacuum_s, vacuum_wal) = results["delete"]
        drop_s, drop_wal, _, drop_left, _ = results["drop"]
        self.stdout.write(
            f"{rows:,} email events in {month:%Y-%m} ({rows // HELD_EVERY:,} of them under legal hold)\n"
            f"DELETE:         {delete_s:7.2f} s  WAL {delete_wal / 2**20:9.1f} MiB "
            f"(the statement's own: {(delete_explain_wal or 0) / 2**20:.1f} MiB); rows left {delete_left:,}\n"
            f"  then VACUUM:  {vacuum_s:7.2f} s  WAL {vacuum_wal / 2**20:9.1f} MiB\n"
            f"partition drop: {drop_s:7.2f} s  WAL {drop_wal / 2**20:9.1f} MiB (the whole retention_purge: receipt,"
            f" digest, held rows moved, months ahead made); rows left {drop_left:,}\n"
            f"other sessions' WAL over as long again, idle: {background['delete'] / 2**20:.1f} MiB (DELETE), "
            f"{background['drop'] / 2**20:.1f} MiB (drop)\n"
            f"the purge's steps (s): " + ", ".join(f"{step} {seconds:.3f}" for step, seconds in timings.items()) + "\n"
            f"receipt: removed {table['removed']:,}, kept under hold {table['kept_under_hold']:,}, "
            f"dropped {table['partitions_dropped']}" + ("" if checkpoint else "\n(no CHECKPOINT before each)")
        )

    def _load(self, *, rows, month, held, free, method):
        table = EmailEvent._meta.db_table
        run = f"bench-{method}-{int(time.time())}"
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                LOAD_SQL.format(table=table, held_every=HELD_EVERY),
                {"run": run, "held": held, "free": free, "month": month, "rows": rows},
            )
        with connection.cursor() as cursor:
            # A year-old month has long been vacuumed (hint bits set, pages all-visible): so is this one,
            # or the timed steps would pay for that instead (and autovacuum would run during them).
            cursor.execute(f"VACUUM ANALYZE {table}")
