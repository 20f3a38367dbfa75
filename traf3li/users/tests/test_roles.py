"""The role is the one source of a user's rights: groups per firm schema, kept in line by the services."""

import pytest
from django.contrib.auth.models import Group
from django_tenants.utils import schema_context

from conftest import make_user
from traf3li.users import roles
from traf3li.users.models import User
from traf3li.users.services import user_roles_sync, user_update

pytestmark = pytest.mark.django_db


def test_the_map_names_every_role_of_the_model():
    assert set(roles.ROLES) == set(User.Role.values) == set(roles.ROLE_PERMISSIONS)


def test_each_firm_schema_has_a_group_per_role_with_the_maps_permissions(firm_a, firm_b):
    for firm in (firm_a, firm_b):
        with schema_context(firm.schema_name):
            for role, names in roles.ROLE_PERMISSIONS.items():
                group = Group.objects.get(name=role)
                held = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}
                if names is not None:
                    assert held == names
    assert "crm.delete_case" not in roles.ROLE_PERMISSIONS["staff"]
    assert roles.PERM_HOLD_CASE not in roles.ROLE_PERMISSIONS["lawyer"]  # holds are the admins' (ADR 0065)


@pytest.mark.parametrize("role", list(roles.ROLES))
def test_a_new_user_gets_the_admin_access_and_group_of_their_role(firm_a, role):
    user = make_user(firm_a, f"new_{role}", role=role)
    with schema_context(firm_a.schema_name):
        assert (user.is_staff, user.is_superuser) == (True, role == "admin")
        assert list(user.groups.values_list("name", flat=True)) == [role]


def test_a_role_change_moves_the_group_and_deactivation_closes_the_admin(in_firm_a):
    user = make_user(in_firm_a, "mover", role="staff")
    user_update(user=user, data={"role": "lawyer"})
    user = User.objects.get(pk=user.pk)
    assert list(user.groups.values_list("name", flat=True)) == ["lawyer"] and user.has_perm("crm.delete_case")
    user_update(user=user, data={"is_active": False, "is_superuser": True, "is_staff": True})  # flags are derived
    user = User.objects.get(pk=user.pk)
    assert (user.is_active, user.is_staff, user.is_superuser) == (False, False, False)


def test_the_sync_brings_users_made_before_the_groups_in_line(in_firm_a):
    user = make_user(in_firm_a, "old_timer", role="lawyer")
    # as the demo's lawyers were, with a blank password (bulk-made users): the sync mustn't trip on it
    User.objects.filter(pk=user.pk).update(is_staff=False, password="")
    user.groups.clear()
    assert user_roles_sync() >= 1
    user = User.objects.get(pk=user.pk)
    assert user.is_staff and list(user.groups.values_list("name", flat=True)) == ["lawyer"]
    assert user_roles_sync() == 0


def test_users_added_in_the_admin_get_their_roles_rights(firm_a, admin_a):
    from django.test import Client as BrowserClient

    browser = BrowserClient(HTTP_HOST=f"{firm_a.schema_name}.localhost")
    with schema_context(firm_a.schema_name):
        browser.force_login(admin_a)
    page = browser.post(
        "/admin/users/user/add/",
        {"username": "added_lawyer", "password1": "pw-long-enough-9", "password2": "pw-long-enough-9",
         "usable_password": "true", "role": "lawyer", "first_name": "Layla"},
    )  # fmt: skip
    assert page.status_code == 302, page.content[:800]
    with schema_context(firm_a.schema_name):
        user = User.objects.get(username="added_lawyer")
        assert (user.role, user.first_name, user.is_staff, user.is_superuser) == ("lawyer", "Layla", True, False)
        assert list(user.groups.values_list("name", flat=True)) == ["lawyer"]
