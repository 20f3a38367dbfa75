"""Fault drill: PostgreSQL restarted mid-load (ADR 0039).

A private cluster (tests/private_services.py) holds a migrated database with the harness's firm;
gunicorn serves it (DEBUG off, two workers, persistent connections with ``CONN_HEALTH_CHECKS``)
with a Redis of its own. The harness's driver sends 360° pages, entry and activity writes and
signed webhooks from six clients while ``pg_ctl restart -m fast`` cuts every session. Then:

- errors only inside the outage window: a failed request was in flight during the restart, or
  sent within a second of its end; nothing hangs;
- the connections recover by themselves: every request sent after that second succeeds, and so
  does every request after a restart while the server was idle (each worker's pooled connection
  is stale then: ``CONN_HEALTH_CHECKS`` finds it so before reusing it);
- every write the server accepted is stored exactly once (counted on the cluster, per marker),
  before, across and after the restart.
"""

import asyncio
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

from messaging.load.driver import closed_loop
from messaging.load.traffic import THREE_SIXTY, Mix, Plan, ledger, stored_counts
from tests.private_services import private_postgres, private_redis
from traf3li.core.processes import child_env, gunicorn_serving

ROOT = Path(__file__).resolve().parent.parent
FIRM = "drill"
WEIGHTS = {THREE_SIXTY: 4, "entry write": 3, "activity write": 2, "webhook delivery": 3}
LOAD_SECONDS, RESTART_AT = 14.0, 4.0
GRACE = 1.0  # seconds after the restart returns in which a request may still fail


def test_the_settings_check_connections_before_reusing_them():
    # The recovery below rests on these: a persistent connection is checked before each request's reuse.
    db = settings.DATABASES["default"]
    assert db["CONN_HEALTH_CHECKS"] is True and db["CONN_MAX_AGE"] > 0
    assert db["OPTIONS"]["connect_timeout"] <= 10


def manage(env: dict, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def product():
    """(private PostgreSQL, environment of a product process on it, the harness's plan): the harness
    creates and migrates the database and prepares its firm, as its full run does."""
    with private_postgres() as postgres, private_redis() as redis_url:
        env = child_env(
            DEBUG="false",
            DATABASE_URL=postgres.url("traf3li_drill"),
            REDIS_URL=redis_url,
            CELERY_BROKER_URL=redis_url,
            LOG_LEVEL="WARNING",
        )
        plan = manage(env, "loadtest", "--prepare-only", "--firm", FIRM, "--load-clients", "20",
                      "--entries-per-client", "5")  # fmt: skip
        yield postgres, env, Plan.loads(plan.strip().splitlines()[-1])


def started_at(postgres) -> float:
    with psycopg.connect(postgres.url("traf3li_drill")) as conn:
        return conn.execute("SELECT extract(epoch FROM pg_postmaster_start_time())").fetchone()[0]


@pytest.mark.slow
def test_a_postgres_restart_mid_load_fails_only_inside_the_outage_and_loses_no_accepted_write(product, tmp_path):
    postgres, env, plan = product
    run = f"{int(time.time() * 1000):x}"
    booted = started_at(postgres)
    window = {}
    with gunicorn_serving(env=env, log=tmp_path / "gunicorn.log", workers=2) as port:
        base = f"http://127.0.0.1:{port}"
        mix = Mix(plan, port, run, weights=WEIGHTS)

        async def restart_mid_load():
            await asyncio.sleep(RESTART_AT)
            window["start"] = time.monotonic()
            await asyncio.to_thread(postgres.restart)
            window["end"] = time.monotonic()

        async def drill():
            load = closed_loop(base, mix, clients=6, seconds=LOAD_SECONDS, requests=10**6, name="drill")
            phase, _ = await asyncio.gather(load, restart_mid_load())
            return phase

        phase = asyncio.run(drill())
        # and once more while idle: every worker's pooled connection is then stale when the next
        # request comes. The health check finds it so and reconnects, and that request succeeds
        # (without CONN_HEALTH_CHECKS the first request on each worker is a 500).
        postgres.restart()
        time.sleep(GRACE)
        calm = asyncio.run(closed_loop(base, lambda n: mix(10**6 + n), clients=2, seconds=10, requests=40, name="calm"))
        with urllib.request.urlopen(f"{base}/healthz", timeout=10) as answer:
            health = json.loads(answer.read())
    # the cluster really restarted, mid-load
    assert started_at(postgres) > booted
    start, end = window["start"], window["end"]
    before = [o for o in phase.outcomes if o.finished < start]
    after = [o for o in phase.outcomes if o.scheduled > end + GRACE]
    failed = [o for o in phase.outcomes if o.failed]
    assert len(before) > 50 and len(after) > 50, (len(before), len(after))
    # errors only inside the outage window, each a prompt answer (no hang until a timeout)
    outside = [(o.scheduled - start, o.finished - start, o.status) for o in failed if o.finished < start]
    outside += [(o.scheduled - start, o.finished - start, o.status) for o in failed if o.scheduled > end + GRACE]
    assert outside == [], f"errors outside the outage [0, {end - start:.2f}] s: {outside[:10]}"
    assert all(o.latency < 10 for o in failed)
    # each of them a 503 to retry (traf3li.core.errors), never a 500, or no answer at all
    assert {o.status for o in failed} <= {0, 503}, sorted({o.status for o in failed})
    # the connections recovered by themselves: all is well after the window, and health says so
    assert not any(o.failed for o in after)
    assert len(calm.outcomes) == 40 and [o.status for o in calm.outcomes if o.failed] == []
    assert health == {"db": "ok", "redis": "ok"}
    # every accepted write is stored exactly once, of every kind, also those accepted after the restart
    with psycopg.connect(postgres.url("traf3li_drill")) as conn, conn.cursor() as cursor:
        found = ledger(phase.outcomes + calm.outcomes, stored_counts(cursor, plan.firm, run))
    assert set(found.accepted) == {"entry", "activity", "delivery"}
    assert found.sound, (found.lost, found.doubled)
    assert {o.call.marker[0] for o in after if o.call.marker} == {"entry", "activity", "delivery"}
    print(
        f"\nrestart took {end - start:.2f} s; {len(phase.outcomes)} requests, {len(failed)} failed "
        f"(statuses {sorted({o.status for o in failed})}); accepted {dict(found.accepted)}, "
        f"refused yet stored {dict(found.unanswered_stored)}"
    )
