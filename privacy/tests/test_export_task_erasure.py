"""Large erasures: 202 with a status URL, run by a task; what runs in the request still answers 200."""

import pytest
from django_tenants.utils import schema_context

from audit.models import AuditEvent
from conftest import api_client_for
from privacy import export
from privacy.tests.factories import EMAIL, NAME, person_everywhere
from timeline.selectors import entry_subject_view
from traf3li.celery import app
from traf3li.core.subjects import SubjectRef
from traf3li.crm import services as crm
from traf3li.crm.models import Contact

URL = "/api/v1/privacy/erase/"


@pytest.fixture(autouse=True)
def exports_root(settings, tmp_path, monkeypatch):
    settings.PRIVACY_EXPORT_ROOT = tmp_path / "privacy-exports"
    monkeypatch.setitem(app.conf, "task_always_eager", True)
    return settings.PRIVACY_EXPORT_ROOT


def relative(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def test_a_large_subject_is_erased_by_a_task_and_the_status_url_says_what_went(firm_a, admin_a, api_a, settings):
    with schema_context(firm_a.schema_name):
        world = person_everywhere(actor=admin_a)
        entries = entry_subject_view(SubjectRef("contact", world.contact.pk)).count()
    settings.PRIVACY_EXPORT_INLINE_MAX_ENTRIES = entries - 1
    response = api_a.post(URL, {"subject": f"contact:{world.contact.pk}"}, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    assert response["Location"] == body["status_url"] and body["subject"] == f"contact:{world.contact.pk}"
    status = api_a.get(relative(body["status_url"]))
    assert status.status_code == 200, status.content
    status = status.json()
    assert status["status"] == "done" and status["error"] == ""
    redacted = status["result"]["redacted"]["crm.Contact"]
    assert world.contact.pk in redacted["ids"] and {"name", "email", "phone"} <= set(redacted["fields"])
    with schema_context(firm_a.schema_name):
        contact = Contact.objects.get(pk=world.contact.pk)
        assert (contact.name, contact.email) == ("[erased]", "")
        erase = AuditEvent.objects.filter(action="erase", entity_type="contact", entity_id=world.contact.pk).get()
    assert erase.actor_id == admin_a.pk
    # the status holds the reference and what went by id and field name, never the person's values
    text = next((settings.PRIVACY_EXPORT_ROOT / "alpha").glob("*/status.json")).read_text()
    assert NAME not in text and EMAIL not in text
    assert api_a.get("/api/v1/audit/verify/?full=true").json()["ok"] is True


def test_small_subjects_still_answer_200_and_async_queues_them(firm_a, admin_a, api_a, exports_root):
    with schema_context(firm_a.schema_name):
        one = crm.record_create(instance=Contact(name="Hind Al Harbi", email="hind@example.sa"), actor=admin_a)
        two = crm.record_create(instance=Contact(name="Saad Al Qahtani", email="saad@example.sa"), actor=admin_a)
    inline = api_a.post(URL, {"subject": f"contact:{one.pk}"}, format="json")
    assert inline.status_code == 200 and "redacted" in inline.json()
    assert not exports_root.exists()
    queued = api_a.post(URL, {"subject": f"contact:{two.pk}", "async": True}, format="json")
    assert queued.status_code == 202 and queued.json()["status"] == "done"
    assert queued.json()["result"]["redacted"]["crm.Contact"]["ids"] == [two.pk]


def test_legal_hold_and_bad_input_are_refused_in_the_request_and_nothing_is_queued(
    firm_a, admin_a, api_a, exports_root
):
    with schema_context(firm_a.schema_name):
        world = person_everywhere(actor=admin_a, held=True)
        events = AuditEvent.objects.count()
    held = api_a.post(URL, {"subject": f"contact:{world.contact.pk}", "async": True}, format="json")
    assert held.status_code == 409 and "legal hold" in held.json()["detail"]
    for body in ({"subject": "lead:999999999", "async": True}, {"subject": "widget:1", "async": True},
                 {"subject": f"case:{world.case.pk}", "async": True}, {"async": True},
                 {"subject": f"contact:{world.contact.pk}", "async": "maybe"}):  # fmt: skip
        response = api_a.post(URL, body, format="json")
        assert response.status_code == 400 and set(response.json()) & {"subject", "async"}, (body, response.content)
    assert not exports_root.exists()
    with schema_context(firm_a.schema_name):
        assert AuditEvent.objects.count() == events
        assert Contact.objects.get(pk=world.contact.pk).name == NAME


def test_a_hold_placed_after_the_request_refuses_the_task_and_changes_nothing(firm_a, admin_a, api_a, monkeypatch):
    with schema_context(firm_a.schema_name):
        world = person_everywhere(actor=admin_a)
    monkeypatch.setattr(export, "_enqueue", lambda stored: None)  # queued, not run yet
    body = api_a.post(URL, {"subject": f"contact:{world.contact.pk}", "async": True}, format="json").json()
    assert body["status"] == "pending" and body["result"] is None
    with schema_context(firm_a.schema_name):
        crm.record_update(instance=world.case, data={"legal_hold": True}, actor=admin_a)
        assert export.erasure_run(body["id"]) == "failed"
        assert Contact.objects.get(pk=world.contact.pk).email == EMAIL
        assert export.erasure_run(body["id"]) == "failed"  # a redelivered task finds it settled
    status = api_a.get(relative(body["status_url"])).json()
    assert status["status"] == "failed" and "legal hold" in status["error"] and status["result"] is None


def test_another_firm_never_sees_an_erasures_status(firm_a, firm_b, admin_a, api_a, api_b, lawyer_a):
    from rest_framework.test import APIClient

    with schema_context(firm_a.schema_name):
        world = person_everywhere(actor=admin_a)
    body = api_a.post(URL, {"subject": f"contact:{world.contact.pk}", "async": True}, format="json").json()
    status_url = relative(body["status_url"])
    assert api_b.get(status_url).status_code == 404  # firm B's admin: no such erasure there
    a_token_on_b = api_client_for(firm_b)
    a_token_on_b.credentials(HTTP_AUTHORIZATION=api_a._credentials["HTTP_AUTHORIZATION"])
    assert a_token_on_b.get(status_url).status_code == 401
    assert api_client_for(firm_a, lawyer_a).get(status_url).status_code == 403
    assert APIClient(HTTP_HOST="alpha.localhost").get(status_url).status_code in (401, 403)
    # an erasure's id is not an export's, nor the other way round
    assert api_a.get(f"/api/v1/privacy/export/{body['id']}/").status_code == 404
    assert api_a.get(status_url).json()["id"] == body["id"]
