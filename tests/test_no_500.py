"""Walk every operation in the OpenAPI schema with junk input: the answer is never a 5xx.

New endpoints are covered automatically as soon as they appear in the schema. The first walk sends
garbage to missing records; the second sends well-formed input out of every range to real ones.
"""

import re

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

JUNK_QUERY = {
    "subject": "alien:xyz",
    "subject_type": "alien",
    "kind": "zzz,,",
    "state": "nope",
    "status": "nope",
    "since": "not-a-date",
    "until": "2026-13-45",
    "deadline_after": "31/12/2026",
    "at": "yesterday",
    "entity": "case:abc",
    "assignee": "abc",
    "performed_by": "-1",
    "page_size": "100000",
    "cursor": "!!!",
    "q": "\x00' OR 1=1 --",
    "interval": "fortnight",
    "start": "x",
    "end": "y",
}
JUNK_BODIES = [{}, {"subject": "alien:1", "deadline": "tomorrow-ish", "amount": "1e999", "payload": {"x": [1]}}, []]


def _templates():
    spec = APIClient(HTTP_HOST="localhost").get("/api/schema/?format=json").json()
    for path, ops in spec["paths"].items():
        for method in ops:
            if method in {"get", "post", "put", "patch", "delete"}:
                yield method, re.sub(r"\{[^}]+\}", "{id}", path)


def _operations(client):
    for method, template in _templates():
        yield method, template.replace("{id}", "999999")


def test_junk_never_answers_500(api_a):
    checked = 0
    for method, path in _operations(api_a):
        if method == "get":
            responses = [api_a.get(path, JUNK_QUERY)]
        elif method == "delete":
            responses = [api_a.delete(path)]
        else:
            responses = [getattr(api_a, method)(path, body, format="json") for body in JUNK_BODIES]
        for response in responses:
            assert response.status_code < 500, (method, path, response.status_code, response.content[:300])
            checked += 1
    assert checked > 20


# Input that passes every type check and then overflowed a column, a date's arithmetic, an offset
# PostgreSQL stores or the parser's stack (issue 8): sent with real ids and valid subjects so that it
# gets past the 404s and the first field errors to the payload schema and the database.
OVERFLOW = "9999-12-31T23:59:59-15:59"
RANGE_QUERIES = [
    {
        "since": "0001-01-01T00:00:00+14:00",
        "until": "9999-12-31",
        "created_after": "2026-01-01T00:00:00-22:00",
        "created_before": OVERFLOW,
        "deadline_after": "0001-01-01",
        "deadline_before": "9999-12-31",
        "at": "0001-01-01T00:00:00+14:00",
        "performed_by": "1,-1",
        "assignee": str(2**70),
        "type": "1e999",
        "case": "-1",
        "chained_from": "0",
        "actor": str(2**63),
        "days": str(2**70),
        "page_size": "0",
    },
    {
        "since": "2026-02-30T00:00:00+00:00",
        "until": "2026-01-01T00:00:00+16:00",
        "created_after": "9999-12-31",
        "at": OVERFLOW,
        "performed_by": "0",
        "assignee": "-1",
        "type": "0",
        "case": str(2**63),
    },
]
PAYLOADS = [
    {"kind": "call", "payload": {"duration_seconds": 2**31}},
    {"kind": "call", "payload": {"duration_seconds": 2**70}},
    {"kind": "meeting", "payload": {"actual_duration_minutes": 2**62}},
    {"kind": "email", "payload": {"opened_at": "2026-02-30T00:00:00+00:00"}},
    {"kind": "email", "payload": {"opened_at": "2026-01-01T00:00:00-22:00"}},
    {"kind": "task", "payload": {"deadline": "9999-12-31", "activity_id": 2**63}},
    {"kind": "invoice", "payload": {"total_amount": "1e999", "due_date": "0001-01-01"}},
]
DEEP_JSON = '{"payload": ' + "[" * 5000 + "]" * 5000 + "}"


def _existing(firm, user):
    """One real record behind every ``{id}`` of the schema, by the path's first segment."""
    from django_tenants.utils import schema_context

    from audit.models import AuditEvent
    from timeline.activities.models import Notification
    from timeline.activities.tests.factories import activity_type, schedule
    from timeline.tests.factories import client_family, record
    from traf3li.crm import services as crm
    from traf3li.crm.models import Lead, Organization

    with schema_context(firm.schema_name):
        client, contact, case = client_family("Walk")
        activity = schedule(subject=client, assignee=user)
        ids = {
            "clients": client.id,
            "contacts": contact.id,
            "cases": case.id,
            "leads": crm.record_create(instance=Lead(name="Walk lead")).id,
            "organizations": crm.record_create(instance=Organization(name="Walk org")).id,
            "timeline": record(contact, kind="call", title="Walk call").id,
            "activities": activity.id,
            "activity-types": activity_type().id,
            "notifications": Notification.objects.create(recipient=user, title="Walk", activity=activity).id,
            "users": user.id,
        }
        ids["audit"] = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first()
    return ids, contact


def _range_bodies(ids, contact):
    """A body valid for every write endpoint at once (serializers ignore fields they don't have), then
    that body with each payload above, with every field out of range, and with impossible values."""
    valid = {
        "kind": "note",
        "subject": f"contact:{contact.id}",
        "title": "Walk",
        "name": "Walk",
        "summary": "Walk",
        "type": ids["activity-types"],
        "assignee": ids["users"],
        "client": ids["clients"],
        "feedback": "Walk",
    }
    out_of_range = {
        "occurred_at": "0001-01-01T00:00:00+14:00",
        "performed_by": 2**70,
        "source": "twilio",
        "external_id": "SM-walk",
        "deadline": "9999-12-31",
        "assignee": 2**63,
        "type": 0,
        "chained_from": -1,
        "delay_count": 2**62,
        "opened_on": "0001-01-01",
        "closed_on": "9999-12-31",
        "lawyer": 2**70,
        "organization": -1,
    }
    impossible = {
        "occurred_at": "2026-01-01T00:00:00-22:00",
        "deadline": "2026-02-30",
        "subject": "contact:" + "9" * 30,
    }
    return [valid, *({**valid, **p} for p in PAYLOADS), {**valid, **out_of_range}, {**valid, **impossible}]


def test_valid_looking_input_out_of_range_never_answers_500(api_a, firm_a, admin_a):
    ids, contact = _existing(firm_a, admin_a)
    bodies = _range_bodies(ids, contact)
    queries = [
        *RANGE_QUERIES,
        {"subject": f"client:{ids['clients']}", "entity": f"case:{ids['cases']}", **RANGE_QUERIES[0]},
    ]
    # Deletes and cancels last: the other operations need their records as they were.
    operations = sorted(_templates(), key=lambda op: op[0] == "delete" or op[1].endswith("/cancel/"))
    checked = 0
    for method, template in operations:
        resource = template.removeprefix("/api/v1/").split("/")[0]
        path = template.replace("{id}", str(ids.get(resource) or 999999))
        if method == "get":
            responses = [api_a.get(path, query) for query in queries]
        elif method == "delete":
            responses = [api_a.delete(path)]
        else:
            send = getattr(api_a, method)
            responses = [send(path, body, format="json") for body in bodies]
            responses.append(send(path, DEEP_JSON, content_type="application/json"))
        for response in responses:
            assert response.status_code < 500, (method, path, response.status_code, response.content[:300])
            checked += 1
    assert checked > 200
