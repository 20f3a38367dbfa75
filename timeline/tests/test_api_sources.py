"""What an API caller may claim about an entry: its source, and who performed it (issue 8, defect 8)."""

import pytest
from django_tenants.utils import schema_context

from timeline.models import Entry
from timeline.services import entry_record
from timeline.tests.factories import client_family

pytestmark = pytest.mark.django_db


@pytest.fixture
def family(firm_a):
    with schema_context(firm_a.schema_name):
        return client_family("Sources")


def _post(api, contact, **fields):
    body = {"kind": "sms", "subject": f"contact:{contact.id}", "title": "SMS", **fields}
    return api.post("/api/v1/timeline/", body, format="json")


@pytest.mark.parametrize("source", ["twilio", "system", "sendgrid", "whatsapp", "mailgun"])
def test_api_refuses_provider_and_system_sources(api_a, api_a_staff, family, source):
    for api in (api_a, api_a_staff):  # admins too: a provider's source is its webhook's to write
        response = _post(api, family[1], source=source, external_id="SM-1")
        assert response.status_code == 400, response.content
        assert "source" in response.json()


@pytest.mark.parametrize("source", ["manual", "import"])
def test_api_accepts_manual_and_import(api_a_staff, family, source):
    response = _post(api_a_staff, family[1], source=source, external_id=f"{source}-1")
    assert response.status_code == 201, response.content
    assert response.json()["source"] == source


def test_a_refused_post_leaves_the_genuine_webhook_its_entry(api_a_staff, firm_a, family):
    """The poisoning: a posted twilio entry took the webhook's (source, external_id), so the webhook was a no-op."""
    assert _post(api_a_staff, family[1], source="twilio", external_id="SM-42", title="Forged").status_code == 400
    with schema_context(firm_a.schema_name):
        genuine = entry_record(kind="sms", subject=family[1], title="Inbound SMS", source="twilio", external_id="SM-42")
        assert genuine.title == "Inbound SMS"
        assert Entry.objects.filter(source="twilio", external_id="SM-42").count() == 1


def test_schema_documents_the_api_sources(api_a):
    spec = api_a.get("/api/schema/?format=json").json()
    request = spec["components"]["schemas"]["EntryWriteRequest"]["properties"]["source"]
    enum = request.get("enum") or spec["components"]["schemas"][request["allOf"][0]["$ref"].split("/")[-1]]["enum"]
    assert sorted(enum) == ["import", "manual"]
    assert "twilio" in request.get("description", "")


def test_performer_defaults_to_the_caller_and_only_an_admin_names_another(
    api_a, api_a_staff, admin_a, staff_a, lawyer_a, family
):
    contact = family[1]
    # A non-admin records as themselves, whether they say so or not.
    assert _post(api_a_staff, contact).json()["performed_by"]["id"] == staff_a.id
    assert _post(api_a_staff, contact, performed_by=staff_a.id).json()["performed_by"]["id"] == staff_a.id
    for other in (lawyer_a.id, admin_a.id, None):
        response = _post(api_a_staff, contact, performed_by=other)
        assert response.status_code == 400, (other, response.content)
        assert "performed_by" in response.json()
    # An admin may record what a colleague did, or that nobody did.
    assert _post(api_a, contact, performed_by=lawyer_a.id).json()["performed_by"]["id"] == lawyer_a.id
    assert _post(api_a, contact, performed_by=None).json()["performed_by"] is None


def test_a_non_admin_cannot_reassign_an_entry_by_patch(api_a, api_a_staff, staff_a, lawyer_a, family):
    entry_id = _post(api_a_staff, family[1]).json()["id"]
    url = f"/api/v1/timeline/{entry_id}/"
    response = api_a_staff.patch(url, {"performed_by": lawyer_a.id}, format="json")
    assert response.status_code == 400 and "performed_by" in response.json()
    assert api_a_staff.patch(url, {"performed_by": staff_a.id}, format="json").status_code == 200
    response = api_a.patch(url, {"performed_by": lawyer_a.id}, format="json")
    assert response.status_code == 200 and response.json()["performed_by"]["id"] == lawyer_a.id
    # Sending back the performer it already has is no claim: the SPA may echo the whole entry.
    response = api_a_staff.patch(url, {"performed_by": lawyer_a.id, "title": "Edited"}, format="json")
    assert response.status_code == 200 and response.json()["title"] == "Edited"
