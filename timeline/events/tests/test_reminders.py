"""Hearing and deadline reminders: the day before and the morning of, once each, per occurrence and person."""

from datetime import datetime, timedelta

import pytest
from django.core import mail

from audit.models import AuditEvent
from timeline.events import services
from timeline.events.models import EventReminder
from timeline.events.tests.factories import EventFactory
from timeline.rollups import firm_tz

pytestmark = pytest.mark.django_db


def at(day, hour, minute=0):
    return datetime.combine(day, datetime.min.time().replace(hour=hour, minute=minute), tzinfo=firm_tz())


@pytest.fixture
def tomorrow(in_firm_a):
    return (datetime.now(firm_tz()) + timedelta(days=1)).date()


def test_a_hearing_reminds_the_day_before_and_the_morning_of_once_each(in_firm_a, lawyer_a, staff_a, tomorrow):
    # given a hearing at 10:00 tomorrow, organized by the lawyer, with the staff invited
    EventFactory(
        type="hearing",
        title="Appeal",
        organizer=lawyer_a,
        start=at(tomorrow, 10).replace(tzinfo=None),
        end=at(tomorrow, 11).replace(tzinfo=None),
        timezone=firm_tz().key,
        attendees=[{"user": staff_a}],
    )
    # when the beat ticks at 08:05 today, and again
    day_before = at(tomorrow - timedelta(days=1), 8, 5)
    first = services.event_reminders_send(now=day_before)
    again = services.event_reminders_send(now=day_before + timedelta(minutes=10))
    # then both were mailed once
    assert (first["sent"], again["sent"]) == (2, 0)
    assert sorted(m.to[0] for m in mail.outbox) == sorted([lawyer_a.email, staff_a.email])
    # and on the morning itself, once more each
    assert services.event_reminders_send(now=at(tomorrow, 8, 5))["sent"] == 2
    assert EventReminder.objects.filter(state="sent").count() == 4
    assert AuditEvent.objects.filter(action="remind_event").count() == 4


def test_declined_invitations_and_cancelled_hearings_are_not_reminded(in_firm_a, lawyer_a, staff_a, tomorrow):
    hearing = EventFactory(
        type="hearing",
        organizer=lawyer_a,
        start=at(tomorrow, 10).replace(tzinfo=None),
        end=at(tomorrow, 11).replace(tzinfo=None),
        attendees=[{"user": staff_a}],
    )
    services.event_rsvp(event=hearing, user=staff_a, response="declined", actor=staff_a)
    services.event_reminders_arm(now=at(tomorrow - timedelta(days=1), 7, 50))
    services.event_cancel(event=hearing, actor=lawyer_a)
    run = services.event_reminders_send(now=at(tomorrow - timedelta(days=1), 8, 5))
    assert (run["sent"], run["obsolete"]) == (0, 1)  # the organizer's, armed before the cancellation
    assert mail.outbox == []


def test_each_occurrence_of_a_weekly_hearing_is_reminded(in_firm_a, lawyer_a, tomorrow):
    EventFactory(
        type="court_date",
        organizer=lawyer_a,
        start=at(tomorrow, 9).replace(tzinfo=None),
        end=at(tomorrow, 10).replace(tzinfo=None),
        rrule="FREQ=WEEKLY;COUNT=3",
    )
    for week in range(3):
        day = tomorrow + timedelta(weeks=week)
        assert services.event_reminders_send(now=at(day - timedelta(days=1), 8, 1))["sent"] == 1
    assert EventReminder.objects.filter(offset="day_before", state="sent").count() == 3


def test_a_failing_mail_server_leaves_the_reminder_owed(in_firm_a, lawyer_a, tomorrow, settings, monkeypatch):
    EventFactory(type="filing_deadline", organizer=lawyer_a, all_day=True, start=tomorrow, end=tomorrow)

    def broken(*args, **kwargs):
        raise ConnectionError("SMTP down")

    monkeypatch.setattr(services, "send_mail", broken)
    run = services.event_reminders_send(now=at(tomorrow - timedelta(days=1), 8, 5))
    assert (run["sent"], run["failed"]) == (0, 1)
    reminder = EventReminder.objects.get(offset="day_before")
    assert (reminder.state, reminder.attempts, "SMTP down" in reminder.last_error) == ("pending", 1, True)
    monkeypatch.undo()
    assert services.event_reminders_send(now=at(tomorrow - timedelta(days=1), 8, 30))["sent"] == 1
