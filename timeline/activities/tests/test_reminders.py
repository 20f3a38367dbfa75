from datetime import timedelta
from smtplib import SMTPException
from unittest import mock

import pytest
from django.conf import settings
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.backends.smtp import EmailBackend as SMTPBackend
from django.test import override_settings
from django.utils import timezone

from audit.models import AuditEvent
from conftest import make_user
from timeline.activities import services
from timeline.activities.deadlines import firm_midnight, firm_today
from timeline.activities.models import Notification, Reminder
from timeline.activities.tasks import activity_reminders_task
from timeline.activities.tests.factories import a_client, schedule
from timeline.rollups import firm_tz

pytestmark = pytest.mark.django_db


class FailingBackend(BaseEmailBackend):
    """A mail server that is down."""

    def send_messages(self, messages):
        raise SMTPException("421 service not available")


class WorkerDied(BaseException):
    """Not an Exception: like a SIGKILL, nothing in the worker gets to handle it."""


@pytest.fixture
def steady_clock(in_firm_a):
    """The clock these tests run on: the real one, unless the firm's midnight is under 20 minutes
    away. A test that moves its clock past a claim's 15-minute lease would then cross into the next
    day, where every activity's bucket changes. Near midnight the clock runs 25 minutes ahead (just
    past the firm's midnight), so the fixtures and every service call agree on one firm day."""
    real_now = timezone.now
    local = timezone.localtime(real_now(), firm_tz())
    next_midnight = firm_midnight(local.date() + timedelta(days=1))
    if next_midnight - local > timedelta(minutes=20):
        yield
        return
    with mock.patch("django.utils.timezone.now", lambda: real_now() + timedelta(minutes=25)):
        yield


@pytest.fixture
def due(steady_clock, in_firm_a, lawyer_a):
    """Activities due at each distance from the firm's today, plus ones that get no reminder."""
    today = firm_today()
    client = a_client()

    def make(days, **kw):
        return schedule(subject=client, assignee=lawyer_a, deadline=today + timedelta(days=days), **kw)

    activities = {
        "overdue": make(-2),
        "today": make(0),
        "tomorrow": make(1),
        "within_3_days": make(3),
        "later": make(4),
    }
    services.activity_complete(activity=make(0))
    services.activity_cancel(activity=make(0))
    return activities


def test_each_due_activity_gets_one_reminder_across_two_beat_ticks(due, lawyer_a):
    # when the beat task runs twice
    first = activity_reminders_task.apply().get()
    second = activity_reminders_task.apply().get()
    # then the four due activities got one email and one notification each, classified
    assert first["sent"] == 4 and second == {"armed": 0, "sent": 0, "failed": 0, "obsolete": 0}
    assert sorted(m.subject.split(":")[0] for m in mail.outbox) == sorted(
        [
            "[Traf3li] Due today",
            "[Traf3li] Due tomorrow",
            f"[Traf3li] Due on {due['within_3_days'].deadline}",
            f"[Traf3li] Overdue since {due['overdue'].deadline}",
        ]
    )
    assert all(m.to == [lawyer_a.email] for m in mail.outbox)
    buckets = dict(Notification.objects.filter(recipient=lawyer_a).values_list("activity_id", "bucket"))
    assert buckets == {due[name].pk: name for name in ("overdue", "today", "tomorrow", "within_3_days")}


def test_a_failing_mail_backend_leaves_the_reminder_pending_and_it_is_retried(due, lawyer_a):
    now = timezone.now()
    # given a mail server that is down
    with override_settings(EMAIL_BACKEND=f"{__name__}.FailingBackend"):
        run = services.reminders_send(now=now)
    # then nothing is marked sent and no notification was kept
    assert (run.sent, run.failed) == (0, 4)
    reminder = Reminder.objects.get(activity=due["today"])
    assert (reminder.state, reminder.attempts, reminder.sent_at) == ("pending", 1, None)
    assert "421 service not available" in reminder.last_error
    assert not Notification.objects.filter(recipient=lawyer_a).exists()
    # when the next tick comes before the back-off, it waits
    assert services.reminders_send(now=now + timedelta(seconds=30)).sent == 0
    # when a tick comes after the back-off and the server is back
    run = services.reminders_send(now=now + timedelta(minutes=3))
    # then each reminder goes out once
    assert run.sent == 4 and len(mail.outbox) == 4
    reminder.refresh_from_db()
    assert (reminder.state, reminder.attempts) == ("sent", 2)
    assert Notification.objects.filter(recipient=lawyer_a).count() == 4


def test_a_worker_dying_mid_batch_loses_no_reminder_and_repeats_none(due, lawyer_a):
    # given a worker that dies while sending its second reminder
    now = timezone.now()
    real_send = mail.get_connection().__class__.send_messages
    calls = []

    def dying_send(backend, messages):
        calls.append(messages)
        if len(calls) == 2:
            raise WorkerDied
        return real_send(backend, messages)

    with mock.patch("django.core.mail.backends.locmem.EmailBackend.send_messages", dying_send):
        with pytest.raises(WorkerDied):
            services.reminders_send(now=now)
    # then the first reminder was recorded as sent; the one in flight stays claimed, unsent
    assert len(mail.outbox) == 1
    assert Reminder.objects.filter(activity__assignee=lawyer_a, state="sent").count() == 1
    in_flight = Reminder.objects.get(activity__assignee=lawyer_a, state="sending")
    assert (in_flight.attempts, in_flight.sent_at) == (1, None)
    assert Notification.objects.filter(recipient=lawyer_a).count() == 1
    # when the next tick runs, the other two go out; the claimed one waits for its lease to expire
    assert services.reminders_send(now=now + timedelta(minutes=1)).sent == 2
    # when a tick comes after the lease, the dead worker's reminder goes out, and none is repeated
    assert services.reminders_send(now=now + services.REMINDER_CLAIM_LEASE + timedelta(minutes=1)).sent == 1
    assert len(mail.outbox) == 4
    assert len({m.subject for m in mail.outbox}) == 4
    assert Notification.objects.filter(recipient=lawyer_a).count() == 4
    in_flight.refresh_from_db()
    assert (in_flight.state, in_flight.attempts) == ("sent", 2)


def test_a_worker_finishing_after_its_lease_expired_records_the_reminder_once(due, lawyer_a):
    # given a worker that claimed today's reminder and then stalled past its lease
    now = timezone.now()
    services.reminders_arm(now=now)
    Reminder.objects.exclude(activity=due["today"]).update(state="sent")  # out of play
    late = services._reminder_claim(now=now, today=firm_today(now))
    # when another worker takes it over and sends it, and then the first one finishes too
    later = now + services.REMINDER_CLAIM_LEASE + timedelta(minutes=1)
    assert services.reminders_send(now=later).sent == 1
    assert services._reminder_deliver(claim=late, now=later) == "sent"
    # then the mail went out twice (at least once), but it is one notification, one audit event, one sent row
    assert len(mail.outbox) == 2
    assert Notification.objects.filter(activity=due["today"]).count() == 1
    assert AuditEvent.objects.filter(action="remind_activity", entity_id=due["today"].pk).count() == 1
    assert Reminder.objects.get(activity=due["today"]).state == "sent"


def test_a_late_failure_does_not_release_another_workers_claim(due, lawyer_a):
    now = timezone.now()
    services.reminders_arm(now=now)
    Reminder.objects.exclude(activity=due["today"]).update(state="sent")  # out of play
    late = services._reminder_claim(now=now, today=firm_today(now))
    later = now + services.REMINDER_CLAIM_LEASE + timedelta(minutes=1)
    current = services._reminder_claim(now=later, today=firm_today(later))
    # when the first worker's send finally fails, the second worker's claim stands
    services._reminder_release(claim=late, error="timed out", now=later)
    reminder = Reminder.objects.get(pk=current.reminder_id)
    assert (reminder.state, reminder.claimed_at, reminder.attempts) == ("sending", current.claimed_at, 2)


def test_rescheduling_re_arms_the_reminder_for_the_new_deadline(due, lawyer_a):
    # given the reminder for today's activity was sent
    services.reminders_send()
    activity = due["today"]
    # when it is moved to the day after tomorrow
    services.activity_reschedule(activity=activity, deadline=firm_today() + timedelta(days=2))
    services.reminders_send()
    services.reminders_send()
    # then it got exactly one more reminder, for the new deadline
    assert list(Notification.objects.filter(activity=activity).order_by("id").values_list("bucket", flat=True)) == [
        "today",
        "within_3_days",
    ]
    assert Reminder.objects.filter(activity=activity, state="sent").count() == 2


def test_a_deadline_moved_away_and_back_before_its_reminder_went_out_is_reminded(due, lawyer_a):
    # given today's reminder is owed, then the activity moves out of the window and a tick drops the reminder
    activity = due["today"]
    services.reminders_arm()
    services.activity_reschedule(activity=activity, deadline=firm_today() + timedelta(days=30))
    services.reminders_send()
    assert Reminder.objects.get(activity=activity).state == "obsolete"
    # when it moves back to today before the next tick
    services.activity_reschedule(activity=activity, deadline=firm_today())
    run = services.reminders_send()
    # then the reminder for today is owed again and goes out, once
    assert run.sent == 1
    reminder = Reminder.objects.get(activity=activity)
    assert (reminder.deadline, reminder.state, reminder.bucket) == (firm_today(), "sent", "today")
    assert list(Notification.objects.filter(activity=activity).values_list("bucket", flat=True)) == ["today"]
    # and moving away and back to a deadline already reminded owes nothing more
    services.activity_reschedule(activity=activity, deadline=firm_today() + timedelta(days=30))
    services.reminders_send()
    services.activity_reschedule(activity=activity, deadline=firm_today())
    assert services.reminders_send().sent == 0
    assert Notification.objects.filter(activity=activity).count() == 1
    assert len([m for m in mail.outbox if m.subject.startswith("[Traf3li] Due today")]) == 1


def test_the_smtp_backend_has_a_timeout():
    # A hung mail server must fail the send (and schedule a retry), not hang the worker.
    assert settings.EMAIL_TIMEOUT and settings.EMAIL_TIMEOUT > 0
    assert SMTPBackend().timeout == settings.EMAIL_TIMEOUT


def test_a_reminder_owed_before_completion_is_dropped_not_sent(due, lawyer_a):
    # given reminders armed, then the activity is completed and another moved out of the window
    services.reminders_arm()
    services.activity_complete(activity=due["today"])
    services.activity_reschedule(activity=due["tomorrow"], deadline=firm_today() + timedelta(days=30))
    # when
    run = services.reminders_send()
    # then
    assert (run.sent, run.obsolete) == (2, 2)
    assert Reminder.objects.get(activity=due["today"]).state == "obsolete"
    assert not Notification.objects.filter(activity__in=[due["today"], due["tomorrow"]]).exists()


def test_an_assignee_without_email_still_gets_the_in_app_notification(in_firm_a):
    user = make_user(in_firm_a, "no_mail", role="staff")
    user.email = ""
    user.save()
    schedule(subject=a_client(), assignee=user, deadline=firm_today())
    services.reminders_send()
    assert Notification.objects.filter(recipient=user).count() == 1
    assert mail.outbox == []
