"""The events API as the contract names it: CRUD, bad input, recurrence edits, RSVP, completion, calendar."""

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from conftest import api_client_for, make_user
from timeline.activities.models import Activity
from timeline.events.models import Event
from timeline.events.tests.factories import CaseFactory
from timeline.models import Entry

pytestmark = pytest.mark.django_db
NY = ZoneInfo("America/New_York")
RIYADH = ZoneInfo("Asia/Riyadh")


@pytest.fixture
def people(firm_a, lawyer_a, staff_a):
    return {"lawyer": lawyer_a, "staff": staff_a}


@pytest.fixture
def api_lawyer(firm_a, lawyer_a):
    return api_client_for(firm_a, lawyer_a)


@pytest.fixture
def api_staff(firm_a, staff_a):
    return api_client_for(firm_a, staff_a)


@pytest.fixture
def case(firm_a):
    with schema_context(firm_a.schema_name):
        return CaseFactory(title="Al-Harbi v. Horizon")


def weekly(api, **extra):
    body = {
        "title": "Weekly case review",
        "type": "meeting",
        "timezone": "America/New_York",
        "start": "2026-03-02T09:00:00",
        "end": "2026-03-02T10:00:00",
        "recurrence": "FREQ=WEEKLY;BYDAY=MO",
        **extra,
    }
    response = api.post("/api/v1/events/", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def calendar(api, start, end, **params):
    response = api.get("/api/v1/events/calendar/", {"start": start, "end": end, **params})
    assert response.status_code == 200, response.content
    return response.json()


def test_create_stores_wall_time_zone_and_instant_and_numbers_the_event(api_lawyer, lawyer_a, staff_a, case, firm_a):
    response = api_lawyer.post(
        "/api/v1/events/",
        {
            "title": "Hearing at the labour court",
            "type": "hearing",
            "start": "2026-04-05T10:00:00+03:00",
            "end": "2026-04-05T11:30:00+03:00",
            "location": "Riyadh Labour Court, room 4",
            "case": case.pk,
            "attendees": [{"user": staff_a.pk}, {"email": "Witness@Example.com", "name": "Omar"}],
            "agenda": [{"title": "Opening statement", "duration_minutes": 15, "presenter": lawyer_a.pk}],
            "billing": {"is_billable": True, "billing_type": "hourly", "billable_amount": "1500.00"},
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert re.fullmatch(r"EVT-\d{6}-\d{4,}", body["event_id"])
    assert (body["timezone"], body["start"], body["end"]) == (
        "Asia/Riyadh",
        "2026-04-05T10:00:00+03:00",
        "2026-04-05T11:30:00+03:00",
    )
    assert body["duration_minutes"] == 90 and body["organizer"] == lawyer_a.pk
    assert [(a["user"], a["email"], a["response"]) for a in body["attendees"]] == [
        (staff_a.pk, None, "needs_action"),
        (None, "witness@example.com", "needs_action"),
    ]
    assert body["billing"] == {
        "is_billable": True,
        "billing_type": "hourly",
        "billable_amount": "1500.00",
        "currency": "SAR",
        "linked_invoice": None,
        "invoice_status": None,
    }
    with schema_context(firm_a.schema_name):
        event = Event.objects.get(pk=body["id"])
        assert (event.start_date, event.start_time.isoformat(), event.timezone) == (
            date(2026, 4, 5),
            "10:00:00",
            "Asia/Riyadh",
        )
        assert event.start_at == datetime(2026, 4, 5, 7, 0, tzinfo=UTC)
        # the hearing is on the case's timeline (and so on its client's 360° view) through the recording seam
        entry = Entry.objects.get(subject_type="event", subject_id=event.pk)
        assert entry.kind == "event" and entry.payload["action"] == "scheduled"
    assert api_lawyer.get(f"/api/v1/cases/{case.pk}/timeline/").json()["results"][0]["id"] == entry.pk


def test_all_day_events_are_dates(api_lawyer, firm_a):
    response = api_lawyer.post(
        "/api/v1/events/",
        {"title": "Filing deadline", "type": "filing_deadline", "all_day": True, "start": "2026-05-10"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["start"], body["end"], body["duration_minutes"]) == ("2026-05-10", "2026-05-10", 1440)
    with schema_context(firm_a.schema_name):
        event = Event.objects.get(pk=body["id"])
        assert event.start_time is None and event.start_at == datetime(2026, 5, 9, 21, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"recurrence": "FREQ=SOMETIMES"}, "recurrence"),
        ({"recurrence": "FREQ=HOURLY"}, "recurrence"),
        ({"end": "2026-03-02T08:00:00"}, "end"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"start": "next monday"}, "start"),
        ({"start": "2026-03-02"}, "start"),  # a timed event takes a date-time
        ({"type": "party"}, "type"),
        ({"billing": {"billable_amount": "1e999"}}, "billing"),
        ({"billing": {"linked_invoice": "client:1"}}, "billing"),
        ({"attendees": [{"user": 987654}]}, "attendees"),
        ({"attendees": [{"email": "a@example.com"}, {"email": "A@example.com"}]}, "attendees"),
        ({"exdates": ["yesterday"]}, "exdates"),
        ({"status": "completed"}, "status"),
    ],
)
def test_bad_input_is_400_naming_the_field_and_stores_nothing(api_lawyer, firm_a, extra, field):
    body = {"title": "Review", "start": "2026-03-02T09:00:00", "end": "2026-03-02T10:00:00", **extra}
    with schema_context(firm_a.schema_name):
        before = Event.objects.count()
    response = api_lawyer.post("/api/v1/events/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    with schema_context(firm_a.schema_name):
        assert Event.objects.count() == before


def test_a_weekly_meeting_stays_at_nine_new_york_time_across_the_switch(api_lawyer):
    weekly(api_lawyer)
    found = calendar(api_lawyer, "2026-03-01T00:00:00Z", "2026-03-20T00:00:00Z")
    assert [o["start"] for o in found] == [
        "2026-03-02T09:00:00-05:00",
        "2026-03-09T09:00:00-04:00",
        "2026-03-16T09:00:00-04:00",
    ]


def test_this_occurrence_edit_is_an_override_with_recurrence_id(api_lawyer, firm_a):
    series = weekly(api_lawyer)
    second = "2026-03-09T09:00:00-04:00"
    response = api_lawyer.patch(
        f"/api/v1/events/{series['id']}/",
        {
            "scope": "this",
            "occurrence": second,
            "start": "2026-03-10T14:00:00",
            "end": "2026-03-10T15:00:00",
            "location": "Room 2",
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    override = response.json()
    assert override["recurrence_parent"] == series["id"]
    assert datetime.fromisoformat(override["recurrence_id"]) == datetime(2026, 3, 9, 13, 0, tzinfo=UTC)
    found = calendar(api_lawyer, "2026-03-01T00:00:00Z", "2026-03-20T00:00:00Z")
    assert [(o["start"], o["location"], o["is_override"]) for o in found] == [
        ("2026-03-02T09:00:00-05:00", "", False),
        ("2026-03-10T14:00:00-04:00", "Room 2", True),
        ("2026-03-16T09:00:00-04:00", "", False),
    ]
    # a second edit of the same occurrence changes the same override
    again = api_lawyer.patch(
        f"/api/v1/events/{series['id']}/", {"scope": "this", "occurrence": second, "title": "Moved"}, format="json"
    )
    assert again.json()["id"] == override["id"]
    with schema_context(firm_a.schema_name):
        assert Event.objects.filter(recurrence_parent_id=series["id"]).count() == 1


def test_this_and_following_splits_the_series(api_lawyer, firm_a):
    series = weekly(api_lawyer)
    response = api_lawyer.patch(
        f"/api/v1/events/{series['id']}/",
        {
            "scope": "following",
            "occurrence": "2026-03-16T09:00:00-04:00",
            "start": "2026-03-16T11:00:00",
            "end": "2026-03-16T12:00:00",
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    follower = response.json()
    assert follower["split_from"] == series["id"] and follower["id"] != series["id"]
    found = calendar(api_lawyer, "2026-03-01T00:00:00Z", "2026-03-31T00:00:00Z")
    assert [(o["start"], o["series"]) for o in found] == [
        ("2026-03-02T09:00:00-05:00", series["id"]),
        ("2026-03-09T09:00:00-04:00", series["id"]),
        ("2026-03-16T11:00:00-04:00", follower["id"]),
        ("2026-03-23T11:00:00-04:00", follower["id"]),
        ("2026-03-30T11:00:00-04:00", follower["id"]),
    ]
    assert "UNTIL=" in api_lawyer.get(f"/api/v1/events/{series['id']}/").json()["recurrence"]


def test_a_series_edit_moves_its_exclusions_and_overrides_with_it(api_lawyer):
    series = weekly(api_lawyer)
    url = f"/api/v1/events/{series['id']}/"
    api_lawyer.post(f"{url}cancel/", {"scope": "this", "occurrence": "2026-03-09T09:00:00-04:00"}, format="json")
    response = api_lawyer.patch(url, {"start": "2026-03-02T10:00:00", "end": "2026-03-02T11:00:00"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["exdates"] == ["2026-03-09T14:00:00+00:00"]
    found = calendar(api_lawyer, "2026-03-01T00:00:00Z", "2026-03-20T00:00:00Z")
    assert [o["start"] for o in found] == ["2026-03-02T10:00:00-05:00", "2026-03-16T10:00:00-04:00"]


def test_cancelling_one_occurrence_makes_it_an_exdate(api_lawyer):
    series = weekly(api_lawyer)
    url = f"/api/v1/events/{series['id']}/cancel/"
    response = api_lawyer.post(url, {"scope": "this", "occurrence": "2026-03-09T13:00:00Z"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["exdates"] == ["2026-03-09T13:00:00+00:00"]
    assert response.json()["status"] == "scheduled"
    found = calendar(api_lawyer, "2026-03-01T00:00:00Z", "2026-03-20T00:00:00Z")
    assert [o["start"][:10] for o in found] == ["2026-03-02", "2026-03-16"]
    # a cancelled occurrence can't be edited any more
    edit = api_lawyer.patch(
        f"/api/v1/events/{series['id']}/",
        {"scope": "this", "occurrence": "2026-03-09T13:00:00Z", "title": "x"},
        format="json",
    )
    assert edit.status_code == 400 and "occurrence" in edit.json()
    # an instant that is no occurrence of the series is a 400 naming it
    bad = api_lawyer.post(url, {"scope": "this", "occurrence": "2026-03-10T13:00:00Z"}, format="json")
    assert bad.status_code == 400 and "occurrence" in bad.json()


def test_cancelling_an_overridden_occurrence_drops_the_override(api_lawyer, firm_a):
    series = weekly(api_lawyer)
    override = api_lawyer.patch(
        f"/api/v1/events/{series['id']}/",
        {"scope": "this", "occurrence": "2026-03-09T13:00:00Z", "title": "Special"},
        format="json",
    ).json()
    response = api_lawyer.post(f"/api/v1/events/{override['id']}/cancel/", {}, format="json")
    assert response.status_code == 200
    with schema_context(firm_a.schema_name):
        assert not Event.objects.filter(pk=override["id"]).exists()
    assert len(calendar(api_lawyer, "2026-03-01T00:00:00Z", "2026-03-20T00:00:00Z")) == 2


def test_cancel_twice_is_409(api_lawyer):
    body = api_lawyer.post("/api/v1/events/", {"title": "Call", "start": "2026-03-02T09:00:00"}, format="json").json()
    assert api_lawyer.post(f"/api/v1/events/{body['id']}/cancel/", {}, format="json").status_code == 200
    second = api_lawyer.post(f"/api/v1/events/{body['id']}/cancel/", {}, format="json")
    assert second.status_code == 409 and "detail" in second.json()


def test_rsvp_is_the_attendees_own(api_lawyer, api_staff, api_a, staff_a, firm_a):
    event = api_lawyer.post(
        "/api/v1/events/",
        {"title": "Strategy", "start": "2026-03-02T09:00:00", "attendees": [{"user": staff_a.pk}]},
        format="json",
    ).json()
    url = f"/api/v1/events/{event['id']}/rsvp/"
    assert api_staff.post(url, {"response": "accepted"}, format="json").json()["response"] == "accepted"
    # the organizer and a firm admin are not that attendee
    assert api_lawyer.post(url, {"response": "declined"}, format="json").status_code == 403
    assert api_a.post(url, {"response": "declined"}, format="json").status_code == 403
    assert api_staff.post(url, {"response": "maybe"}, format="json").status_code == 400
    attendees = api_lawyer.get(f"/api/v1/events/{event['id']}/").json()["attendees"]
    assert [a["response"] for a in attendees] == ["accepted"]


def test_only_the_organizer_creator_or_an_admin_changes_an_event(api_lawyer, api_staff, api_a):
    event = api_lawyer.post("/api/v1/events/", {"title": "Mine", "start": "2026-03-02T09:00:00"}, format="json").json()
    url = f"/api/v1/events/{event['id']}/"
    assert api_staff.get(url).status_code == 200
    assert api_staff.patch(url, {"title": "Theirs"}, format="json").status_code == 403
    assert api_staff.delete(url).status_code == 403
    assert api_a.patch(url, {"title": "Admin's"}, format="json").status_code == 200
    assert api_lawyer.delete(url).status_code == 204


def test_complete_records_the_outcome_schedules_the_follow_up_and_reaches_the_case(api_lawyer, case, firm_a, lawyer_a):
    event = api_lawyer.post(
        "/api/v1/events/",
        {"title": "First hearing", "type": "hearing", "start": "2026-03-02T09:00:00", "case": case.pk},
        format="json",
    ).json()
    url = f"/api/v1/events/{event['id']}/complete/"
    response = api_lawyer.post(url, {"outcome": "Adjourned to April", "follow_up_required": True}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["outcome"], body["follow_up_required"]) == ("completed", "Adjourned to April", True)
    with schema_context(firm_a.schema_name):
        follow_up = Activity.objects.get(pk=body["follow_up"])
        assert (follow_up.assignee_id, follow_up.subject, follow_up.state) == (lawyer_a.pk, case, "scheduled")
    entries = api_lawyer.get(f"/api/v1/cases/{case.pk}/timeline/", {"kind": "event"}).json()["results"]
    assert any(e["payload"].get("outcome") == "Adjourned to April" for e in entries)
    assert api_lawyer.post(url, {"outcome": "again"}, format="json").status_code == 409


def test_a_recurring_event_is_completed_one_occurrence_at_a_time(api_lawyer):
    series = weekly(api_lawyer)
    url = f"/api/v1/events/{series['id']}/complete/"
    assert "occurrence" in api_lawyer.post(url, {"outcome": "Done"}, format="json").json()
    response = api_lawyer.post(url, {"outcome": "Done", "occurrence": "2026-03-09T13:00:00Z"}, format="json")
    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["recurrence_parent"]) == ("completed", series["id"])
    statuses = [o["status"] for o in calendar(api_lawyer, "2026-03-01T00:00:00Z", "2026-03-20T00:00:00Z")]
    assert statuses == ["scheduled", "completed", "scheduled"]


def test_action_items_are_scheduled_activities_whose_state_is_their_status(api_lawyer, staff_a, firm_a):
    event = api_lawyer.post(
        "/api/v1/events/",
        {
            "title": "Client meeting",
            "type": "client_meeting",
            "start": "2026-03-02T09:00:00",
            "action_items": [{"description": "Send the draft", "assignee": staff_a.pk, "due_date": "2026-03-05"}],
        },
        format="json",
    ).json()
    item = event["action_items"][0]
    assert (item["status"], item["due_date"]) == ("scheduled", "2026-03-05")
    api_staff = api_client_for(firm_a, staff_a)
    assert api_staff.get("/api/v1/activities/stats/", {"assignee": staff_a.pk}).json()["total_pending"] == 1
    api_staff.post(f"/api/v1/activities/{item['activity']}/complete/", {"feedback": "Sent"}, format="json")
    assert api_lawyer.get(f"/api/v1/events/{event['id']}/").json()["action_items"][0]["status"] == "done"


def test_calendar_holds_the_callers_events_as_creator_organizer_or_attendee(api_lawyer, api_staff, staff_a, firm_a):
    other = make_user(firm_a, "other_lawyer", role="lawyer")
    api_other = api_client_for(firm_a, other)
    api_lawyer.post("/api/v1/events/", {"title": "Mine", "start": "2026-03-03T09:00:00"}, format="json")
    r = api_other.post(
        "/api/v1/events/",
        {"title": "Invited", "type": "hearing", "start": "2026-03-02T09:00:00", "attendees": [{"user": staff_a.pk}]},
        format="json",
    )
    assert r.status_code == 201, r.content
    api_other.post(
        "/api/v1/events/",
        {"title": "Staff organizes", "start": "2026-03-04T09:00:00", "organizer": staff_a.pk},
        format="json",
    )
    window = ("2026-03-01T00:00:00Z", "2026-03-08T00:00:00Z")
    assert [o["title"] for o in calendar(api_staff, *window)] == ["Invited", "Staff organizes"]
    assert [o["title"] for o in calendar(api_staff, *window, type="hearing")] == ["Invited"]
    assert [o["title"] for o in calendar(api_lawyer, *window)] == ["Mine"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": "2026-03-01T00:00:00Z"}, "end"),
        ({"start": "2026-03-01T00:00:00Z", "end": "2028-03-01T00:00:00Z"}, "end"),
        ({"start": "2026-03-05T00:00:00Z", "end": "2026-03-01T00:00:00Z"}, "end"),
        ({"start": "soon", "end": "2026-03-01T00:00:00Z"}, "start"),
        ({"start": "2026-03-01T00:00:00Z", "end": "2026-04-01T00:00:00Z", "type": "party"}, "type"),
    ],
)
def test_calendar_windows_are_bounded(api_lawyer, params, field):
    response = api_lawyer.get("/api/v1/events/calendar/", params)
    assert response.status_code == 400 and field in response.json()


def test_an_expansion_past_the_limit_is_400(api_lawyer, monkeypatch):
    from timeline.events import recurrence

    monkeypatch.setattr(recurrence, "MAX_OCCURRENCES", 2000)  # the bound is what is tested, not its value
    for hour in range(7):
        api_lawyer.post(
            "/api/v1/events/",
            {"title": f"Daily {hour}", "start": f"2026-01-01T0{hour}:00:00", "recurrence": "FREQ=DAILY"},
            format="json",
        )
    response = api_lawyer.get(
        "/api/v1/events/calendar/", {"start": "2026-01-01T00:00:00Z", "end": "2027-01-01T00:00:00Z"}
    )
    assert response.status_code == 400 and "end" in response.json()


def test_conflicts_list_the_users_overlapping_occurrences_hearings_first(api_lawyer, api_staff, lawyer_a, staff_a):
    api_lawyer.post(
        "/api/v1/events/",
        {"title": "Team meeting", "start": "2026-03-02T09:00:00", "end": "2026-03-02T11:00:00"},
        format="json",
    )
    api_lawyer.post(
        "/api/v1/events/",
        {"title": "Hearing", "type": "hearing", "start": "2026-03-02T10:00:00", "end": "2026-03-02T12:00:00"},
        format="json",
    )
    api_lawyer.post("/api/v1/events/", {"title": "Later", "start": "2026-03-02T15:00:00"}, format="json")
    declined = api_lawyer.post(
        "/api/v1/events/",
        {
            "title": "Declined",
            "start": "2026-03-02T09:30:00",
            "organizer": staff_a.pk,
            "attendees": [{"user": lawyer_a.pk}],
        },
        format="json",
    ).json()
    api_client = api_lawyer
    api_client.post(f"/api/v1/events/{declined['id']}/rsvp/", {"response": "declined"}, format="json")
    found = api_staff.get(
        "/api/v1/events/conflicts/",
        {"user": lawyer_a.pk, "start": "2026-03-02T09:30:00+03:00", "end": "2026-03-02T10:30:00+03:00"},
    ).json()
    assert [o["title"] for o in found] == ["Hearing", "Team meeting"]


def test_today_past_and_upcoming_are_the_firms(api_lawyer, firm_a):
    now = datetime.now(RIYADH)
    for title, start in [
        ("yesterday", now - timedelta(days=1)),
        ("soon", now + timedelta(minutes=30)),
        ("next week", now + timedelta(days=7)),
    ]:
        api_lawyer.post(
            "/api/v1/events/",
            {"title": title, "start": start.isoformat(), "end": (start + timedelta(minutes=10)).isoformat()},
            format="json",
        )
    rows = {e["title"]: e for e in api_lawyer.get("/api/v1/events/").json()["results"]}
    assert (rows["yesterday"]["is_past"], rows["yesterday"]["is_today"]) == (True, False)
    assert rows["next week"]["is_upcoming"] and not rows["next week"]["is_today"]
    soon = rows["soon"]
    assert soon["is_upcoming"] and not soon["is_past"]
    if (now + timedelta(minutes=40)).date() == now.date():  # not when the test runs just before midnight
        assert soon["is_today"]


def test_list_and_calendar_query_counts_do_not_grow_with_the_page(api_lawyer, staff_a, lawyer_a, case):
    def create(n):
        for i in range(n):
            api_lawyer.post(
                "/api/v1/events/",
                {
                    "title": f"E{i}",
                    "start": f"2026-03-{2 + i:02d}T09:00:00",
                    "case": case.pk,
                    "recurrence": "FREQ=WEEKLY;COUNT=3",
                    "attendees": [{"user": staff_a.pk}],
                    "agenda": [{"title": "a", "presenter": lawyer_a.pk}],
                    "action_items": [{"description": "x", "assignee": staff_a.pk}],
                },
                format="json",
            )

    def count(url, params=None):
        with CaptureQueriesContext(connection) as queries:
            assert api_lawyer.get(url, params or {}).status_code == 200
        return len(queries)

    window = {"start": "2026-03-01T00:00:00Z", "end": "2026-05-01T00:00:00Z"}
    create(2)
    small = count("/api/v1/events/"), count("/api/v1/events/calendar/", window)
    create(8)
    assert (count("/api/v1/events/"), count("/api/v1/events/calendar/", window)) == small
    assert small[0] <= 14 and small[1] <= 7


def test_the_invoice_link_is_a_subject_reference_with_its_status(api_lawyer, case, monkeypatch):
    """Built against the ``invoice`` subject type (ADR 0002), not billing's model: a stand-in model with a
    ``status`` registered as ``invoice`` shows that the link resolves and reports that status."""
    from traf3li.core import subjects

    monkeypatch.setitem(subjects._REGISTRY, "invoice", "crm.Case")
    monkeypatch.setattr(subjects, "_PUBLIC", subjects._PUBLIC | {"invoice"})
    body = {"title": "Billable hearing", "start": "2026-03-02T09:00:00", "billing": {"is_billable": True}}
    missing = api_lawyer.post(
        "/api/v1/events/", {**body, "billing": {"linked_invoice": "invoice:987654"}}, format="json"
    )
    assert missing.status_code == 400 and "billing" in missing.json()
    response = api_lawyer.post(
        "/api/v1/events/",
        {**body, "billing": {"is_billable": True, "linked_invoice": f"invoice:{case.pk}"}},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["billing"]["linked_invoice"] == {"type": "invoice", "id": case.pk}
    assert response.json()["billing"]["invoice_status"] == case.status
    unlinked = api_lawyer.patch(
        f"/api/v1/events/{response.json()['id']}/", {"billing": {"linked_invoice": None}}, format="json"
    )
    assert unlinked.json()["billing"]["invoice_status"] is None


def test_a_series_that_stops_recurring_drops_its_overrides(api_lawyer, firm_a):
    series = weekly(api_lawyer)
    url = f"/api/v1/events/{series['id']}/"
    api_lawyer.patch(url, {"scope": "this", "occurrence": "2026-03-09T13:00:00Z", "title": "Moved"}, format="json")
    assert api_lawyer.patch(url, {"recurrence": ""}, format="json").status_code == 200
    found = calendar(api_lawyer, "2026-03-01T00:00:00Z", "2026-03-31T00:00:00Z")
    assert [(o["title"], o["start"]) for o in found] == [("Weekly case review", "2026-03-02T09:00:00-05:00")]


def test_cancelling_this_and_following_ends_the_series_there(api_lawyer):
    series = weekly(api_lawyer, recurrence="FREQ=WEEKLY;COUNT=5", rdates=["2026-03-04T15:00:00"])
    url = f"/api/v1/events/{series['id']}/cancel/"
    response = api_lawyer.post(url, {"scope": "following", "occurrence": "2026-03-16T13:00:00Z"}, format="json")
    assert response.status_code == 200, response.content
    found = calendar(api_lawyer, "2026-03-01T00:00:00Z", "2026-04-30T00:00:00Z")
    assert [o["start"] for o in found] == [
        "2026-03-02T09:00:00-05:00",
        "2026-03-04T15:00:00-05:00",  # the extra date (RDATE), before the cut
        "2026-03-09T09:00:00-04:00",
    ]


def test_a_completed_occurrence_is_not_cancelled(api_lawyer):
    series = weekly(api_lawyer)
    done = api_lawyer.post(
        f"/api/v1/events/{series['id']}/complete/",
        {"outcome": "Held", "occurrence": "2026-03-09T13:00:00Z"},
        format="json",
    ).json()
    response = api_lawyer.post(f"/api/v1/events/{done['id']}/cancel/", {}, format="json")
    assert response.status_code == 409
    assert [o["status"] for o in calendar(api_lawyer, "2026-03-08T00:00:00Z", "2026-03-10T00:00:00Z")] == ["completed"]
