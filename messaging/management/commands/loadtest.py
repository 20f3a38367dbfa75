"""``manage.py loadtest``: mixed traffic over real HTTP against gunicorn, then the checks (ADR 0038).

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/traf3li_load .venv/bin/python manage.py loadtest

It creates the database when missing, migrates it, prepares a firm ``load`` (once: clients with
seeded timelines, an activity type, the bench's channel accounts), starts gunicorn (``--workers``,
DEBUG off) on a free loopback port serving the product plus the trivial JSON view, runs the phases
of ``messaging.load.harness`` and prints each one's figures per endpoint and the targets, as
markdown for docs/benchmarks.md. It exits 1 when a target is missed (``--no-targets`` keeps only the
correctness ones: errors, stored once, audit). The webhooks' processing tasks go to a broker
database of their own (``--broker-db``), emptied afterwards: no worker of the product's takes them.
"""

import os
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import redis
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from messaging.load.harness import Sizes, run
from messaging.load.traffic import prepare
from timeline.management.commands.bench_timeline import Command as BenchTimeline
from traf3li.core.db import product_database_env
from traf3li.core.processes import child_env

DEV_DATABASE = "traf3li"


class Command(BaseCommand):
    help = "Mixed load over HTTP against gunicorn: per-endpoint throughput, p50, p99, errors; then the checks."
    ensure_database = BenchTimeline.ensure_database  # creates the database named in DATABASE_URL if missing

    def add_arguments(self, parser):
        sizes = Sizes()
        parser.add_argument("--clients", type=int, default=sizes.clients, help="Concurrent clients (closed loop).")
        parser.add_argument("--seconds", type=float, default=sizes.seconds, help="The mixed phase's length.")
        parser.add_argument("--requests", type=int, default=sizes.requests, help="At most this many per phase.")
        parser.add_argument("--ceiling-seconds", type=float, default=sizes.ceiling_seconds)
        parser.add_argument("--rate", type=float, default=sizes.rate, help="The open loop's requests per second.")
        parser.add_argument("--rate-seconds", type=float, default=sizes.rate_seconds)
        parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
        parser.add_argument("--firm", default="load")
        parser.add_argument("--load-clients", type=int, default=200, help="Clients the firm holds.")
        parser.add_argument("--entries-per-client", type=int, default=50)
        parser.add_argument("--broker-db", type=int, default=13, help="Redis database for the queued tasks.")
        parser.add_argument("--log", default=".artifacts/loadtest/gunicorn.log")
        parser.add_argument("--no-targets", action="store_true", help="Fail only on errors, losses and the audit.")
        parser.add_argument("--prepare-only", action="store_true", help="Prepare the firm, print its plan (JSON).")

    def handle(self, *args, **opts):
        if connection.settings_dict["NAME"] == DEV_DATABASE:
            raise CommandError(
                "Refusing to load the development database. Run it with "
                "DATABASE_URL=postgresql://postgres@127.0.0.1:5432/traf3li_load"
            )
        self.ensure_database()
        call_command("migrate_schemas", verbosity=0, interactive=False)
        plan = prepare(firm=opts["firm"], clients=opts["load_clients"], entries_per_client=opts["entries_per_client"])
        if opts["prepare_only"]:
            self.stdout.write(plan.dumps())
            return
        sizes = Sizes(
            clients=opts["clients"], seconds=opts["seconds"], requests=opts["requests"],
            ceiling_seconds=opts["ceiling_seconds"], rate=opts["rate"], rate_seconds=opts["rate_seconds"],
        )  # fmt: skip
        broker = broker_url(opts["broker_db"])
        # gunicorn as the product's own role (ADR 0062); this command set the firm up as the owner.
        env = child_env(DEBUG="false", CELERY_BROKER_URL=broker, LOG_LEVEL="WARNING", **product_database_env())
        self.stdout.write(f"Serving with {opts['workers']} gunicorn workers; running the phases …")
        load_before = os.getloadavg()[0]
        try:
            result = run(plan, env=env, sizes=sizes, workers=opts["workers"], log=Path(opts["log"]))
        finally:
            redis.Redis.from_url(broker).flushdb()
        self.stdout.write("")
        self.stdout.write(
            f"`manage.py loadtest {' '.join(sys.argv[2:])}` at {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
            f"{opts['workers']} gunicorn workers, {os.cpu_count()} cores, load average {load_before:.1f} before "
            f"and {os.getloadavg()[0]:.1f} after; firm `{plan.firm}` with {len(plan.clients)} clients × "
            f"{opts['entries_per_client']} seeded entries."
        )
        self.stdout.write("")
        self.stdout.write(result.report())
        missed = [name for name, _, met in result.targets() if not met]
        if opts["no_targets"]:
            missed = [name for name in missed if name not in CAPACITY_TARGETS]
        if missed:
            raise CommandError(f"missed: {', '.join(missed)}")


CAPACITY_TARGETS = ("360° page ≥ 50 % of the ceiling", "p99 < 50 ms at the fixed rate")


def broker_url(db: int) -> str:
    return urlparse(settings.REDIS_URL)._replace(path=f"/{db}").geturl()
