"""API tokens (ADR 0036): stored hashed, expiring, listed and revoked by their owner and the firm's admins."""

import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_tenants.utils import schema_context

from audit.models import AuditEvent
from conftest import api_client_for, browser_for, make_user, token_for
from traf3li.core import tenant_cache
from traf3li.users.models import ApiToken, api_token_hash

pytestmark = pytest.mark.django_db

LOGIN = "/api/v1/auth/token/"
TOKENS = "/api/v1/auth/tokens/"


def login(firm, username, password="pass-word-123"):
    return api_client_for(firm).post(LOGIN, {"username": username, "password": password}, format="json")


def client_with(firm, token):
    client = api_client_for(firm)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def row(firm, **filters) -> ApiToken:
    with schema_context(firm.schema_name):
        return ApiToken.objects.get(**filters)


@pytest.fixture
def cache_on(settings):
    """The per-process host and token caches on, as in production (conftest turns them off)."""
    from traf3li.api.authentication import tokens

    settings.TENANT_CACHE_MAX_AGE_SECONDS = settings.TOKEN_CACHE_MAX_AGE_SECONDS = 30
    settings.TENANT_CACHE_CHECK_SECONDS = 0
    tenant_cache.tenant_cache_forget()
    tokens.forget()
    yield tokens
    tokens.forget()
    tenant_cache.tenant_cache_forget()


def test_login_shows_the_token_once_and_keeps_only_its_hash(firm_a, lawyer_a):
    before = timezone.now()
    response = login(firm_a, "lawyer_a")
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    token = body["token"]
    assert set(body) == {"token", "id", "prefix", "expires_at"} and len(token) == 43
    stored = row(firm_a, pk=body["id"])
    assert stored.token_hash == api_token_hash(token) and stored.prefix == token[:8] == body["prefix"]
    assert token not in {stored.token_hash, stored.prefix}
    assert before + timedelta(days=30) <= stored.expires_at <= timezone.now() + timedelta(days=30)
    with connection.cursor() as cursor:  # the token is in no column of the firm's table
        table = f"{firm_a.schema_name}.users_apitoken"
        cursor.execute(f"SELECT count(*) FROM {table} t WHERE row_to_json(t)::text LIKE %s", [f"%{token}%"])
        assert cursor.fetchone()[0] == 0
    assert client_with(firm_a, token).get("/api/v1/me/").json()["username"] == "lawyer_a"
    # each login is a new token; the old one keeps working
    second = login(firm_a, "lawyer_a").json()["token"]
    assert second != token and client_with(firm_a, token).get("/api/v1/me/").status_code == 200
    with schema_context(firm_a.schema_name):
        issued = AuditEvent.objects.filter(action="issue_api_token", entity_id=body["id"]).get()
        assert issued.actor_id == lawyer_a.pk and "token_hash" not in str(issued.changes)


def test_a_wrong_password_issues_nothing_and_the_throttle_still_answers_429(firm_a, lawyer_a, settings):
    from django.core.cache import cache

    settings.LOGIN_THROTTLE = {**settings.LOGIN_THROTTLE, "per_username": 2}
    cache.clear()  # this test process's own Redis database (the throttle's counters)
    with schema_context(firm_a.schema_name):
        count = ApiToken.objects.count()
    assert login(firm_a, "lawyer_a", "wrong").status_code == 400
    assert login(firm_a, "lawyer_a", "wrong").status_code == 400
    blocked = login(firm_a, "lawyer_a")
    assert blocked.status_code == 429 and int(blocked["Retry-After"]) > 0
    assert login(firm_a, "lawyer_a", password=None).status_code in (400, 429)
    with schema_context(firm_a.schema_name):
        assert ApiToken.objects.count() == count
    cache.clear()


@pytest.mark.parametrize("cached", [False, True])
def test_an_expired_token_is_refused_even_when_remembered(firm_a, lawyer_a, settings, request, cached):
    if cached:
        request.getfixturevalue("cache_on")
    settings.API_TOKEN_EXPIRY_DAYS = 1.5 / 86400  # a second and a half
    api = client_with(firm_a, token_for(firm_a, lawyer_a))
    assert api.get("/api/v1/me/").status_code == 200
    time.sleep(1.6)
    with CaptureQueriesContext(connection) as queries:
        response = api.get("/api/v1/me/")
    assert response.status_code == 401 and response["WWW-Authenticate"] == "Token"
    if cached:
        assert not [q for q in queries if "users_apitoken" in q["sql"]]  # refused from memory


def test_a_revoked_token_is_refused_at_once_by_a_process_that_remembered_it(firm_a, lawyer_a, cache_on):
    token = token_for(firm_a, lawyer_a)
    api, other = client_with(firm_a, token), api_client_for(firm_a, lawyer_a)
    assert api.get("/api/v1/me/").status_code == 200
    assert api.get("/api/v1/me/").status_code == 200  # remembered
    mine = other.get(TOKENS).json()["results"]
    target = next(t for t in mine if t["prefix"] == token[:8])
    assert other.delete(f"{TOKENS}{target['id']}/").status_code == 204
    assert api.get("/api/v1/me/").status_code == 401
    assert other.get("/api/v1/me/").status_code == 200  # only that one


def test_last_use_is_written_at_most_once_per_interval(firm_a, lawyer_a, cache_on):
    token = token_for(firm_a, lawyer_a)
    api = client_with(firm_a, token)

    def writes():
        with CaptureQueriesContext(connection) as queries:
            assert api.get("/api/v1/me/").status_code == 200
        return [q["sql"] for q in queries if q["sql"].startswith("UPDATE") and "users_apitoken" in q["sql"]]

    assert writes() == [] and writes() == []  # issued just now: a login is a use
    an_hour_ago = timezone.now() - timedelta(hours=1)
    with schema_context(firm_a.schema_name):
        ApiToken.objects.filter(token_hash=api_token_hash(token)).update(last_used_at=an_hour_ago)
    cache_on.forget()
    assert len(writes()) == 1 and writes() == []
    assert row(firm_a, token_hash=api_token_hash(token)).last_used_at > an_hour_ago


def test_people_list_their_own_tokens_and_admins_everyones(firm_a, admin_a, lawyer_a, staff_a):
    lawyer, admin = api_client_for(firm_a, lawyer_a), api_client_for(firm_a, admin_a)
    token_for(firm_a, staff_a)
    mine = lawyer.get(TOKENS).json()["results"]
    assert [t["user"] for t in mine] == [lawyer_a.pk] and mine[0]["current"] is True and mine[0]["active"] is True
    assert set(mine[0]) == {
        "id", "user", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at", "active", "current"
    }  # fmt: skip
    assert lawyer.get(TOKENS, {"user": staff_a.pk}).json()["results"] == []  # not theirs to see
    everyone = {t["user"] for t in admin.get(TOKENS).json()["results"]}
    assert {admin_a.pk, lawyer_a.pk, staff_a.pk} <= everyone
    assert {t["user"] for t in admin.get(TOKENS, {"user": staff_a.pk}).json()["results"]} == {staff_a.pk}
    assert "token_hash" not in str(admin.get(TOKENS).json())

    # the list costs the same queries for 2 tokens as for 12
    def count():
        with CaptureQueriesContext(connection) as queries:
            assert admin.get(TOKENS, {"active": "true"}).status_code == 200
        return len(queries)

    few = count()
    for _ in range(10):
        token_for(firm_a, staff_a)
    assert count() == few <= 6


def test_bad_input_is_a_400_or_404_and_changes_nothing(firm_a, admin_a, lawyer_a):
    admin = api_client_for(firm_a, admin_a)
    for params in ({"user": "abc"}, {"user": "0"}, {"user": str(2**70)}, {"cursor": "x"}):
        assert admin.get(TOKENS, params).status_code == 400, params
    for bad in ("abc", "0", str(2**70), "1.5"):
        assert admin.delete(f"{TOKENS}{bad}/").status_code == 404, bad
    for body in ({"user": "abc"}, {"user": 2**40}, {"user": [1]}):
        assert admin.post(f"{TOKENS}revoke-all/", body, format="json").status_code == 400, body
    with schema_context(firm_a.schema_name):
        assert not ApiToken.objects.filter(revoked_at__isnull=False).exists()


def test_revoking_one_and_all_of_mine(firm_a, lawyer_a, staff_a):
    first, second = token_for(firm_a, lawyer_a), token_for(firm_a, lawyer_a)
    staff = api_client_for(firm_a, staff_a)
    lawyer = client_with(firm_a, first)
    theirs = row(firm_a, token_hash=api_token_hash(second))
    assert staff.delete(f"{TOKENS}{theirs.pk}/").status_code == 404  # not staff's to revoke
    refused = staff.post(f"{TOKENS}revoke-all/", {"user": lawyer_a.pk}, format="json")
    assert refused.status_code == 403
    assert client_with(firm_a, second).get("/api/v1/me/").status_code == 200
    assert lawyer.delete(f"{TOKENS}{theirs.pk}/").status_code == 204
    assert lawyer.delete(f"{TOKENS}{theirs.pk}/").status_code == 204  # again: nothing more to do
    assert client_with(firm_a, second).get("/api/v1/me/").status_code == 401
    third = token_for(firm_a, lawyer_a)
    assert lawyer.post(f"{TOKENS}revoke-all/", {}, format="json").json() == {"revoked": 2}  # first and third
    assert client_with(firm_a, first).get("/api/v1/me/").status_code == 401
    assert client_with(firm_a, third).get("/api/v1/me/").status_code == 401
    assert staff.get("/api/v1/me/").status_code == 200  # someone else's tokens stay
    with schema_context(firm_a.schema_name):
        revoked = AuditEvent.objects.filter(action="revoke_api_token", actor_id=lawyer_a.pk).count()
    assert revoked == 3


def test_logging_out_revokes_the_token_of_the_request(firm_a, lawyer_a):
    token, other = token_for(firm_a, lawyer_a), token_for(firm_a, lawyer_a)
    assert client_with(firm_a, token).delete(LOGIN).status_code == 204
    assert client_with(firm_a, token).get("/api/v1/me/").status_code == 401
    assert client_with(firm_a, other).get("/api/v1/me/").status_code == 200
    assert api_client_for(firm_a).delete(LOGIN).status_code == 401


def test_an_admin_revokes_anyones_tokens(firm_a, admin_a, lawyer_a):
    token = token_for(firm_a, lawyer_a)
    admin = api_client_for(firm_a, admin_a)
    target = row(firm_a, token_hash=api_token_hash(token))
    assert admin.delete(f"{TOKENS}{target.pk}/").status_code == 204
    assert client_with(firm_a, token).get("/api/v1/me/").status_code == 401
    another = token_for(firm_a, lawyer_a)
    assert admin.post(f"{TOKENS}revoke-all/", {"user": lawyer_a.pk}, format="json").json() == {"revoked": 1}
    assert client_with(firm_a, another).get("/api/v1/me/").status_code == 401
    assert admin.get("/api/v1/me/").status_code == 200


def test_no_firm_lists_or_revokes_anothers_tokens(firm_a, firm_b, admin_a, admin_b):
    token_a = token_for(firm_a, admin_a)
    target = row(firm_a, token_hash=api_token_hash(token_a))
    # firm A's token on firm B's host
    a_on_b = client_with(firm_b, token_a)
    assert a_on_b.get(TOKENS).status_code == 401
    assert a_on_b.delete(f"{TOKENS}{target.pk}/").status_code == 401
    assert a_on_b.post(f"{TOKENS}revoke-all/", {}, format="json").status_code == 401
    # firm B's admin, on its own host and on firm A's
    api_b = api_client_for(firm_b, admin_b)
    assert all(t["user"] == admin_b.pk for t in api_b.get(TOKENS).json()["results"])
    assert api_b.delete(f"{TOKENS}{target.pk}/").status_code in (204, 404)  # B's own id space: never A's row
    b_on_a = client_with(firm_a, token_for(firm_b, admin_b))
    assert b_on_a.get(TOKENS).status_code == 401 and b_on_a.delete(f"{TOKENS}{target.pk}/").status_code == 401
    assert row(firm_a, pk=target.pk).revoked_at is None
    assert client_with(firm_a, token_a).get("/api/v1/me/").status_code == 200


def test_the_firm_admin_lists_tokens_without_secrets_and_revokes_them(firm_a, admin_a, lawyer_a, staff_a):
    token = token_for(firm_a, lawyer_a)
    target = row(firm_a, token_hash=api_token_hash(token))
    browser = browser_for(firm_a, admin_a)
    url = reverse("admin:users_apitoken_changelist")
    page = browser.get(url).content.decode()
    assert target.prefix in page and token not in page and target.token_hash not in page
    detail = browser.get(reverse("admin:users_apitoken_change", args=[target.pk])).content.decode()
    assert token not in detail and target.token_hash not in detail
    assert browser.post(url, {"action": "revoke_selected", "_selected_action": [target.pk]}).status_code == 302
    assert client_with(firm_a, token).get("/api/v1/me/").status_code == 401
    assert browser_for(firm_a, staff_a).get(url).status_code == 403


def test_drf_tokens_become_hashed_tokens_that_keep_working(firm_a, lawyer_a):
    """The migration's step, on a firm schema that still has DRF's plain-text table."""
    import importlib

    migration = importlib.import_module("traf3li.users.migrations.0005_api_tokens")
    legacy = "f" * 40
    with schema_context(firm_a.schema_name):
        with connection.cursor() as cursor:
            cursor.execute("CREATE TABLE authtoken_token (key varchar(40), created timestamptz, user_id int)")
            cursor.execute("INSERT INTO authtoken_token VALUES (%s, now(), %s)", [legacy, lawyer_a.pk])
        migration.hash_drf_tokens(None, SimpleNamespace(connection=connection))
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass('authtoken_token')")
            assert cursor.fetchone()[0] is None  # the plain text is gone
        migrated = ApiToken.objects.get(token_hash=api_token_hash(legacy))
    assert migrated.user_id == lawyer_a.pk and migrated.prefix == "ffffffff"
    assert migrated.expires_at > timezone.now() + timedelta(days=29)
    assert client_with(firm_a, legacy).get("/api/v1/me/").json()["username"] == "lawyer_a"


def test_the_demo_token_is_renewed_not_duplicated(firm_a):
    from traf3li.firms.management.commands.seed_demo import demo_token
    from traf3li.users.services import api_token_issue, api_token_revoke

    user = make_user(firm_a, "demo_admin", role="admin")
    fixed = demo_token("alpha")
    with schema_context(firm_a.schema_name):
        issued, token = api_token_issue(user=user, token=fixed)
        api_token_revoke(token=issued)
        again, token_again = api_token_issue(user=user, token=fixed)
        assert again.pk == issued.pk and token == token_again == fixed and again.is_active
        assert ApiToken.objects.filter(user=user).count() == 1
    assert client_with(firm_a, fixed).get("/api/v1/me/").status_code == 200


def test_tokens_dead_for_longer_than_the_keep_are_pruned_once_and_audited(firm_a, firm_b, lawyer_a, admin_b, settings):
    from traf3li.users.services import api_token_issue, api_token_revoke
    from traf3li.users.tasks import api_tokens_prune_task

    settings.API_TOKEN_KEEP_DAYS = 90
    now = timezone.now()
    with schema_context(firm_a.schema_name):
        working, _ = api_token_issue(user=lawyer_a)
        expired_long_ago, _ = api_token_issue(user=lawyer_a)
        expired_lately, _ = api_token_issue(user=lawyer_a)
        revoked_long_ago, _ = api_token_issue(user=lawyer_a)
        revoked_lately, _ = api_token_issue(user=lawyer_a)
        api_token_revoke(token=revoked_lately)
        ApiToken.objects.filter(pk=expired_long_ago.pk).update(expires_at=now - timedelta(days=91))
        ApiToken.objects.filter(pk=expired_lately.pk).update(expires_at=now - timedelta(days=89))
        ApiToken.objects.filter(pk=revoked_long_ago.pk).update(revoked_at=now - timedelta(days=91))
    with schema_context(firm_b.schema_name):
        other_firms, _ = api_token_issue(user=admin_b)
        ApiToken.objects.filter(pk=other_firms.pk).update(expires_at=now - timedelta(days=200))
    # when firm A's daily prune runs (beat sends it once per firm), twice
    with schema_context(firm_a.schema_name):
        assert api_tokens_prune_task.apply().get() == 2
        assert api_tokens_prune_task.apply().get() == 0
        # then only the two long-dead rows went, in one audit event naming each, and the rest still list
        left = set(ApiToken.objects.values_list("pk", flat=True))
        assert left == {working.pk, expired_lately.pk, revoked_lately.pk}
        (event,) = AuditEvent.objects.filter(action="prune_api_tokens")
        named = {pk for pk, _, _ in event.changes["after"]["tokens"]}
        assert named == {expired_long_ago.pk, revoked_long_ago.pk} and event.changes["after"]["deleted"] == 2
    # and firm B's dead token waits for firm B's own run
    with schema_context(firm_b.schema_name):
        assert ApiToken.objects.filter(pk=other_firms.pk).exists()
