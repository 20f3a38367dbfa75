"""The firm admin's invoices: created with lines, moved by buttons, paid, planned, printed with a QR."""

import pytest
from django.urls import reverse
from django_tenants.utils import schema_context

from billing.models import Invoice
from billing.tests.factories import ClientFactory, issued
from billing.zatca import invoice_qr
from conftest import browser_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(firm_a, admin_a):
    return browser_for(firm_a, admin_a)


def inline(prefix, rows):
    data = {f"{prefix}-TOTAL_FORMS": str(len(rows)), f"{prefix}-INITIAL_FORMS": "0"}
    for i, row in enumerate(rows):
        data.update({f"{prefix}-{i}-{name}": value for name, value in row.items()})
    return data


def test_an_invoice_is_created_with_its_lines_and_moved_by_buttons(firm_a, browser):
    with schema_context(firm_a.schema_name):
        client = ClientFactory(name="Admin client")
    line = {
        "type": "time", "description": "Hearing", "quantity": "3", "unit_price": "500", "vat_category": "standard",
        "task_code": "L450", "activity_code": "A109",
    }  # fmt: skip
    body = {
        "client": client.pk, "payment_terms": "net_30", "currency": "SAR", "vat_rate": "15.00", "notes": "",
        **inline("items", [line]), **inline("payments", []),
    }  # fmt: skip
    response = browser.post(reverse("admin:billing_invoice_add"), body)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    with schema_context(firm_a.schema_name):
        invoice = Invoice.objects.get(client=client)
        assert (invoice.total_amount, invoice.items.count()) == (1725, 1)
    for verb in ("submit", "approve", "send"):
        assert browser.post(reverse("admin:billing_invoice_act", args=[invoice.pk, verb])).status_code == 302
    page = browser.get(reverse("admin:billing_invoice_change", args=[invoice.pk]))
    assert page.status_code == 200 and b"billing_invoice_pay" not in page.content
    browser.post(reverse("admin:billing_invoice_plan", args=[invoice.pk]), {"installments": "3"})
    browser.post(reverse("admin:billing_invoice_pay", args=[invoice.pk]), {"amount": "575.00", "method": "cash"})
    with schema_context(firm_a.schema_name):
        invoice.refresh_from_db()
        assert (invoice.status, invoice.amount_paid) == ("partial", 575)
    page = browser.get(reverse("admin:billing_invoice_change", args=[invoice.pk]))
    assert "575.00" in page.content.decode()


def test_a_refused_action_is_a_message_not_an_error(firm_a, browser):
    with schema_context(firm_a.schema_name):
        invoice = issued()
    response = browser.post(reverse("admin:billing_invoice_act", args=[invoice.pk, "submit"]), follow=True)
    assert response.status_code == 200
    assert [m.level_tag for m in response.context["messages"]] == ["error"]


def test_the_printable_invoice_is_bilingual_with_a_qr(firm_a, browser):
    with schema_context(firm_a.schema_name):
        invoice = issued()
    page = browser.get(reverse("admin:billing_invoice_print", args=[invoice.pk])).content.decode()
    assert "Tax invoice" in page and "فاتورة ضريبية" in page
    assert "<svg" in page and invoice.invoice_number in page
    assert f'data-qr="{invoice_qr(invoice)}"' in page
