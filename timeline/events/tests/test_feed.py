"""The iCalendar feed: what it carries (parsed back with ``icalendar``), the same occurrences as the API
(expanded again by ``recurring-ical-events``, a second implementation), tokens, conditional GETs and
isolation between firms."""

from datetime import UTC, date, datetime, timedelta

import icalendar
import pytest
import recurring_ical_events
from django_tenants.utils import schema_context

from audit.models import AuditEvent
from conftest import api_client_for
from timeline.events.models import Event, FeedToken

pytestmark = pytest.mark.django_db
WINDOW = ("2026-03-01T00:00:00Z", "2026-04-15T00:00:00Z")


@pytest.fixture
def api_lawyer(firm_a, lawyer_a):
    return api_client_for(firm_a, lawyer_a)


def feed_url(api) -> str:
    response = api.post("/api/v1/me/calendar-feed/")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["url"].endswith(f"/calendar/{body['token']}.ics")
    return "/" + body["url"].split("/", 3)[3]


@pytest.fixture
def busy(api_lawyer, staff_a):
    """A weekly New York meeting across the March switch with one cancelled and one moved occurrence,
    a Riyadh hearing with an attendee, and an all-day deadline."""
    series = api_lawyer.post(
        "/api/v1/events/",
        {
            "title": "Weekly review",
            "timezone": "America/New_York",
            "start": "2026-03-02T09:00:00",
            "end": "2026-03-02T10:00:00",
            "recurrence": "FREQ=WEEKLY;BYDAY=MO;COUNT=6",
            "rdates": ["2026-03-04T15:00:00"],  # one extra Wednesday afternoon, New York time
            "attendees": [{"user": staff_a.pk}, {"email": "counsel@example.com", "name": "Counsel"}],
        },
        format="json",
    ).json()
    url = f"/api/v1/events/{series['id']}/"
    api_lawyer.post(f"{url}cancel/", {"scope": "this", "occurrence": "2026-03-16T13:00:00Z"}, format="json")
    api_lawyer.patch(
        url,
        {
            "scope": "this",
            "occurrence": "2026-03-23T13:00:00Z",
            "start": "2026-03-24T15:00:00",
            "end": "2026-03-24T16:00:00",
            "title": "Review (moved)",
        },
        format="json",
    )
    hearing = api_lawyer.post(
        "/api/v1/events/",
        {
            "title": "Hearing",
            "type": "hearing",
            "start": "2026-03-10T10:00:00+03:00",
            "end": "2026-03-10T11:00:00+03:00",
            "attendees": [{"user": staff_a.pk}],
        },
        format="json",
    ).json()
    deadline = api_lawyer.post(
        "/api/v1/events/",
        {"title": "File the appeal", "type": "filing_deadline", "all_day": True, "start": "2026-03-12"},
        format="json",
    ).json()
    return {"series": series, "hearing": hearing, "deadline": deadline}


def test_the_feed_parses_back_with_zones_rules_exdates_and_overrides(api_lawyer, busy):
    response = api_lawyer.get(feed_url(api_lawyer))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    calendar = icalendar.Calendar.from_ical(response.content)
    assert {str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")} == {"America/New_York", "Asia/Riyadh"}
    events = calendar.walk("VEVENT")
    series_id = busy["series"]["event_id"]
    master, override = sorted(
        (e for e in events if str(e["UID"]).startswith(series_id)), key=lambda e: "RECURRENCE-ID" in e
    )
    assert master["DTSTART"].params["TZID"] == "America/New_York"
    assert master["DTSTART"].dt == datetime(2026, 3, 2, 9, 0, tzinfo=master["DTSTART"].dt.tzinfo)
    assert master["RRULE"]["FREQ"] == ["WEEKLY"] and master["RRULE"]["COUNT"] == [6]
    assert [d.dt for d in master["RDATE"].dts] == [datetime(2026, 3, 4, 15, 0, tzinfo=master["DTSTART"].dt.tzinfo)]
    excluded = [d.dt for exdate in [master["EXDATE"]] for d in exdate.dts]
    assert [d.astimezone(UTC) for d in excluded] == [datetime(2026, 3, 16, 13, 0, tzinfo=UTC)]
    assert override["UID"] == master["UID"]
    assert override["RECURRENCE-ID"].dt.astimezone(UTC) == datetime(2026, 3, 23, 13, 0, tzinfo=UTC)
    assert override["SUMMARY"] == "Review (moved)" and override["SEQUENCE"] >= 1
    partstats = {str(a): a.params["PARTSTAT"] for a in master.get("ATTENDEE")}
    assert partstats["mailto:counsel@example.com"] == "NEEDS-ACTION"
    hearing = next(e for e in events if str(e["UID"]).startswith(busy["hearing"]["event_id"]))
    assert [str(a["TRIGGER"].to_ical(), "ascii") for a in hearing.walk("VALARM")] == [
        "-P1DT2H",
        "-PT2H",
    ]  # 08:00 the day before, 08:00 on the day
    deadline = next(e for e in events if str(e["UID"]).startswith(busy["deadline"]["event_id"]))
    assert (deadline["DTSTART"].dt, deadline["DTEND"].dt) == (date(2026, 3, 12), date(2026, 3, 13))


def test_a_second_library_expands_the_feed_to_the_occurrences_the_api_returns(api_lawyer, busy):
    calendar = icalendar.Calendar.from_ical(api_lawyer.get(feed_url(api_lawyer)).content)
    start, end = (datetime.fromisoformat(moment) for moment in WINDOW)
    expanded = recurring_ical_events.of(calendar).between(start, end)

    def instant(value):
        return value if isinstance(value, datetime) else value  # dates stay dates (all-day)

    from_feed = sorted((str(e["SUMMARY"]), instant(e["DTSTART"].dt).isoformat()) for e in expanded)
    api = api_lawyer.get("/api/v1/events/calendar/", {"start": WINDOW[0], "end": WINDOW[1]}).json()
    from_api = sorted((o["title"], o["start"]) for o in api)
    assert from_feed == from_api
    # five weekly (one cancelled of six) and the extra date, the hearing, the deadline
    assert len(from_api) == 8 and ("Weekly review", "2026-03-04T15:00:00-05:00") in from_api


def test_rsvp_shows_as_partstat_and_changes_the_etag(api_lawyer, busy, firm_a, staff_a):
    url = feed_url(api_lawyer)
    first = api_lawyer.get(url)
    assert first["ETag"] and first["Last-Modified"]
    assert api_lawyer.get(url, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
    assert api_lawyer.get(url, HTTP_IF_MODIFIED_SINCE=first["Last-Modified"]).status_code == 304
    api_staff = api_client_for(firm_a, staff_a)
    api_staff.post(f"/api/v1/events/{busy['series']['id']}/rsvp/", {"response": "accepted"}, format="json")
    second = api_lawyer.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert second.status_code == 200 and second["ETag"] != first["ETag"]
    master = next(
        e
        for e in icalendar.Calendar.from_ical(second.content).walk("VEVENT")
        if str(e["UID"]).startswith(busy["series"]["event_id"]) and "RECURRENCE-ID" not in e
    )
    assert {str(a): a.params["PARTSTAT"] for a in master.get("ATTENDEE")}[f"mailto:{staff_a.email}"] == "ACCEPTED"


def test_a_deletion_changes_the_feed_for_conditional_gets_too(api_lawyer, busy, firm_a):
    url = feed_url(api_lawyer)
    with schema_context(firm_a.schema_name):  # everything last changed an hour ago
        an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
        Event.objects.update(updated_at=an_hour_ago)
        FeedToken.objects.update(created_at=an_hour_ago)
    first = api_lawyer.get(url)
    assert api_lawyer.delete(f"/api/v1/events/{busy['hearing']['id']}/").status_code == 204
    later = (datetime.now(UTC) + timedelta(seconds=2)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert api_lawyer.get(url, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 200
    # an If-Modified-Since from before the deletion gets the new feed
    assert api_lawyer.get(url, HTTP_IF_MODIFIED_SINCE=first["Last-Modified"]).status_code == 200
    assert api_lawyer.get(url, HTTP_IF_MODIFIED_SINCE=later).status_code == 304


def test_updates_keep_the_uid_and_raise_the_sequence(api_lawyer, busy):
    url = feed_url(api_lawyer)

    def hearing():
        events = icalendar.Calendar.from_ical(api_lawyer.get(url).content).walk("VEVENT")
        return next(e for e in events if str(e["UID"]).startswith(busy["hearing"]["event_id"]))

    before = hearing()
    api_lawyer.patch(f"/api/v1/events/{busy['hearing']['id']}/", {"location": "Room 9"}, format="json")
    after = hearing()
    assert after["UID"] == before["UID"] and after["SEQUENCE"] == before["SEQUENCE"] + 1


def test_a_new_token_revokes_the_old_and_delete_revokes_it_audited(api_lawyer, busy, firm_a):
    old = feed_url(api_lawyer)
    new = feed_url(api_lawyer)
    assert api_lawyer.get(old).status_code == 404
    assert api_lawyer.get(new).status_code == 200
    assert api_lawyer.delete("/api/v1/me/calendar-feed/").status_code == 204
    assert api_lawyer.get(new).status_code == 404
    with schema_context(firm_a.schema_name):
        tokens = list(FeedToken.objects.values_list("token_hash", "revoked_at"))
        assert len(tokens) == 2 and all(revoked is not None for _, revoked in tokens)
        # only hashes are stored, never the token itself
        assert all(new.split("/")[-1][:-4] not in digest for digest, _ in tokens)
        assert AuditEvent.objects.filter(action="revoke_calendar_feed").count() == 2


def test_the_feed_never_answers_on_another_firms_host(api_lawyer, busy, firm_b):
    url = feed_url(api_lawyer)
    from rest_framework.test import APIClient

    assert api_client_for(firm_b).get(url).status_code == 404
    assert APIClient(HTTP_HOST="localhost").get(url).status_code == 404  # the platform's host has no feeds
    assert api_lawyer.get(url).status_code == 200


def test_the_feed_holds_only_the_users_events(api_lawyer, busy, firm_a, staff_a, admin_a):
    api_admin = api_client_for(firm_a, admin_a)
    admin_feed = api_admin.get(feed_url(api_admin))
    assert icalendar.Calendar.from_ical(admin_feed.content).walk("VEVENT") == []
    api_staff = api_client_for(firm_a, staff_a)
    staff_events = icalendar.Calendar.from_ical(api_staff.get(feed_url(api_staff)).content).walk("VEVENT")
    assert {str(e["SUMMARY"]) for e in staff_events} == {"Weekly review", "Review (moved)", "Hearing"}


def test_a_feed_token_is_per_user_and_needs_a_login_to_issue(firm_a):
    anonymous = api_client_for(firm_a)
    assert anonymous.post("/api/v1/me/calendar-feed/").status_code == 401
    assert anonymous.get("/calendar/not-a-token-but-long-enough.ics").status_code == 404


def test_the_feed_costs_the_same_queries_however_many_events_it_holds(api_lawyer, staff_a):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    url = feed_url(api_lawyer)

    def add(n):
        for i in range(n):
            api_lawyer.post(
                "/api/v1/events/",
                {
                    "title": f"E{i}",
                    "start": f"2026-03-{2 + i:02d}T09:00:00",
                    "attendees": [{"user": staff_a.pk}],
                    "recurrence": "FREQ=WEEKLY;COUNT=4",
                },
                format="json",
            )

    def count():
        with CaptureQueriesContext(connection) as queries:
            assert api_lawyer.get(url).status_code == 200
        return len(queries)

    add(2)
    few = count()
    add(8)
    assert count() == few
