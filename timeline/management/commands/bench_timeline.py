"""``manage.py bench_timeline``: load a skewed bench firm, then time the timeline's pages (docs/benchmarks.md)."""

import json
import random
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import psycopg
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.test import Client as TestClient
from django_tenants.utils import schema_context

from timeline.bench import (
    SEARCH_COMMON,
    SEARCH_RARE,
    Family,
    Loader,
    Scenario,
    Subject,
    bare_connection,
    copy_rate,
    heavy_client_cursor,
    live_entries,
    measure,
    peak_rss_mb,
)
from timeline.models import EntryLink
from timeline.rollups import rollup_rebuild
from timeline.services import entry_record
from traf3li.core.processes import child_env
from traf3li.crm.models import Client, Contact
from traf3li.firms.models import Domain, Firm
from traf3li.firms.services import firm_create
from traf3li.users.models import User
from traf3li.users.services import api_token_issue

DEV_DATABASE = "traf3li"
BENCH_ADMIN = "bench_admin"
USERS = 20


class Command(BaseCommand):
    help = "Load N timeline entries into a bench firm with COPY, then report API and bare-SQL timings."

    def add_arguments(self, parser):
        parser.add_argument("--entries", type=int, default=1_000_000, help="Entries to load (10,000,000 works too).")
        parser.add_argument("--reuse", action="store_true", help="Keep a bench firm that already holds N entries.")
        parser.add_argument("--runs", type=int, default=200, help="Timed requests per figure (after warm-up).")
        parser.add_argument("--ingest", type=int, default=2000, help="Entries recorded through entry_record.")
        parser.add_argument("--copy-probe", type=int, default=50_000, help="Rows COPYed to measure the COPY rate.")
        parser.add_argument("--firm", default="bench")
        parser.add_argument("--explain", action="store_true", help="Print each bare query's EXPLAIN ANALYZE.")
        parser.add_argument("--json", help="Also write the results to this file.")
        parser.add_argument("--measure-only", action="store_true", help="Internal: the serving process's half.")

    def handle(self, *args, **opts):
        name = connection.settings_dict["NAME"]
        if name == DEV_DATABASE:
            raise CommandError(
                f"Refusing to load a benchmark into the development database '{name}'. "
                "Run it with DATABASE_URL=postgresql://postgres@127.0.0.1:5432/traf3li_bench"
            )
        settings.DEBUG = False  # no query log: it costs time and memory on every query
        if opts["measure_only"]:
            return self.measure_only(opts)
        self.ensure_database()
        call_command("migrate_schemas", verbosity=0, interactive=False)
        firm = self.bench_firm(opts)
        with schema_context(firm.schema_name):
            connection.set_tenant(firm)
            load = self.load(opts)
            ingest = self.ingest(opts["ingest"])
            copy_rate = self.copy_probe(opts["copy_probe"])
        connection.set_schema_to_public()
        measured = self.spawn_measurement(opts)
        report = {
            "command": " ".join(["manage.py bench_timeline", *sys.argv[2:]]),
            "database": name,
            "postgres": self.server_version(),
            "entries": opts["entries"],
            "load": load,
            "ingest_entries_per_s": ingest,
            "copy_rows_per_s": copy_rate,
            **measured,
        }
        self.print_report(report, explain=opts["explain"])
        if opts["json"]:
            with open(opts["json"], "w") as handle:
                json.dump(report, handle, indent=2)

    # --- setup ---------------------------------------------------------------------------------

    def ensure_database(self):
        db = connection.settings_dict
        with psycopg.connect(
            host=db["HOST"], port=db["PORT"], user=db["USER"], dbname="postgres", autocommit=True
        ) as admin:
            if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]).fetchone():
                admin.execute(f'CREATE DATABASE "{db["NAME"]}"')
                self.stdout.write(f"Created database {db['NAME']}")

    def server_version(self) -> str:
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            return cursor.fetchone()[0]

    def bench_firm(self, opts):
        slug = opts["firm"]
        firm = Firm.objects.filter(schema_name=slug).first()
        if firm is not None and not (opts["reuse"] and self.loaded(firm) >= opts["entries"]):
            # A fresh firm is the simplest reset; this is a benchmark database, never the dev one.
            self.stdout.write(f"Dropping the old bench firm '{slug}'")
            with connection.cursor() as cursor:
                cursor.execute(f'DROP SCHEMA IF EXISTS "{slug}" CASCADE')
            Domain.objects.filter(tenant=firm).delete()
            Firm.objects.filter(pk=firm.pk).delete()
        return firm_create(
            slug=slug, name="Bench Law", admin_username=BENCH_ADMIN, admin_password="Skewed-timeline-load-77"
        ).firm

    def loaded(self, firm) -> int:
        with schema_context(firm.schema_name):
            return live_entries()

    # --- loading -------------------------------------------------------------------------------

    def load(self, opts) -> dict:
        if live_entries() >= opts["entries"]:
            self.stdout.write(f"Reusing {live_entries():,} entries in the bench firm")
            return {"reused": True}
        users = User.objects.bulk_create(
            [User(username=f"bench_user_{i}", first_name="Bench", last_name=f"User {i}") for i in range(USERS)]
        )
        loader = Loader(entries=opts["entries"], log=self.stdout.write)
        self.stdout.write(f"Loading {opts['entries']:,} entries (heavy clients: {loader.heavy_size:,} each)")
        started = time.perf_counter()
        heavy, light = loader.families(users)
        links, copied = loader.copy(heavy, light, [(u.id, u.display_name) for u in users])
        indexed = time.perf_counter() - started
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE timeline_entry")
            cursor.execute("VACUUM ANALYZE timeline_entrylink")
        rollup_rebuild()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE timeline_statrollup")
        total = time.perf_counter() - started
        self.stdout.write(f"Loaded in {total:.0f} s")
        return {
            "reused": False,
            "links": links,
            "light_clients": len(light),
            "heavy_clients": len(heavy),
            "heavy_size": loader.heavy_size,
            "copy_seconds": round(copied, 1),
            "copy_and_index_seconds": round(indexed, 1),
            "total_seconds": round(total, 1),
        }

    def ingest(self, count: int) -> float:
        """Entries per second through entry_record, one transaction each (as a webhook would)."""
        rng = random.Random(3)
        contacts = list(Contact.objects.order_by("-id")[:500])
        users = list(User.objects.all()[:USERS])
        started = time.perf_counter()
        for i in range(count):
            entry_record(
                kind="call",
                subject=rng.choice(contacts),
                title=f"Ingested call {i} about the hearing",
                performed_by=rng.choice(users),
                source="twilio",
                external_id=f"bench-ingest-{time.time_ns()}-{i}",
                payload={"direction": "inbound", "duration_seconds": rng.randint(10, 900), "outcome": "connected"},
            )
        rate = count / (time.perf_counter() - started)
        self.stdout.write(f"Ingest through entry_record: {rate:,.0f} entries/s")
        return round(rate)

    def copy_probe(self, count: int) -> float:
        client = Client.objects.order_by("id").first()
        ct = ContentType.objects.get_for_model(Client).id
        family = Family(Subject("client", client.id, client.name, ct))
        users = [(u.id, u.display_name) for u in User.objects.all()[:USERS]]
        rate = copy_rate(Loader(entries=count, log=self.stdout.write), [family], [family] * 10, users, count)
        self.stdout.write(f"COPY into the indexed entries table: {rate:,.0f} rows/s")
        return round(rate)

    # --- measuring (in a fresh process, so its peak RSS is a serving process's) ---------------

    def spawn_measurement(self, opts) -> dict:
        self.stdout.write("Measuring in a fresh process …")
        args = [sys.executable, sys.argv[0], "bench_timeline", "--measure-only", "--firm", opts["firm"]]
        args += ["--runs", str(opts["runs"])]
        env = child_env(DEBUG="false", LOG_LEVEL="WARNING")
        done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise CommandError(f"measurement failed:\n{done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])

    def measure_only(self, opts):
        firm = Firm.objects.get(schema_name=opts["firm"])
        with schema_context(firm.schema_name):
            connection.set_tenant(firm)
            _, token = api_token_issue(user=User.objects.get(username=BENCH_ADMIN))
            heavy = Client.objects.get(name="Heavy client 0")
            links = heavy_client_links(heavy.id)
            deep_page = min(1000, links // 50)
            cursor = heavy_client_cursor(heavy.id, deep_page, 50)
        connection.set_schema_to_public()
        now = datetime.now(UTC).replace(microsecond=0)
        month, years = (now - timedelta(days=30)).isoformat(), (now - timedelta(days=3 * 365)).isoformat()
        base = f"/api/v1/clients/{heavy.id}/timeline/"
        scenarios = [
            Scenario("360° heavy client, page 1", base),
            Scenario(f"360° heavy client, page {deep_page:,}", f"{base}?{urlencode({'cursor': cursor})}"),
            Scenario(
                "firm-wide, kind=call, last 30 days", "/api/v1/timeline/?" + urlencode({"kind": "call", "since": month})
            ),
            Scenario(f"search q={SEARCH_COMMON} (common)", f"/api/v1/timeline/?q={SEARCH_COMMON}"),
            Scenario(f"search q={SEARCH_RARE} (rare)", f"/api/v1/timeline/?q={SEARCH_RARE}"),
            Scenario("stats, last 30 days", "/api/v1/timeline/stats/?" + urlencode({"since": month})),
            Scenario("stats, last 3 years", "/api/v1/timeline/stats/?" + urlencode({"since": years})),
        ]
        client = TestClient(HTTP_HOST=f"{firm.schema_name}.localhost", HTTP_AUTHORIZATION=f"Token {token}")
        bare = bare_connection(firm.schema_name)
        results = [measure(client, bare, s, runs=opts["runs"], warmup=10).row() for s in scenarios]
        self.stdout.write(
            json.dumps({"results": results, "peak_rss_mb": round(peak_rss_mb(), 1), "runs": opts["runs"]})
        )

    # --- report ----------------------------------------------------------------------------------

    def print_report(self, report: dict, *, explain: bool):
        out = self.stdout.write
        out("")
        out(f"Benchmark: {report['entries']:,} entries, PostgreSQL {report['postgres']}, {report['runs']} runs each")
        out("")
        out("| figure | API median ms | API p99 ms | SQL median ms | SQL p99 ms | API/SQL | queries |")
        out("|---|---:|---:|---:|---:|---:|---:|")
        for r in report["results"]:
            out(
                f"| {r['name']} | {r['api_median']:.2f} | {r['api_p99']:.2f} | {r['sql_median']:.2f} "
                f"| {r['sql_p99']:.2f} | {r['ratio']:.1f}x | {r['queries']} |"
            )
        out("")
        out(f"- ingest through entry_record: {report['ingest_entries_per_s']:,} entries/s (one transaction each)")
        out(f"- COPY into the indexed entries table: {report['copy_rows_per_s']:,} rows/s")
        out(f"- peak RSS of the serving process: {report['peak_rss_mb']} MB")
        if not report["load"].get("reused"):
            load = report["load"]
            out(
                f"- load: {load['total_seconds']} s in all (COPY {load['copy_seconds']} s, with indexes "
                f"{load['copy_and_index_seconds']} s), {load['links']:,} link rows"
            )
        if explain:
            for r in report["results"]:
                out(f"\n### {r['name']}\n{r['plan']}")


def heavy_client_links(client_id: int) -> int:
    return EntryLink.objects.filter(subject_type="client", subject_id=client_id).count()
