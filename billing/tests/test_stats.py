"""Stats read the rollups, and the rollups always equal a direct aggregate over invoices and payments."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing import rollups, services
from billing.choices import ISSUED_STATUSES, OPEN_STATUSES
from billing.models import Invoice, Payment
from billing.tests.factories import draft, issued, time_item
from timeline.activities.deadlines import firm_today
from timeline.rollups import firm_tz

D = Decimal
pytestmark = pytest.mark.usefixtures("in_firm_a")


def direct(today, since=None, until=None) -> dict:
    """The same figures computed from the invoices and payments themselves."""
    stats = {}
    for invoice in Invoice.objects.all():
        row = stats.setdefault(invoice.currency, {"revenue": D(0), "invoiced": D(0), "outstanding": D(0), "aging": {}})
        in_range = (since is None or invoice.issue_date >= since) and (until is None or invoice.issue_date <= until)
        if invoice.status in ISSUED_STATUSES and in_range:
            row["invoiced"] += invoice.total_amount
        if invoice.status in OPEN_STATUSES:
            row["outstanding"] += invoice.balance_due
            late = (today - invoice.due_date).days
            for name, first, last in rollups.AGING:
                if late >= first and (last is None or late <= last):
                    row["aging"][name] = row["aging"].get(name, D(0)) + invoice.balance_due
    for payment in Payment.objects.select_related("invoice"):
        day = timezone.localdate(payment.paid_at, firm_tz())  # the firm's day, not the server's
        if (since is None or day >= since) and (until is None or day <= until):
            stats[payment.invoice.currency]["revenue"] += payment.amount
    return stats


def shaped(stats: dict) -> dict:
    return {
        currency: {
            "revenue": row["revenue"],
            "invoiced": row["invoiced"],
            "outstanding": row["outstanding"],
            "aging": {name: bucket["amount"] for name, bucket in row["aging"].items() if bucket["amount"]},
        }
        for currency, row in stats.items()
    }


@pytest.fixture
def ledger(admin_a):
    """Invoices in two currencies, every open state, late by every bucket, with payments and plans."""
    today = firm_today()
    for days_ago, currency in ((20, "SAR"), (45, "SAR"), (75, "USD"), (130, "SAR"), (200, "SAR")):
        invoice = issued(
            actor=admin_a,
            currency=currency,
            issue_date=today - timedelta(days=days_ago),
            payment_terms="net_7",
            items=[time_item(hours="1.25", rate="333.33")],
        )
        services.payment_record(invoice=invoice, amount=D("10.01"), method="cash", actor=admin_a)
    paid = issued(actor=admin_a, items=[time_item()])
    services.payment_record(invoice=paid, amount=paid.balance_due, method="card", actor=admin_a)
    gone = issued(actor=admin_a)
    services.invoice_write_off(invoice=gone, actor=admin_a)
    planned = issued(actor=admin_a, issue_date=today - timedelta(days=60), payment_terms="net_15")
    services.payment_plan_create(invoice=planned, installments=4, actor=admin_a)
    draft(actor=admin_a)
    services.billing_sweep()


def test_the_rollups_equal_a_direct_aggregate(ledger):
    today = firm_today()
    expected = direct(today)
    # before and after the deltas are folded, and after a rebuild
    assert shaped(rollups.rollup_stats(today=today)) == expected
    rollups.rollup_fold()
    assert shaped(rollups.rollup_stats(today=today)) == expected
    rollups.rollup_rebuild()
    assert shaped(rollups.rollup_stats(today=today)) == expected
    assert set(expected["SAR"]["aging"]) == {"0_30", "31_60", "90_plus"}  # 61_90 only in USD
    assert set(expected["USD"]["aging"]) == {"61_90"}


def test_a_date_range_bounds_revenue_and_invoiced(ledger):
    today = firm_today()
    since, until = today - timedelta(days=80), today - timedelta(days=1)
    assert shaped(rollups.rollup_stats(today=today, since=since, until=until)) == direct(today, since, until)


def test_stats_read_a_fixed_number_of_rows_whatever_the_invoices(ledger, django_assert_num_queries):
    with django_assert_num_queries(1):
        rollups.rollup_stats(today=firm_today())
