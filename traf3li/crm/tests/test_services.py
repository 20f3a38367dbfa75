"""The crm write services: no update lost to a stale instance, every record a delete touches audited,
and what crm tells the layers above (registries, signals) without importing them."""

import pytest
from django.contrib.admin.sites import AdminSite
from django.db import transaction
from django.test import RequestFactory

from audit.models import AuditEvent
from audit.services import legal_hold_case_ids
from conftest import make_user
from traf3li.core.registries import case_of, hierarchy_ancestors
from traf3li.core.subjects import SubjectRef, subject_of
from traf3li.crm import services, signals
from traf3li.crm.admin import ClientAdmin
from traf3li.crm.models import Case, Client, Contact, Organization

pytestmark = pytest.mark.django_db


def events_about(instance, since: int) -> list[AuditEvent]:
    ref = subject_of(instance)
    return list(AuditEvent.objects.filter(seq__gt=since, entity_type=ref.type, entity_id=ref.id).order_by("seq"))


def head() -> int:
    return AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


def test_an_update_through_a_stale_instance_keeps_what_another_update_saved(in_firm_a):
    # given a client read by one request ...
    client = services.record_create(instance=Client(name="Before", notes="old notes"))
    stale = Client.objects.get(pk=client.pk)
    # ... while another request changes its notes
    services.record_update(instance=Client.objects.get(pk=client.pk), data={"notes": "new notes"})
    mark = head()
    # when the first request renames it through its stale copy
    returned = services.record_update(instance=stale, data={"name": "After"})
    # then the other request's notes stay, and the audit names the rename alone
    stored = Client.objects.get(pk=client.pk)
    assert (stored.name, stored.notes) == ("After", "new notes")
    assert returned is stale and (stale.name, stale.notes) == ("After", "new notes")
    [event] = events_about(client, mark)
    assert set(event.changes["after"]) == {"name", "updated_at"}
    assert event.changes["before"]["name"] == "Before"


def test_an_update_that_changes_nothing_writes_nothing(in_firm_a):
    client = services.record_create(instance=Client(name="Same", email="same@example.com"))
    updated_at = Client.objects.get(pk=client.pk).updated_at
    mark = head()
    services.record_update(instance=client, data={"name": "Same", "email": "SAME@example.com"})
    assert Client.objects.get(pk=client.pk).updated_at == updated_at
    assert events_about(client, mark) == []


def test_an_update_still_validates_and_normalises_the_locked_row(in_firm_a):
    client = services.record_create(instance=Client(name="Phone"))
    services.record_update(instance=client, data={"phone": "0501234567", "email": "A@Example.COM"})
    stored = Client.objects.get(pk=client.pk)
    assert (stored.phone, stored.email) == ("+966501234567", "a@example.com")


def test_the_admin_applies_only_the_fields_its_form_changed(in_firm_a, admin_a):
    # given the admin's form bound to a client the admin read before another request changed it
    client = services.record_create(instance=Client(name="Admin read", notes="old notes"))
    obj = Client.objects.get(pk=client.pk)
    services.record_update(instance=Client.objects.get(pk=client.pk), data={"notes": "new notes"})
    model_admin = ClientAdmin(Client, AdminSite())
    request = RequestFactory().post("/")
    request.user = admin_a
    form_class = model_admin.get_form(request, obj, change=True)
    posted = {"name": "Admin renamed", "kind": obj.kind, "email": obj.email, "phone": obj.phone, "notes": "old notes"}
    form = form_class(data={**posted, "national_id": ""}, instance=obj)
    assert form.is_valid(), form.errors
    mark = head()
    # when the admin saves it
    model_admin.save_model(request, form.save(commit=False), form, change=True)
    # then the rename lands and the other request's notes stay
    stored = Client.objects.get(pk=client.pk)
    assert (stored.name, stored.notes) == ("Admin renamed", "new notes")
    [event] = events_about(client, mark)
    assert set(event.changes["after"]) == {"name", "updated_at"} and event.actor_id == admin_a.pk


def test_deleting_an_organization_audits_the_references_it_nulls(in_firm_a):
    # given an organization with two clients and a contact
    org = services.record_create(instance=Organization(name="Employer"))
    clients = [services.record_create(instance=Client(name=f"Employee {i}", organization=org)) for i in range(2)]
    contact = services.record_create(instance=Contact(name="Colleague", client=clients[0], organization=org))
    other = services.record_create(instance=Client(name="Elsewhere"))
    mark, org_id = head(), org.pk
    # when the organization is deleted
    services.record_delete(instance=org)
    org.pk = org_id  # the delete cleared it
    # then each record whose organization was nulled has one update event naming that field alone
    for record in (*clients, contact):
        record.refresh_from_db()
        assert record.organization_id is None
        [event] = events_about(record, mark)
        assert event.action == "update"
        assert event.changes == {"before": {"organization_id": org_id}, "after": {"organization_id": None}}
    assert [e.action for e in events_about(org, mark)] == ["delete"]
    assert events_about(other, mark) == []


def test_a_cascaded_delete_is_audited_as_a_delete_only(in_firm_a):
    org = services.record_create(instance=Organization(name="Employer"))
    client = services.record_create(instance=Client(name="Leaving"))
    contact = services.record_create(instance=Contact(name="Goes too", client=client, organization=org))
    mark = head()
    services.record_delete(instance=client)
    assert [e.action for e in events_about(contact, mark)] == ["delete"]
    assert Organization.objects.filter(pk=org.pk).exists()


def test_crm_registers_its_hierarchy_cases_and_legal_holds(in_firm_a):
    client = services.record_create(instance=Client(name="Registered"))
    contact = services.record_create(instance=Contact(name="Person", client=client))
    held = services.record_create(instance=Case(title="Held", client=client, legal_hold=True))
    free = services.record_create(instance=Case(title="Free", client=client))
    assert hierarchy_ancestors("contact", contact) == [SubjectRef("client", client.pk)]
    assert hierarchy_ancestors("case", held) == [SubjectRef("client", client.pk)]
    assert case_of(held) == held.pk and case_of(SubjectRef("case", free.pk)) == free.pk
    assert case_of({"type": "case", "id": free.pk}) == free.pk
    assert case_of(contact) is None and case_of(client) is None
    held_ids = set(Case.objects.filter(pk__in=legal_hold_case_ids()).values_list("pk", flat=True))
    assert held.pk in held_ids and free.pk not in held_ids


def test_case_events_carry_their_case_through_the_registry(in_firm_a):
    client = services.record_create(instance=Client(name="Owner"))
    case = services.record_create(instance=Case(title="Own case", client=client))
    mark = head()
    services.record_update(instance=case, data={"court": "Riyadh"})
    [event] = events_about(case, mark)
    assert event.case_id == case.pk


def test_signals_carry_the_write_and_run_inside_its_transaction(in_firm_a):
    # given a receiver that records what it got, then one that fails
    seen = []

    def remember(sender, **kwargs):
        seen.append((sender, kwargs["instance"].pk, kwargs["before"], kwargs["after"], kwargs["actor"]))

    def fail(sender, **kwargs):
        raise RuntimeError("receiver failed")

    user = make_user(in_firm_a, "signal_actor")
    signals.record_created.connect(remember, dispatch_uid="test.remember.created")
    signals.record_updated.connect(remember, dispatch_uid="test.remember.updated")
    try:
        client = services.record_create(instance=Client(name="Signalled"), actor=user)
        services.record_update(instance=client, data={"name": "Renamed"}, actor=user)
        signals.record_updated.connect(fail, dispatch_uid="test.fail")
        with pytest.raises(RuntimeError), transaction.atomic():
            services.record_update(instance=client, data={"name": "Rolled back"})
    finally:
        for signal, uid in [
            (signals.record_created, "test.remember.created"),
            (signals.record_updated, "test.remember.updated"),
            (signals.record_updated, "test.fail"),
        ]:
            signal.disconnect(dispatch_uid=uid)
    # then each write was announced with its snapshots and actor
    created, updated = seen[0], seen[1]
    assert created[:3] == (Client, client.pk, None) and created[3]["name"] == "Signalled" and created[4] == user
    assert updated[2]["name"] == "Signalled" and updated[3]["name"] == "Renamed"
    # and a failing receiver rolled its write back
    assert Client.objects.get(pk=client.pk).name == "Renamed"
