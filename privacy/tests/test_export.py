"""Export: every mapped field of every app for a person with data in all of them, as JSON and zip."""

import hashlib
import io
import json
import zipfile

import pytest
from django_tenants.utils import schema_context
from rest_framework.test import APIClient

from audit.models import AuditEvent
from privacy.tests.factories import EMAIL, NAME, PHONE, person_everywhere
from traf3li.celery import app
from traf3li.core.privacy import privacy_map

URL = "/api/v1/privacy/export/"
# The models the person has data in (person_everywhere); the rest of the map holds nothing of theirs.
POPULATED = {
    "crm.Contact", "crm.Case", "timeline.Entry", "activities.Activity", "activities.Notification", "events.Event",
    "events.Attendee", "events.AgendaItem", "billing.Invoice", "billing.InvoiceItem", "messaging.Message",
    "messaging.Call", "messaging.EmailMessage", "messaging.EmailEvent", "messaging.WebhookDelivery",
    "audit.AuditEvent",
}  # fmt: skip


def _inline(api, subject) -> dict:
    response = api.get(URL, {"subject": subject})
    assert response.status_code == 200, response.content
    return response.json()


def _by_task(api, subject) -> dict:
    """Above the threshold: 202, the task makes the file, the status URL's signed link downloads it."""
    queued = api.get(URL, {"subject": subject})
    assert queued.status_code == 202, queued.content
    status = api.get(queued["Location"].split("localhost", 1)[1]).json()
    download = APIClient(HTTP_HOST="alpha.localhost").get(status["download_url"].split("localhost", 1)[1])
    assert download.status_code == 200 and download["Content-Type"] == "application/json"
    return json.loads(b"".join(download.streaming_content))


@pytest.mark.parametrize("path", ["inline", "task"])
def test_export_holds_every_mapped_field_of_every_app(firm_a, admin_a, api_a, path, settings, tmp_path, monkeypatch):
    with schema_context(firm_a.schema_name):
        world = person_everywhere(actor=admin_a)
    if path == "task":
        settings.PRIVACY_EXPORT_INLINE_MAX_ENTRIES = 1
        settings.PRIVACY_EXPORT_ROOT = tmp_path
        monkeypatch.setitem(app.conf, "task_always_eager", True)
    export = (_inline if path == "inline" else _by_task)(api_a, f"contact:{world.contact.pk}")
    assert export["subject"] == {"type": "contact", "id": world.contact.pk, "name": NAME}
    assert set(export["data"]) >= POPULATED
    fields = {mapping.model: mapping.fields for mapping in privacy_map()}
    for model, rows in export["data"].items():
        for row in rows:
            assert set(row) >= {"id", *fields[model]}, (model, row)
    contact = next(row for row in export["data"]["crm.Contact"] if row["id"] == world.contact.pk)
    assert (contact["name"], contact["email"], contact["phone"]) == (NAME, EMAIL, PHONE)
    assert [row["from_address"] for row in export["data"]["messaging.Message"]] == [PHONE]
    assert NAME in export["data"]["messaging.WebhookDelivery"][0]["body"].replace("+", " ")
    with schema_context(firm_a.schema_name):
        assert AuditEvent.objects.filter(action="export", entity_type="contact", entity_id=world.contact.pk).exists()


def test_export_as_a_zip_with_a_manifest(firm_a, admin_a, api_a):
    with schema_context(firm_a.schema_name):
        world = person_everywhere(actor=admin_a)
    response = api_a.get(URL, {"subject": f"contact:{world.contact.pk}", "format": "zip"})
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["subject"]["id"] == world.contact.pk
    assert {entry["model"] for entry in manifest["files"]} >= POPULATED
    for entry in manifest["files"]:
        content = archive.read(entry["path"])
        assert hashlib.sha256(content).hexdigest() == entry["sha256"]
        assert len(json.loads(content)) == entry["rows"]


def test_export_bad_input_and_roles(firm_a, admin_a, lawyer_a, api_a):
    from conftest import api_client_for

    with schema_context(firm_a.schema_name):
        world = person_everywhere(actor=admin_a)
        events = AuditEvent.objects.exclude(action="issue_api_token").count()
    for query in ({}, {"subject": "widget:1"}, {"subject": f"case:{world.case.pk}"}, {"subject": "lead:999999999"}):
        response = api_a.get(URL, query)
        assert response.status_code == 400 and "subject" in response.json(), (query, response.content)
    assert api_a.get(URL, {"subject": f"contact:{world.contact.pk}", "format": "zip", "x": 1}).status_code == 200
    lawyer = api_client_for(firm_a, lawyer_a)
    assert lawyer.get(URL, {"subject": f"contact:{world.contact.pk}"}).status_code == 403
    with schema_context(firm_a.schema_name):
        # the one export that ran (the lawyer's client was issued a token: an event of its own)
        assert AuditEvent.objects.exclude(action="issue_api_token").count() == events + 1


def test_another_firm_can_not_export_this_firms_person(firm_a, firm_b, admin_a, api_a, api_b):
    from conftest import api_client_for

    with schema_context(firm_a.schema_name):
        world = person_everywhere(actor=admin_a)
    query = {"subject": f"contact:{world.contact.pk}"}
    response = api_b.get(URL, query)
    assert response.status_code == 400 and NAME not in response.content.decode()
    a_token_on_b = api_client_for(firm_b)
    a_token_on_b.credentials(HTTP_AUTHORIZATION=api_a._credentials["HTTP_AUTHORIZATION"])
    assert a_token_on_b.get(URL, query).status_code == 401
