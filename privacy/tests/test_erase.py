"""Erasure through the API: no trace of the person anywhere in the firm's schema, the audit chain
still verifies, legal hold blocks it through the hierarchy, and bad input changes nothing."""

from decimal import Decimal

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from audit.models import AuditEvent
from audit.services import audit_erase
from billing import services as billing
from privacy.tests.factories import EMAIL, MARKERS, NAME, PHONE, person_everywhere
from traf3li.core.privacy import SubjectHeldError
from traf3li.crm import services as crm
from traf3li.crm.models import Case, Client, Contact, Lead

URL = "/api/v1/privacy/erase/"
# Every column a person's data could be written to, in text form: text, JSON and raw bytes.
TEXT_TYPES = ("text", "character varying", "json", "jsonb", "bytea")


def traces(schema: str, markers=MARKERS) -> list[str]:
    """``table.column: marker`` for every text, JSON or bytea column of ``schema`` quoting a marker."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = %s AND data_type = ANY(%s) ORDER BY table_name, column_name",
            [schema, list(TEXT_TYPES)],
        )
        columns = cursor.fetchall()
        assert len(columns) > 100, columns  # the schema's columns, not an empty query
        found = []
        for table, column, data_type in columns:
            text = f"encode(\"{column}\", 'escape')" if data_type == "bytea" else f'"{column}"::text'
            for marker in markers:
                cursor.execute(f'SELECT count(*) FROM "{schema}"."{table}" WHERE {text} ILIKE %s', [f"%{marker}%"])
                if cursor.fetchone()[0]:
                    found.append(f"{table}.{column}: {marker}")
    return found


def test_erasure_leaves_no_trace_anywhere_and_the_chain_verifies(firm_a, admin_a, api_a):
    # given a person with data in every app, written by the services (so the audit log quotes them)
    with schema_context(firm_a.schema_name):
        world = person_everywhere(actor=admin_a)
        before = traces(firm_a.schema_name)
    assert {trace.split(".")[0] for trace in before} >= {
        "crm_contact", "crm_case", "timeline_entry", "activities_activity", "activities_notification", "events_event",
        "events_attendee", "events_agendaitem", "billing_invoice", "billing_invoiceitem", "messaging_message",
        "messaging_call", "messaging_emailmessage", "messaging_emailevent", "messaging_webhookdelivery",
        "audit_auditevent",
    }  # fmt: skip
    # when erased
    response = api_a.post(URL, {"subject": f"contact:{world.contact.pk}"}, format="json")
    # then
    assert response.status_code == 200, response.content
    with schema_context(firm_a.schema_name):
        assert traces(firm_a.schema_name) == []
        contact = Contact.objects.get(pk=world.contact.pk)
        assert (contact.name, contact.email, contact.phone, contact.client_id) == ("[erased]", "", "", world.client.pk)
        erase = AuditEvent.objects.filter(action="erase").latest("seq")
    assert erase.entity_type == "contact" and erase.entity_id == world.contact.pk
    records = erase.changes["after"]["redacted_records"]
    contact_fields = ["email", "job_title", "name", "phone"]
    assert {"model": "crm.Contact", "id": world.contact.pk, "fields": contact_fields} in records
    assert {entry.pk for entry in world.entries} <= set(response.json()["redacted"]["timeline.Entry"]["ids"])
    verify = api_a.get("/api/v1/audit/verify/?full=true")
    assert verify.status_code == 200 and verify.json()["ok"] is True, verify.json()


def test_erasure_keeps_what_is_not_the_person(firm_a, admin_a, api_a):
    with schema_context(firm_a.schema_name):
        world = person_everywhere(actor=admin_a)
    api_a.post(URL, {"subject": f"contact:{world.contact.pk}"}, format="json")
    with schema_context(firm_a.schema_name):
        call = type(world.entries[0]).objects.get(pk=world.entries[0].pk)
        case = Case.objects.get(pk=world.case.pk)
    # The call stays a call of a minute, inbound, connected; only what named the person went.
    assert call.payload["duration_seconds"] == 60 and call.payload["outcome"] == "connected"
    assert call.payload["transcription"] == "" and call.subject_name == "[erased]"
    assert case.title == "Claim witnessed by [erased]" and case.client_id == world.client.pk


def test_an_issued_invoice_keeps_its_lines_as_issued(firm_a, admin_a, api_a):
    # given an issued invoice whose line names the person: the line is in the invoice's hash (ADR 0060)
    with schema_context(firm_a.schema_name):
        world = person_everywhere(actor=admin_a)
        for action in (billing.invoice_submit, billing.invoice_approve):
            action(invoice=world.invoice, actor=admin_a)
        invoice_hash = type(world.invoice).objects.get(pk=world.invoice.pk).invoice_hash
    api_a.post(URL, {"subject": f"contact:{world.contact.pk}"}, format="json")
    with schema_context(firm_a.schema_name):
        invoice = type(world.invoice).objects.get(pk=world.invoice.pk)
        assert [item.description for item in invoice.items.all()] == [f"Interview with {NAME}"]
        assert invoice.invoice_hash == invoice_hash and invoice.notes == "Copy to [erased]"
        assert [t for t in traces(firm_a.schema_name) if not t.startswith("billing_invoiceitem.")] == []


@pytest.mark.parametrize("target", ["case", "client", "contact", "invoice"])
def test_audit_erase_refuses_a_subject_under_legal_hold(in_firm_a, admin_a, target):
    """The defect: ``audit_erase`` erased under legal hold; the case, its client, the client's
    contacts and the case's invoices (reaching it through the hierarchy) are all held."""
    world = person_everywhere(actor=admin_a, held=True)
    subject = {"case": world.case, "client": world.client, "contact": world.contact, "invoice": world.invoice}[target]
    ref = f"{target}:{subject.pk}"
    with pytest.raises(SubjectHeldError):
        audit_erase(subject=ref)
    assert not AuditEvent.objects.filter(action="erase").exists()


def test_the_api_answers_409_under_legal_hold_and_changes_nothing(firm_a, admin_a, api_a):
    with schema_context(firm_a.schema_name):
        world = person_everywhere(actor=admin_a, held=True)
        before = traces(firm_a.schema_name)
    response = api_a.post(URL, {"subject": f"contact:{world.contact.pk}"}, format="json")
    assert response.status_code == 409 and "legal hold" in response.json()["detail"]
    with schema_context(firm_a.schema_name):
        assert traces(firm_a.schema_name) == before
        # Lifting the hold (an audited update) lets the erasure through.
        crm.record_update(instance=world.case, data={"legal_hold": False}, actor=admin_a)
    assert api_a.post(URL, {"subject": f"contact:{world.contact.pk}"}, format="json").status_code == 200


def test_a_lead_with_no_case_is_never_held(firm_a, admin_a, api_a):
    with schema_context(firm_a.schema_name):
        person_everywhere(actor=admin_a, held=True)  # someone else's held case
        lead = crm.record_create(instance=Lead(name="Hind Al Harbi", email="hind@example.sa"), actor=admin_a)
    response = api_a.post(URL, {"subject": f"lead:{lead.pk}"}, format="json")
    assert response.status_code == 200, response.content
    with schema_context(firm_a.schema_name):
        assert traces(firm_a.schema_name, ["Hind Al Harbi", "hind@example.sa"]) == []


@pytest.mark.parametrize(
    ("subject", "field"),
    [("widget:1", "subject"), ("case:{case}", "subject"), ("contact:999999999", "subject"), ("contact", "subject"),
     ("", "subject"), (None, "subject")],
)  # fmt: skip
def test_bad_input_is_a_400_and_changes_nothing(firm_a, admin_a, api_a, subject, field):
    with schema_context(firm_a.schema_name):
        world = person_everywhere(actor=admin_a)
        events = AuditEvent.objects.count()
    body = {} if subject is None else {"subject": subject.format(case=world.case.pk)}
    response = api_a.post(URL, body, format="json")
    assert response.status_code == 400 and field in response.json(), response.content
    with schema_context(firm_a.schema_name):
        assert AuditEvent.objects.count() == events
        assert Contact.objects.get(pk=world.contact.pk).name == NAME


def test_only_admins_erase(firm_a, admin_a, lawyer_a):
    from conftest import api_client_for

    with schema_context(firm_a.schema_name):
        world = person_everywhere(actor=admin_a)
    response = api_client_for(firm_a, lawyer_a).post(URL, {"subject": f"contact:{world.contact.pk}"}, format="json")
    assert response.status_code == 403
    with schema_context(firm_a.schema_name):
        assert Contact.objects.get(pk=world.contact.pk).email == EMAIL


def test_another_firm_can_not_erase_this_firms_person(firm_a, firm_b, admin_a, api_a, api_b):
    from conftest import api_client_for

    with schema_context(firm_a.schema_name):
        world = person_everywhere(actor=admin_a)
    with schema_context(firm_b.schema_name):
        assert not Contact.objects.filter(pk=world.contact.pk).exists()
    body = {"subject": f"contact:{world.contact.pk}"}
    # Firm B's admin, on firm B's host: no such contact there.
    assert api_b.post(URL, body, format="json").status_code == 400
    # Firm A's token on firm B's host, and no token on firm A's host.
    a_token_on_b = api_client_for(firm_b)
    a_token_on_b.credentials(HTTP_AUTHORIZATION=api_a._credentials["HTTP_AUTHORIZATION"])
    assert a_token_on_b.post(URL, body, format="json").status_code == 401
    assert api_client_for(firm_a).post(URL, body, format="json").status_code in (401, 403)
    with schema_context(firm_a.schema_name):
        assert Contact.objects.get(pk=world.contact.pk).phone == PHONE


def test_erasing_a_client_anonymises_it_and_keeps_its_contacts_and_invoices(firm_a, admin_a, api_a):
    with schema_context(firm_a.schema_name):
        client = crm.record_create(
            instance=Client(name="Nawal Al Otaibi", email="nawal@example.sa", phone="+966502223344",
                            national_id="1098765432", notes="Prefers WhatsApp"),
            actor=admin_a,
        )  # fmt: skip
        contact = crm.record_create(instance=Contact(name="Saad Al Qahtani", client=client), actor=admin_a)
        invoice = billing.invoice_create(
            client=client, notes="Nawal asked for two copies", actor=admin_a,
            items=[{"type": "time", "description": "Advice", "quantity": Decimal("1"), "unit_price": Decimal("100.00"),
                    "task_code": "L210", "activity_code": "A103"}],
        )  # fmt: skip
    response = api_a.post(URL, {"subject": f"client:{client.pk}"}, format="json")
    assert response.status_code == 200, response.content
    with schema_context(firm_a.schema_name):
        client.refresh_from_db()
        erased = (client.name, client.email, client.phone, client.national_id, client.notes)
        assert erased == ("[erased]", "", "", "", "")
        assert Contact.objects.get(pk=contact.pk).name == "Saad Al Qahtani"  # another person, not erased
        assert type(invoice).objects.get(pk=invoice.pk).notes == ""  # the erased client's invoice: notes go
        assert traces(firm_a.schema_name, ["Nawal Al Otaibi", "nawal@example.sa", "966502223344", "1098765432"]) == []
    assert api_a.get("/api/v1/audit/verify/?full=true").json()["ok"] is True


def test_the_public_host_has_no_privacy_endpoints(db):
    from rest_framework.test import APIClient

    public = APIClient(HTTP_HOST="localhost")
    assert public.post(URL, {"subject": "contact:1"}, format="json").status_code == 404
    assert public.get("/api/v1/privacy/export/", {"subject": "contact:1"}).status_code == 404
