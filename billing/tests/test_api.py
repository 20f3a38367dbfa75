"""The invoices API as the contract names it: bodies, actions, 409s, exact money, isolation, query counts."""

from decimal import Decimal

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from billing.models import Invoice
from billing.zatca import qr_decode
from conftest import api_client_for, token_for

pytestmark = pytest.mark.django_db

ITEM = {
    "type": "time",
    "date": "2026-11-30",
    "description": "Review the lease",
    "quantity": "2.50",
    "unit_price": "400.00",
    "task_code": "L120",
    "activity_code": "A104",
}


@pytest.fixture
def client_id(api_a):
    return api_a.post("/api/v1/clients/", {"name": "Gulf Insurance"}, format="json").data["id"]


@pytest.fixture
def make(api_a, client_id):
    def make(**body):
        response = api_a.post("/api/v1/invoices/", {"client": client_id, "items": [ITEM], **body}, format="json")
        assert response.status_code == 201, response.data
        return response.data

    return make


def go(api, invoice, *actions):
    for action in actions:
        response = api.post(f"/api/v1/invoices/{invoice['id']}/{action}/", format="json")
        assert response.status_code == 200, (action, response.data)
    return response.data


def test_create_returns_the_contracts_fields_as_exact_decimals(make):
    invoice = make(payment_terms="net_15")
    assert invoice["invoice_number"].startswith("INV-") and invoice["status"] == "draft"
    assert (invoice["subtotal"], invoice["vat_rate"], invoice["vat_amount"]) == ("1000.00", "15.00", "150.00")
    assert (invoice["total_amount"], invoice["amount_paid"], invoice["balance_due"]) == ("1150.00", "0.00", "1150.00")
    assert invoice["currency"] == "SAR" and invoice["payment_terms"] == "net_15"
    assert invoice["items"][0] | {"amount": "1000.00"} == {**ITEM, "vat_category": "standard", "amount": "1000.00"}
    for name in ("client", "case", "lawyer", "issue_date", "due_date"):
        assert name in invoice


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"quantity": 2.5}, "quantity"),  # a JSON number with a fraction
        ({"unit_price": 1e3}, "unit_price"),  # 1e3 is a float once parsed
        ({"unit_price": "1e3"}, "unit_price"),
        ({"unit_price": "400.005"}, "unit_price"),
        ({"unit_price": "-1.00"}, "unit_price"),
        ({"unit_price": "NaN"}, "unit_price"),
        ({"task_code": "L290"}, "task_code"),  # not in the ABA set
        ({"activity_code": "E101"}, "activity_code"),  # an expense code on a time item
    ],
)
def test_bad_lines_are_400_and_store_nothing(api_a, client_id, change, field):
    before = _count("alpha")
    response = api_a.post("/api/v1/invoices/", {"client": client_id, "items": [{**ITEM, **change}]}, format="json")
    assert response.status_code == 400
    assert field in response.data["items"][0]
    assert _count("alpha") == before


def test_an_exponent_in_the_raw_json_is_refused(api_a, client_id):
    line = '{"type": "flat_fee", "description": "Fee", "quantity": 1, "unit_price": 1e3}'
    body = f'{{"client": {client_id}, "items": [{line}]}}'
    response = api_a.post("/api/v1/invoices/", body, content_type="application/json")
    assert response.status_code == 400 and "unit_price" in response.data["items"][0]
    whole = body.replace("1e3", "1000")
    assert api_a.post("/api/v1/invoices/", whole, content_type="application/json").status_code == 201


def test_an_expense_takes_its_e_code(make):
    invoice = make(
        items=[
            {
                "type": "expense",
                "description": "Court fee",
                "quantity": "1",
                "unit_price": "500",
                "activity_code": "E112",
            }
        ]
    )
    assert invoice["total_amount"] == "575.00"


def test_computed_fields_cant_be_sent(api_a, client_id, make):
    response = api_a.post("/api/v1/invoices/", {"client": client_id, "items": [ITEM], "status": "paid"}, format="json")
    assert response.status_code == 400 and "status" in response.data
    invoice = make()
    patch = api_a.patch(f"/api/v1/invoices/{invoice['id']}/", {"balance_due": "0.00"}, format="json")
    assert patch.status_code == 400 and "balance_due" in patch.data


def test_a_draft_is_patched_then_only_actions_move_it(api_a, make):
    invoice = make()
    patched = api_a.patch(
        f"/api/v1/invoices/{invoice['id']}/", {"vat_rate": "0", "notes": "Zero-rated export"}, format="json"
    )
    assert patched.status_code == 200 and patched.data["total_amount"] == "1000.00"
    go(api_a, invoice, "submit")
    late = api_a.patch(f"/api/v1/invoices/{invoice['id']}/", {"notes": "Too late"}, format="json")
    assert late.status_code == 409 and "detail" in late.data
    assert api_a.delete(f"/api/v1/invoices/{invoice['id']}/").status_code == 405


def test_create_send_pay_and_read_the_qr(api_a, make):
    invoice = make()
    sent = go(api_a, invoice, "submit", "approve", "send")
    assert sent["status"] == "sent" and sent["icv"] >= 1
    paid = api_a.post(
        f"/api/v1/invoices/{invoice['id']}/payments/",
        {"amount": "1150.00", "paid_at": "2026-12-01T10:00:00+03:00", "method": "bank_transfer"},
        format="json",
    )
    assert paid.status_code == 201 and paid.data["status"] == "paid" and paid.data["balance_due"] == "0.00"
    assert paid.data["payments"][0]["amount"] == "1150.00"
    zatca = api_a.get(f"/api/v1/invoices/{invoice['id']}/zatca/").data
    assert set(zatca) == {"uuid", "icv", "hash", "previous_hash", "qr"}
    fields = qr_decode(zatca["qr"])
    assert (fields[4], fields[5], len(fields)) == ("1150.00", "150.00", 5)


def test_forbidden_actions_are_409_with_a_detail(api_a, make):
    invoice = make()
    for action in ("approve", "send", "mark-viewed", "write-off"):
        response = api_a.post(f"/api/v1/invoices/{invoice['id']}/{action}/", format="json")
        assert response.status_code == 409, action
        assert response.data["detail"]
    pay = api_a.post(f"/api/v1/invoices/{invoice['id']}/payments/", {"amount": "1", "method": "cash"}, format="json")
    assert pay.status_code == 409
    assert api_a.get(f"/api/v1/invoices/{invoice['id']}/").data["status"] == "draft"


def test_overpayment_is_409(api_a, make):
    invoice = go(api_a, make(), "submit", "approve", "send")
    response = api_a.post(
        f"/api/v1/invoices/{invoice['id']}/payments/", {"amount": "1150.01", "method": "cash"}, format="json"
    )
    assert response.status_code == 409
    assert api_a.get(f"/api/v1/invoices/{invoice['id']}/").data["amount_paid"] == "0.00"


def test_payment_plan(api_a, make):
    invoice = go(api_a, make(), "submit", "approve", "send")
    bad = api_a.post(f"/api/v1/invoices/{invoice['id']}/payment-plan/", {"installments": 5}, format="json")
    assert bad.status_code == 400
    planned = api_a.post(f"/api/v1/invoices/{invoice['id']}/payment-plan/", {"installments": 3}, format="json")
    assert planned.status_code == 201
    amounts = [row["amount"] for row in planned.data["payment_plan"]["installments"]]
    assert amounts == ["383.33", "383.33", "383.34"]


def test_staff_cant_approve_but_lawyers_can(firm_a, api_a, make, staff_a, lawyer_a):
    invoice = go(api_a, make(), "submit")
    staff = api_client_for(firm_a, staff_a)
    assert staff.post(f"/api/v1/invoices/{invoice['id']}/approve/").status_code == 403
    assert api_client_for(firm_a, lawyer_a).post(f"/api/v1/invoices/{invoice['id']}/approve/").status_code == 200
    assert staff.get("/api/v1/invoices/zatca-verify/").status_code == 403


def test_the_invoice_timeline_and_the_clients_360_view(api_a, make, client_id):
    invoice = go(api_a, make(), "submit", "approve", "send")
    timeline = api_a.get(f"/api/v1/invoices/{invoice['id']}/timeline/")
    assert timeline.status_code == 200
    rows = timeline.json()["results"]
    assert [row["payload"]["action"] for row in rows] == ["sent", "approved", "submitted", "created"]
    client_view = api_a.get(f"/api/v1/clients/{client_id}/timeline/?kind=invoice").json()["results"]
    assert {row["id"] for row in rows} <= {row["id"] for row in client_view}
    assert api_a.get("/api/v1/invoices/999999/timeline/").status_code == 404


def test_stats_and_verify(api_a, make):
    go(api_a, make(), "submit", "approve", "send")
    stats = api_a.get("/api/v1/invoices/stats/").data
    assert stats["currencies"]["SAR"]["outstanding"] == "1150.00"
    assert set(stats["currencies"]["SAR"]["aging"]) == {"0_30", "31_60", "61_90", "90_plus"}
    assert api_a.get("/api/v1/invoices/stats/?since=2026-99-01").status_code == 400
    verify = api_a.get("/api/v1/invoices/zatca-verify/").data
    assert verify["ok"] is True and verify["checked"] >= 1


def test_filters(api_a, make, client_id):
    draft = make()
    sent = go(api_a, make(currency="USD"), "submit", "approve", "send")
    by_status = api_a.get("/api/v1/invoices/?status=sent,paid").data["results"]
    assert [row["id"] for row in by_status] == [sent["id"]]
    assert [r["id"] for r in api_a.get("/api/v1/invoices/?currency=usd").data["results"]] == [sent["id"]]
    assert {r["id"] for r in api_a.get(f"/api/v1/invoices/?client={client_id}").data["results"]} == {
        draft["id"],
        sent["id"],
    }
    assert [r["id"] for r in api_a.get(f"/api/v1/invoices/?q={draft['invoice_number']}").data["results"]] == [
        draft["id"]
    ]
    assert api_a.get("/api/v1/invoices/?status=nope").status_code == 400


def test_the_list_costs_the_same_for_one_invoice_or_many(api_a, make, django_assert_max_num_queries):
    invoice = go(api_a, make(), "submit", "approve", "send")
    api_a.post(f"/api/v1/invoices/{invoice['id']}/payment-plan/", {"installments": 2}, format="json")
    # the firm by host, two search paths, the token with its user, invoices with their joins, items, installments
    with django_assert_max_num_queries(LIST_QUERIES):
        api_a.get("/api/v1/invoices/")
    for _ in range(6):
        make(items=[ITEM, ITEM, ITEM])
    with django_assert_max_num_queries(LIST_QUERIES):
        page = api_a.get("/api/v1/invoices/?page_size=5")
    assert len(page.data["results"]) == 5 and page.data["next"]
    rest = api_a.get(page.data["next"]).data["results"]
    assert len(rest) == 2


LIST_QUERIES = 7


def _count(schema):
    with schema_context(schema):
        return Invoice.objects.count()


ENDPOINTS = [
    ("get", "{id}/"),
    ("patch", "{id}/"),
    ("post", "{id}/submit/"),
    ("post", "{id}/approve/"),
    ("post", "{id}/send/"),
    ("post", "{id}/mark-viewed/"),
    ("post", "{id}/write-off/"),
    ("post", "{id}/payments/"),
    ("post", "{id}/payment-plan/"),
    ("get", "{id}/zatca/"),
    ("get", "{id}/timeline/"),
]


def test_another_firms_invoice_is_404_on_every_endpoint(api_a, api_b, make):
    invoice = make()
    bodies = {"payments/": {"amount": "1", "method": "cash"}, "payment-plan/": {"installments": 2}}
    for method, path in ENDPOINTS:
        body = next((b for suffix, b in bodies.items() if path.endswith(suffix)), {})
        response = getattr(api_b, method)(f"/api/v1/invoices/{path.format(id=invoice['id'])}", body, format="json")
        assert response.status_code == 404, (method, path, response.status_code)
    assert api_b.get("/api/v1/invoices/").data["results"] == []
    assert api_b.get("/api/v1/invoices/stats/").data["currencies"] == {}
    assert api_b.get("/api/v1/invoices/zatca-verify/").data["checked"] == 0
    with schema_context("alpha"):
        assert Invoice.objects.get(pk=invoice["id"]).status == "draft"


@pytest.mark.parametrize(
    "path", ["", "1/", "1/zatca/", "1/timeline/", "stats/", "zatca-verify/", "1/submit/", "1/payments/"]
)
def test_another_firms_token_is_401(firm_a, firm_b, admin_a, path):
    key = token_for(firm_a, admin_a)
    client = api_client_for(firm_b)
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    method = client.post if path.endswith(("submit/", "payments/")) else client.get
    assert method(f"/api/v1/invoices/{path}", {}, format="json").status_code == 401
    connection.set_schema_to_public()


def test_payments_keep_decimal_exactness(api_a, make):
    invoice = go(api_a, make(items=[{**ITEM, "quantity": "1", "unit_price": "0.10"}]), "submit", "approve", "send")
    assert invoice["total_amount"] == "0.12"  # 0.115 rounds half up
    for _ in range(12):
        api_a.post(f"/api/v1/invoices/{invoice['id']}/payments/", {"amount": "0.01", "method": "cash"}, format="json")
    final = api_a.get(f"/api/v1/invoices/{invoice['id']}/").data
    assert (final["amount_paid"], final["balance_due"], final["status"]) == ("0.12", "0.00", "paid")
    assert Decimal(final["amount_paid"]) == Decimal("0.12")
