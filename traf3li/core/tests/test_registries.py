"""The seams the domain apps register through, so that the layers above never import them."""

import pytest

from traf3li.core import registries
from traf3li.core.subjects import SubjectRef
from traf3li.crm import services as crm
from traf3li.crm.models import Case, Client, Lead


def test_a_type_with_nothing_registered_has_no_ancestors_and_no_case(monkeypatch):
    monkeypatch.setattr(registries, "_PARENTS", {})
    monkeypatch.setattr(registries, "_CASE_OF", {})
    assert registries.hierarchy_ancestors("case", object()) == []
    assert registries.case_of(SubjectRef("case", 7)) is None


def test_ancestors_drop_missing_parents(monkeypatch):
    monkeypatch.setitem(registries._PARENTS, "lead", lambda lead: [SubjectRef("client", None), None])
    assert registries.hierarchy_ancestors("lead", object()) == []


def test_case_of_passes_the_instance_when_it_has_one(monkeypatch):
    seen = []
    monkeypatch.setitem(registries._CASE_OF, "lead", lambda ref, lead: seen.append((ref, lead)) or 5)
    lead = Lead(pk=3, name="Prospect")
    assert registries.case_of(lead) == 5 and registries.case_of("lead:3") == 5
    assert seen == [(SubjectRef("lead", 3), lead), (SubjectRef("lead", 3), None)]


@pytest.mark.django_db
def test_held_cases_of_several_providers_make_one_subquery(in_firm_a, monkeypatch):
    client = crm.record_create(instance=Client(name="Holder"))
    held, other, free = (crm.record_create(instance=Case(title=t, client=client)) for t in ("Held", "Other", "Free"))
    crm.record_update(instance=held, data={"legal_hold": True})
    monkeypatch.setattr(registries, "_LEGAL_HOLDS", [])
    assert list(Case.objects.filter(pk__in=registries.legal_hold_case_ids())) == []
    registries.legal_hold_register(lambda: Case.objects.filter(legal_hold=True).values("pk"))
    registries.legal_hold_register(lambda: Case.objects.filter(title="Other").values("pk"))
    ids = set(Case.objects.filter(pk__in=registries.legal_hold_case_ids()).values_list("pk", flat=True))
    assert {held.pk, other.pk} <= ids and free.pk not in ids


def test_admin_index_context_merges_what_apps_register(monkeypatch):
    monkeypatch.setattr(registries, "_ADMIN_INDEX", [])
    registries.admin_index_register(lambda request: {"a": request})
    registries.admin_index_register(lambda request: {"b": 2})
    assert registries.admin_index_context("req") == {"a": "req", "b": 2}
