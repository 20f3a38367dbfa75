"""Builders for billing tests: clients and cases through the CRM's services, invoices through billing's."""

from decimal import Decimal

import factory

from billing import services
from traf3li.crm import services as crm
from traf3li.crm.models import Case, Client


class ClientFactory(factory.Factory):
    class Meta:
        model = Client

    name = factory.Sequence(lambda n: f"Client {n}")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return crm.record_create(instance=model_class(*args, **kwargs))


class CaseFactory(factory.Factory):
    class Meta:
        model = Case

    title = factory.Sequence(lambda n: f"Case {n}")
    client = factory.SubFactory(ClientFactory)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return crm.record_create(instance=model_class(*args, **kwargs))


def time_item(hours="2.00", rate="500.00", **extra) -> dict:
    return {
        "type": "time",
        "description": "Draft the statement of claim",
        "quantity": Decimal(hours),
        "unit_price": Decimal(rate),
        "task_code": "L210",
        "activity_code": "A103",
        **extra,
    }


def expense_item(amount="100.00", code="E112", **extra) -> dict:
    return {
        "type": "expense",
        "description": "Court fees",
        "quantity": Decimal("1"),
        "unit_price": Decimal(amount),
        "activity_code": code,
        **extra,
    }


def draft(*, client=None, case=None, items=None, actor=None, **fields):
    if client is None:
        client = case.client if case is not None else ClientFactory()
    return services.invoice_create(
        client=client, case=case, items=[time_item()] if items is None else items, actor=actor, **fields
    )


def issued(*, actor=None, **fields):
    """A draft taken through submit, approve and send: an open invoice."""
    invoice = draft(actor=actor, **fields)
    services.invoice_submit(invoice=invoice, actor=actor)
    services.invoice_approve(invoice=invoice, actor=actor)
    return services.invoice_send(invoice=invoice, actor=actor)
