"""``manage.py bench_ingest``: the write path's rates against INSERT and COPY, then exactness checks.

The logic is in timeline/bench_ingest.py; the bench database and firm are bench_timeline's
(this command extends it). Results and method: docs/benchmarks.md, "Ingest".
"""

import argparse
import json
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django_tenants.utils import schema_context

from timeline import bench_ingest as bench
from timeline.management.commands.bench_timeline import DEV_DATABASE
from timeline.management.commands.bench_timeline import Command as BenchTimelineCommand
from traf3li.core.context import command_context
from traf3li.firms.models import Firm

ERROR_DATABASE = (
    "Refusing to run the ingest benchmark in the database '{name}'. "
    "Run it with DATABASE_URL=postgresql://postgres@127.0.0.1:5432/traf3li_bench_ingest"
)
ERROR_CHECKS = "Exactness checks failed: {names}"


class Command(BenchTimelineCommand):
    help = "Time entry_record and entry_import against single-row INSERT and COPY, then check the run stayed exact."

    def add_arguments(self, parser):
        parser.add_argument("--entries", type=int, default=2000, help="Entries through entry_record (and INSERTs).")
        parser.add_argument("--writers", type=int, default=8, help="Concurrent recording processes.")
        parser.add_argument("--import-entries", type=int, default=100_000, help="Entries through entry_import.")
        parser.add_argument("--reuse", action="store_true", help="Keep the bench firm of an earlier run.")
        parser.add_argument("--firm", default="bench")
        # Internal: one worker process (see timeline.bench_ingest.run_workers).
        parser.add_argument("--worker", choices=["record", "import"], help=argparse.SUPPRESS)
        for name, kind in (("tag", str), ("label", str), ("start", int), ("count", int), ("seed", int)):
            parser.add_argument(f"--{name}", type=kind, help=argparse.SUPPRESS)

    def handle(self, *args, **opts):
        name = connection.settings_dict["NAME"]
        # Workers also run on the test database (the smoke test); the benchmark itself never does.
        if name == DEV_DATABASE or (name.startswith("test") and not opts["worker"]):
            raise CommandError(ERROR_DATABASE.format(name=name))
        settings.DEBUG = False  # no query log: it costs time and memory on every query
        with command_context("bench_ingest"):
            if opts["worker"]:
                return self.worker(opts)
            self.ensure_database()
            call_command("migrate_schemas", verbosity=0, interactive=False)
            # bench_timeline's firm: dropped and made afresh, unless --reuse keeps it.
            firm = self.bench_firm({**opts, "entries": 0})
            with schema_context(firm.schema_name):
                connection.set_tenant(firm)
                self.run(firm, opts)
            connection.set_schema_to_public()

    def run(self, firm: Firm, opts):
        out = self.stdout.write
        bench.bench_subjects(log=out)
        tag = bench.new_tag()
        out(f"Run {tag} on {connection.settings_dict['NAME']}, firm '{firm.schema_name}', "
            f"PostgreSQL {self.server_version()}")  # fmt: skip
        run = bench.measure(
            firm=firm.schema_name,
            entries=opts["entries"],
            writers=opts["writers"],
            import_entries=opts["import_entries"],
            tag=tag,
            log=out,
        )
        overlap = max(10, min(2000, opts["import_entries"] // 20))
        out(f"Two concurrent imports of {overlap:,} ids each, overlapping by half")
        checks = [bench.overlap_check(firm=firm.schema_name, count=overlap, tag=tag)]
        out("Checking …")
        checks = bench.exactness_checks(expected=run.expected, tag=tag, audit_prefix=None) + checks
        out("")
        for line in bench.report_lines(run):
            out(line)
        out("")
        for check in checks:
            out(f"- {'ok' if check.ok else 'FAILED'}: {check.name} ({check.detail})")
        failed = [check.name for check in checks if not check.ok]
        if failed or run.errors:
            raise CommandError(ERROR_CHECKS.format(names="; ".join(failed + run.errors)))

    def worker(self, opts):
        firm = Firm.objects.get(schema_name=opts["firm"])
        with schema_context(firm.schema_name):
            connection.set_tenant(firm)

            def ready():
                self.stdout.write("ready")
                self.stdout.flush()

            result = bench.worker_run(
                opts["worker"],
                tag=opts["tag"],
                label=opts["label"],
                start=opts["start"],
                count=opts["count"],
                seed=opts["seed"],
                ready=ready,
                go=sys.stdin.readline,
            )
        self.stdout.write(json.dumps(result))
