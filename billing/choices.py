from django.db import models
from django.utils.translation import gettext_lazy as _


class InvoiceStatus(models.TextChoices):
    """The contract's statuses; only the services' actions move an invoice between them (ADR 0041)."""

    DRAFT = "draft", _("Draft")
    PENDING_APPROVAL = "pending_approval", _("Pending approval")
    SENT = "sent", _("Sent")
    VIEWED = "viewed", _("Viewed")
    PARTIAL = "partial", _("Partially paid")
    PAID = "paid", _("Paid")
    OVERDUE = "overdue", _("Overdue")
    WRITTEN_OFF = "written_off", _("Written off")


# Issued and still owed: what counts as outstanding, and what a payment or a plan may apply to.
OPEN_STATUSES = (InvoiceStatus.SENT, InvoiceStatus.VIEWED, InvoiceStatus.PARTIAL, InvoiceStatus.OVERDUE)
# Issued to the client (revenue counts them), whatever happened since.
ISSUED_STATUSES = (*OPEN_STATUSES, InvoiceStatus.PAID, InvoiceStatus.WRITTEN_OFF)


class PaymentTerms(models.TextChoices):
    DUE_ON_RECEIPT = "due_on_receipt", _("Due on receipt")
    NET_7 = "net_7", _("Net 7 days")
    NET_15 = "net_15", _("Net 15 days")
    NET_30 = "net_30", _("Net 30 days")
    NET_45 = "net_45", _("Net 45 days")
    NET_60 = "net_60", _("Net 60 days")
    NET_90 = "net_90", _("Net 90 days")


TERM_DAYS = {
    PaymentTerms.DUE_ON_RECEIPT: 0,
    PaymentTerms.NET_7: 7,
    PaymentTerms.NET_15: 15,
    PaymentTerms.NET_30: 30,
    PaymentTerms.NET_45: 45,
    PaymentTerms.NET_60: 60,
    PaymentTerms.NET_90: 90,
}


class ItemType(models.TextChoices):
    TIME = "time", _("Time")
    EXPENSE = "expense", _("Expense")
    FLAT_FEE = "flat_fee", _("Flat fee")
    PRODUCT = "product", _("Product")
    DISCOUNT = "discount", _("Discount")


class VatCategory(models.TextChoices):
    """ZATCA's VAT categories for a line: standard rate, zero-rated, exempt."""

    STANDARD = "standard", _("Standard rate")
    ZERO_RATED = "zero_rated", _("Zero-rated")
    EXEMPT = "exempt", _("Exempt")


class PaymentMethod(models.TextChoices):
    BANK_TRANSFER = "bank_transfer", _("Bank transfer")
    CARD = "card", _("Card")
    CASH = "cash", _("Cash")
    CHEQUE = "cheque", _("Cheque")
    SADAD = "sadad", _("SADAD")
    OTHER = "other", _("Other")


class InstallmentStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    PARTIAL = "partial", _("Partially paid")
    PAID = "paid", _("Paid")
    OVERDUE = "overdue", _("Overdue")


PLAN_SIZES = (2, 3, 4, 6, 12)


class RollupMeasure(models.TextChoices):
    """What a stats rollup row sums, and by which day."""

    INVOICED = "invoiced", _("Invoiced")  # by issue date: totals of issued invoices
    COLLECTED = "collected", _("Collected")  # by payment date
    OPEN = "open", _("Outstanding")  # by due date: balances of open invoices
