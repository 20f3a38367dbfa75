"""A year of demo invoices in every state, with plans and payments, some overdue.

Idempotent: a firm that already has invoices gets none. Invoices are made in date order through the
services, each action at its own moment of the past year, so numbers, ICVs and the timeline follow the
calendar; the sweep then turns the late ones overdue by today's date.
"""

from datetime import datetime, time, timedelta
from decimal import Decimal

from django.utils import timezone

from billing import services
from billing.models import Invoice
from timeline.activities.deadlines import firm_today
from timeline.rollups import firm_tz
from traf3li.crm.models import Case
from traf3li.firms.services import firm_update
from traf3li.users.models import User

DEMO_INVOICES = 72
# Example VAT numbers in the Saudi format (15 digits, starting and ending with 3): demo-only.
VAT_NUMBERS = {"acme": "300000000000003", "nour": "311111111100003"}
TIME_LINES = [
    ("Review of the employment contract", "مراجعة عقد العمل", "L120", "A104"),
    ("Drafting the statement of claim", "صياغة لائحة الدعوى", "L210", "A103"),
    ("Hearing attendance", "حضور الجلسة", "L450", "A109"),
    ("Call with the client about settlement", "مكالمة مع العميل بشأن التسوية", "L160", "A106"),
    ("Legal research on the lease dispute", "بحث قانوني في نزاع الإيجار", "L120", "A102"),
    ("Preparing the witness list", "تجهيز قائمة الشهود", "L410", "A101"),
]
EXPENSES = [("Court fees", "رسوم المحكمة", "E112"), ("Delivery services", "خدمات التوصيل", "E107")]
# What happens to each invoice after it is drafted; the weights give a believable spread.
FATES = ["draft"] * 3 + ["pending"] * 2 + ["approved"] + ["sent"] * 6 + ["viewed"] * 3 + ["partial"] * 4
FATES += ["paid"] * 12 + ["plan"] * 4 + ["written_off"] + ["late"] * 4


def _lines(rng, arabic: bool) -> list[dict]:
    lines = []
    for english, translated, task, activity in rng.sample(TIME_LINES, rng.randint(1, 3)):
        hours = Decimal(rng.choice(["0.50", "1.00", "1.50", "2.25", "3.00", "4.75"]))
        rate = Decimal(rng.choice(["450.00", "600.00", "850.00", "1200.00"]))
        lines.append({"type": "time", "description": translated if arabic else english, "quantity": hours,
                      "unit_price": rate, "task_code": task, "activity_code": activity})  # fmt: skip
    if rng.random() < 0.4:
        english, translated, code = rng.choice(EXPENSES)
        lines.append({"type": "expense", "description": translated if arabic else english, "quantity": Decimal("1"),
                      "unit_price": Decimal(rng.choice(["150.00", "320.50", "1000.00"])), "activity_code": code,
                      "vat_category": "zero_rated" if code == "E112" else "standard"})  # fmt: skip
    if rng.random() < 0.15:
        lines.append({"type": "discount", "description": "خصم" if arabic else "Loyalty discount",
                      "quantity": Decimal("1"), "unit_price": Decimal("100.00")})  # fmt: skip
    return lines


def _moment(day, rng, tz) -> datetime:
    return datetime.combine(day, time(rng.randint(8, 16), rng.randint(0, 59)), tzinfo=tz)


def seed(firm, rng) -> None:
    if Invoice.objects.exists():
        return
    if not firm.vat_number and firm.slug in VAT_NUMBERS:
        firm = firm_update(firm=firm, data={"vat_number": VAT_NUMBERS[firm.slug]})
    lawyer = User.objects.filter(username="lawyer").first()
    approver = User.objects.filter(username="admin").first()
    cases = list(Case.objects.select_related("client").order_by("pk")[:40])
    if not cases or approver is None:
        return
    tz, today, arabic = firm_tz(), firm_today(), firm.language == "ar"
    # Every fate at least once, the rest by weight; open ones recent enough not to be late yet.
    fates = sorted(set(FATES)) + [rng.choice(FATES) for _ in range(DEMO_INVOICES - len(set(FATES)))]
    plans = []
    for fate in fates:
        day = today - timedelta(days=rng.randint(1, 365))
        if fate == "late":  # issued long enough ago to be past its terms, and never paid
            day = today - timedelta(days=rng.randint(20, 150))
        elif fate in ("sent", "viewed", "partial"):
            day = today - timedelta(days=rng.randint(0, 12))
        plans.append((day, fate))
    for day, fate in sorted(plans):
        case = rng.choice(cases)
        at = _moment(day, rng, tz)
        invoice = services.invoice_create(
            client=case.client, case=case, lawyer=lawyer, items=_lines(rng, arabic), issue_date=day,
            payment_terms=rng.choice(["net_15", "net_30", "net_30", "net_60"] if fate != "late" else ["net_7"]),
            actor=approver, now=at,
        )  # fmt: skip
        steps = {"draft": 0, "pending": 1, "approved": 2}.get(fate, 3)
        for step, action in enumerate((services.invoice_submit, services.invoice_approve, services.invoice_send)):
            if step < steps:
                at += timedelta(hours=rng.randint(1, 30))
                action(invoice=invoice, actor=approver, now=min(at, timezone.now()))
        at = min(at + timedelta(days=rng.randint(1, 20)), timezone.now())
        if fate == "viewed":
            services.invoice_mark_viewed(invoice=invoice, actor=approver, now=at)
        elif fate in ("partial", "paid"):
            invoice.refresh_from_db()
            amount = invoice.balance_due if fate == "paid" else (invoice.balance_due / 3).quantize(Decimal("0.01"))
            method = rng.choice(["bank_transfer", "bank_transfer", "card", "sadad"])
            services.payment_record(invoice=invoice, amount=amount, paid_at=at, method=method, actor=approver, now=at)
        elif fate == "plan":
            plan = services.payment_plan_create(
                invoice=invoice, installments=rng.choice([2, 3, 4, 6, 12]), actor=approver, now=at
            )
            first = plan.installments.order_by("number").first()
            if rng.random() < 0.5 and first.due_date <= today:
                paid_at = min(_moment(first.due_date, rng, tz), timezone.now())
                services.payment_record(
                    invoice=invoice, amount=first.amount, paid_at=paid_at, method="bank_transfer", actor=approver
                )
        elif fate == "written_off":
            services.invoice_write_off(invoice=invoice, actor=approver, now=at)
    services.billing_sweep()
