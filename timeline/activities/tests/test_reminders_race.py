"""Reminders against committed data: no ``django_db`` mark, so nothing here is rolled back (ADR 0003)."""

import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend
from django.db import connection, transaction
from django.test import override_settings

from conftest import make_user
from timeline.activities import services
from timeline.activities.deadlines import firm_today
from timeline.activities.models import Activity, Notification, Reminder
from timeline.activities.tests.factories import a_client, schedule

RENDEZVOUS = threading.Barrier(2)
_first_send = threading.local()


class RendezvousBackend(EmailBackend):
    """Holds each worker's first email until the other worker is sending too, so the two really overlap.

    Without row claiming both would be sending the same reminder here; with FOR UPDATE but without
    SKIP LOCKED the second would wait on the first's row and the rendezvous would time out.
    """

    def send_messages(self, messages):
        if not getattr(_first_send, "done", False):
            _first_send.done = True
            RENDEZVOUS.wait(timeout=10)
        return super().send_messages(messages)


def on_the_test_database() -> bool:
    return connection.settings_dict["NAME"] == settings.DATABASES["default"]["TEST"]["NAME"]


def test_this_module_runs_on_the_test_database(db):
    """pytest-django creates the test database only when a collected test uses ``db`` (or the
    ``django_db`` mark). ``scratch_firm`` alone uses neither, so this test keeps the module's
    committed writes out of the development database when the module runs on its own."""
    assert on_the_test_database()


def test_two_workers_on_separate_connections_send_each_reminder_once(scratch_firm):
    """Against committed data: two threads, each on its own connection, run the same tick at once."""
    assert on_the_test_database(), "refusing to commit test data outside the test database"
    # given 30 activities due today for a fresh user, committed in the scratch firm
    user = make_user(scratch_firm, f"race_{uuid.uuid4().hex[:8]}", role="lawyer")
    client = a_client("Race client")
    activities = [schedule(subject=client, assignee=user, deadline=firm_today()) for _ in range(30)]
    ids = [a.pk for a in activities]
    barrier = threading.Barrier(2)
    RENDEZVOUS.reset()
    results, errors = [], []

    def worker():
        try:
            connection.set_tenant(scratch_firm)  # this thread's own connection
            barrier.wait(timeout=10)
            results.append(services.reminders_send())
        except Exception as exc:  # surfaced below; a thread's exception is otherwise lost
            errors.append(exc)
        finally:
            connection.close()

    # when
    threads = [threading.Thread(target=worker) for _ in range(2)]
    with override_settings(EMAIL_BACKEND=f"{__name__}.RendezvousBackend"):  # process-wide: set it once, here
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    # then every activity got exactly one notification and one email, split between the workers
    assert errors == []
    per_activity = list(Notification.objects.filter(activity_id__in=ids).values_list("activity_id", flat=True))
    assert sorted(per_activity) == sorted(ids)
    assert len([m for m in mail.outbox if m.to == [user.email]]) == 30
    assert Reminder.objects.filter(activity_id__in=ids, state="sent", attempts=1).count() == 30
    assert sorted(r.sent > 0 for r in results) == [True, True]  # both workers took part
    # leave the scratch firm's counters as they were
    Activity.objects.filter(pk__in=ids).update(state="cancelled")


MAIL_IN_FLIGHT = threading.Event()
MAIL_SERVER_BACK = threading.Event()
_hung_for: set[str] = set()


class HangingBackend(EmailBackend):
    """A mail provider that accepts the connection, then hangs on our recipient's message until released."""

    def send_messages(self, messages):
        if any(set(message.to) & _hung_for for message in messages):
            MAIL_IN_FLIGHT.set()
            MAIL_SERVER_BACK.wait(timeout=60)
        return super().send_messages(messages)


def _act_on(action: str, activity: Activity):
    if action == "complete":
        return services.activity_complete(activity=activity, feedback="Done while the mail hung")
    if action == "cancel":
        return services.activity_cancel(activity=activity)
    return services.activity_reschedule(activity=activity, deadline=firm_today() + timedelta(days=30))


EXPECTED_STATE = {"complete": "done", "cancel": "cancelled", "reschedule": "scheduled"}


@pytest.mark.parametrize("action", sorted(EXPECTED_STATE))
def test_a_hung_mail_server_does_not_block_the_activitys_actions(scratch_firm, action):
    """The sender holds no row lock while it talks to the mail server (issue 8, defect 5)."""
    assert on_the_test_database(), "refusing to commit test data outside the test database"
    # given an activity due today whose reminder email hangs at the provider
    user = make_user(scratch_firm, f"hung_{uuid.uuid4().hex[:8]}", role="lawyer")
    activity = schedule(subject=a_client("Hung client"), assignee=user, deadline=firm_today())
    _hung_for.add(user.email)
    MAIL_IN_FLIGHT.clear()
    MAIL_SERVER_BACK.clear()
    results, errors = [], []

    def worker():
        try:
            connection.set_tenant(scratch_firm)  # this thread's own connection
            results.append(services.reminders_send())
        except Exception as exc:  # surfaced below; a thread's exception is otherwise lost
            errors.append(exc)
        finally:
            connection.close()

    sender = threading.Thread(target=worker)
    with override_settings(EMAIL_BACKEND=f"{__name__}.HangingBackend"):  # process-wide: set it once, here
        sender.start()
        try:
            assert MAIL_IN_FLIGHT.wait(timeout=20), "the reminder was never sent"
            # when another connection acts on the activity while the mail hangs
            started = time.monotonic()
            with transaction.atomic():
                with connection.cursor() as cursor:  # fail fast instead of waiting for the mail server
                    cursor.execute("SET LOCAL lock_timeout = '3s'")
                _act_on(action, activity)
            elapsed = time.monotonic() - started
        finally:
            MAIL_SERVER_BACK.set()
            sender.join(timeout=60)
            _hung_for.discard(user.email)
    # then it did not wait for the mail, and the reminder that did go out is recorded once
    assert elapsed < 3
    assert errors == [] and not sender.is_alive()
    assert Activity.objects.get(pk=activity.pk).state == EXPECTED_STATE[action]
    reminder = Reminder.objects.get(activity=activity, deadline=firm_today())
    assert (reminder.state, reminder.attempts) == ("sent", 1)
    assert Notification.objects.filter(activity=activity).count() == 1
    assert len([m for m in mail.outbox if m.to == [user.email]]) == 1
    # leave the scratch firm's counters as they were
    Activity.objects.filter(pk=activity.pk, state="scheduled").update(state="cancelled")
