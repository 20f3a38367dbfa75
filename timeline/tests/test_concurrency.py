"""Recording against committed data from several connections at once (ADR 0003: no rollback here)."""

import threading
import time
import uuid

from django.conf import settings
from django.db import connection, transaction

from conftest import waiting_on_a_lock
from timeline.models import Entry
from timeline.services import entry_record
from traf3li.crm import services as crm
from traf3li.crm.models import Client

WAIT_SECONDS = 10


def on_the_test_database() -> bool:
    return connection.settings_dict["NAME"] == settings.DATABASES["default"]["TEST"]["NAME"]


def test_this_module_runs_on_the_test_database(db):
    """``scratch_firm`` alone does not create the test database; this test makes sure it exists."""
    assert on_the_test_database()


def run_threads(firm, *targets):
    errors = []

    def wrap(target):
        def run():
            try:
                connection.set_tenant(firm)  # this thread's own connection
                target()
            except Exception as exc:  # surfaced below; a thread's exception is otherwise lost
                errors.append(exc)
            finally:
                connection.close()

        return threading.Thread(target=run)

    threads = [wrap(target) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []


def test_concurrent_creators_never_share_an_activity_id(scratch_firm):
    assert on_the_test_database(), "refusing to commit test data outside the test database"
    # given
    client = crm.record_create(instance=Client(name=f"Race {uuid.uuid4().hex[:6]}"))
    barrier = threading.Barrier(4)
    made = []

    def creator():
        barrier.wait(timeout=WAIT_SECONDS)
        # Each holds its transaction open across all its entries, so the four really overlap.
        with transaction.atomic():
            for i in range(25):
                made.append(entry_record(kind="note", subject=client, title=f"Concurrent {i}").activity_id)

    # when
    run_threads(scratch_firm, creator, creator, creator, creator)
    # then
    assert len(made) == 100 and len(set(made)) == 100
    stored = Entry.objects.filter(activity_id__in=made).values_list("activity_id", flat=True)
    assert sorted(stored) == sorted(made)


def test_the_same_provider_event_twice_at_once_is_one_entry(scratch_firm):
    assert on_the_test_database(), "refusing to commit test data outside the test database"
    # given
    client = crm.record_create(instance=Client(name=f"Replay {uuid.uuid4().hex[:6]}"))
    external_id = f"SM{uuid.uuid4().hex}"
    first_inserted, second_pid = threading.Event(), []
    results = {}

    def first():
        with transaction.atomic():
            results["first"] = entry_record(
                kind="sms", subject=client, title="Inbound SMS", source="twilio", external_id=external_id
            ).pk
            first_inserted.set()
            # Commit only once the second insert is blocked on this row's unique key: a real race.
            deadline = time.monotonic() + WAIT_SECONDS
            while not (second_pid and waiting_on_a_lock(second_pid[0])):
                assert time.monotonic() < deadline, "the second insert never waited on the first"
                time.sleep(0.01)

    def second():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            second_pid.append(cursor.fetchone()[0])
        assert first_inserted.wait(WAIT_SECONDS)
        with transaction.atomic():
            results["second"] = entry_record(
                kind="sms", subject=client, title="Inbound SMS", source="twilio", external_id=external_id
            ).pk

    # when
    run_threads(scratch_firm, first, second)
    # then
    assert results["first"] == results["second"]
    assert Entry.objects.filter(source="twilio", external_id=external_id).count() == 1
