"""Who places and lifts a legal hold (admins, ADR 0065) and who deletes a case (ADR 0031): the same rule in the
service and the API."""

import pytest
from django.core.exceptions import PermissionDenied
from django_tenants.utils import schema_context

from conftest import api_client_for
from traf3li.crm import services
from traf3li.crm.models import Case, Client

pytestmark = pytest.mark.django_db

MAY_HOLD = {"admin": True, "lawyer": False, "staff": False}
MAY_DELETE = {"admin": True, "lawyer": True, "staff": False}


@pytest.fixture
def people(admin_a, lawyer_a, staff_a):
    return {"admin": admin_a, "lawyer": lawyer_a, "staff": staff_a}


@pytest.fixture
def a_case(firm_a):
    with schema_context(firm_a.schema_name):
        client = services.record_create(instance=Client(name="Hold client"))
        return services.record_create(instance=Case(title="Hold case", client=client))


def held(firm, case) -> bool:
    with schema_context(firm.schema_name):
        return Case.objects.get(pk=case.pk).legal_hold


@pytest.mark.parametrize("role", list(MAY_HOLD))
def test_the_service_lets_only_admins_place_and_lift_a_hold(firm_a, people, a_case, role):
    with schema_context(firm_a.schema_name):
        if MAY_HOLD[role]:
            services.record_update(instance=a_case, data={"legal_hold": True}, actor=people[role])
            services.record_update(instance=a_case, data={"legal_hold": False}, actor=people[role])
            return
        with pytest.raises(PermissionDenied):
            services.record_update(instance=a_case, data={"legal_hold": True}, actor=people[role])
        services.record_update(instance=a_case, data={"legal_hold": True})  # the system (a command) may
        with pytest.raises(PermissionDenied):
            services.record_update(instance=a_case, data={"legal_hold": False}, actor=people[role])
        # other changes to a held case, and an unchanged hold, are theirs to make
        services.record_update(instance=a_case, data={"legal_hold": True, "court": "Riyadh"}, actor=people[role])
        assert Case.objects.get(pk=a_case.pk).court == "Riyadh"


@pytest.mark.parametrize("role", list(MAY_HOLD))
def test_the_api_places_and_lifts_a_hold_for_the_same_roles(firm_a, people, a_case, role):
    api = api_client_for(firm_a, people[role])
    response = api.patch(f"/api/v1/cases/{a_case.pk}/", {"legal_hold": True}, format="json")
    assert response.status_code == (200 if MAY_HOLD[role] else 403), response.content
    assert held(firm_a, a_case) is MAY_HOLD[role]
    if not MAY_HOLD[role]:
        assert "legal hold" in response.data["detail"]
        created = api.post("/api/v1/cases/", {"title": "Held at birth", "client": a_case.client_id,
                                              "legal_hold": True}, format="json")  # fmt: skip
        assert created.status_code == 403
        with schema_context(firm_a.schema_name):
            services.record_update(instance=a_case, data={"legal_hold": True})
    response = api.patch(f"/api/v1/cases/{a_case.pk}/", {"legal_hold": False}, format="json")
    assert response.status_code == (200 if MAY_HOLD[role] else 403)
    assert held(firm_a, a_case) is not MAY_HOLD[role]


@pytest.mark.parametrize("role", list(MAY_DELETE))
def test_the_api_deletes_a_case_for_lawyers_and_admins_only(firm_a, people, a_case, role):
    response = api_client_for(firm_a, people[role]).delete(f"/api/v1/cases/{a_case.pk}/")
    assert response.status_code == (204 if MAY_DELETE[role] else 403)
    with schema_context(firm_a.schema_name):
        assert Case.objects.filter(pk=a_case.pk).exists() is not MAY_DELETE[role]


@pytest.mark.parametrize("role", list(MAY_DELETE))
def test_no_one_deletes_a_held_case_through_the_api(firm_a, people, a_case, role):
    with schema_context(firm_a.schema_name):
        services.record_update(instance=a_case, data={"legal_hold": True})
    response = api_client_for(firm_a, people[role]).delete(f"/api/v1/cases/{a_case.pk}/")
    # the role without the right is refused first (403); the others meet the hold (409, naming the case)
    assert response.status_code == (409 if MAY_DELETE[role] else 403)
    if MAY_DELETE[role]:
        assert "legal hold" in response.data["detail"] and "Hold case" in response.data["detail"]
    with schema_context(firm_a.schema_name):
        assert Case.objects.filter(pk=a_case.pk).exists()


def test_not_even_the_system_deletes_a_held_case(in_firm_a, a_case):
    services.record_update(instance=a_case, data={"legal_hold": True})
    with pytest.raises(services.CaseHeldError):
        services.record_delete(instance=a_case)
    assert Case.objects.filter(pk=a_case.pk).exists()
    # once lifted, it goes
    services.record_update(instance=a_case, data={"legal_hold": False})
    services.record_delete(instance=a_case)
    assert not Case.objects.filter(pk=a_case.pk).exists()


def test_the_hold_is_checked_against_the_row_not_a_stale_copy(in_firm_a, a_case):
    stale = Case.objects.get(pk=a_case.pk)
    services.record_update(instance=a_case, data={"legal_hold": True})
    with pytest.raises(services.CaseHeldError):
        services.record_delete(instance=stale)  # read before the hold: the locked row says held
