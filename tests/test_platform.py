import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def test_healthz_on_public_and_firm_hosts(firm_a):
    for host in ("localhost", "alpha.localhost"):
        response = APIClient(HTTP_HOST=host).get("/healthz")
        assert response.status_code == 200
        assert response.json() == {"db": "ok", "redis": "ok"}


def test_openapi_schema_validates(db):
    from openapi_spec_validator import validate

    response = APIClient(HTTP_HOST="localhost").get("/api/schema/?format=json")
    assert response.status_code == 200
    spec = response.json()
    validate(spec)
    assert "/api/v1/clients/" in spec["paths"]
    assert APIClient(HTTP_HOST="localhost").get("/api/docs/").status_code == 200


def test_create_firm_is_idempotent(firm_a, capsys):
    from django_tenants.utils import schema_context

    from traf3li.users.models import User

    call_command(
        "create_firm", "alpha", "--name", "Renamed", "--admin-username", "boss", "--admin-password", "long-pass-1"
    )
    call_command("create_firm", "alpha", "--name", "Renamed again", "--admin-username", "boss", "--admin-password", "x")
    firm_a.refresh_from_db()
    assert firm_a.name == "Alpha Law"
    with schema_context("alpha"):
        assert User.objects.filter(username="boss", role="admin").count() == 1
    assert "already exists, unchanged" in capsys.readouterr().out


def test_create_firm_rejects_bad_timezone(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("create_firm", "zeta", "--name", "Z", "--timezone", "Mars/Olympus")
