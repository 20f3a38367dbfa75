"""Builders for timeline tests: a client with a contact and a case, and entries on any of them."""

from traf3li.crm import services as crm
from traf3li.crm.models import Case, Client, Contact


def client_family(name="Client"):
    client = crm.record_create(instance=Client(name=name))
    contact = crm.record_create(instance=Contact(name=f"{name} contact", client=client))
    case = crm.record_create(instance=Case(title=f"{name} case", client=client))
    return client, contact, case


def record(subject, **kwargs):
    from timeline.services import entry_record

    kwargs.setdefault("kind", "note")
    kwargs.setdefault("title", "A note")
    return entry_record(subject=subject, **kwargs)
