"""Races on real, separate connections against committed data (``scratch_firm``, ADR 0003).

Each writer is a thread with its own connection. A payment holds the invoice row while a second
payment waits on it (``waiting_on_a_lock`` proves the wait); fifty creations race for numbers.
"""

import threading
import time
import uuid
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection, transaction

from billing import services
from billing.models import Invoice
from billing.tests.factories import ClientFactory, issued, time_item
from conftest import waiting_on_a_lock
from traf3li.api.exceptions import TransitionError

WAIT_SECONDS = 10


def on_the_test_database() -> bool:
    return connection.settings_dict["NAME"] == settings.DATABASES["default"]["TEST"]["NAME"]


def test_this_module_runs_on_the_test_database(db):
    assert on_the_test_database()


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.01)


class Worker(threading.Thread):
    """Runs ``target`` on its own connection in the firm; keeps its result or its exception."""

    def __init__(self, firm, target):
        super().__init__(daemon=True)
        self.firm, self.target = firm, target
        self.pid = self.result = self.error = None

    def run(self):
        try:
            connection.set_tenant(self.firm)
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = '10s'")
                cursor.execute("SELECT pg_backend_pid()")
                self.pid = cursor.fetchone()[0]
            self.result = self.target()
        except Exception as exc:  # surfaced by the test
            self.error = exc
        finally:
            connection.close()


@pytest.fixture
def firm(scratch_firm):
    assert on_the_test_database(), "refusing to commit test data outside the test database"
    return scratch_firm


def test_two_concurrent_payments_never_overpay(firm):
    # given an open invoice of 1150.00, committed
    invoice = issued(client=ClientFactory(name=f"Race {uuid.uuid4().hex[:6]}"), items=[time_item(hours="2")])
    assert invoice.balance_due == Decimal("1150.00")
    holding, release = threading.Event(), threading.Event()

    def first_payment():
        with transaction.atomic():
            payment = services.payment_record(invoice=invoice, amount=Decimal("700.00"), method="cash")
            holding.set()
            release.wait(WAIT_SECONDS)  # hold the invoice row while the second payment arrives
            return payment

    def second_payment():
        return services.payment_record(invoice=invoice, amount=Decimal("700.00"), method="card")

    first, second = Worker(firm, first_payment), Worker(firm, second_payment)
    first.start()
    assert holding.wait(WAIT_SECONDS), repr(first.error)
    second.start()
    try:
        wait_until(lambda: second.pid is not None and waiting_on_a_lock(second.pid), "the second waits on the row")
    finally:
        release.set()
        first.join(2 * WAIT_SECONDS)
        second.join(2 * WAIT_SECONDS)
    # then one payment went through and the other was refused as an overpayment, against the fresh balance
    assert first.error is None, repr(first.error)
    assert isinstance(second.error, TransitionError), repr(second.error)
    invoice.refresh_from_db()
    assert (invoice.amount_paid, invoice.balance_due, invoice.status) == (
        Decimal("700.00"),
        Decimal("450.00"),
        "partial",
    )
    assert invoice.payments.count() == 1


def test_two_payments_that_fit_both_land_with_an_exact_balance(firm):
    invoice = issued(client=ClientFactory(name=f"Race {uuid.uuid4().hex[:6]}"), items=[time_item(hours="2")])
    barrier = threading.Barrier(2)

    def pay(amount):
        def run():
            barrier.wait(WAIT_SECONDS)
            return services.payment_record(invoice=invoice, amount=Decimal(amount), method="cash")

        return run

    workers = [Worker(firm, pay("575.00")), Worker(firm, pay("574.99"))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(2 * WAIT_SECONDS)
    assert [w.error for w in workers] == [None, None]
    invoice.refresh_from_db()
    assert (invoice.amount_paid, invoice.balance_due, invoice.status) == (
        Decimal("1149.99"),
        Decimal("0.01"),
        "partial",
    )


class RolledBack(Exception):
    pass


def test_fifty_parallel_creations_get_fifty_consecutive_numbers(firm):
    """Ten connections create 55 drafts at once; five roll back after taking their number."""
    client = ClientFactory(name=f"Numbers {uuid.uuid4().hex[:6]}")
    start = threading.Barrier(10)

    def create(n):
        try:
            with transaction.atomic():
                invoice = services.invoice_create(client=client, items=[time_item()])
                if n % 11 == 10:
                    raise RolledBack  # numbered, then rolled back: its number must go to the next one
                return invoice.invoice_number
        except RolledBack:
            return None

    def creator(first):
        def run():
            start.wait(WAIT_SECONDS)  # all ten connections start together
            return [create(n) for n in range(first, 55, 10)]

        return run

    workers = [Worker(firm, creator(first)) for first in range(10)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(4 * WAIT_SECONDS)
    assert [w.error for w in workers] == [None] * 10
    numbers = [n for w in workers for n in w.result if n is not None]
    assert len(numbers) == 50
    by_day = {}
    for number in numbers:
        prefix, _, n = number.rpartition("-")
        by_day.setdefault(prefix, []).append(int(n))
    for prefix, ns in by_day.items():
        stored = sorted(
            int(x.rpartition("-")[2])
            for x in Invoice.objects.filter(invoice_number__startswith=prefix).values_list("invoice_number", flat=True)
        )
        assert stored == list(range(1, len(stored) + 1)), f"{prefix} has gaps"
        assert sorted(ns) == list(range(min(ns), min(ns) + len(ns)))
