"""Test firms are created once per session; each test rolls back (docs/stack-notes.md traps 2-5).

Firms: ``firm_a`` (alpha.localhost) and ``firm_b`` (beta.localhost) for ordinary, rolled-back
tests; ``scratch_firm`` (gamma.localhost) for tests that must really commit (two connections,
two workers). Scratch data is never cleaned up, so such tests must not assume an empty firm.
"""

import os
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django_tenants.utils import schema_context

TEST_FIRMS = {"alpha": "Alpha Law", "beta": "Beta Legal", "gamma": "Gamma Scratch"}


@pytest.fixture(scope="session")
def django_db_setup(request, django_test_environment, django_db_blocker, django_db_keepdb, django_db_createdb):
    """Always set up the test database, even when no collected test asks for ``db``.

    pytest-django sets up only the databases that marked tests need; a run of nothing but
    ``scratch_firm`` tests would then commit into the development database.
    """
    from django.test.utils import setup_databases

    from traf3li.firms.models import Firm
    from traf3li.firms.services import firm_create

    with django_db_blocker.unblock():
        setup_databases(
            verbosity=request.config.option.verbose,
            interactive=False,
            aliases={"default"},
            keepdb=django_db_keepdb and not django_db_createdb,
        )
        # --reuse-db skips migrations; apply any new ones to public and every firm schema.
        call_command("migrate_schemas", verbosity=0, interactive=False)
        for slug, name in TEST_FIRMS.items():
            if not Firm.objects.filter(schema_name=slug).exists():
                firm_create(slug=slug, name=name)
        connection.set_schema_to_public()


@pytest.fixture(autouse=True)
def _no_tenant_cache(settings):
    """Tests change firm rows inside transactions that roll back, and with ``update()``: in this
    process each request looks its host up again. The cache's own tests turn it back on; the
    browser tests' gunicorn keeps it, as in production."""
    settings.TENANT_CACHE_MAX_AGE_SECONDS = 0
    settings.TOKEN_CACHE_MAX_AGE_SECONDS = 0


@pytest.fixture(autouse=True)
def _public_schema_between_tests():
    """The tenant middleware never resets the schema: reset it around every test (no query)."""
    connection.set_schema_to_public()
    yield
    connection.set_schema_to_public()


def _firm(slug):
    from traf3li.firms.models import Firm

    return Firm.objects.get(schema_name=slug)


@pytest.fixture
def firm_a(db):
    return _firm("alpha")


@pytest.fixture
def firm_b(db):
    return _firm("beta")


@pytest.fixture
def in_firm_a(firm_a):
    """Run the test body inside firm A's schema."""
    with schema_context(firm_a.schema_name):
        connection.set_tenant(firm_a)
        yield firm_a
    connection.set_schema_to_public()


@pytest.fixture
def scratch_firm(django_db_setup, django_db_blocker):
    """A firm whose writes really commit (no per-test rollback)."""
    assert connection.settings_dict["NAME"].startswith("test_"), "scratch_firm must run on the test database"
    with django_db_blocker.unblock():
        firm = _firm("gamma")
        connection.set_tenant(firm)
        yield firm
        connection.set_schema_to_public()


# The providers' real payloads and signature vectors, read in place where they sit beside the
# checkout (``<checkout>/../shared/fixtures``), or where TRAF3LI_FIXTURES points; never copied here.
FIXTURES = Path(os.environ.get("TRAF3LI_FIXTURES") or Path(__file__).resolve().parent.parent / "shared" / "fixtures")
PROVIDER_FIXTURES = FIXTURES / "providers"


def waiting_on_a_lock(pid: int) -> bool:
    """Whether the backend ``pid`` waits for a lock another transaction holds.

    On Citus the statement runs on the worker that holds the firm, so the wait is there, under the
    same global pid: ``citus_stat_activity`` shows every node's backends. Plain PostgreSQL has only
    its own.
    """
    from traf3li.core.citus import citus_installed

    with connection.cursor() as cursor:
        # Activity views are a snapshot taken once per transaction: drop it, or a test inside one
        # would read the first answer forever.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        if citus_installed(cursor):
            cursor.execute(
                """
                SELECT coalesce(bool_or(a.wait_event_type = 'Lock'), false) FROM citus_stat_activity a
                 WHERE a.global_pid = (SELECT global_pid FROM citus_stat_activity WHERE pid = %s
                                          AND NOT is_worker_query LIMIT 1)
                """,
                [pid],
            )
        else:
            cursor.execute(
                "SELECT coalesce(bool_or(wait_event_type = 'Lock'), false) FROM pg_stat_activity WHERE pid = %s", [pid]
            )
        return cursor.fetchone()[0]


def make_user(firm, username="user", role="staff", **extra):
    from traf3li.users.services import user_create

    with schema_context(firm.schema_name):
        return user_create(
            username=username, password="pass-word-123", role=role, email=f"{username}@example.com", **extra
        )


def browser_for(firm, user, **headers):
    """A Django test client on the firm's host, logged in as ``user`` (the admin, as a browser uses it)."""
    from django.test import Client

    browser = Client(HTTP_HOST=f"{firm.schema_name}.localhost", **headers)
    with schema_context(firm.schema_name):
        browser.force_login(user)
    return browser


def token_for(firm, user) -> str:
    """A new API token of ``user`` (in ``firm``), as POST /api/v1/auth/token/ would issue it."""
    from traf3li.users.services import api_token_issue

    with schema_context(firm.schema_name):
        return api_token_issue(user=user)[1]


def api_client_for(firm, user=None):
    """An APIClient on the firm's host, authenticated by a new token of the user when one is given."""
    from rest_framework.test import APIClient

    client = APIClient(HTTP_HOST=f"{firm.schema_name}.localhost")
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(firm, user)}")
    return client


@pytest.fixture
def admin_a(firm_a):
    return make_user(firm_a, "admin_a", role="admin")


@pytest.fixture
def lawyer_a(firm_a):
    return make_user(firm_a, "lawyer_a", role="lawyer")


@pytest.fixture
def staff_a(firm_a):
    return make_user(firm_a, "staff_a", role="staff")


@pytest.fixture
def admin_b(firm_b):
    return make_user(firm_b, "admin_b", role="admin")


@pytest.fixture
def api_a(firm_a, admin_a):
    return api_client_for(firm_a, admin_a)


@pytest.fixture
def api_a_staff(firm_a, staff_a):
    return api_client_for(firm_a, staff_a)


@pytest.fixture
def api_b(firm_b, admin_b):
    return api_client_for(firm_b, admin_b)
