"""Input that parses but doesn't fit a column, a date's arithmetic or the stack is a 400 naming the field.

Issue 8, defects 6 and 7: each of these used to pass validation and then fail in PostgreSQL or in
Python as a 500 (or, for the sentinel ids, read rollup rows no user owns).
"""

import base64
import json

import pytest
from django.conf import settings
from django.test import Client as DjangoClient
from django_tenants.utils import schema_context

from billing.models import Invoice
from conftest import api_client_for
from timeline.activities.models import Activity
from timeline.activities.tests.factories import activity_type, schedule
from timeline.events.models import Event
from timeline.models import Entry
from timeline.tests.factories import client_family, record
from traf3li.api.bounds import MAX_ITEMS, MAX_LINE, MAX_TEXT
from traf3li.crm.models import Case, Client, Lead

pytestmark = pytest.mark.django_db

INT4 = 2**31
BAD_OFFSET = "2026-01-01T00:00:00-22:00"
# Valid ISO-8601 that Python or PostgreSQL can't take: a 30 February, offsets past ±15:59, and dates
# whose conversion to UTC, the firm's zone or the next day leaves datetime's range.
BAD_MOMENTS = [
    "2026-02-30T00:00:00+00:00",
    BAD_OFFSET,
    "2026-01-01T00:00:00+16:00",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:00:00-05:00",
    "9999-12-31",
    "0001-01-01",
]


@pytest.fixture
def family(firm_a):
    with schema_context(firm_a.schema_name):
        return client_family("Bounds")


def _errors(response):
    assert response.status_code == 400, (response.status_code, response.content[:300])
    return response.json()


def _post_entry(api, contact, **fields):
    body = {"kind": "call", "subject": f"contact:{contact.id}", "title": "Call", **fields}
    return api.post("/api/v1/timeline/", body, format="json")


@pytest.mark.parametrize(
    ("kind", "payload", "field"),
    [
        ("call", {"duration_seconds": INT4}, "duration_seconds"),
        ("call", {"duration_seconds": 2**70}, "duration_seconds"),
        # Minutes are stored as seconds in the same int4 column.
        ("meeting", {"actual_duration_minutes": 2**62}, "actual_duration_minutes"),
        ("meeting", {"actual_duration_minutes": INT4 // 60 + 1}, "actual_duration_minutes"),
        ("document", {"size_bytes": 2**63}, "size_bytes"),
        ("task", {"activity_id": 2**63}, "activity_id"),
        ("email", {"opened_at": "2026-02-30T00:00:00+00:00"}, "opened_at"),
        ("email", {"opened_at": BAD_OFFSET}, "opened_at"),
        ("payment", {"paid_at": "0001-01-01T00:00:00+14:00"}, "paid_at"),
        ("task", {"deadline": "9999-12-31"}, "deadline"),
        ("invoice", {"total_amount": "1e999"}, "total_amount"),
    ],
)
def test_payload_out_of_range_is_400_naming_the_field(api_a, family, kind, payload, field):
    response = _post_entry(api_a, family[1], kind=kind, payload=payload)
    assert field in _errors(response)["payload"]


@pytest.mark.parametrize(
    ("kind", "payload"),
    [
        ("call", {"duration_seconds": INT4 - 1}),
        ("meeting", {"actual_duration_minutes": (INT4 - 1) // 60}),
        ("email", {"opened_at": "2026-02-28T23:59:59-15:59"}),
    ],
)
def test_payload_at_the_bounds_is_stored(api_a, family, kind, payload):
    response = _post_entry(api_a, family[1], kind=kind, payload=payload)
    assert response.status_code == 201, response.content


@pytest.mark.parametrize("moment", BAD_MOMENTS)
def test_occurred_at_out_of_range_is_400(api_a, family, moment):
    if len(moment) == 10:
        return  # a bare date is no occurred_at at all
    assert "occurred_at" in _errors(_post_entry(api_a, family[1], occurred_at=moment))


@pytest.mark.parametrize("moment", BAD_MOMENTS)
@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/v1/timeline/", "since"),
        ("/api/v1/timeline/", "until"),
        ("/api/v1/timeline/stats/", "since"),
        ("/api/v1/timeline/stats/", "until"),
        ("/api/v1/clients/{client}/timeline/", "until"),
        ("/api/v1/clients/", "created_after"),
        ("/api/v1/cases/", "created_before"),
        ("/api/v1/audit/", "since"),
        ("/api/v1/audit/", "until"),
        ("/api/v1/cases/{case}/history/", "since"),
    ],
)
def test_filter_moments_out_of_range_are_400(api_a, family, path, name, moment):
    client, _, case = family
    response = api_a.get(path.format(client=client.id, case=case.id), {name: moment})
    assert name in _errors(response)


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "2026-02-30"])
@pytest.mark.parametrize("name", ["deadline_after", "deadline_before"])
def test_activity_deadline_filters_out_of_range_are_400(api_a, name, day):
    assert name in _errors(api_a.get("/api/v1/activities/", {name: day}))


def _cursor(key, pk=1, reverse=0):
    raw = json.dumps({"k": [key, pk], "r": reverse}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    ("path", "cursor"),
    [
        ("/api/v1/timeline/", _cursor(BAD_OFFSET)),
        ("/api/v1/timeline/", _cursor("2026-02-30T00:00:00+00:00")),
        ("/api/v1/timeline/", _cursor("2026-01-01T00:00:00+00:00", pk=2**63)),
        ("/api/v1/clients/", _cursor(BAD_OFFSET)),
        ("/api/v1/audit/", _cursor(BAD_OFFSET, reverse=1)),
        ("/api/v1/activities/upcoming/", _cursor("2026-01-01", pk=-(2**70))),
    ],
)
def test_crafted_cursors_out_of_range_are_400(api_a, path, cursor):
    assert "cursor" in _errors(api_a.get(path, {"cursor": cursor}))


@pytest.mark.parametrize(
    ("path", "cursor"),
    [
        ("/api/v1/timeline/", _cursor("0001-01-01T00:00:00+14:00")),
        ("/api/v1/timeline/", _cursor("9999-12-31T23:59:59-15:59", reverse=1)),
        ("/api/v1/activities/upcoming/", _cursor("0001-01-01")),
    ],
)
def test_cursor_keys_are_only_compared_so_any_storable_year_pages(api_a, path, cursor):
    """A cursor carries a row's own key, which imports may have put outside the API's input range."""
    assert api_a.get(path, {"cursor": cursor}).status_code == 200


@pytest.mark.parametrize(
    ("path", "name", "value"),
    [
        ("/api/v1/timeline/", "performed_by", "0"),
        ("/api/v1/timeline/", "performed_by", str(2**63)),
        ("/api/v1/activities/", "assignee", "-1"),
        ("/api/v1/activities/", "assignee", "1e999"),
        ("/api/v1/activities/", "type", "1.5"),
        ("/api/v1/activities/", "chained_from", str(2**70)),
        ("/api/v1/audit/", "case", "-1"),
        ("/api/v1/audit/", "case", str(2**63)),
        ("/api/v1/clients/", "organization", str(2**70)),
        ("/api/v1/cases/", "lawyer", "-1"),
    ],
)
def test_id_filters_take_only_real_ids(api_a, path, name, value):
    assert name in _errors(api_a.get(path, {name: value}))


@pytest.mark.parametrize("performed_by", ["-1", "0", "{me},-1", "{me},0"])
def test_stats_never_read_the_rollups_sentinel_rows(api_a, admin_a, family, performed_by):
    """StatRollup.ALL (-1) and NOBODY (0) are internal rows: as user ids they counted everything (defect 7)."""
    with schema_context("alpha"):
        record(family[0], performed_by=admin_a)
        record(family[0], performed_by=None)
    value = performed_by.format(me=admin_a.id)
    for path in ("/api/v1/timeline/stats/", "/api/v1/timeline/", f"/api/v1/clients/{family[0].id}/timeline/"):
        assert "performed_by" in _errors(api_a.get(path, {"performed_by": value})), path
    assert api_a.get("/api/v1/timeline/stats/", {"performed_by": admin_a.id}).json()["total"] >= 1


@pytest.mark.parametrize("value", ["{me},,{me}", ",", "{me},"])
def test_blank_items_in_id_lists_are_dropped_not_sent_as_null(api_a, admin_a, family, value):
    """``performed_by=1,,2`` put a None among the rollups' performer ids: a TypeError, a 500."""
    with schema_context("alpha"):
        record(family[0], performed_by=admin_a)
    value = value.format(me=admin_a.id)
    response = api_a.get("/api/v1/timeline/stats/", {"performed_by": value})
    assert response.status_code == 200, response.content
    assert response.json()["total"] >= 1
    assert api_a.get("/api/v1/activities/", {"assignee": value}).status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"deadline": "9999-12-31"}, "deadline"),
        ({"deadline": "0001-01-01"}, "deadline"),
        ({"assignee": 2**70}, "assignee"),
        ({"type": -1}, "type"),
    ],
)
def test_activity_body_out_of_range_is_400(api_a, admin_a, family, body, field):
    with schema_context("alpha"):
        type_id = activity_type().id
    base = {"subject": f"client:{family[0].id}", "type": type_id, "assignee": admin_a.id, "summary": "Call"}
    response = api_a.post("/api/v1/activities/", {**base, **body}, format="json")
    assert field in _errors(response)


def test_reschedule_past_the_date_range_is_400(api_a, admin_a, family):
    with schema_context("alpha"):
        activity = schedule(subject=family[0], assignee=admin_a)
    response = api_a.post(f"/api/v1/activities/{activity.id}/reschedule/", {"deadline": "9999-12-31"}, format="json")
    assert "deadline" in _errors(response)


@pytest.mark.parametrize(("field", "value"), [("opened_on", "0001-01-01"), ("closed_on", "9999-12-31")])
def test_case_dates_out_of_range_are_400(api_a, family, field, value):
    response = api_a.post("/api/v1/cases/", {"title": "Case", "client": family[0].id, field: value}, format="json")
    assert field in _errors(response)


@pytest.mark.parametrize("field", ["performed_by", "subject"])
def test_entry_ids_out_of_range_are_400(api_a, family, field):
    body = {"performed_by": 2**70} if field == "performed_by" else {"subject": {"type": "contact", "id": 2**70}}
    assert field in _errors(_post_entry(api_a, family[1], **body))


def _deep(depth):
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [100, 1000, 100_000])
def test_deeply_nested_json_is_400_with_or_without_credentials(firm_a, admin_a, depth):
    """A RecursionError in the parser was a 500, and the session check parses the body before auth."""
    host = {"HTTP_HOST": "alpha.localhost"}
    body = '{"kind": "note", "payload": ' + _deep(depth) + "}"
    token = api_client_for(firm_a, admin_a)
    session = DjangoClient(enforce_csrf_checks=True, **host)
    with schema_context(firm_a.schema_name):  # sessions live in the firm's schema
        session.force_login(admin_a)
    # With a CSRF cookie (and no header) the check reads the body's csrfmiddlewaretoken: a parse.
    session.cookies[settings.CSRF_COOKIE_NAME] = "a" * 32
    anonymous = DjangoClient(**host)
    expected = {
        (token, "/api/v1/timeline/"): {400},
        (session, "/api/v1/timeline/"): {400},  # parsed by the CSRF check, inside authentication
        (anonymous, "/api/v1/timeline/"): {401},  # refused before its body is read
        (token, "/api/v1/auth/token/"): {400},  # open to all: always parsed
        (anonymous, "/api/v1/auth/token/"): {400},
        (session, "/api/v1/auth/token/"): {400, 403},  # a body it can parse still lacks the CSRF token
    }
    for (client, path), codes in expected.items():
        response = client.post(path, body, content_type="application/json")
        assert response.status_code in codes, (path, response.status_code, response.content[:200])


def test_nesting_within_the_limit_still_parses(api_a, family):
    """The limit sits well above any real body: a payload a few levels deep reaches its schema."""
    payload = {"participants": [{"subject": f"contact:{family[1].id}", "attended": True}]}
    assert _post_entry(api_a, family[1], kind="meeting", payload=payload).status_code == 201


# --- Length limits on free text and lists (issue 15) ------------------------------------------
LONG_TEXT = "x" * (MAX_TEXT + 1)
LONG_LINE = "x" * (MAX_LINE + 1)
TOO_MANY = MAX_ITEMS + 1


def _text_bodies(family, type_id, admin_id):
    """(path, a valid body, the field made too long, its value, the model counted before and after)."""
    client, contact, case = family
    entry = {"kind": "note", "subject": f"contact:{contact.id}", "title": "Note"}
    return [
        ("/api/v1/timeline/", {**entry, "description": LONG_TEXT}, "description", Entry),
        ("/api/v1/timeline/", {**entry, "title": "x" * 301}, "title", Entry),
        ("/api/v1/timeline/", {**entry, "payload": {"tags": ["t"] * TOO_MANY}}, "payload", Entry),
        ("/api/v1/timeline/", {**entry, "payload": {"tags": [LONG_LINE]}}, "payload", Entry),
        (
            "/api/v1/timeline/",
            {**entry, "kind": "meeting", "payload": {"participants": [{"attended": True}] * TOO_MANY}},
            "payload",
            Entry,
        ),
        ("/api/v1/timeline/", {**entry, "kind": "email", "payload": {"to": ["a@b.c"] * TOO_MANY}}, "payload", Entry),
        ("/api/v1/timeline/", {**entry, "kind": "call", "payload": {"transcription": LONG_TEXT}}, "payload", Entry),
        ("/api/v1/timeline/", {**entry, "kind": "call", "payload": {"from": LONG_LINE}}, "payload", Entry),
        (
            "/api/v1/timeline/",
            {**entry, "kind": "call", "payload": {"recording_url": "https://x.example/" + "a" * 2048}},
            "payload",
            Entry,
        ),
        (
            "/api/v1/activities/",
            {"subject": f"client:{client.id}", "type": type_id, "note": LONG_TEXT},
            "note",
            Activity,
        ),
        (
            "/api/v1/activities/",
            {"subject": f"client:{client.id}", "type": type_id, "summary": "x" * 301},
            "summary",
            Activity,
        ),
        (
            "/api/v1/events/",
            {"title": "Hearing", "start": "2026-03-02T09:00:00", "description": LONG_TEXT},
            "description",
            Event,
        ),
        ("/api/v1/events/", {"title": "x" * 301, "start": "2026-03-02T09:00:00"}, "title", Event),
        (
            "/api/v1/events/",
            {"title": "Hearing", "start": "2026-03-02T09:00:00", "agenda": [{"title": "Item"}] * 201},
            "agenda",
            Event,
        ),
        (
            "/api/v1/events/",
            {"title": "Hearing", "start": "2026-03-02T09:00:00", "agenda": [{"title": "x" * 301}]},
            "agenda",
            Event,
        ),
        (
            "/api/v1/events/",
            {"title": "Hearing", "start": "2026-03-02T09:00:00", "action_items": [{"title": "Do"}] * 201},
            "action_items",
            Event,
        ),
        ("/api/v1/invoices/", {"client": client.id, "items": [INVOICE_ITEM], "notes": LONG_TEXT}, "notes", Invoice),
        (
            "/api/v1/invoices/",
            {"client": client.id, "items": [{**INVOICE_ITEM, "description": "x" * 501}]},
            "items",
            Invoice,
        ),
        ("/api/v1/invoices/", {"client": client.id, "items": [INVOICE_ITEM] * 501}, "items", Invoice),
        ("/api/v1/clients/", {"name": "Bounded", "notes": LONG_TEXT}, "notes", Client),
        ("/api/v1/leads/", {"name": "Bounded", "notes": LONG_TEXT}, "notes", Lead),
        ("/api/v1/cases/", {"title": "Bounded", "client": client.id, "description": LONG_TEXT}, "description", Case),
        ("/api/v1/sms/messages/", {"to": "+966500000001", "body": "x" * 5001}, "body", None),
    ]


INVOICE_ITEM = {"type": "time", "description": "Drafting", "quantity": "1.00", "unit_price": "100.00"}


def test_free_text_and_lists_past_their_limits_are_400_naming_the_field_and_change_nothing(api_a, admin_a, family):
    with schema_context("alpha"):
        type_id = activity_type().id
    for path, body, field, model in _text_bodies(family, type_id, admin_a.id):
        with schema_context("alpha"):
            before = model.objects.count() if model is not None else None
        response = api_a.post(path, body, format="json")
        assert response.status_code == 400, (path, field, response.status_code, response.content[:300])
        assert field in response.json(), (path, field, response.json())
        with schema_context("alpha"):
            assert model is None or model.objects.count() == before, (path, field)


def test_text_at_the_limit_is_stored(api_a, family):
    _, contact, _ = family
    tags = ["x" * MAX_LINE] * MAX_ITEMS
    body = {"kind": "note", "subject": f"contact:{contact.id}", "title": "x" * 300, "payload": {"tags": tags}}
    response = api_a.post("/api/v1/timeline/", {**body, "description": "x" * MAX_TEXT}, format="json")
    assert response.status_code == 201, response.content[:300]
    assert (
        api_a.post("/api/v1/clients/", {"name": "At the limit", "notes": "x" * MAX_TEXT}, format="json").status_code
        == 201
    )


def test_firm_address_is_bounded(api_a):
    response = api_a.patch("/api/v1/firm/", {"address": LONG_LINE}, format="json")
    assert "address" in _errors(response)


def test_the_schema_shows_the_limits(db):
    from tests.openapi import spec

    schemas = spec()["components"]["schemas"]
    expected = {
        ("EntryWriteRequest", "description"): ("maxLength", MAX_TEXT),
        ("ActivityRequest", "note"): ("maxLength", MAX_TEXT),
        ("ClientRequest", "notes"): ("maxLength", MAX_TEXT),
        ("CaseRequest", "description"): ("maxLength", MAX_TEXT),
        ("EventRequest", "description"): ("maxLength", MAX_TEXT),
        ("InvoiceRequest", "notes"): ("maxLength", MAX_TEXT),
        ("InvoiceRequest", "items"): ("maxItems", 500),
        ("EventRequest", "agenda"): ("maxItems", 200),
        ("PatchedFirmSettingsRequest", "address"): ("maxLength", MAX_LINE),
    }
    for (component, field), (keyword, limit) in expected.items():
        assert schemas[component]["properties"][field].get(keyword) == limit, (component, field)


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/v1/timeline/", "q"),
        ("/api/v1/clients/", "q"),
        ("/api/v1/invoices/", "q"),
        ("/api/v1/activity-types/", "name"),
    ],
)
def test_search_terms_past_a_line_are_400_and_the_schema_says_so(api_a, path, name):
    from tests.openapi import spec

    assert name in _errors(api_a.get(path, {name: LONG_LINE}))
    assert api_a.get(path, {name: "x" * MAX_LINE}).status_code == 200
    parameters = spec()["paths"][path]["get"]["parameters"]
    assert [p["schema"].get("maxLength") for p in parameters if p["name"] == name] == [MAX_LINE]
