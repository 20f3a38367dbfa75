"""No firm sees another's data: hosts, tokens, admin, public schema, the catalog."""

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from conftest import api_client_for, make_user, token_for
from traf3li.crm.models import Client

pytestmark = pytest.mark.django_db

CRM_ENDPOINTS = ["clients", "contacts", "leads", "cases", "organizations"]


@pytest.mark.parametrize("resource", CRM_ENDPOINTS + ["users", "me"])
def test_firm_a_token_on_firm_b_host_is_401(firm_a, firm_b, admin_a, resource):
    key = token_for(firm_a, admin_a)
    client = api_client_for(firm_b)
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get(f"/api/v1/{resource}/").status_code == 401


@pytest.mark.parametrize("resource", CRM_ENDPOINTS)
def test_firm_a_object_from_firm_b_is_404(api_a, api_b, resource):
    body = {"title": "T"} if resource == "cases" else {"name": "Secret"}
    if resource == "cases":
        body["client"] = api_a.post("/api/v1/clients/", {"name": "C"}, format="json").data["id"]
    obj = api_a.post(f"/api/v1/{resource}/", body, format="json").data
    assert api_b.get(f"/api/v1/{resource}/{obj['id']}/").status_code == 404
    assert api_b.patch(f"/api/v1/{resource}/{obj['id']}/", {"name": "x"}, format="json").status_code == 404
    assert api_b.delete(f"/api/v1/{resource}/{obj['id']}/").status_code == 404
    assert api_b.get(f"/api/v1/{resource}/").data["results"] == []


def test_public_host_serves_no_firm_data(api_a):
    from rest_framework.test import APIClient

    api_a.post("/api/v1/clients/", {"name": "Secret"}, format="json")
    public = APIClient(HTTP_HOST="localhost")
    for resource in CRM_ENDPOINTS:
        assert public.get(f"/api/v1/{resource}/").status_code == 404
    assert public.get("/healthz").json() == {"db": "ok", "redis": "ok"}


def test_firm_b_admin_cannot_see_firm_a_records(firm_a, firm_b, api_a):
    from django.test import Client as BrowserClient

    api_a.post("/api/v1/clients/", {"name": "Alpha Only Client"}, format="json")
    boss_b = make_user(firm_b, "boss_b", role="admin")
    browser = BrowserClient(HTTP_HOST="beta.localhost")
    with schema_context("beta"):
        browser.force_login(boss_b)
    page = browser.get("/admin/crm/client/")
    assert page.status_code == 200
    assert b"Alpha Only Client" not in page.content
    # and the firm's admin has no Firm or Domain pages at all
    assert browser.get("/admin/firms/firm/").status_code == 404


def test_firm_admin_lists_its_own_records(firm_a, api_a):
    from django.test import Client as BrowserClient

    api_a.post("/api/v1/clients/", {"name": "Alpha Visible Client"}, format="json")
    boss = make_user(firm_a, "boss_a", role="admin")
    browser = BrowserClient(HTTP_HOST="alpha.localhost")
    with schema_context("alpha"):
        browser.force_login(boss)
    assert b"Alpha Visible Client" in browser.get("/admin/crm/client/?q=Visible").content


def test_platform_admin_lists_firms_not_firm_data(db):
    from django.test import Client as BrowserClient

    from traf3li.users.models import User

    root = User.objects.create_superuser("root", "root@example.com", "pw-123456789")
    browser = BrowserClient(HTTP_HOST="localhost")
    browser.force_login(root)
    assert b"Alpha Law" in browser.get("/admin/firms/firm/").content
    assert browser.get("/admin/crm/client/").status_code == 404


def test_no_foreign_key_leaves_a_firm_schema(firm_a):
    """Citus schema-based sharding needs every FK of a firm's tables to stay in its schema."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.conname, src.nspname, dst.nspname
              FROM pg_constraint c
              JOIN pg_class s ON s.oid = c.conrelid JOIN pg_namespace src ON src.oid = s.relnamespace
              JOIN pg_class d ON d.oid = c.confrelid JOIN pg_namespace dst ON dst.oid = d.relnamespace
             WHERE c.contype = 'f' AND src.nspname IN ('alpha', 'beta') AND dst.nspname <> src.nspname
            """
        )
        leaks = cursor.fetchall()
        cursor.execute(
            "SELECT count(*) FROM pg_constraint c JOIN pg_class s ON s.oid = c.conrelid "
            "JOIN pg_namespace n ON n.oid = s.relnamespace WHERE c.contype = 'f' AND n.nspname = 'alpha'"
        )
        total = cursor.fetchone()[0]
    assert total > 5  # the check looked at real constraints
    assert leaks == []


def test_cache_keys_are_per_firm(firm_a, firm_b):
    from django.core.cache import cache

    connection.set_tenant(firm_a)
    cache.set("greeting", "alpha", 30)
    connection.set_tenant(firm_b)
    assert cache.get("greeting") is None
    connection.set_tenant(firm_a)
    assert cache.get("greeting") == "alpha"
    cache.delete("greeting")


def test_firm_data_stays_in_its_schema(api_a):
    api_a.post("/api/v1/clients/", {"name": "Where am I"}, format="json")
    with schema_context("alpha"):
        assert Client.objects.filter(name="Where am I").exists()
    with schema_context("beta"):
        assert not Client.objects.filter(name="Where am I").exists()


def test_every_operation_refuses_firm_a_token_on_firm_b_host(firm_a, firm_b, admin_a):
    """Walks the OpenAPI schema, so endpoints added later are covered without touching this test."""
    import re

    from rest_framework.test import APIClient

    key = token_for(firm_a, admin_a)
    spec = APIClient(HTTP_HOST="localhost").get("/api/schema/?format=json").json()
    client = api_client_for(firm_b)
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    checked = 0
    for path, operations in spec["paths"].items():
        if path == "/api/v1/auth/token/":
            continue
        url = re.sub(r"\{[^}]+\}", "1", path)
        for method in operations.keys() & {"get", "post", "put", "patch", "delete"}:
            response = getattr(client, method)(url, {}, format="json") if method != "get" else client.get(url)
            assert response.status_code == 401, (method, url, response.status_code)
            checked += 1
    assert checked > 30
