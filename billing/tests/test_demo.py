"""The demo gives a firm a year of invoices in every state, with plans and overdue ones, once."""

import random

import pytest

from billing import demo, selectors
from billing.models import Installment, Invoice
from conftest import make_user
from traf3li.crm import demo as crm_demo

pytestmark = pytest.mark.usefixtures("in_firm_a")


def test_seed_gives_every_state_once(firm_a, monkeypatch):
    monkeypatch.setattr(demo, "DEMO_INVOICES", 16)  # every fate once and a few more: the test stays fast
    make_user(firm_a, "admin", role="admin")
    make_user(firm_a, "lawyer", role="lawyer")
    crm_demo.seed(firm_a, random.Random("crm"))
    demo.seed(firm_a, random.Random("billing"))
    statuses = set(Invoice.objects.values_list("status", flat=True))
    assert statuses == {"draft", "pending_approval", "sent", "viewed", "partial", "paid", "overdue", "written_off"}
    assert Installment.objects.exists()
    assert Invoice.objects.filter(status="overdue").exists()
    assert selectors.chain_verify()[1] is None
    count = Invoice.objects.count()
    demo.seed(firm_a, random.Random("billing"))
    assert Invoice.objects.count() == count
