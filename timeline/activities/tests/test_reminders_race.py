"""Reminders against committed data: no ``django_db`` mark, so nothing here is rolled back (ADR 0003)."""

import threading
import uuid

from django.conf import settings
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend
from django.db import connection
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
