"""Webhook deliveries partitioned by month (ADR 0064): a replay is still stored once, across months
too (the key lives in ``messaging_deliverykey``), and the worker takes owed deliveries from every
month's partition."""

from datetime import timedelta
from types import SimpleNamespace

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from messaging import processing, services
from messaging.models import DeliveryKey, ProcessedEvent, WebhookDelivery
from messaging.tests.test_processing import handled  # noqa: F401 - the fixture
from privacy import retention

pytestmark = pytest.mark.django_db
MONTH = retention.DELIVERIES_BY_MONTH


def at(monkeypatch, moment):
    """``delivery_accept``'s clock reads ``moment``."""
    monkeypatch.setattr(services, "timezone", SimpleNamespace(now=lambda: moment))


def partition_of(delivery_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {MONTH.table} WHERE id = %s", [delivery_id])
        return cursor.fetchone()[0].split(".")[-1].strip('"')


@pytest.fixture
def account(in_firm_a):
    return services.channel_account_create(provider="sendgrid", name="sg", credentials={"public_key": "k"})


def accept(body: bytes, account, **extra):
    return services.delivery_accept(
        provider="sendgrid", endpoint="sendgrid", account=account, headers={}, body=body, **extra
    )


def test_a_replay_in_the_next_month_is_stored_once_and_answered_with_the_first(account, monkeypatch):
    month = retention._month_start(timezone.now())
    last_instant = retention._next_month(month) - timedelta(microseconds=1)
    at(monkeypatch, last_instant)
    first, created = accept(b'[{"event": "open"}]', account, dedup_key="token-1")
    assert created
    at(monkeypatch, retention._next_month(month) + timedelta(seconds=1))
    again, created_again = accept(b'[{"event": "open"}]', account, dedup_key="token-1")
    # then: nothing new, the first delivery answered, in its own month's partition
    assert not created_again and again.pk == first.pk
    assert WebhookDelivery.objects.filter(dedup_key="token-1").count() == 1
    assert list(DeliveryKey.objects.filter(dedup_key="token-1").values_list("received_at", flat=True)) == [last_instant]
    assert partition_of(first.pk) == MONTH.partition(month)
    # a different key in the next month lands in the next month's partition
    other, created = accept(b'[{"event": "click"}]', account, dedup_key="token-2")
    assert created and partition_of(other.pk) == MONTH.partition(retention._next_month(month))


def test_a_replay_by_body_digest_is_stored_once(account):
    for _ in range(3):
        accept(b'[{"event": "bounce"}]', account)
    assert WebhookDelivery.objects.filter(body_digest=services.body_digest(b'[{"event": "bounce"}]')).count() == 1
    assert DeliveryKey.objects.count() == WebhookDelivery.objects.count() == 1


def test_a_key_and_its_delivery_are_one_statement_inside_a_callers_transaction(account):
    from django.db import transaction

    with pytest.raises(RuntimeError), transaction.atomic():
        accept(b"[1]", account, dedup_key="rolled-back")
        raise RuntimeError
    assert not DeliveryKey.objects.filter(dedup_key="rolled-back").exists()
    _, created = accept(b"[1]", account, dedup_key="rolled-back")  # not taken for a replay afterwards
    assert created


def test_the_worker_processes_owed_deliveries_of_every_month(account, monkeypatch, handled):  # noqa: F811
    month = retention._month_start(timezone.now())
    for n, moment in enumerate((month + timedelta(hours=1), retention._next_month(month) + timedelta(hours=1))):
        at(monkeypatch, moment)
        accept(f"[{n}]".encode(), account)
    parts = {partition_of(pk) for pk in WebhookDelivery.objects.values_list("pk", flat=True)}
    assert len(parts) == 2
    assert processing.deliveries_process() == 2
    assert sorted(handled) == [b"[0]", b"[1]"]
    assert not WebhookDelivery.objects.filter(processed_at__isnull=True).exists()


def test_the_worker_locks_only_the_months_it_writes(account, handled):  # noqa: F811
    """A purge holding an expiring month's partition (SHARE) doesn't block the worker's UPDATE of
    this month's deliveries, which would deadlock with the purge's lock of the parent (ADR 0064)."""
    accept(b"[7]", account)
    ahead = MONTH.partition(retention._next_month(retention._month_start(timezone.now())))
    db = connection.settings_dict
    with psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], password=db["PASSWORD"],
                         dbname=db["NAME"]) as purge:  # fmt: skip
        purge.execute(f'LOCK TABLE "{connection.schema_name}"."{ahead}" IN SHARE MODE')
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '2s'")  # blocked: a LockNotAvailable error, not a hang
        assert processing.deliveries_process() == 1
        purge.rollback()
    assert handled == [b"[7]"]


def test_processed_events_have_no_database_foreign_key_to_the_partitioned_table(in_firm_a):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conrelid = %s::regclass",
            [ProcessedEvent._meta.db_table],
        )
        assert cursor.fetchone()[0] == 0
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = %s::regclass", [MONTH.table])
        assert cursor.fetchone()[0] == "p"
        # the owed deliveries' partial index and the queue's autovacuum settings on every partition
        cursor.execute(
            "SELECT c.relname, c.reloptions, EXISTS (SELECT FROM pg_index x JOIN pg_class ic ON ic.oid = x.indexrelid"
            "  WHERE x.indrelid = c.oid AND x.indpred IS NOT NULL)"
            " FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass",
            [MONTH.table],
        )
        rows = cursor.fetchall()
    assert len(rows) >= 5  # this month, three ahead, DEFAULT
    for name, options, owed_index in rows:
        assert owed_index, name
        assert "autovacuum_vacuum_scale_factor=0.01" in (options or []), name
