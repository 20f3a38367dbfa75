"""Purging a month of email events, then of webhook deliveries: DELETE of its rows against the
retention purge's partition drop.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/traf3li_bench_h1 python manage.py bench_retention \
        [--rows 1000000] [--tables email_events,deliveries]

In a throwaway firm ``benchretention`` of a benchmark database (the command refuses a database
whose name lacks ``bench``), it loads ``--rows`` email events into one month two months back (one
in a thousand of them the events of an email whose client is under legal hold), then removes that
month twice, reloading in between; then the same with ``--rows`` webhook deliveries (each
processed two seconds after it came, with its replay key and its processed event; one in a
thousand carried an event of a message whose client is under legal hold). For deliveries the
``DELETE`` is the statement the purge used before they were partitioned (the deliveries, their
processed events and their keys), and the drop includes the row deletes of the processed events
and keys:

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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from messaging.models import ChannelAccount, EmailEvent, EmailMessage, Message
from privacy import retention
from traf3li.crm import services as crm
from traf3li.crm.models import Client
from traf3li.firms.services import firm_create

FIRM = "benchretention"
EMAIL_EVENTS = EmailEvent._meta.db_table
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


@dataclass
class Subject:
    """One table the benchmark purges: how to load a month of it and to DELETE the month's unheld rows."""

    label: str  # the receipt's model
    what: str
    load_sql: str
    delete_sql: str  # on the month's partition ({partition}), its parameters from ``delete_params``
    delete_params: Callable[[], list]
    vacuum: tuple[str, ...]  # the tables a DELETE leaves dead tuples in (the partition is added)
    cleanup: tuple[str, ...]  # emptied after each run
    monthly: retention.Monthly
    explain: bool = True  # EXPLAIN (ANALYZE, WAL) the DELETE (a single-statement DELETE only)


DELIVERY_LOAD_SQL = """
    WITH d AS (
        INSERT INTO {table} (provider, endpoint, account_id, received_at, headers, body, body_digest, dedup_key,
                             signature_ok, processed_at, attempts, last_error)
        SELECT 'twilio', 'twilio_sms', %(account)s, t, '{{"X-Twilio-Signature": "0123456789abcdefghijklmnopq="}}',
               convert_to('ToCountry=SA&SmsMessageSid=SM' || md5(g::text) || '&NumMedia=0&SmsSid=SM' || md5(g::text)
                          || '&SmsStatus=received&Body=' || repeat('Hello+from+the+client+', 4)
                          || '&From=%%2B9665' || lpad((g %% 100000000)::text, 8, '0') || '&ApiVersion=2010-04-01',
                          'UTF8'),
               md5(g::text) || md5(g::text), %(run)s || '-' || g, true, t + interval '2 seconds', 1, ''
          FROM generate_series(1, %(rows)s) AS g,
               LATERAL (SELECT %(month)s + (g %% (28 * 86400)) * interval '1 second') AS m(t)
        RETURNING id, provider, dedup_key, received_at, processed_at
    ), k AS (
        INSERT INTO {keys} (provider, dedup_key, received_at) SELECT provider, dedup_key, received_at FROM d
    )
    INSERT INTO {counted} (provider, idempotency_key, delivery_id, processed_at)
    SELECT provider, CASE WHEN id %% {held_every} = 0 THEN %(held)s || ':' || id ELSE dedup_key || ':received' END,
           id, processed_at FROM d
"""
# What ``_purge_deliveries`` did before deliveries were partitioned: one statement, the deliveries,
# their processed events and (now) their replay keys.
DELIVERY_DELETE_SQL = f"""
    WITH doomed AS MATERIALIZED (
        SELECT id, provider, dedup_key FROM {{partition}} WHERE processed_at < now() AND NOT id = ANY(%s::bigint[])
    ),
    uncounted AS (DELETE FROM {retention.COUNTED} pe USING doomed d WHERE pe.delivery_id = d.id),
    unkeyed AS (
        DELETE FROM {retention.KEYS} k USING doomed d WHERE k.provider = d.provider AND k.dedup_key = d.dedup_key
    )
    DELETE FROM {{partition}} w USING doomed d WHERE w.id = d.id
"""


class Command(BaseCommand):
    help = "Purging a month of email events and of webhook deliveries: DELETE against the partition drop (s, WAL)."

    def add_arguments(self, parser):
        parser.add_argument("--rows", type=int, default=1_000_000)
        parser.add_argument("--tables", default="email_events,deliveries")
        parser.add_argument("--no-checkpoint", dest="checkpoint", action="store_false")

    def handle(self, *args, rows, tables, checkpoint, **options):
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
            held_sms = Message.objects.get_or_create(
                provider="twilio", external_id="SM-bench-held",
                defaults={"subject_type": "client", "subject_id": held_client.pk, "channel": "sms",
                          "direction": "inbound", "from_address": "+966500000000", "body": "held"},
            )[0]  # fmt: skip
            account = ChannelAccount.objects.filter(provider="twilio").first() or ChannelAccount.objects.create(
                provider="twilio", name="Bench", from_number="+966110000000"
            )
            subjects = {
                "email_events": Subject(
                    "messaging.EmailEvent", "email events", LOAD_SQL.format(table=EMAIL_EVENTS, held_every=HELD_EVERY),
                    "DELETE FROM {partition} WHERE message_id <> %s", lambda: [held.pk], (), (EMAIL_EVENTS,),
                    retention.EMAIL_EVENTS_BY_MONTH,
                ),
                "deliveries": Subject(
                    "messaging.WebhookDelivery", "webhook deliveries",
                    DELIVERY_LOAD_SQL.format(table=retention.DELIVERIES, keys=retention.KEYS,
                                             counted=retention.COUNTED, held_every=HELD_EVERY),
                    DELIVERY_DELETE_SQL, lambda: [retention._held_deliveries()],
                    (retention.COUNTED, retention.KEYS), (retention.COUNTED, retention.KEYS, retention.DELIVERIES),
                    retention.DELIVERIES_BY_MONTH, explain=False,
                ),
            }  # fmt: skip
            params = {"held": held.pk, "free": free.pk, "account": account.pk}
            for name in tables.split(","):
                subject = subjects[name]
                params["held"] = held_sms.external_id if name == "deliveries" else held.pk
                self._bench(firm.schema_name, subject, rows=rows, checkpoint=checkpoint, params=params)

    def _bench(self, schema, subject: Subject, *, rows, checkpoint, params):
        month = retention._month_start(retention._month_start(timezone.now()) - timedelta(days=45))
        upper = retention._next_month(month)
        retention.partitions_ensure(schema, now=month, months_ahead=0)
        partition = retention._qualified(schema, subject.monthly.partition(month))
        self._empty(subject)  # what an earlier run left
        results, timings, background = {}, {}, {}
        for method in ("delete", "drop"):
            self._load(subject, rows=rows, month=month, method=method, params=params)
            if method == "drop":
                retention.partitions_ensure(schema, now=month, months_ahead=0)  # the month again
            if checkpoint:
                with connection.cursor() as cursor:
                    cursor.execute("CHECKPOINT")
            delete_params = subject.delete_params()
            lsn, started = _lsn(), time.perf_counter()
            explain_wal = vacuum = None
            if method == "delete":
                with transaction.atomic(), connection.cursor() as cursor:
                    sql = subject.delete_sql.format(partition=partition)
                    if subject.explain:
                        cursor.execute(f"EXPLAIN (ANALYZE, WAL, FORMAT JSON) {sql}", delete_params)
                        plan = cursor.fetchone()[0]
                        plan = plan if isinstance(plan, list) else json.loads(plan)
                        explain_wal = plan[0]["Plan"].get("WAL Bytes")
                    else:
                        cursor.execute(sql, delete_params)
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
                    for table in (partition, *subject.vacuum):
                        cursor.execute(f"VACUUM {table}")
                vacuum = (time.perf_counter() - started, _wal_since(lsn))
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT count(*) FROM {subject.monthly.table} WHERE {subject.monthly.at} >= %s"
                    f" AND {subject.monthly.at} < %s",
                    [month, upper],
                )
                left = cursor.fetchone()[0]
            results[method] = (seconds, wal, explain_wal, left, vacuum)
            self._empty(subject)  # untimed: the held rows left
        table = next(t for t in receipt["tables"] if t["model"] == subject.label)
        delete_s, delete_wal, delete_explain_wal, delete_left, (vacuum_s, vacuum_wal) = results["delete"]
        drop_s, drop_wal, _, drop_left, _ = results["drop"]
        own = f" (the statement's own: {delete_explain_wal / 2**20:.1f} MiB)" if delete_explain_wal is not None else ""
        self.stdout.write(
            f"{rows:,} {subject.what} in {month:%Y-%m} ({rows // HELD_EVERY:,} of them under legal hold)\n"
            f"DELETE:         {delete_s:7.2f} s  WAL {delete_wal / 2**20:9.1f} MiB{own}; rows left {delete_left:,}\n"
            f"  then VACUUM:  {vacuum_s:7.2f} s  WAL {vacuum_wal / 2**20:9.1f} MiB\n"
            f"partition drop: {drop_s:7.2f} s  WAL {drop_wal / 2**20:9.1f} MiB (the whole retention_purge: receipt,"
            f" digest, held rows moved, months ahead made); rows left {drop_left:,}\n"
            f"other sessions' WAL over as long again, idle: {background['delete'] / 2**20:.1f} MiB (DELETE), "
            f"{background['drop'] / 2**20:.1f} MiB (drop)\n"
            f"the purge's steps (s): " + ", ".join(f"{step} {seconds:.3f}" for step, seconds in timings.items()) + "\n"
            f"receipt: removed {table['removed']:,}, kept under hold {table['kept_under_hold']:,}, "
            f"dropped {table['partitions_dropped']}" + ("" if checkpoint else "\n(no CHECKPOINT before each)") + "\n"
        )

    def _empty(self, subject: Subject) -> None:
        with connection.cursor() as cursor:
            for table in subject.cleanup:
                cursor.execute(f"DELETE FROM {table}")

    def _load(self, subject: Subject, *, rows, month, method, params):
        run = f"bench-{method}-{int(time.time())}"
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(subject.load_sql, {**params, "run": run, "month": month, "rows": rows})
        with connection.cursor() as cursor:
            # A year-old month has long been vacuumed (hint bits set, pages all-visible): so is this one,
            # or the timed steps would pay for that instead (and autovacuum would run during them).
            for table in (subject.monthly.table, *subject.vacuum):
                cursor.execute(f"VACUUM ANALYZE {table}")
