"""Writes of billing: drafts, the lifecycle actions, payments, plans and the overdue sweep.

Every service runs in one transaction, audits with its domain action and puts an ``invoice`` or
``payment`` entry on the invoice's timeline, which the hierarchy registry also links to its client's
and its case's 360° views. A forbidden transition raises ``TransitionError`` (409) before any write.

Lock order (ADR 0042, fitted into ADR 0030's step 1):
- ``invoice_create`` takes the day's counter row first (an upsert, held to COMMIT so numbers stay
  gapless), holding nothing else, so a creator waiting on it can block no one;
- every other service locks the invoice row (FOR NO KEY UPDATE), then its installments in number
  order, then (approval only) the firm's ZATCA chain head, then activities (installment reminders);
- the timeline's and the audit's shared rows come last, at COMMIT (``entry_record``,
  ``audit_record``). Rollup deltas are appended rows that lock nothing (ADR 0044).
Nothing here does network I/O: the reminder emails are the activities' sender's, outside any lock.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy

from audit.services import audit_record, snapshot
from billing import money, rollups, utbms, zatca
from billing.choices import (
    OPEN_STATUSES,
    PLAN_SIZES,
    TERM_DAYS,
    InstallmentStatus,
    InvoiceStatus,
    ItemType,
    PaymentMethod,
    VatCategory,
)
from billing.models import (
    BillingSettings,
    Installment,
    Invoice,
    InvoiceCounter,
    InvoiceItem,
    Payment,
    PaymentPlan,
    ZatcaChainHead,
)
from timeline.activities import services as activities
from timeline.activities.choices import ActivityState
from timeline.activities.deadlines import firm_today
from timeline.activities.models import ActivityType
from timeline.activities.selectors import REMINDER_HORIZON_DAYS
from timeline.services import actor_user, entry_record
from traf3li.api.exceptions import TransitionError
from traf3li.core.i18n import in_firm_language
from traf3li.core.writes import apply_changes, copy_saved
from traf3li.firms.selectors import firm_current
from traf3li.users.roles import actor_may

PERM_APPROVE, PERM_WRITE_OFF = "billing.approve_invoice", "billing.write_off_invoice"
# One whole sentence per verb, so that each language can word it; the status is its translated label.
ERROR_TRANSITION = {
    "edit": gettext_lazy("This invoice can't be edited: it is {status}. Only drafts change."),
    "submit": gettext_lazy("This invoice can't be submitted: it is {status}."),
    "approve": gettext_lazy("This invoice can't be approved: it is {status}."),
    "send": gettext_lazy("This invoice can't be sent: it is {status}."),
    "mark_viewed": gettext_lazy("This invoice can't be marked as viewed: it is {status}."),
    "write_off": gettext_lazy("This invoice can't be written off: it is {status}."),
    "pay": gettext_lazy("This invoice can't take a payment: it is {status}."),
    "plan": gettext_lazy("This invoice can't get a payment plan: it is {status}."),
}
ERROR_EMPTY = gettext_lazy("An invoice needs at least one line and a total above zero before it is submitted.")
ERROR_APPROVED = gettext_lazy("This invoice is already approved; send it.")
ERROR_NOT_APPROVED = gettext_lazy("This invoice must be approved before it is sent.")
ERROR_OVERPAY = gettext_lazy("A payment of {amount} would exceed the balance due of {balance} {currency}.")
ERROR_PLAN_EXISTS = gettext_lazy("This invoice already has a payment plan.")
ERROR_PLAN_SIZE = gettext_lazy("A plan has 2, 3, 4, 6 or 12 installments.")
ERROR_NOTHING_DUE = gettext_lazy("Nothing is due on this invoice.")
ERROR_CASE_CLIENT = gettext_lazy("This case belongs to another client.")
ERROR_POSITIVE = gettext_lazy("Must be more than zero.")
ERROR_NEGATIVE = gettext_lazy("Must be zero or more.")
ERROR_PLACES = gettext_lazy("At most 2 decimal places.")
ERROR_TOO_LARGE = gettext_lazy("Too large for an invoice.")
ERROR_DISCOUNTS = gettext_lazy("The discounts exceed the invoice's lines.")
ERROR_NAIVE = gettext_lazy("Must carry a timezone offset.")
ERROR_CURRENCY = gettext_lazy("A three-letter ISO 4217 code, e.g. SAR.")
ERROR_VAT_RATE = gettext_lazy("A percentage from 0 to 100 with at most 2 decimal places.")
ERROR_MAY_NOT = {
    PERM_APPROVE: gettext_lazy("Only lawyers and admins approve invoices."),
    PERM_WRITE_OFF: gettext_lazy("Only lawyers and admins write invoices off."),
}

TITLES = {
    "created": gettext_lazy("Invoice {number} drafted: {total} {currency}"),
    "submitted": gettext_lazy("Invoice {number} submitted for approval"),
    "approved": gettext_lazy("Invoice {number} approved"),
    "sent": gettext_lazy("Invoice {number} sent: {total} {currency} due on {due}"),
    "viewed": gettext_lazy("Invoice {number} viewed by the client"),
    "written_off": gettext_lazy("Invoice {number} written off: {balance} {currency}"),
    "overdue": gettext_lazy("Invoice {number} is overdue: {balance} {currency} since {due}"),
    "plan": gettext_lazy("Invoice {number} split into {count} installments"),
    "installment_overdue": gettext_lazy("Installment {installment} of invoice {number} is overdue"),
    "payment": gettext_lazy("Payment of {amount} {currency} for invoice {number}"),
}
INSTALLMENT_TYPE = gettext_lazy("Installment due")
INSTALLMENT_SUMMARY = gettext_lazy("Installment {installment} of {count} of invoice {number}: {amount} {currency}")
PAID_FEEDBACK = gettext_lazy("Paid.")

# What a draft's edit may change; items are replaced whole. The rest is computed or set by actions.
EDITABLE = ("client", "case", "lawyer", "issue_date", "payment_terms", "currency", "vat_rate", "notes")
ITEM_FIELDS = ("type", "date", "description", "quantity", "unit_price", "vat_category", "task_code", "activity_code")
MAX_ITEMS = 500


# --- helpers -----------------------------------------------------------------------------------


def _in_firm_language(template, **values) -> str:
    with in_firm_language():
        return str(template).format(**{key: str(value) for key, value in values.items()})


def _status_label(status: str) -> str:
    return str(InvoiceStatus(status).label).lower()


def _user(actor):
    return actor if getattr(actor, "pk", None) and getattr(actor, "is_authenticated", False) else None


def _require(actor, perm: str) -> None:
    if not actor_may(actor, perm):
        raise PermissionDenied(ERROR_MAY_NOT[perm])


def billing_settings() -> BillingSettings:
    """The firm's settings row (made by the migration; made here if a schema lacks it)."""
    return BillingSettings.objects.first() or BillingSettings.objects.get_or_create(singleton=True)[0]


def _places_ok(value: Decimal) -> bool:
    return value == value.quantize(money.HALALA)


def _check_amount(errors: dict, name: str, value, *, positive: bool) -> None:
    if not isinstance(value, Decimal) or not value.is_finite():
        errors[name] = ERROR_PLACES
    elif positive and value <= 0:
        errors[name] = ERROR_POSITIVE
    elif value < 0:
        errors[name] = ERROR_NEGATIVE
    elif not _places_ok(value):
        errors[name] = ERROR_PLACES
    elif value > money.MAX_MONEY:
        errors[name] = ERROR_TOO_LARGE


def _build_items(items) -> list[InvoiceItem]:
    """Validated, unsaved items with their net amounts; a ValidationError names each bad field."""
    items = list(items or ())
    if len(items) > MAX_ITEMS:
        raise ValidationError({"items": [f"At most {MAX_ITEMS} lines."]})
    built, errors = [], []
    for position, data in enumerate(items, start=1):
        unknown = set(data) - set(ITEM_FIELDS)
        item_errors = {name: "Unknown field." for name in sorted(unknown)}
        item_type = data.get("type")
        if item_type not in ItemType.values:
            item_errors["type"] = f"One of: {', '.join(ItemType.values)}."
        if data.get("vat_category", VatCategory.STANDARD) not in VatCategory.values:
            item_errors["vat_category"] = f"One of: {', '.join(VatCategory.values)}."
        if not (data.get("description") or "").strip():
            item_errors["description"] = "A description is required."
        _check_amount(item_errors, "quantity", data.get("quantity"), positive=True)
        _check_amount(item_errors, "unit_price", data.get("unit_price"), positive=False)
        task_code = (data.get("task_code") or "").strip().upper()
        activity_code = (data.get("activity_code") or "").strip().upper()
        item_errors.update(
            utbms.item_code_errors(type=item_type or "", task_code=task_code, activity_code=activity_code)
        )
        if not item_errors:
            amount = money.line_amount(type=item_type, quantity=data["quantity"], unit_price=data["unit_price"])
            if abs(amount) > money.MAX_MONEY:
                item_errors["quantity"] = ERROR_TOO_LARGE
        errors.extend(f"{position}.{name}: {message}" for name, message in item_errors.items())
        if not item_errors:
            built.append(
                InvoiceItem(
                    position=position,
                    type=item_type,
                    date=data.get("date"),
                    description=data["description"].strip()[:500],
                    quantity=data["quantity"],
                    unit_price=data["unit_price"],
                    vat_category=data.get("vat_category") or VatCategory.STANDARD,
                    task_code=task_code,
                    activity_code=activity_code,
                    amount=amount,
                )
            )
    if errors:
        raise ValidationError({"items": errors})
    return built


def _apply_totals(invoice: Invoice, items: list[InvoiceItem]) -> None:
    """The one place an invoice's totals are set (the database checks they add up)."""
    totals = money.invoice_totals(((item.amount, item.vat_category) for item in items), vat_rate=invoice.vat_rate)
    if totals.subtotal < 0:
        raise ValidationError({"items": [ERROR_DISCOUNTS]})
    if totals.total_amount > money.MAX_MONEY:
        raise ValidationError({"items": [ERROR_TOO_LARGE]})
    invoice.subtotal, invoice.vat_amount, invoice.total_amount = totals.subtotal, totals.vat_amount, totals.total_amount
    invoice.balance_due = invoice.total_amount - invoice.amount_paid


def due_date_for(issue_date: date, payment_terms: str) -> date:
    return issue_date + timedelta(days=TERM_DAYS[payment_terms])


def _check_header(invoice: Invoice) -> None:
    errors = {}
    if invoice.case is not None and invoice.case.client_id != invoice.client_id:
        errors["case"] = ERROR_CASE_CLIENT
    currency = invoice.currency or ""
    if len(currency) != 3 or not currency.isascii() or not currency.isalpha():
        errors["currency"] = ERROR_CURRENCY
    rate = invoice.vat_rate
    if not isinstance(rate, Decimal) or not rate.is_finite() or not 0 <= rate <= 100 or not _places_ok(rate):
        errors["vat_rate"] = ERROR_VAT_RATE
    if errors:
        raise ValidationError(errors)


def _snapshot(invoice: Invoice, items=None) -> dict:
    data = snapshot(invoice)
    items = invoice.items.order_by("position") if items is None else items
    data["items"] = [{k: v for k, v in snapshot(item).items() if k not in ("id", "invoice_id")} for item in items]
    return data


def _next_number(day: date) -> str:
    """``INV-YYYYMMDD-NNN``: the day's counter, incremented under its row lock until COMMIT (ADR 0042).

    A sequence would leave a gap for every rolled-back creation; the row lock makes a concurrent
    creator wait for this transaction, then take the next number, or this one if it rolled back.
    """
    table = connection.ops.quote_name(InvoiceCounter._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (day, last) VALUES (%s, 1) "
            f"ON CONFLICT (day) DO UPDATE SET last = {table}.last + 1 RETURNING last",
            [day],
        )
        number = cursor.fetchone()[0]
    return f"INV-{day:%Y%m%d}-{number:03d}"


def _lock(invoice: Invoice, verb: str, allowed) -> Invoice:
    """Re-read the invoice under its row lock and refuse a status the action doesn't start from."""
    locked = (
        Invoice.objects.select_for_update(no_key=True, of=("self",))
        .select_related("client", "case", "lawyer")
        .get(pk=invoice.pk)
    )
    if locked.status not in allowed:
        raise TransitionError(ERROR_TRANSITION[verb].format(status=_status_label(locked.status)))
    return locked


def _installments(invoice: Invoice) -> list[Installment]:
    """The invoice's installments, locked in number order (after the invoice: the lock order)."""
    return list(Installment.objects.select_for_update(no_key=True).filter(plan__invoice=invoice).order_by("number"))


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def _timeline(invoice: Invoice, *, action: str, actor, occurred_at: datetime | None = None, **values) -> None:
    """An ``invoice`` entry on the invoice's timeline (and, through the hierarchy, its client's and case's)."""
    title = _in_firm_language(
        TITLES[action],
        number=invoice.invoice_number,
        total=_money(invoice.total_amount),
        balance=_money(invoice.balance_due),
        currency=invoice.currency,
        due=invoice.due_date.isoformat(),
        **values,
    )
    entry_record(
        kind="invoice",
        subject=invoice,
        title=title[:300],
        occurred_at=occurred_at,
        related=[record for record in (invoice.client, invoice.case) if record is not None],
        performed_by=actor_user(actor),
        status=invoice.status,
        payload={
            "invoice_id": invoice.pk,
            "invoice_number": invoice.invoice_number,
            "action": action,
            "status": invoice.status,
            "total_amount": _money(invoice.total_amount),
            "balance_due": _money(invoice.balance_due),
            "currency": invoice.currency,
            "due_date": invoice.due_date.isoformat(),
        },
        actor=actor,
    )


def _audit(invoice: Invoice, *, action: str, before: dict | None, actor, extra: dict | None = None) -> None:
    after = {**_snapshot(invoice), **(extra or {})}
    audit_record(action=action, instance=invoice, before=before, after=after, case_id=invoice.case_id, actor=actor)


def _is_late(invoice: Invoice, installments: list[Installment], today: date) -> bool:
    if installments:
        return any(i.status != InstallmentStatus.PAID and i.due_date < today for i in installments)
    return invoice.due_date < today


def _settled_status(invoice: Invoice, installments: list[Installment], today: date) -> str:
    """An open invoice's status from its money and dates: paid, overdue, partial, viewed or sent."""
    if invoice.balance_due == 0:
        return InvoiceStatus.PAID
    if _is_late(invoice, installments, today):
        return InvoiceStatus.OVERDUE
    if invoice.amount_paid > 0:
        return InvoiceStatus.PARTIAL
    return InvoiceStatus.VIEWED if invoice.viewed_at else InvoiceStatus.SENT


# --- drafts ------------------------------------------------------------------------------------


@transaction.atomic
def invoice_create(
    *,
    client,
    items=(),
    case=None,
    lawyer=None,
    issue_date: date | None = None,
    payment_terms: str | None = None,
    currency: str = "SAR",
    vat_rate: Decimal | None = None,
    notes: str = "",
    actor=None,
    now: datetime | None = None,
) -> Invoice:
    """A draft with its lines and totals, numbered from the firm-local day's counter.

    Validation comes first and takes no lock; the counter row is then the first lock taken.
    """
    defaults = billing_settings()
    today = firm_today(now)
    invoice = Invoice(
        client=client,
        case=case,
        lawyer=lawyer or (case.lawyer if case is not None else None),
        issue_date=issue_date or today,
        payment_terms=payment_terms or defaults.payment_terms,
        currency=(currency or "SAR").upper(),
        vat_rate=defaults.vat_rate if vat_rate is None else vat_rate,
        notes=notes or "",
        created_by=_user(actor),
        invoice_number="INV-pending",
    )
    _check_header(invoice)
    built = _build_items(items)
    _apply_totals(invoice, built)
    invoice.due_date = due_date_for(invoice.issue_date, invoice.payment_terms)
    invoice.full_clean(exclude=["invoice_number"], validate_unique=False)
    invoice.invoice_number = _next_number(today)
    invoice.save()
    for item in built:
        item.invoice = invoice
    InvoiceItem.objects.bulk_create(built)
    _audit(invoice, action="create", before=None, actor=actor)
    _timeline(invoice, action="created", actor=actor, occurred_at=now)
    return invoice


@transaction.atomic
def invoice_update(*, invoice: Invoice, data: dict, items=None, actor=None) -> Invoice:
    """Change a draft: the fields ``data`` names (of ``EDITABLE``) and, with ``items``, every line."""
    locked = _lock(invoice, "edit", (InvoiceStatus.DRAFT,))
    before = _snapshot(locked)
    unknown = set(data) - set(EDITABLE)
    if unknown:
        raise ValidationError({name: ["Not editable here."] for name in sorted(unknown)})
    for name, value in data.items():
        setattr(locked, name, value.upper() if name == "currency" and isinstance(value, str) else value)
    if "case" in data and "lawyer" not in data and locked.lawyer_id is None and locked.case is not None:
        locked.lawyer = locked.case.lawyer
    _check_header(locked)
    if items is not None:
        built = _build_items(items)
        InvoiceItem.objects.filter(invoice=locked).delete()
        for item in built:
            item.invoice = locked
        InvoiceItem.objects.bulk_create(built)
    else:
        built = list(locked.items.order_by("position"))
    _apply_totals(locked, built)
    locked.due_date = due_date_for(locked.issue_date, locked.payment_terms)
    locked.full_clean(validate_unique=False)
    locked.save()
    after = _snapshot(locked, built)
    audit_record(action="update", instance=locked, before=before, after=after, case_id=locked.case_id, actor=actor)
    copy_saved(locked, invoice)
    return invoice


# --- actions -----------------------------------------------------------------------------------


@transaction.atomic
def invoice_submit(*, invoice: Invoice, actor=None, now: datetime | None = None) -> Invoice:
    locked = _lock(invoice, "submit", (InvoiceStatus.DRAFT,))
    if locked.total_amount <= 0 or not locked.items.exists():
        raise TransitionError(ERROR_EMPTY)
    before, now = _snapshot(locked), now or timezone.now()
    locked.status, locked.submitted_at = InvoiceStatus.PENDING_APPROVAL, now
    locked.save(update_fields=["status", "submitted_at", "updated_at"])
    _audit(locked, action="submit_invoice", before=before, actor=actor)
    _timeline(locked, action="submitted", actor=actor, occurred_at=now)
    return locked


@transaction.atomic
def invoice_approve(*, invoice: Invoice, actor=None, now: datetime | None = None) -> Invoice:
    """Approve and issue: the next ICV, the seller as it stands, the hash chained to the previous one."""
    _require(actor, PERM_APPROVE)
    locked = _lock(invoice, "approve", (InvoiceStatus.PENDING_APPROVAL,))
    if locked.approved_at is not None:
        raise TransitionError(ERROR_APPROVED)
    before = _snapshot(locked)
    now = now or timezone.now()
    items = list(locked.items.order_by("position"))
    firm = firm_current()
    # The chain head last among this service's rows: it is every approver's, held to COMMIT so ICVs
    # follow commit order without gaps (a rolled-back approval gives its ICV to the next one).
    head = ZatcaChainHead.objects.select_for_update().get()
    locked.icv = head.icv + 1
    locked.previous_hash = head.last_hash or zatca.FIRST_PREVIOUS_HASH
    locked.issued_at = now
    locked.seller_name, locked.seller_vat_number = firm.name, firm.vat_number
    locked.invoice_hash = zatca.invoice_hash(locked, items)
    locked.approved_at, locked.approved_by = now, _user(actor)
    locked.save()
    head.icv, head.last_hash = locked.icv, locked.invoice_hash
    head.save(update_fields=["icv", "last_hash"])
    _audit(locked, action="approve_invoice", before=before, actor=actor)
    _timeline(locked, action="approved", actor=actor, occurred_at=now)
    return locked


def _open_change(locked: Invoice, *, status: str, stamp: str, action: str, audit_action: str, actor, now) -> Invoice:
    """Move an invoice to ``status``, with its rollup shares, audit event and timeline entry."""
    before, shares, now = _snapshot(locked), rollups.invoice_shares(locked), now or timezone.now()
    locked.status = status
    setattr(locked, stamp, now)
    locked.save(update_fields=["status", stamp, "updated_at"])
    rollups.rollup_change(shares, rollups.invoice_shares(locked))
    _audit(locked, action=audit_action, before=before, actor=actor)
    _timeline(locked, action=action, actor=actor, occurred_at=now)
    return locked


@transaction.atomic
def invoice_send(*, invoice: Invoice, actor=None, now: datetime | None = None) -> Invoice:
    locked = _lock(invoice, "send", (InvoiceStatus.PENDING_APPROVAL,))
    if locked.approved_at is None:
        raise TransitionError(ERROR_NOT_APPROVED)
    return _open_change(
        locked,
        status=InvoiceStatus.SENT,
        stamp="sent_at",
        action="sent",
        audit_action="send_invoice",
        actor=actor,
        now=now,
    )


@transaction.atomic
def invoice_mark_viewed(*, invoice: Invoice, actor=None, now: datetime | None = None) -> Invoice:
    locked = _lock(invoice, "mark_viewed", (InvoiceStatus.SENT,))
    return _open_change(
        locked,
        status=InvoiceStatus.VIEWED,
        stamp="viewed_at",
        action="viewed",
        audit_action="view_invoice",
        actor=actor,
        now=now,
    )


@transaction.atomic
def invoice_write_off(*, invoice: Invoice, actor=None, now: datetime | None = None) -> Invoice:
    """Forgive the balance: no longer outstanding, its reminders cancelled; the amounts stay as they were."""
    _require(actor, PERM_WRITE_OFF)
    locked = _lock(invoice, "write_off", OPEN_STATUSES)
    installments = _installments(locked)
    _open_change(
        locked,
        status=InvoiceStatus.WRITTEN_OFF,
        stamp="written_off_at",
        action="written_off",
        audit_action="write_off_invoice",
        actor=actor,
        now=now,
    )
    for installment in installments:
        if installment.reminder_id and installment.reminder.state == ActivityState.SCHEDULED:
            activities.activity_cancel(activity=installment.reminder, actor=actor)
    return locked


# --- payments and plans ------------------------------------------------------------------------


def _allocate(installments: list[Installment], amount: Decimal, today: date) -> list[Installment]:
    """Fill the oldest unpaid installments first; returns those that changed."""
    remaining, touched = amount, []
    for installment in installments:
        owed = installment.amount - installment.amount_paid
        if remaining <= 0 or owed <= 0:
            continue
        taken = min(owed, remaining)
        installment.amount_paid += taken
        remaining -= taken
        if installment.amount_paid == installment.amount:
            installment.status = InstallmentStatus.PAID
        elif installment.due_date < today:
            installment.status = InstallmentStatus.OVERDUE
        else:
            installment.status = InstallmentStatus.PARTIAL
        touched.append(installment)
    return touched


@transaction.atomic
def payment_record(
    *,
    invoice: Invoice,
    amount: Decimal,
    paid_at: datetime | None = None,
    method: str,
    reference: str = "",
    actor=None,
    now: datetime | None = None,
) -> Payment:
    """Record money received; the locked invoice row makes concurrent payments queue, so none overpays.

    More than the balance is a 409 and writes nothing. The amount fills the plan's installments
    oldest first; the invoice becomes partial, paid, or stays overdue while something is late.
    """
    errors = {}
    _check_amount(errors, "amount", amount, positive=True)
    if paid_at is not None and timezone.is_naive(paid_at):
        errors["paid_at"] = ERROR_NAIVE
    if method not in PaymentMethod.values:
        errors["method"] = f"One of: {', '.join(PaymentMethod.values)}."
    if errors:
        raise ValidationError(errors)
    now = now or timezone.now()
    locked = _lock(invoice, "pay", OPEN_STATUSES)
    if amount > locked.balance_due:
        raise TransitionError(
            ERROR_OVERPAY.format(amount=_money(amount), balance=_money(locked.balance_due), currency=locked.currency)
        )
    installments = _installments(locked)
    before, shares = _snapshot(locked), rollups.invoice_shares(locked)
    payment = Payment(
        invoice=locked, amount=amount, paid_at=paid_at or now, method=method, reference=reference or "",
        recorded_by=_user(actor),
    )  # fmt: skip
    payment.full_clean()
    payment.save()
    today = firm_today(now)
    touched = _allocate(installments, amount, today)
    for installment in touched:
        installment.save(update_fields=["amount_paid", "status"])
    locked.amount_paid += amount
    locked.balance_due = locked.total_amount - locked.amount_paid
    locked.status = _settled_status(locked, installments, today)
    if locked.status == InvoiceStatus.PAID:
        locked.paid_at = payment.paid_at
    locked.save(update_fields=["amount_paid", "balance_due", "status", "paid_at", "updated_at"])
    rollups.rollup_change(shares, rollups.invoice_shares(locked))
    rollups.rollup_change({}, rollups.payment_share(payment, locked.currency))
    _audit(locked, action="record_payment", before=before, actor=actor, extra={"payment": snapshot(payment)})
    with in_firm_language():
        title = str(TITLES["payment"]).format(
            amount=_money(amount), currency=locked.currency, number=locked.invoice_number
        )
    entry_record(
        kind="payment",
        subject=locked,
        title=title,
        occurred_at=payment.paid_at,
        related=[record for record in (locked.client, locked.case) if record is not None],
        performed_by=actor_user(actor),
        status=locked.status,
        payload={
            "invoice_id": locked.pk,
            "invoice_number": locked.invoice_number,
            "amount": _money(amount),
            "currency": locked.currency,
            "method": method,
            "paid_at": payment.paid_at.isoformat(),
            "reference": payment.reference,
        },
        actor=actor,
    )
    feedback = _in_firm_language(PAID_FEEDBACK)
    for installment in touched:
        reminder = installment.reminder
        if installment.status == InstallmentStatus.PAID and reminder and reminder.state == ActivityState.SCHEDULED:
            activities.activity_complete(activity=reminder, feedback=feedback, actor=actor, now=now)
    return payment


@transaction.atomic
def payment_plan_create(*, invoice: Invoice, installments: int, actor=None, now: datetime | None = None) -> PaymentPlan:
    """Split the balance into monthly installments, equal to the halala, the remainder on the last.

    The first falls on the invoice's due date (today if that has passed), then one a month; the
    invoice's due date becomes the last one's.
    """
    if installments not in PLAN_SIZES:
        raise ValidationError({"installments": [ERROR_PLAN_SIZE]})
    now = now or timezone.now()
    locked = _lock(invoice, "plan", OPEN_STATUSES)
    if PaymentPlan.objects.filter(invoice=locked).exists():
        raise TransitionError(ERROR_PLAN_EXISTS)
    if locked.balance_due <= 0:
        raise TransitionError(ERROR_NOTHING_DUE)
    before, shares = _snapshot(locked), rollups.invoice_shares(locked)
    today = firm_today(now)
    first = max(locked.due_date, today)
    plan = PaymentPlan.objects.create(
        invoice=locked, installments_count=installments, amount=locked.balance_due, created_by=_user(actor)
    )
    rows = [
        Installment(plan=plan, number=number, due_date=first + relativedelta(months=number - 1), amount=amount)
        for number, amount in enumerate(money.split(locked.balance_due, installments), start=1)
    ]
    Installment.objects.bulk_create(rows)
    locked.due_date = rows[-1].due_date
    locked.status = _settled_status(locked, rows, today)
    locked.save(update_fields=["due_date", "status", "updated_at"])
    rollups.rollup_change(shares, rollups.invoice_shares(locked))
    plan_data = {
        "installments": installments,
        "schedule": [[row.due_date.isoformat(), _money(row.amount)] for row in rows],
    }
    _audit(locked, action="create_payment_plan", before=before, actor=actor, extra={"payment_plan": plan_data})
    _timeline(locked, action="plan", actor=actor, count=installments, occurred_at=now)
    return plan


# --- the sweep: overdue and installment reminders ----------------------------------------------


@dataclass
class SweepRun:
    """What one pass of the billing sweep did in a firm."""

    invoices_overdue: int = 0
    installments_overdue: int = 0
    reminders: int = 0
    folded: int = 0
    skipped: list[int] = field(default_factory=list)  # invoices locked by a writer: the next tick takes them


def _unpaid_installments(today: date, horizon: date | None = None):
    unpaid = Installment.objects.filter(
        plan__invoice=OuterRef("pk"), status__in=(InstallmentStatus.PENDING, InstallmentStatus.PARTIAL)
    )
    if horizon is None:
        return unpaid.filter(due_date__lt=today)
    return unpaid.filter(due_date__gte=today, due_date__lte=horizon, reminder__isnull=True)


def _lock_for_sweep(pk: int) -> Invoice | None:
    """The open invoice under its lock, or None when a writer holds it (SKIP LOCKED: never wait)."""
    return (
        Invoice.objects.select_for_update(no_key=True, skip_locked=True, of=("self",))
        .select_related("client", "case", "lawyer", "created_by")
        .filter(pk=pk, status__in=OPEN_STATUSES)
        .first()
    )


@transaction.atomic
def _invoice_overdue(pk: int, today: date, run: SweepRun) -> None:
    locked = _lock_for_sweep(pk)
    if locked is None:
        run.skipped.append(pk)
        return
    installments = _installments(locked)
    for installment in installments:
        late = installment.due_date < today and installment.status in (
            InstallmentStatus.PENDING,
            InstallmentStatus.PARTIAL,
        )
        if late:
            before = snapshot(installment)
            installment.status = InstallmentStatus.OVERDUE
            installment.save(update_fields=["status"])
            audit_record(
                action="mark_overdue_installment",
                instance=installment,
                before=before,
                after=snapshot(installment),
                case_id=locked.case_id,
            )
            _timeline(locked, action="installment_overdue", actor=None, installment=installment.number)
            run.installments_overdue += 1
    status = _settled_status(locked, installments, today)
    if status == InvoiceStatus.OVERDUE and locked.status != InvoiceStatus.OVERDUE:
        before = _snapshot(locked)
        locked.status = InvoiceStatus.OVERDUE
        locked.save(update_fields=["status", "updated_at"])
        _audit(locked, action="mark_overdue_invoice", before=before, actor=None)
        _timeline(locked, action="overdue", actor=None)
        run.invoices_overdue += 1


def _installment_type() -> ActivityType:
    name = _in_firm_language(INSTALLMENT_TYPE)
    existing = ActivityType.objects.filter(name=name).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return activities.activity_type_create(instance=ActivityType(name=name, icon="credit-card"))
    except (IntegrityError, ValidationError):  # another worker made it a moment ago
        return ActivityType.objects.get(name=name)


@transaction.atomic
def _invoice_remind(pk: int, today: date, horizon: date, run: SweepRun) -> None:
    """Schedule one activity per installment falling due, assigned to the invoice's lawyer.

    The activities' reminder ledger then mails and notifies that lawyer once per deadline (ADR 0020);
    the installment keeps its activity, so it is never scheduled twice.
    """
    locked = _lock_for_sweep(pk)
    if locked is None:
        run.skipped.append(pk)
        return
    assignee = locked.lawyer or (locked.case.lawyer if locked.case else None) or locked.created_by
    if assignee is None or not assignee.is_active:
        return
    plan = PaymentPlan.objects.get(invoice=locked)
    for installment in _installments(locked):
        due = installment.status in (InstallmentStatus.PENDING, InstallmentStatus.PARTIAL)
        if not due or installment.reminder_id or not today <= installment.due_date <= horizon:
            continue
        summary = _in_firm_language(
            INSTALLMENT_SUMMARY,
            installment=installment.number,
            count=plan.installments_count,
            number=locked.invoice_number,
            amount=_money(installment.amount - installment.amount_paid),
            currency=locked.currency,
        )
        installment.reminder = activities.activity_schedule(
            subject=locked,
            type=_installment_type(),
            assignee=assignee,
            summary=summary[:300],
            deadline=installment.due_date,
            automated=True,
        )
        installment.save(update_fields=["reminder"])
        run.reminders += 1


def billing_sweep(*, now: datetime | None = None) -> SweepRun:
    """Turn late invoices and installments overdue by the firm's today, arm installment reminders,
    fold the stats' deltas. One short transaction per invoice; safe to run concurrently (SKIP LOCKED).
    """
    today = firm_today(now)
    horizon = today + timedelta(days=REMINDER_HORIZON_DAYS)
    run = SweepRun()
    late = (
        Invoice.objects.filter(status__in=OPEN_STATUSES)
        .filter(
            Q(~Q(status=InvoiceStatus.OVERDUE), due_date__lt=today, payment_plan__isnull=True)
            | Q(Exists(_unpaid_installments(today)))
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for pk in list(late):
        _invoice_overdue(pk, today, run)
    falling_due = (
        Invoice.objects.filter(status__in=OPEN_STATUSES)
        .filter(Exists(_unpaid_installments(today, horizon)))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for pk in list(falling_due):
        _invoice_remind(pk, today, horizon, run)
    run.folded = rollups.rollup_fold()
    return run


@transaction.atomic
def billing_settings_update(*, data: dict, actor=None) -> BillingSettings:
    locked = BillingSettings.objects.select_for_update(no_key=True).get(pk=billing_settings().pk)
    before = snapshot(locked)
    apply_changes(locked, data)
    audit_record(action="update", instance=locked, before=before, after=snapshot(locked), actor=actor)
    return locked
