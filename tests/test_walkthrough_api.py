"""Walk-through fixes of issue 9 in the API: audit state times in the firm's offset, the default assignee."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django_tenants.utils import schema_context

from timeline.activities.models import Activity
from timeline.activities.tests.factories import a_client, activity_type

pytestmark = pytest.mark.django_db


def test_audit_state_answers_times_in_the_firms_offset(api_a, firm_a):
    # given a client, whose list entry shows created_at in the firm's offset
    client_id = api_a.post("/api/v1/clients/", {"name": "Offset client"}, format="json").json()["id"]
    shown = api_a.get(f"/api/v1/clients/{client_id}/").json()["created_at"]
    at = (timezone.now() + timedelta(seconds=1)).isoformat()
    # when its state is read back from the audit log
    state = api_a.get("/api/v1/audit/state/", {"entity": f"client:{client_id}", "at": at}).json()
    # then its times carry the same offset (Asia/Riyadh: +03:00), not UTC, and name the same instant
    offset = shown[-6:]
    assert offset != "+00:00" and not shown.endswith("Z")
    assert state["created_at"].endswith(offset), state
    assert parse_datetime(state["created_at"]) == parse_datetime(shown)


def test_scheduling_without_an_assignee_assigns_the_requesting_user(api_a, firm_a, admin_a):
    with schema_context(firm_a.schema_name):
        client, call = a_client(), activity_type("Call back", delay_count=1, delay_unit="days")
    response = api_a.post("/api/v1/activities/", {"subject": f"client:{client.pk}", "type": call.pk}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["assignee"] == admin_a.pk
    with schema_context(firm_a.schema_name):
        assert Activity.objects.get(pk=response.json()["id"]).assignee_id == admin_a.pk
    # an explicit null is still refused: "nobody" is not an assignee
    null = api_a.post(
        "/api/v1/activities/", {"subject": f"client:{client.pk}", "type": call.pk, "assignee": None}, format="json"
    )
    assert null.status_code == 400 and "assignee" in null.json()
