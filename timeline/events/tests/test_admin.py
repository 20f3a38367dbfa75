"""The calendar in the firm admin: pages, saves through the services, the hearing week, feed revocation."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django_tenants.utils import schema_context

from conftest import browser_for
from timeline.events import services
from timeline.events.models import Attendee, Event, FeedToken
from timeline.events.tests.factories import EventFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def hearing(firm_a, lawyer_a, staff_a):
    with schema_context(firm_a.schema_name):
        return EventFactory(
            title="Appeal hearing",
            type="hearing",
            organizer=lawyer_a,
            attendees=[{"user": staff_a}],
            agenda=[{"title": "Pleading"}],
            action_items=[{"description": "Prepare the bundle", "assignee": staff_a}],
        )


def test_the_event_pages_open_with_their_inlines(firm_a, admin_a, hearing):
    browser = browser_for(firm_a, admin_a)
    for url in (
        reverse("admin:events_event_changelist"),
        reverse("admin:events_event_add"),
        reverse("admin:events_event_change", args=[hearing.pk]),
        reverse("admin:events_feedtoken_changelist"),
    ):
        assert browser.get(url).status_code == 200, url
    page = browser.get(reverse("admin:events_event_change", args=[hearing.pk])).content.decode()
    assert "Pleading" in page and "Prepare the bundle" in page and hearing.event_id in page


def test_adding_an_event_in_the_admin_goes_through_the_services(firm_a, admin_a, lawyer_a):
    browser = browser_for(firm_a, admin_a)
    form = {
        "title": "Mediation session",
        "type": "mediation",
        "timezone": "Asia/Riyadh",
        "start_date": "2026-03-03",
        "start_time": "10:00",
        "end_date": "2026-03-03",
        "end_time": "12:00",
        "organizer": lawyer_a.pk,
        "billing_type": "non_billable",
        "currency": "SAR",
        "attendees-TOTAL_FORMS": "1",
        "attendees-INITIAL_FORMS": "0",
        "attendees-0-email": "mediator@example.com",
        "attendees-0-name": "Mediator",
        "attendees-0-status": "invited",
        "agenda-TOTAL_FORMS": "0",
        "agenda-INITIAL_FORMS": "0",
        "action_items-TOTAL_FORMS": "0",
        "action_items-INITIAL_FORMS": "0",
    }
    response = browser.post(reverse("admin:events_event_add"), form)
    assert response.status_code == 302, response.content.decode()[:3000]
    with schema_context(firm_a.schema_name):
        event = Event.objects.get(title="Mediation session")
        assert event.event_id.startswith("EVT-") and event.start_at.hour == 7
        assert list(Attendee.objects.filter(event=event).values_list("email", flat=True)) == ["mediator@example.com"]
    # a bad rule is an error on the page, and nothing is stored
    bad = browser.post(reverse("admin:events_event_add"), {**form, "title": "Bad", "rrule": "FREQ=SOMETIMES"})
    assert bad.status_code == 200 and "FREQ" in bad.content.decode()
    with schema_context(firm_a.schema_name):
        assert not Event.objects.filter(title="Bad").exists()


def test_the_hearing_week_shows_the_firms_hearings(firm_a, admin_a, hearing):
    browser = browser_for(firm_a, admin_a)
    url = reverse("admin:events_event_calendar")
    page = browser.get(url, {"week": "2026-03-02"}).content.decode()
    assert "Appeal hearing" in page
    other_week = browser.get(url, {"week": (hearing.start_date + timedelta(days=7)).isoformat()}).content.decode()
    assert "Appeal hearing" not in other_week


def test_an_admin_revokes_a_users_feed(firm_a, admin_a, lawyer_a):
    with schema_context(firm_a.schema_name):
        feed, _ = services.feed_token_issue(user=lawyer_a)
    browser = browser_for(firm_a, admin_a)
    response = browser.post(
        reverse("admin:events_feedtoken_changelist"), {"action": "revoke_selected", "_selected_action": [feed.pk]}
    )
    assert response.status_code == 302
    with schema_context(firm_a.schema_name):
        assert FeedToken.objects.get(pk=feed.pk).revoked_at is not None


def test_bulk_actions_leave_other_peoples_events_alone(firm_a, staff_a, hearing):
    browser = browser_for(firm_a, staff_a)
    changelist = reverse("admin:events_event_changelist")
    response = browser.post(changelist, {"action": "cancel_selected", "_selected_action": [hearing.pk]}, follow=True)
    assert response.status_code == 200
    with schema_context(firm_a.schema_name):
        assert Event.objects.get(pk=hearing.pk).status == "scheduled"
