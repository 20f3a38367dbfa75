"""Where billing keeps personal data (the privacy data map, ``traf3li.core.privacy``).

Invoices name their client by id only; the buyer's name comes from the client record, which the
erasure anonymises. What tax law makes the firm keep is kept (ADR 0060): an issued invoice's
number, dates, amounts, VAT and lines are the hash-chained tax record (``billing.zatca``) and
stay as issued; only what the hash does not cover (the notes, payment references) loses the
person's name. A draft's lines are not a tax record yet and are scrubbed like any text.
"""

from django.db.models import Q

from billing.models import Invoice, InvoiceItem, Payment
from traf3li.core.privacy import privacy_register, privacy_register_rows, quoting, rows_export, rows_redact

ITEM_FIELDS = ("description",)


def _invoices_of(subject) -> Q:
    return Q(client_id=subject.ref.id) if subject.ref.type == "client" else Q(pk__in=[])


def _invoice_replace(subject, invoice: Invoice) -> dict:
    return {"notes": ""} if subject.is_subject("client", invoice.client_id) else {}


def _items(subject, *, issued: bool | None = None):
    of_client = Q(invoice__in=Invoice.objects.filter(_invoices_of(subject)).values("pk"))
    rows = InvoiceItem.objects.filter(quoting(InvoiceItem, ITEM_FIELDS, subject.markers) | of_client)
    return rows if issued is None else rows.filter(invoice__icv__isnull=not issued)


def _items_export(subject) -> list[dict]:
    return rows_export(_items(subject), (*ITEM_FIELDS, "invoice", "amount"))


def _items_erase(subject):
    # Only the drafts' lines: an issued line is in the invoice's hash and the tax record (ADR 0060).
    drafts = InvoiceItem.objects.filter(pk__in=_items(subject, issued=False).values("pk"))
    return rows_redact(drafts, subject=subject, scrubbed=ITEM_FIELDS)


def register() -> None:
    privacy_register_rows(
        Invoice, scrubbed=("notes",), about=_invoices_of, replace=_invoice_replace,
        exported=("invoice_number", "status", "issue_date", "due_date", "currency", "total_amount", "balance_due"),
    )  # fmt: skip
    privacy_register(InvoiceItem, fields=ITEM_FIELDS, export=_items_export, erase=_items_erase)
    privacy_register_rows(Payment, scrubbed=("reference",), exported=("invoice", "amount", "paid_at"))
