"""Reads of core records, each applying its FilterSet (shared by API and admin)."""

from django.db.models import Q

from traf3li.crm.models import Case, Client, Contact, Lead, Organization


def client_list():
    return Client.objects.select_related("organization")


def contact_list():
    return Contact.objects.select_related("client", "organization")


def lead_list():
    return Lead.objects.all()


def organization_list():
    return Organization.objects.all()


def case_list():
    return Case.objects.select_related("client", "lawyer")


def case_held_ids():
    """The ids of the cases under legal hold, their own or their client's (ADR 0065), as a subquery
    (the audit's retention purge spares them)."""
    return Case.objects.filter(Q(legal_hold=True) | Q(client__legal_hold=True)).values("pk")


def client_held_ids():
    """The ids of the clients under a legal hold of their own, as a subquery."""
    return Client.objects.filter(legal_hold=True).values("pk")


def client_related_ids(client: Client) -> dict[str, list[int]]:
    """The ids of the records that make up a client's 360° view."""
    return {
        "contact": list(client.contacts.values_list("id", flat=True)),
        "case": list(client.cases.values_list("id", flat=True)),
    }
