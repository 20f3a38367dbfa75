"""Two senders on their own real connections, and a provider that hangs mid-request: the message is
sent once, and its row stays free to lock while the provider keeps the sender waiting.

Against committed data in the scratch firm (no per-test rollback), so no module-wide ``django_db``.
"""

import threading
import uuid

from django.db import connection, connections
from django.test import override_settings
from django.utils import timezone

from messaging import outbound, services
from messaging.models import Message
from messaging.tests.fake_providers import Answer, FakeProviders

PHONE = "+966501234567"


def test_this_module_runs_on_the_test_database(db):
    assert connection.settings_dict["NAME"].startswith("test_")


def test_a_hung_provider_holds_no_lock_and_two_senders_send_once(scratch_firm):
    assert connection.settings_dict["NAME"].startswith("test_"), "refusing to commit outside the test database"
    fake = FakeProviders().start()
    release = threading.Event()
    fake.answer(Answer(200, {"messages": [{"id": f"wamid.{uuid.uuid4().hex}"}]}, hang=release))
    results, errors = [], []
    with override_settings(WHATSAPP_GRAPH_URL=fake.url, MESSAGING_OUTBOUND="provider", MESSAGING_SEND_TIMEOUT=20.0):
        account = services.channel_account_create(
            provider="whatsapp",
            name=f"wa-{uuid.uuid4().hex[:6]}",
            is_active=False,  # a scratch firm's committed account must not clash with the next run's
            credentials={
                "phone_number_id": uuid.uuid4().hex[:12],
                "app_secret": "s",
                "verify_token": "v",
                "access_token": "EAAG",
            },
        )
        message = Message.objects.create(
            provider="whatsapp",
            channel="whatsapp",
            direction="outbound",
            external_id=f"out:{uuid.uuid4().hex}",
            to_address=PHONE,
            body="x",
            status="queued",
            client_ref=uuid.uuid4().hex,
            send_state="pending",
            next_attempt_at=timezone.now(),
            account=account,
        )

        def sender():
            try:
                connection.set_tenant(scratch_firm)  # this thread's own connection
                results.append(outbound.message_send(message.pk))
            except Exception as exc:  # surfaced below
                errors.append(exc)
            finally:
                connection.close()

        first = threading.Thread(target=sender)
        first.start()
        assert fake.arrived.wait(timeout=20), (errors, results)
        # while the provider hangs: the row is free to lock, and a second sender sends nothing
        with connections["default"].cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute(f"SELECT id FROM {Message._meta.db_table} WHERE id = %s FOR UPDATE NOWAIT", [message.pk])
            assert cursor.fetchone() == (message.pk,)
            cursor.execute("ROLLBACK")
        second = threading.Thread(target=sender)
        second.start()
        second.join(timeout=20)
        release.set()
        first.join(timeout=20)
    fake.stop()
    assert errors == [] and sorted(results) == ["not due", "sent"] and len(fake.seen) == 1
    message.refresh_from_db()
    assert message.send_state == "sent" and message.send_attempts == 1
