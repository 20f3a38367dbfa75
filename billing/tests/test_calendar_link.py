"""A hearing's billing block names a real invoice: the calendar shows that invoice's status as it moves."""

from decimal import Decimal

import pytest
from django_tenants.utils import schema_context

from billing import services as billing
from conftest import api_client_for
from traf3li.crm.models import Case, Client
from traf3li.crm.services import record_create

pytestmark = pytest.mark.django_db
LINE = {"type": "time", "description": "Hearing attendance", "quantity": Decimal("2"), "unit_price": Decimal("800"),
        "task_code": "L450", "activity_code": "A109"}  # fmt: skip


def test_an_events_linked_invoice_shows_the_invoices_status(firm_a, firm_b, lawyer_a, admin_b):
    with schema_context(firm_a.schema_name):
        client = record_create(instance=Client(name="Billed client"))
        case = record_create(instance=Case(title="Billed case", client=client))
        invoice = billing.invoice_create(client=client, case=case, items=[LINE], actor=lawyer_a)
    api = api_client_for(firm_a, lawyer_a)
    created = api.post(
        "/api/v1/events/",
        {
            "title": "Hearing",
            "type": "hearing",
            "start": "2026-03-02T09:00:00",
            "case": case.pk,
            "billing": {"is_billable": True, "linked_invoice": f"invoice:{invoice.pk}"},
        },  # fmt: skip
        format="json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["billing"]["invoice_status"] == "draft"
    with schema_context(firm_a.schema_name):
        for action in (billing.invoice_submit, billing.invoice_approve, billing.invoice_send):
            invoice = action(invoice=invoice, actor=lawyer_a)
    event = api.get(f"/api/v1/events/{created.json()['id']}/").json()
    assert event["billing"]["linked_invoice"] == {"type": "invoice", "id": invoice.pk}
    assert event["billing"]["invoice_status"] == invoice.status == "sent"
    # another firm can't link firm A's invoice: it names no invoice of its own
    foreign = api_client_for(firm_b, admin_b).post(
        "/api/v1/events/",
        {"title": "x", "start": "2026-03-02T09:00:00", "billing": {"linked_invoice": f"invoice:{invoice.pk}"}},
        format="json",
    )
    assert foreign.status_code == 400 and "billing" in foreign.json()
