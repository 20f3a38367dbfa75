"""Reads of billing: invoice lists and details, stats from the rollups, the ZATCA chain check."""

from datetime import date

from django.db.models import Prefetch, QuerySet

from billing import rollups, zatca
from billing.models import Installment, Invoice, InvoiceItem, Payment
from timeline.activities.deadlines import firm_today


def invoice_list() -> QuerySet:
    """Invoices with what a list row shows, in a fixed number of queries however many rows."""
    return Invoice.objects.select_related("client", "case", "lawyer", "payment_plan").prefetch_related(
        Prefetch("items", queryset=InvoiceItem.objects.order_by("position")),
        Prefetch("payment_plan__installments", queryset=Installment.objects.order_by("number")),
    )


def invoice_detail() -> QuerySet:
    return invoice_list().prefetch_related(Prefetch("payments", queryset=Payment.objects.order_by("paid_at", "id")))


def invoice_stats(*, since: date | None = None, until: date | None = None, today: date | None = None) -> dict:
    today = today or firm_today()
    return {"as_of": today, "currencies": rollups.rollup_stats(today=today, since=since, until=until)}


def chain_verify() -> tuple[int, zatca.ChainBreak | None]:
    """Walk the firm's issued invoices in ICV order; (how many are intact, the first break or None)."""
    issued = (
        Invoice.objects.filter(icv__isnull=False)
        .order_by("icv")
        .prefetch_related(Prefetch("items", queryset=InvoiceItem.objects.order_by("position")))
    )
    return zatca.chain_verify(issued.iterator(chunk_size=500))
