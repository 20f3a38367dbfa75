"""Updating firm users: no change lost to a stale instance, from the services or the admin."""

import pytest
from django.contrib.admin.sites import AdminSite
from django.test import RequestFactory
from django.utils import timezone
from django_tenants.utils import schema_context

from audit.models import AuditEvent
from conftest import make_user
from traf3li.users.admin import UserAdmin
from traf3li.users.models import User
from traf3li.users.services import user_update

pytestmark = pytest.mark.django_db


def head() -> int:
    return AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


def events_about(user: User, since: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(seq__gt=since, entity_type="user", entity_id=user.pk).order_by("seq"))


def test_an_update_through_a_stale_user_keeps_what_another_update_saved(in_firm_a):
    # given a user read by one request while another changes their phone
    user = make_user(in_firm_a, "stale_user")
    stale = User.objects.get(pk=user.pk)
    user_update(user=User.objects.get(pk=user.pk), data={"phone": "+966501234567"})
    mark = head()
    # when the first request promotes them through its stale copy
    user_update(user=stale, data={"role": User.Role.ADMIN})
    # then the phone stays, the role and its admin-site access land, and the audit names only those
    stored = User.objects.get(pk=user.pk)
    assert (stored.phone, stored.role, stored.is_staff, stored.is_superuser) == ("+966501234567", "admin", True, True)
    assert stale.phone == "+966501234567" and stale.role == "admin"
    [event] = events_about(user, mark)
    assert set(event.changes["after"]) == {"role", "is_superuser"}  # staff could already log in to the admin


def test_an_update_that_changes_nothing_leaves_no_event(in_firm_a):
    user = make_user(in_firm_a, "unchanged_user")
    mark = head()
    user_update(user=user, data={"first_name": user.first_name})
    assert events_about(user, mark) == []


def test_the_admin_applies_only_the_fields_its_form_changed(in_firm_a, admin_a):
    # given the admin's change form bound to a user the admin read before another request changed them
    user = make_user(in_firm_a, "admin_edited")
    obj = User.objects.get(pk=user.pk)
    user_update(user=User.objects.get(pk=user.pk), data={"phone": "+966501234567"})
    model_admin = UserAdmin(User, AdminSite())
    request = RequestFactory().post("/")
    request.user = admin_a
    form_class = model_admin.get_form(request, obj, change=True)
    at = timezone.localtime(obj.date_joined)  # unchanged, as the change page showed it (and its hidden initial)
    joined = {"date_joined_0": f"{at:%Y-%m-%d}", "date_joined_1": f"{at:%H:%M:%S}"}
    posted = {
        "username": obj.username, "email": obj.email, "first_name": "Renamed", "last_name": "", "role": obj.role,
        "phone": obj.phone, "is_active": "on", **joined, **{f"initial-{key}": value for key, value in joined.items()},
    }  # fmt: skip
    form = form_class(data=posted, instance=obj)
    assert form.is_valid(), form.errors
    mark = head()
    # when the admin saves it
    model_admin.save_model(request, form.save(commit=False), form, change=True)
    # then the rename lands and the other request's phone stays
    stored = User.objects.get(pk=user.pk)
    assert (stored.first_name, stored.phone) == ("Renamed", "+966501234567")
    [event] = events_about(user, mark)
    assert set(event.changes["after"]) == {"first_name"} and event.actor_id == admin_a.pk


def test_a_username_differing_only_by_case_is_refused_and_weak_passwords_too(firm_a, admin_a):
    from conftest import api_client_for

    api = api_client_for(firm_a, admin_a)
    made = api.post("/api/v1/users/", {"username": "Sara", "password": "Hearing-Notes-77", "role": "staff"})
    assert made.status_code == 201, made.content
    again = api.post("/api/v1/users/", {"username": "sara", "password": "Hearing-Notes-77", "role": "staff"})
    assert again.status_code == 400 and "already exists" in str(again.json())
    for weak in ("password123", "38291746503", "khalid.alharbi1"):  # common, numeric, like the username
        refused = api.post(
            "/api/v1/users/",
            {"username": "khalid.alharbi", "password": weak, "role": "staff", "email": "khalid@example.sa"},
        )
        assert refused.status_code == 400 and "password" in refused.json(), (weak, refused.content)
    with schema_context(firm_a.schema_name):
        assert not User.objects.filter(username="khalid.alharbi").exists()
        assert User.objects.filter(username__iexact="sara").count() == 1
