"""Services: ids, stale instances, and two connections racing for one event (committed data)."""

import re
import threading
import time
import uuid
from datetime import datetime

import pytest
from django.conf import settings
from django.db import connection, transaction

from conftest import make_user, waiting_on_a_lock
from timeline.events import services
from timeline.events.models import Event
from timeline.events.tests.factories import EventFactory
from traf3li.api.exceptions import TransitionError


def test_this_module_runs_on_the_test_database(db):
    """``scratch_firm`` alone would not make pytest-django create the test database (see activities)."""
    assert connection.settings_dict["NAME"] == settings.DATABASES["default"]["TEST"]["NAME"]


@pytest.mark.django_db
def test_ids_follow_the_firms_sequence_and_month(in_firm_a, lawyer_a):
    first, second = EventFactory(organizer=lawyer_a), EventFactory(organizer=lawyer_a)
    number = int(first.event_id.rsplit("-", 1)[1])
    assert re.fullmatch(r"EVT-\d{6}-\d{4,}", first.event_id)
    assert second.event_id.endswith(f"-{number + 1:04d}")


@pytest.mark.django_db
def test_an_edit_from_a_stale_instance_keeps_what_another_transaction_committed(in_firm_a, lawyer_a):
    event = EventFactory(organizer=lawyer_a, location="Room 1")
    stale = Event.objects.get(pk=event.pk)
    Event.objects.filter(pk=event.pk).update(location="Room 7")
    services.event_update(event=stale, data={"title": "Renamed"}, actor=lawyer_a)
    stored = Event.objects.get(pk=event.pk)
    assert (stored.title, stored.location, stored.sequence) == ("Renamed", "Room 7", 1)


@pytest.mark.django_db
def test_a_new_zone_keeps_the_wall_time(in_firm_a, lawyer_a):
    event = EventFactory(organizer=lawyer_a, start=datetime(2026, 3, 2, 9, 0), end=datetime(2026, 3, 2, 10, 0))
    moved = services.event_update(event=event, data={"timezone": "Europe/London"}, actor=lawyer_a)
    assert (moved.start_time.hour, moved.start_at.hour, moved.end_at.hour) == (9, 9, 10)


def test_two_completions_race_and_the_loser_gets_a_conflict(scratch_firm):
    # given a committed event in the scratch firm
    user = make_user(scratch_firm, f"race_{uuid.uuid4().hex[:8]}", role="lawyer")
    event = EventFactory(organizer=user, start=datetime(2026, 3, 2, 9, 0))
    outcome, ready = {}, threading.Event()

    def second_worker():
        try:
            connection.set_tenant(scratch_firm)
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                outcome["pid"] = cursor.fetchone()[0]
            ready.set()
            services.event_complete(event=event, outcome="second", actor=user)
            outcome["second"] = "completed"
        except TransitionError:
            outcome["second"] = "conflict"
        finally:
            connection.close()

    # when one connection completes it and, before it commits, another tries too
    with transaction.atomic():
        services.event_complete(event=event, outcome="first", actor=user)
        worker = threading.Thread(target=second_worker)
        worker.start()
        ready.wait(timeout=10)
        deadline = time.monotonic() + 10
        while not waiting_on_a_lock(outcome["pid"]) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert waiting_on_a_lock(outcome["pid"]), "the second completion should wait on the event's row"
    worker.join(timeout=10)
    # then the second waited for the first's commit and was refused; the first outcome stands
    assert outcome["second"] == "conflict"
    assert Event.objects.get(pk=event.pk).outcome == "first"


@pytest.mark.django_db
def test_today_is_the_firms_date_not_utcs(in_firm_a, lawyer_a):
    # given an event at 00:15 Riyadh time on the 6th (21:15 UTC on the 5th)
    from zoneinfo import ZoneInfo

    from timeline.events import selectors

    riyadh = ZoneInfo("Asia/Riyadh")
    event = EventFactory(
        organizer=lawyer_a, timezone="Asia/Riyadh", start=datetime(2026, 3, 6, 0, 15), end=datetime(2026, 3, 6, 0, 45)
    )

    def timing(now):
        return selectors.timing(start=event.start_at, end=event.end_at, moment=selectors.firm_moment(now))

    # at 23:30 on the 5th it is tomorrow's; at 00:05 on the 6th it is today's and still upcoming
    assert timing(datetime(2026, 3, 5, 23, 30, tzinfo=riyadh)) == {
        "is_past": False,
        "is_today": False,
        "is_upcoming": True,
    }
    assert timing(datetime(2026, 3, 6, 0, 5, tzinfo=riyadh)) == {
        "is_past": False,
        "is_today": True,
        "is_upcoming": True,
    }
    assert timing(datetime(2026, 3, 6, 1, 0, tzinfo=riyadh)) == {
        "is_past": True,
        "is_today": True,
        "is_upcoming": False,
    }


@pytest.mark.django_db
def test_editing_the_attendee_list_keeps_the_answers_of_those_who_stay(in_firm_a, lawyer_a, staff_a, admin_a):
    event = EventFactory(organizer=lawyer_a, attendees=[{"user": staff_a}, {"user": admin_a}])
    services.event_rsvp(event=event, user=staff_a, response="accepted", actor=staff_a)
    services.event_update(
        event=event, data={}, attendees=[{"user": staff_a}, {"email": "expert@example.com"}], actor=lawyer_a
    )
    answers = {(a.user_id, a.email): a.response for a in event.attendees.all()}
    assert answers == {(staff_a.pk, None): "accepted", (None, "expert@example.com"): "needs_action"}
