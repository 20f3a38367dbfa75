"""The billing services: drafts, every transition allowed and forbidden, payments, plans, the sweep."""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from audit.models import AuditEvent
from billing import services
from billing.models import Installment, Invoice
from billing.tests.factories import CaseFactory, ClientFactory, draft, expense_item, issued, time_item
from conftest import make_user
from timeline.activities.deadlines import firm_today
from timeline.models import Entry, EntryLink
from traf3li.api.exceptions import TransitionError

D = Decimal
RIYADH = ZoneInfo("Asia/Riyadh")
pytestmark = pytest.mark.usefixtures("in_firm_a")


@pytest.fixture
def actor(admin_a):
    return admin_a


def test_a_draft_is_numbered_totalled_and_due_by_its_terms(actor):
    # given a time line, an expense and a discount, net 30
    client = ClientFactory()
    items = [
        time_item(hours="1.50", rate="800.00"),  # 1200.00
        expense_item(amount="250.00"),
        {"type": "discount", "description": "Loyalty", "quantity": D("1"), "unit_price": D("100.00")},
    ]
    # when
    invoice = draft(client=client, items=items, payment_terms="net_30", actor=actor)
    # then
    today = firm_today()
    assert invoice.invoice_number.startswith(f"INV-{today:%Y%m%d}-")
    assert len(invoice.invoice_number) == len("INV-YYYYMMDD-NNN")
    assert (invoice.subtotal, invoice.vat_amount, invoice.total_amount) == (D("1350.00"), D("202.50"), D("1552.50"))
    assert invoice.balance_due == invoice.total_amount and invoice.amount_paid == 0
    assert invoice.due_date == invoice.issue_date + timedelta(days=30)
    assert invoice.vat_rate == D("15.00") and invoice.currency == "SAR"
    assert [i.amount for i in invoice.items.order_by("position")] == [D("1200.00"), D("250.00"), D("-100.00")]


def test_numbers_follow_each_other_within_the_firms_day(actor):
    first, second = draft(actor=actor), draft(actor=actor)
    assert int(second.invoice_number[-3:]) == int(first.invoice_number[-3:]) + 1


def test_the_day_of_the_number_is_the_firms(actor):
    # 23:30 UTC on 1 March is already 2 March in Riyadh
    invoice = services.invoice_create(
        client=ClientFactory(),
        items=[time_item()],
        actor=actor,
        now=datetime(2026, 3, 1, 23, 30, tzinfo=ZoneInfo("UTC")),
    )
    assert invoice.invoice_number.startswith("INV-20260302-")
    assert invoice.issue_date.isoformat() == "2026-03-02"


@pytest.mark.parametrize(
    ("item", "field"),
    [
        (time_item(task_code=""), "1.task_code"),
        (time_item(activity_code="E101"), "1.activity_code"),
        (expense_item(code="A101"), "1.activity_code"),
        (time_item(hours="1.005"), "1.quantity"),
        (time_item(rate="-1.00"), "1.unit_price"),
        (time_item(hours="0"), "1.quantity"),
        ({**time_item(), "type": "hourly"}, "1.type"),
    ],
)
def test_a_bad_line_is_refused_and_nothing_is_numbered(actor, item, field):
    before = Invoice.objects.count()
    with pytest.raises(ValidationError) as raised:
        draft(items=[item], actor=actor)
    assert any(message.startswith(field) for message in raised.value.message_dict["items"])
    assert Invoice.objects.count() == before


def test_a_case_of_another_client_is_refused(actor):
    with pytest.raises(ValidationError) as raised:
        draft(client=ClientFactory(), case=CaseFactory(), actor=actor)
    assert "case" in raised.value.message_dict


def test_discounts_may_not_exceed_the_lines(actor):
    discount = {"type": "discount", "description": "Too much", "quantity": D("1"), "unit_price": D("5000")}
    with pytest.raises(ValidationError):
        draft(items=[time_item(), discount], actor=actor)


def test_the_database_refuses_totals_that_dont_add_up(actor):
    invoice = draft(actor=actor)
    for change in ({"total_amount": invoice.total_amount + 1}, {"balance_due": D("0.01")}):
        with pytest.raises(IntegrityError), transaction.atomic():
            Invoice.objects.filter(pk=invoice.pk).update(**change)


def test_a_firms_own_vat_rate_is_the_default(actor):
    services.billing_settings_update(data={"vat_rate": D("5.00")}, actor=actor)
    invoice = draft(items=[time_item(hours="1", rate="100.10")], actor=actor)
    assert (invoice.vat_rate, invoice.vat_amount) == (D("5.00"), D("5.01"))  # 5.005 rounds up


def test_a_zero_rated_line_carries_no_vat(actor):
    invoice = draft(items=[time_item(), expense_item(vat_category="zero_rated")], actor=actor)
    assert invoice.vat_amount == D("150.00")  # 15 % of the time line only


def test_only_drafts_are_edited(actor):
    invoice = draft(actor=actor)
    services.invoice_update(invoice=invoice, data={"notes": "Revised"}, items=[time_item(hours="3")], actor=actor)
    assert (invoice.notes, invoice.total_amount) == ("Revised", D("1725.00"))
    services.invoice_submit(invoice=invoice, actor=actor)
    with pytest.raises(TransitionError):
        services.invoice_update(invoice=invoice, data={"notes": "Late"}, actor=actor)
    invoice.refresh_from_db()
    assert invoice.notes == "Revised"


# --- the state machine ---------------------------------------------------------------------------

STATES = ("draft", "pending", "approved", "sent", "viewed", "partial", "overdue", "paid", "written_off")
ACTIONS = ("submit", "approve", "send", "mark_viewed", "write_off", "pay", "plan")
ALLOWED = {
    "draft": {"submit"},
    "pending": {"approve"},
    "approved": {"send"},
    "sent": {"mark_viewed", "write_off", "pay", "plan"},
    "viewed": {"write_off", "pay", "plan"},
    "partial": {"write_off", "pay", "plan"},
    "overdue": {"write_off", "pay", "plan"},
    "paid": set(),
    "written_off": set(),
}


def in_state(state: str, actor) -> Invoice:
    if state == "overdue":
        invoice = issued(actor=actor, issue_date=firm_today() - timedelta(days=40), payment_terms="net_7")
        services.billing_sweep()
        invoice.refresh_from_db()
        return invoice
    invoice = draft(actor=actor)
    steps = {
        "pending": ["submit"],
        "approved": ["submit", "approve"],
        "sent": ["submit", "approve", "send"],
        "viewed": ["submit", "approve", "send", "mark_viewed"],
        "partial": ["submit", "approve", "send", "pay_some"],
        "paid": ["submit", "approve", "send", "pay_all"],
        "written_off": ["submit", "approve", "send", "write_off"],
    }.get(state, [])
    for step in steps:
        act(step, invoice, actor)
    invoice.refresh_from_db()
    return invoice


def act(action: str, invoice: Invoice, actor):
    if action.startswith("pay"):
        invoice.refresh_from_db()
        amount = {"pay_some": D("1.00"), "pay_all": invoice.balance_due, "pay": D("10.00")}[action]
        return services.payment_record(invoice=invoice, amount=amount, method="cash", actor=actor)
    if action == "plan":
        return services.payment_plan_create(invoice=invoice, installments=2, actor=actor)
    return getattr(services, f"invoice_{action}")(invoice=invoice, actor=actor)


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("action", ACTIONS)
def test_every_transition(actor, state, action):
    invoice = in_state(state, actor)
    before = Invoice.objects.values().get(pk=invoice.pk)
    events = AuditEvent.objects.count()
    if action in ALLOWED[state]:
        act(action, invoice, actor)
        assert Invoice.objects.get(pk=invoice.pk).updated_at > before["updated_at"]
    else:
        # a forbidden transition is a 409 and changes nothing
        with pytest.raises(TransitionError):
            act(action, invoice, actor)
        assert Invoice.objects.values().get(pk=invoice.pk) == before
        assert AuditEvent.objects.count() == events


def test_the_statuses_the_actions_lead_to(actor):
    invoice = draft(actor=actor)
    seen = [invoice.status]
    for action in ("submit", "approve", "send", "mark_viewed"):
        seen.append(act(action, invoice, actor).status)
    services.payment_record(invoice=invoice, amount=D("100.00"), method="card", actor=actor)
    invoice.refresh_from_db()
    seen.append(invoice.status)
    services.payment_record(invoice=invoice, amount=invoice.balance_due, method="card", actor=actor)
    invoice.refresh_from_db()
    seen.append(invoice.status)
    assert seen == ["draft", "pending_approval", "pending_approval", "sent", "viewed", "partial", "paid"]
    assert invoice.balance_due == 0 and invoice.paid_at is not None


def test_an_empty_draft_cant_be_submitted(actor):
    with pytest.raises(TransitionError):
        services.invoice_submit(invoice=draft(items=[], actor=actor), actor=actor)


def test_staff_neither_approve_nor_write_off(actor, staff_a, lawyer_a):
    invoice = draft(actor=actor)
    services.invoice_submit(invoice=invoice, actor=staff_a)
    with pytest.raises(PermissionDenied):
        services.invoice_approve(invoice=invoice, actor=staff_a)
    services.invoice_approve(invoice=invoice, actor=lawyer_a)
    services.invoice_send(invoice=invoice, actor=staff_a)
    with pytest.raises(PermissionDenied):
        services.invoice_write_off(invoice=invoice, actor=staff_a)
    assert services.invoice_write_off(invoice=invoice, actor=lawyer_a).status == "written_off"


# --- payments and plans --------------------------------------------------------------------------


def test_an_overpayment_is_refused_and_changes_nothing(actor):
    invoice = issued(actor=actor)
    with pytest.raises(TransitionError):
        services.payment_record(invoice=invoice, amount=invoice.total_amount + D("0.01"), method="cash", actor=actor)
    invoice.refresh_from_db()
    assert invoice.amount_paid == 0 and not invoice.payments.exists()


@pytest.mark.parametrize("amount", [D("0"), D("-5"), D("1.001"), D("NaN")])
def test_a_bad_amount_is_a_validation_error(actor, amount):
    with pytest.raises(ValidationError):
        services.payment_record(invoice=issued(actor=actor), amount=amount, method="cash", actor=actor)


@pytest.mark.parametrize("count", [2, 3, 4, 6, 12])
def test_a_plan_sums_exactly_to_the_balance_monthly(actor, count):
    invoice = issued(actor=actor, items=[time_item(hours="1", rate="1000.01")])  # 1150.01
    services.payment_record(invoice=invoice, amount=D("0.02"), method="cash", actor=actor)
    plan = services.payment_plan_create(invoice=invoice, installments=count, actor=actor)
    installments = list(plan.installments.order_by("number"))
    assert sum(i.amount for i in installments) == D("1149.99")
    assert len({i.amount for i in installments[:-1]}) == 1 and installments[-1].amount >= installments[0].amount
    months = [(i.due_date.year * 12 + i.due_date.month) for i in installments]
    assert months == list(range(months[0], months[0] + count))
    invoice.refresh_from_db()
    assert invoice.due_date == installments[-1].due_date


def test_a_plan_size_outside_the_list_is_refused(actor):
    with pytest.raises(ValidationError):
        services.payment_plan_create(invoice=issued(actor=actor), installments=5, actor=actor)


def test_a_second_plan_is_refused(actor):
    invoice = issued(actor=actor)
    services.payment_plan_create(invoice=invoice, installments=2, actor=actor)
    with pytest.raises(TransitionError):
        services.payment_plan_create(invoice=invoice, installments=3, actor=actor)


def test_payments_fill_the_oldest_installments_first(actor):
    invoice = issued(actor=actor, items=[time_item(hours="1", rate="300.00")])  # 345.00
    services.payment_plan_create(invoice=invoice, installments=3, actor=actor)  # 115.00 each
    services.payment_record(invoice=invoice, amount=D("150.00"), method="bank_transfer", actor=actor)
    statuses = list(
        Installment.objects.filter(plan__invoice=invoice).order_by("number").values_list("status", "amount_paid")
    )
    assert statuses == [("paid", D("115.00")), ("partial", D("35.00")), ("pending", D("0.00"))]
    services.payment_record(invoice=invoice, amount=D("195.00"), method="bank_transfer", actor=actor)
    invoice.refresh_from_db()
    assert invoice.status == "paid"
    assert set(Installment.objects.filter(plan__invoice=invoice).values_list("status", flat=True)) == {"paid"}


# --- timeline and audit --------------------------------------------------------------------------


def test_each_action_is_on_the_invoices_the_clients_and_the_cases_timeline(actor):
    case = CaseFactory()
    invoice = issued(case=case, actor=actor)
    services.payment_record(invoice=invoice, amount=D("50.00"), method="cash", actor=actor)
    entries = Entry.objects.filter(subject_type="invoice", subject_id=invoice.pk)
    assert list(entries.order_by("id").values_list("payload__action", flat=True)) == [
        "created", "submitted", "approved", "sent", None,
    ]  # fmt: skip
    assert entries.filter(kind="payment").count() == 1
    for subject_type, subject_id in (("client", case.client_id), ("case", case.pk), ("invoice", invoice.pk)):
        linked = EntryLink.objects.filter(subject_type=subject_type, subject_id=subject_id, entry__in=entries)
        assert linked.count() == 5
    actions = set(
        AuditEvent.objects.filter(entity_type="invoice", entity_id=invoice.pk).values_list("action", "case_id")
    )
    assert actions == {
        (action, case.pk)
        for action in ("create", "submit_invoice", "approve_invoice", "send_invoice", "record_payment")
    }


# --- the sweep -----------------------------------------------------------------------------------


def test_invoices_turn_overdue_on_the_firms_day(actor):
    # given an invoice due on 10 March
    invoice = issued(actor=actor, issue_date=datetime(2026, 3, 1).date(), payment_terms="net_7")
    invoice.due_date = datetime(2026, 3, 8).date()
    Invoice.objects.filter(pk=invoice.pk).update(due_date=invoice.due_date)
    # when the sweep runs at 23:30 on 8 March Riyadh time, nothing is late yet
    services.billing_sweep(now=datetime(2026, 3, 8, 23, 30, tzinfo=RIYADH))
    invoice.refresh_from_db()
    assert invoice.status == "sent"
    # then at 00:30 on 9 March Riyadh time (still 8 March in UTC) it is
    run = services.billing_sweep(now=datetime(2026, 3, 9, 0, 30, tzinfo=RIYADH))
    invoice.refresh_from_db()
    assert invoice.status == "overdue" and run.invoices_overdue >= 1
    assert AuditEvent.objects.filter(entity_id=invoice.pk, action="mark_overdue_invoice").count() == 1
    # and a second sweep changes nothing
    services.billing_sweep(now=datetime(2026, 3, 9, 0, 40, tzinfo=RIYADH))
    assert AuditEvent.objects.filter(entity_id=invoice.pk, action="mark_overdue_invoice").count() == 1


def test_installments_turn_overdue_and_a_payment_keeps_a_late_invoice_overdue(actor):
    today = firm_today()
    invoice = issued(actor=actor, issue_date=today - timedelta(days=70), payment_terms="net_30")
    services.payment_plan_create(invoice=invoice, installments=3, actor=actor)
    first = Installment.objects.get(plan__invoice=invoice, number=1)
    Installment.objects.filter(pk=first.pk).update(due_date=today - timedelta(days=2))
    run = services.billing_sweep()
    first.refresh_from_db()
    invoice.refresh_from_db()
    assert (first.status, invoice.status, run.installments_overdue) == ("overdue", "overdue", 1)
    services.payment_record(invoice=invoice, amount=first.amount, method="cash", actor=actor)
    invoice.refresh_from_db()
    assert invoice.status == "partial"  # the late installment is paid; the rest are not due yet


def test_the_lawyer_is_reminded_of_an_installment_falling_due_once(actor, firm_a):
    lawyer = make_user(firm_a, "billing_lawyer", role="lawyer")
    invoice = issued(actor=actor, lawyer=lawyer)
    plan = services.payment_plan_create(invoice=invoice, installments=2, actor=actor)
    Installment.objects.filter(plan=plan, number=1).update(due_date=firm_today() + timedelta(days=2))
    # when two sweeps run
    first, second = services.billing_sweep(), services.billing_sweep()
    # then one activity reminds the lawyer, whose reminder the activities' ledger sends once
    installment = Installment.objects.get(plan=plan, number=1)
    assert (first.reminders, second.reminders) == (1, 0)
    assert installment.reminder.assignee == lawyer and installment.reminder.deadline == installment.due_date
    assert Installment.objects.get(plan=plan, number=2).reminder is None
    # and paying the installment completes its reminder
    services.payment_record(invoice=invoice, amount=installment.amount, method="cash", actor=actor)
    installment.reminder.refresh_from_db()
    assert installment.reminder.state == "done"
