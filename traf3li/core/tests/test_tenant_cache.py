"""host → firm remembered per process: fewer statements per request, and never a stale or wrong firm."""

import pytest
import redis
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from conftest import api_client_for, make_user, token_for
from traf3li.core import process_cache, tenant_cache
from traf3li.firms.models import Domain
from traf3li.users.services import api_token_revoke_all

pytestmark = pytest.mark.django_db


@pytest.fixture
def cache_on(settings):
    settings.TENANT_CACHE_MAX_AGE_SECONDS = 30
    settings.TENANT_CACHE_CHECK_SECONDS = 0  # compare with Redis's version on every request
    tenant_cache.tenant_cache_forget()
    yield
    tenant_cache.tenant_cache_forget()


def statements(api, path="/api/v1/me/") -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        assert api.get(path).status_code == 200
    return [query["sql"] for query in queries.captured_queries]


def lookups(sqls) -> list[str]:
    return [sql for sql in sqls if "firms_domain" in sql or sql.startswith("SET search_path")]


def test_a_known_host_costs_no_lookup_and_no_search_path(firm_a, admin_a, cache_on):
    api = api_client_for(firm_a, admin_a)
    first = statements(api)
    assert any("firms_domain" in sql for sql in first)  # looked up once
    again = statements(api)
    assert lookups(again) == [] and len(again) < len(first)


def test_without_the_cache_every_request_looks_its_host_up(firm_a, admin_a):
    api = api_client_for(firm_a, admin_a)
    statements(api)
    assert any("firms_domain" in sql for sql in statements(api))


def test_each_host_keeps_its_own_firm(firm_a, firm_b, admin_a, admin_b, cache_on):
    for _ in range(2):
        assert api_client_for(firm_a, admin_a).get("/api/v1/firm/").json()["slug"] == firm_a.schema_name
        assert api_client_for(firm_b, admin_b).get("/api/v1/firm/").json()["slug"] == firm_b.schema_name
    # a token of firm B on firm A's remembered host is still refused
    other = api_client_for(firm_a)
    other.credentials(HTTP_AUTHORIZATION=f"Token {token_for(firm_b, admin_b)}")
    assert other.get("/api/v1/me/").status_code == 401


def test_a_domain_moved_in_this_process_is_forgotten_at_once(firm_a, admin_a, cache_on):
    api = api_client_for(firm_a, admin_a)
    statements(api)
    domain = Domain.objects.get(tenant=firm_a, is_primary=True)
    old = domain.domain
    domain.domain = f"moved-{old}"
    domain.save()
    assert api.get("/api/v1/me/").status_code == 404  # the old host no longer names the firm


def test_another_process_change_is_seen_through_the_redis_version(firm_a, admin_a, cache_on, settings):
    api = api_client_for(firm_a, admin_a)
    statements(api)
    assert lookups(statements(api)) == []
    process_cache._redis().incr(tenant_cache.VERSION_KEY)  # what another process's save does
    assert any("firms_domain" in sql for sql in statements(api))


def test_with_redis_down_entries_expire_by_age(firm_a, admin_a, cache_on, settings, monkeypatch):
    api = api_client_for(firm_a, admin_a)
    statements(api)

    class Down:
        def get(self, key):
            raise redis.ConnectionError("down")

        incr = get

    monkeypatch.setattr(process_cache, "_redis", lambda: Down())
    assert lookups(statements(api)) == []  # still fresh
    settings.TENANT_CACHE_MAX_AGE_SECONDS = 1e-9
    assert any("firms_domain" in sql for sql in statements(api))


def test_a_request_changing_its_firm_changes_only_its_copy(firm_a, cache_on):
    tenant_cache.tenant_cache_put("x.localhost", firm_a)
    copy = tenant_cache.tenant_cache_get("x.localhost")
    copy.name = "changed"
    assert tenant_cache.tenant_cache_get("x.localhost").name == firm_a.name


@pytest.fixture
def tokens_on(settings, cache_on):
    settings.TOKEN_CACHE_MAX_AGE_SECONDS = 30
    from traf3li.api.authentication import tokens

    tokens.forget()
    yield
    tokens.forget()


def test_a_known_token_costs_no_query_and_a_revoked_one_is_refused_at_once(firm_a, admin_a, tokens_on):
    api = api_client_for(firm_a, admin_a)
    statements(api)
    assert statements(api) == []  # the host and the token remembered: /api/v1/me/ asks nothing
    with schema_context(firm_a.schema_name):
        assert api_token_revoke_all(user=admin_a) == 1
    assert api.get("/api/v1/me/").status_code == 401


def test_a_deactivated_user_is_refused_at_once_and_a_role_change_seen(firm_a, tokens_on):
    from traf3li.users.services import user_update

    user = make_user(firm_a, "cached_lawyer", role="lawyer")
    api = api_client_for(firm_a, user)
    assert api.get("/api/v1/me/").json()["role"] == "lawyer"
    with schema_context(firm_a.schema_name):
        user_update(user=user, data={"role": "staff"})
    assert api.get("/api/v1/me/").json()["role"] == "staff"
    with schema_context(firm_a.schema_name):
        user_update(user=user, data={"is_active": False})
    assert api.get("/api/v1/me/").status_code == 401


def test_another_process_revoking_a_token_is_seen_through_the_redis_version(firm_a, admin_a, tokens_on):
    from traf3li.api.authentication import tokens

    api = api_client_for(firm_a, admin_a)
    statements(api)
    process_cache._redis().incr(tokens.version_key)  # what another process's revocation does
    assert any("users_apitoken" in sql for sql in statements(api))


def test_content_types_are_kept_for_the_same_firm_and_read_again_for_another(firm_a, firm_b):
    from django.contrib.contenttypes.models import ContentType

    from traf3li.crm.models import Client

    def lookups_of_client_type() -> int:
        with CaptureQueriesContext(connection) as queries:
            ContentType.objects.get_for_model(Client)
        return sum('FROM "django_content_type"' in query["sql"] for query in queries.captured_queries)

    connection.set_tenant(firm_a)
    lookups_of_client_type()
    try:
        connection.set_tenant(firm_a)  # each request to the same firm sets it again
        assert lookups_of_client_type() == 0
        connection.set_tenant(firm_b)  # another schema numbers its own content types
        assert lookups_of_client_type() == 1
        connection.set_schema_to_public()
        connection.set_tenant(firm_b)
        assert lookups_of_client_type() == 1
    finally:
        connection.set_schema_to_public()
