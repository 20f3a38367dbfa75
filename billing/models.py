import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from billing.choices import (
    OPEN_STATUSES,
    PLAN_SIZES,
    InstallmentStatus,
    InvoiceStatus,
    ItemType,
    PaymentMethod,
    PaymentTerms,
    RollupMeasure,
    VatCategory,
)
from billing.money import MONEY_DIGITS, MONEY_PLACES


def money_field(verbose_name, **kwargs) -> models.DecimalField:
    return models.DecimalField(verbose_name, max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES, **kwargs)


def user_field(verbose_name, *, related_name: str = "+") -> models.ForeignKey:
    """Who did something: kept as history, so a deleted user leaves it empty rather than taking the row."""
    return models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name=related_name,
        verbose_name=verbose_name,
    )


def _default_vat_rate():
    from decimal import Decimal

    return Decimal("15.00")


class BillingSettings(models.Model):
    """The firm's billing defaults: its VAT rate and payment terms."""

    # One row per firm schema: the unique constant column makes a second row impossible.
    singleton = models.BooleanField(default=True, unique=True, editable=False)
    vat_rate = models.DecimalField(_("VAT rate (%)"), max_digits=5, decimal_places=2, default=_default_vat_rate)
    payment_terms = models.CharField(
        _("payment terms"), max_length=16, choices=PaymentTerms.choices, default=PaymentTerms.NET_30
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("billing settings")
        verbose_name_plural = _("billing settings")
        constraints = [
            models.CheckConstraint(condition=Q(singleton=True), name="billing_settings_singleton"),
            models.CheckConstraint(condition=Q(vat_rate__gte=0, vat_rate__lte=100), name="billing_settings_vat_rate"),
        ]

    def __str__(self) -> str:
        return str(_("Billing settings"))


class InvoiceCounter(models.Model):
    """The last invoice number given on one firm-local day; its row lock makes numbers gapless (ADR 0042)."""

    day = models.DateField(_("day"), unique=True)
    last = models.PositiveIntegerField(_("last number"), default=0)

    class Meta:
        verbose_name = _("invoice counter")
        verbose_name_plural = _("invoice counters")

    def __str__(self) -> str:
        return f"{self.day}: {self.last}"


class ZatcaChainHead(models.Model):
    """The firm's ZATCA chain: the last invoice counter value (ICV) and hash issued (ADR 0043)."""

    singleton = models.BooleanField(default=True, unique=True, editable=False)
    icv = models.PositiveBigIntegerField(_("invoice counter value"), default=0)
    last_hash = models.CharField(_("last invoice hash"), max_length=128, blank=True)

    class Meta:
        verbose_name = _("ZATCA chain head")
        verbose_name_plural = _("ZATCA chain heads")
        constraints = [models.CheckConstraint(condition=Q(singleton=True), name="billing_chain_singleton")]

    def __str__(self) -> str:
        return f"ICV {self.icv}"


class Invoice(models.Model):
    """A bill to a client, in one currency, changed only by the billing services' actions."""

    invoice_number = models.CharField(_("invoice number"), max_length=32, unique=True, editable=False)
    status = models.CharField(_("status"), max_length=20, choices=InvoiceStatus.choices, default=InvoiceStatus.DRAFT)
    client = models.ForeignKey(
        "crm.Client", on_delete=models.PROTECT, related_name="invoices", verbose_name=_("client")
    )
    case = models.ForeignKey(
        "crm.Case", null=True, blank=True, on_delete=models.PROTECT, related_name="invoices", verbose_name=_("case")
    )
    lawyer = user_field(_("lawyer"), related_name="invoices")
    issue_date = models.DateField(_("issue date"))
    payment_terms = models.CharField(_("payment terms"), max_length=16, choices=PaymentTerms.choices)
    due_date = models.DateField(_("due date"))
    currency = models.CharField(_("currency"), max_length=3, default="SAR")
    subtotal = money_field(_("subtotal"), default=0)
    vat_rate = models.DecimalField(_("VAT rate (%)"), max_digits=5, decimal_places=2)
    vat_amount = money_field(_("VAT amount"), default=0)
    total_amount = money_field(_("total amount"), default=0)
    amount_paid = money_field(_("amount paid"), default=0)
    balance_due = money_field(_("balance due"), default=0)
    notes = models.TextField(_("notes"), blank=True)
    # ZATCA: the invoice's UUID from creation; counter value, timestamp and hashes once approved.
    uuid = models.UUIDField(_("UUID"), default=uuid.uuid4, unique=True, editable=False)
    icv = models.PositiveBigIntegerField(_("invoice counter value"), null=True, blank=True, unique=True)
    issued_at = models.DateTimeField(_("issued at"), null=True, blank=True)
    invoice_hash = models.CharField(_("invoice hash"), max_length=128, blank=True)
    previous_hash = models.CharField(_("previous invoice hash"), max_length=128, blank=True)
    # The seller as the QR and the hash name it, fixed at approval (the firm may rename itself later).
    seller_name = models.CharField(_("seller name"), max_length=200, blank=True)
    seller_vat_number = models.CharField(_("seller VAT number"), max_length=32, blank=True)
    submitted_at = models.DateTimeField(_("submitted at"), null=True, blank=True)
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)
    approved_by = user_field(_("approved by"))
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    viewed_at = models.DateTimeField(_("viewed at"), null=True, blank=True)
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    written_off_at = models.DateTimeField(_("written off at"), null=True, blank=True)
    created_by = user_field(_("created by"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("invoice")
        verbose_name_plural = _("invoices")
        ordering = ["-created_at", "-id"]
        # Approving issues the invoice to ZATCA's chain and writing off forgives a debt: lawyers' and admins' calls.
        permissions = [
            ("approve_invoice", _("Can approve invoices")),
            ("write_off_invoice", _("Can write off invoices")),
        ]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="invoice_created_idx"),
            models.Index(fields=["issue_date"], name="invoice_issue_date_idx"),
            # What the overdue sweep looks at: open invoices by due date.
            models.Index(fields=["due_date"], condition=Q(status__in=OPEN_STATUSES), name="invoice_open_due_idx"),
        ]
        constraints = [
            # Every total is computed in billing.money; the database refuses any row whose sums disagree.
            models.CheckConstraint(condition=Q(total_amount=F("subtotal") + F("vat_amount")), name="invoice_total"),
            models.CheckConstraint(
                condition=Q(balance_due=F("total_amount") - F("amount_paid")), name="invoice_balance"
            ),
            models.CheckConstraint(
                condition=Q(amount_paid__gte=0, amount_paid__lte=F("total_amount")), name="invoice_never_overpaid"
            ),
            models.CheckConstraint(condition=Q(subtotal__gte=0, vat_amount__gte=0), name="invoice_not_negative"),
            models.CheckConstraint(condition=Q(vat_rate__gte=0, vat_rate__lte=100), name="invoice_vat_rate"),
            models.CheckConstraint(condition=Q(due_date__gte=F("issue_date")), name="invoice_due_after_issue"),
        ]

    def __str__(self) -> str:
        return self.invoice_number


class InvoiceItem(models.Model):
    """One line of an invoice: time, an expense, a flat fee, a product or a discount, UTBMS-coded."""

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="items", verbose_name=_("invoice"))
    position = models.PositiveSmallIntegerField(_("position"))
    type = models.CharField(_("type"), max_length=16, choices=ItemType.choices)
    date = models.DateField(_("date"), null=True, blank=True)
    description = models.CharField(_("description"), max_length=500)
    quantity = models.DecimalField(_("quantity"), max_digits=10, decimal_places=2)
    unit_price = money_field(_("unit price"))
    vat_category = models.CharField(
        _("VAT category"), max_length=16, choices=VatCategory.choices, default=VatCategory.STANDARD
    )
    task_code = models.CharField(_("UTBMS task code"), max_length=8, blank=True)
    activity_code = models.CharField(_("UTBMS activity or expense code"), max_length=8, blank=True)
    # Net of VAT, rounded to halalas; negative for a discount.
    amount = money_field(_("amount"))

    class Meta:
        verbose_name = _("invoice item")
        verbose_name_plural = _("invoice items")
        ordering = ["invoice", "position"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "position"], name="invoice_item_position"),
            models.CheckConstraint(condition=Q(quantity__gt=0, unit_price__gte=0), name="invoice_item_positive"),
        ]

    def __str__(self) -> str:
        return self.description


class Payment(models.Model):
    """Money received against an invoice; allocated to its installments oldest first."""

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="payments", verbose_name=_("invoice"))
    amount = money_field(_("amount"))
    paid_at = models.DateTimeField(_("paid at"))
    method = models.CharField(_("method"), max_length=16, choices=PaymentMethod.choices)
    reference = models.CharField(_("reference"), max_length=120, blank=True)
    recorded_by = user_field(_("recorded by"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        ordering = ["-paid_at", "-id"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="payment_positive")]

    def __str__(self) -> str:
        return f"{self.amount} ({self.invoice_id})"


class PaymentPlan(models.Model):
    """An invoice's balance split into 2, 3, 4, 6 or 12 monthly installments."""

    invoice = models.OneToOneField(
        Invoice, on_delete=models.PROTECT, related_name="payment_plan", verbose_name=_("invoice")
    )
    installments_count = models.PositiveSmallIntegerField(_("installments"))
    amount = money_field(_("amount"))
    created_by = user_field(_("created by"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("payment plan")
        verbose_name_plural = _("payment plans")
        constraints = [
            models.CheckConstraint(condition=Q(installments_count__in=PLAN_SIZES), name="payment_plan_sizes"),
        ]

    def __str__(self) -> str:
        return f"{self.invoice} × {self.installments_count}"


class Installment(models.Model):
    """One installment of a plan; payments fill them oldest first."""

    plan = models.ForeignKey(PaymentPlan, on_delete=models.CASCADE, related_name="installments", verbose_name=_("plan"))
    number = models.PositiveSmallIntegerField(_("number"))
    due_date = models.DateField(_("due date"))
    amount = money_field(_("amount"))
    amount_paid = money_field(_("amount paid"), default=0)
    status = models.CharField(
        _("status"), max_length=16, choices=InstallmentStatus.choices, default=InstallmentStatus.PENDING
    )
    # The activity that reminds the lawyer (its reminder goes out once, through the activities' ledger).
    reminder = models.OneToOneField(
        "activities.Activity",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("reminder activity"),
    )

    class Meta:
        verbose_name = _("installment")
        verbose_name_plural = _("installments")
        ordering = ["plan", "number"]
        indexes = [
            models.Index(
                fields=["due_date"], condition=Q(status__in=["pending", "partial"]), name="installment_unpaid_due_idx"
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["plan", "number"], name="installment_number"),
            models.CheckConstraint(
                condition=Q(amount__gt=0, amount_paid__gte=0, amount_paid__lte=F("amount")), name="installment_paid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.plan.invoice} #{self.number}"


class Rollup(models.Model):
    """Folded money totals per (measure, currency, firm-local day): what stats read instead of invoices."""

    Measure = RollupMeasure

    measure = models.CharField(_("measure"), max_length=16, choices=RollupMeasure.choices)
    currency = models.CharField(_("currency"), max_length=3)
    day = models.DateField(_("day"))
    amount = models.DecimalField(_("amount"), max_digits=18, decimal_places=2, default=0)
    count = models.BigIntegerField(_("count"), default=0)

    class Meta:
        verbose_name = _("billing rollup")
        verbose_name_plural = _("billing rollups")
        constraints = [models.UniqueConstraint(fields=["measure", "currency", "day"], name="billing_rollup_key")]

    def __str__(self) -> str:
        return f"{self.measure} {self.currency} {self.day}"


class RollupDelta(models.Model):
    """A signed change to a rollup, appended by a writer (no lock) and folded by the sweep (ADR 0044)."""

    measure = models.CharField(_("measure"), max_length=16, choices=RollupMeasure.choices)
    currency = models.CharField(_("currency"), max_length=3)
    day = models.DateField(_("day"))
    amount = models.DecimalField(_("amount"), max_digits=18, decimal_places=2)
    count = models.BigIntegerField(_("count"))

    class Meta:
        verbose_name = _("billing rollup delta")
        verbose_name_plural = _("billing rollup deltas")
        indexes = [models.Index(fields=["measure", "currency", "day"], name="billing_delta_key_idx")]

    def __str__(self) -> str:
        return f"{self.measure} {self.currency} {self.day} {self.amount:+}"
