"""Every events endpoint, asked from another firm: its token on this host is 401, this firm's ids there are 404."""

import pytest
from django_tenants.utils import schema_context

from conftest import api_client_for, token_for
from timeline.events.models import Event

pytestmark = pytest.mark.django_db
WINDOW = {"start": "2026-03-01T00:00:00Z", "end": "2026-03-31T00:00:00Z"}


@pytest.fixture
def event_a(api_a, staff_a):
    response = api_a.post(
        "/api/v1/events/",
        {
            "title": "Alpha's hearing",
            "type": "hearing",
            "start": "2026-03-02T09:00:00",
            "recurrence": "FREQ=WEEKLY;COUNT=3",
            "attendees": [{"user": staff_a.pk}],
        },
        format="json",
    )
    assert response.status_code == 201
    return response.json()


def detail_calls(event_id):
    url = f"/api/v1/events/{event_id}/"
    return [
        ("get", url, None),
        ("patch", url, {"title": "Taken over"}),
        ("delete", url, None),
        ("post", f"{url}rsvp/", {"response": "accepted"}),
        ("post", f"{url}complete/", {"outcome": "x", "occurrence": "2026-03-02T06:00:00Z"}),
        ("post", f"{url}cancel/", {}),
    ]


def test_another_firms_event_is_404_on_every_detail_endpoint(api_b, event_a, firm_a):
    for method, url, body in detail_calls(event_a["id"]):
        response = getattr(api_b, method)(url, body, format="json") if body is not None else getattr(api_b, method)(url)
        assert response.status_code == 404, (method, url, response.status_code)
    with schema_context(firm_a.schema_name):
        assert Event.objects.get(pk=event_a["id"]).title == "Alpha's hearing"


def test_another_firms_lists_calendar_conflicts_and_feed_show_nothing_of_this_firm(api_b, event_a, staff_a):
    assert api_b.get("/api/v1/events/").json()["results"] == []
    assert api_b.get("/api/v1/events/calendar/", WINDOW).json() == []
    # staff_a's id means nobody (or somebody else) in firm B: never alpha's occurrences
    response = api_b.get("/api/v1/events/conflicts/", {**WINDOW, "user": staff_a.pk})
    assert response.status_code in (200, 400)
    assert "Alpha" not in response.content.decode()


def test_this_firms_token_on_another_firms_host_is_401(firm_a, firm_b, admin_a, event_a):
    key = token_for(firm_a, admin_a)
    client = api_client_for(firm_b)
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    calls = [
        *detail_calls(event_a["id"]),
        ("get", "/api/v1/events/", None),
        ("get", "/api/v1/events/calendar/", None),
        ("post", "/api/v1/me/calendar-feed/", {}),
        ("delete", "/api/v1/me/calendar-feed/", None),
    ]
    for method, url, body in calls:
        response = getattr(client, method)(url, body or {}, format="json") if method != "get" else client.get(url)
        assert response.status_code == 401, (method, url, response.status_code)
