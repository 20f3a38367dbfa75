"""A worker killed mid-batch loses nothing and doubles nothing; two workers at once split the queue.

Against committed data in the scratch firm, on real connections: the killed worker is a real
process (SIGKILL inside its batch's transaction, as the kernel's OOM killer or a node loss does),
and the two workers are threads with connections of their own. Deliveries are Twilio's real SMS
webhook format; each run marks its own message ids, so rows other tests left in the scratch firm
don't count.
"""

import os
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.db import connection

from messaging import processing, services
from messaging.models import Message, ProcessedEvent, WebhookDelivery
from timeline.models import Entry
from traf3li.core.db import product_database_env

ROOT = Path(__file__).resolve().parents[2]

# The killed worker: the app's own processing, its SMS handlers wrapped to die inside the batch's
# transaction once they have handled `kill_after` of this run's deliveries (set-based or one by one).
WORKER = """
import os, signal, sys
import django
django.setup()
from django.db import connection
from django_tenants.utils import get_tenant_model
from messaging import processing
connection.set_tenant(get_tenant_model().objects.get(schema_name=sys.argv[1]))
marker, kill_after, seen = sys.argv[2].encode(), int(sys.argv[3]), []
real = processing._HANDLERS["twilio_sms"]
def dying(delivery):
    real(delivery)
    if marker in bytes(delivery.body):
        seen.append(delivery.pk)
        if len(seen) == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
def dying_batch(deliveries):
    handled = real_batch(deliveries)
    seen.extend(d.pk for d in deliveries if d.pk in handled and marker in bytes(d.body))
    if len(seen) >= kill_after:
        os.kill(os.getpid(), signal.SIGKILL)
    return handled
real_batch = processing._BATCH_HANDLERS["twilio_sms"]
processing.delivery_handler_register("twilio_sms", dying)
processing.delivery_batch_handler_register("twilio_sms", dying_batch)
processing.deliveries_process()
"""


def test_this_module_runs_on_the_test_database(db):
    assert connection.settings_dict["NAME"].startswith("test_")


def _store(account, marker: str, count: int) -> list[str]:
    sids = [f"SM{marker}{n:04d}" for n in range(count)]
    for sid in sids:
        body = urlencode(
            {
                "MessageSid": sid,
                "SmsStatus": "received",
                "AccountSid": "ACcrash",
                "From": "+966501234567",
                "To": "+966111234567",
                "Body": f"run {marker} message {sid}",
                "NumMedia": "0",
                "ApiVersion": "2010-04-01",
            }
        )
        services.delivery_accept(
            provider="twilio", endpoint="twilio_sms", account=account, headers={}, body=body.encode()
        )
    return sids


def _account():
    return services.channel_account_create(
        provider="twilio",
        name=f"crash-{uuid.uuid4().hex[:6]}",
        is_active=False,  # committed in the scratch firm: must not clash with the next run's account
        credentials={"account_sid": "ACcrash", "auth_token": "token"},
    )


def _exactly_once(sids: list[str]) -> None:
    messages = Message.objects.filter(provider="twilio", external_id__in=sids)
    assert sorted(messages.values_list("external_id", flat=True)) == sorted(sids)
    keys = [f"{sid}:received" for sid in sids]
    assert ProcessedEvent.objects.filter(provider="twilio", idempotency_key__in=keys).count() == len(sids)
    # matched to no one (no record has the number): no entries, and none doubled either way
    assert not Entry.objects.filter(external_id__in=[f"twilio:{sid}" for sid in sids]).exists()


@pytest.mark.slow
def test_a_worker_killed_mid_batch_loses_nothing_and_doubles_nothing(scratch_firm):
    assert connection.settings_dict["NAME"].startswith("test_"), "refusing to commit outside the test database"
    marker = uuid.uuid4().hex[:8]
    account = _account()
    sids = _store(account, marker, 40)
    owed = WebhookDelivery.objects.filter(account=account)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "traf3li.settings",
        **product_database_env(),  # as the product's own role (ADR 0062)
    }
    # when a worker dies by SIGKILL after handling 15 of them, inside its batch's transaction
    worker = subprocess.run(
        [sys.executable, "-c", WORKER, scratch_firm.schema_name, marker, "15"],
        cwd=ROOT,
        env=env,
        timeout=120,
        capture_output=True,
    )
    assert worker.returncode == -signal.SIGKILL, worker.stderr.decode()[-2000:]
    # then its work is undone as a whole: every delivery is still owed, nothing was kept
    assert owed.filter(processed_at__isnull=True).count() == 40
    assert not Message.objects.filter(external_id__in=sids).exists()
    # and the next run (the sweeper's) processes each delivery exactly once
    processing.deliveries_process()
    assert owed.filter(processed_at__isnull=True).count() == 0
    _exactly_once(sids)


@pytest.mark.slow
def test_two_workers_at_once_split_the_queue_and_process_each_delivery_once(scratch_firm):
    assert connection.settings_dict["NAME"].startswith("test_"), "refusing to commit outside the test database"
    marker = uuid.uuid4().hex[:8]
    account = _account()
    sids = _store(account, marker, 120)
    barrier, done, errors = threading.Barrier(2), [], []
    mine = set(WebhookDelivery.objects.filter(account=account).values_list("pk", flat=True))
    real, real_batch = processing._HANDLERS["twilio_sms"], processing._BATCH_HANDLERS["twilio_sms"]
    handled_by: dict[int, list[str]] = {}

    def note(pk):
        if pk in mine:
            handled_by.setdefault(pk, []).append(threading.current_thread().name)

    def recording(delivery):
        real(delivery)
        note(delivery.pk)

    def recording_batch(deliveries):
        handled = real_batch(deliveries)
        for pk in handled:
            note(pk)
        return handled

    def worker():
        try:
            connection.set_tenant(scratch_firm)  # this thread's own connection
            barrier.wait(timeout=10)
            done.append(processing.deliveries_process(batch=10))
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    processing.delivery_handler_register("twilio_sms", recording)
    processing.delivery_batch_handler_register("twilio_sms", recording_batch)
    try:
        threads = [threading.Thread(target=worker, name=f"worker-{n}") for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        processing.delivery_handler_register("twilio_sms", real)
        processing.delivery_batch_handler_register("twilio_sms", real_batch)
    assert errors == []
    # each delivery handled by exactly one worker, and both workers took part
    assert sorted(handled_by) == sorted(mine) and all(len(names) == 1 for names in handled_by.values())
    assert {names[0] for names in handled_by.values()} == {"worker-0", "worker-1"}
    assert not WebhookDelivery.objects.filter(account=account, processed_at__isnull=True).exists()
    _exactly_once(sids)


def test_an_accepted_delivery_is_committed_when_accept_returns_and_its_processing_queued(scratch_firm, monkeypatch):
    """The webhook's hot path: one autocommitted INSERT, no transaction around it, then the task."""
    assert connection.settings_dict["NAME"].startswith("test_"), "refusing to commit outside the test database"
    queued = []
    monkeypatch.setattr(services, "_enqueue", queued.append)
    account = _account()
    assert connection.get_autocommit() and not connection.in_atomic_block
    [sid] = _store(account, uuid.uuid4().hex[:8], 1)
    delivery = WebhookDelivery.objects.get(account=account)
    assert queued == [delivery.pk]
    # another connection sees it at once: it was committed before accept returned
    other = connection.copy()
    try:
        other.set_tenant(scratch_firm)
        with other.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {WebhookDelivery._meta.db_table} WHERE id = %s", [delivery.pk])
            assert cursor.fetchone() == (1,)
    finally:
        other.close()
    # a replay stores nothing and queues nothing
    services.delivery_accept(
        provider="twilio", endpoint="twilio_sms", account=account, headers={}, body=bytes(delivery.body)
    )
    assert queued == [delivery.pk] and WebhookDelivery.objects.filter(account=account).count() == 1
    processing.deliveries_process()
    assert Message.objects.filter(external_id=sid).count() == 1
