"""``create_platform_admin``: the platform's superuser, created once, who logs in on the bare domain only."""

import pytest
from django.core.management import CommandError, call_command
from django.test import Client as BrowserClient
from django_tenants.utils import schema_context

pytestmark = pytest.mark.django_db


def test_creates_the_platform_superuser_once_and_it_logs_in_to_the_platform_admin(firm_a, capsys):
    from traf3li.users.models import User

    # when run twice, the second time with another password
    call_command("create_platform_admin", "root_h10", "--password", "platform-pass-1")
    call_command("create_platform_admin", "root_h10", "--password", "other-pass-22")
    # then one superuser exists in the public schema, with the first password, and none in the firm
    assert "already exists, unchanged" in capsys.readouterr().out
    with schema_context("public"):
        user = User.objects.get(username="root_h10")
        assert (user.is_superuser, user.is_staff, user.check_password("platform-pass-1")) == (True, True, True)
    with schema_context(firm_a.schema_name):
        assert not User.objects.filter(username="root_h10").exists()
    # and it signs in to the platform admin, which lists the firms
    browser = BrowserClient(HTTP_HOST="localhost")
    response = browser.post("/admin/login/?next=/admin/", {"username": "root_h10", "password": "platform-pass-1"})
    assert response.status_code == 302, response.content[:500]
    assert browser.get("/admin/firms/firm/").status_code == 200
    # and --reset-password changes it
    call_command("create_platform_admin", "root_h10", "--password", "other-pass-22", "--reset-password")
    with schema_context("public"):
        assert User.objects.get(username="root_h10").check_password("other-pass-22")


def test_refuses_a_short_password(db):
    with pytest.raises(CommandError):
        call_command("create_platform_admin", "root_h10b", "--password", "short")
