"""The product's database role owns nothing and can't rewrite the audit log (ADR 0062).

The test process itself connects as the owner (it creates the test database and migrates it, as
an operator's migration step does); the product's processes that tests start (gunicorn, a worker)
connect as ``traf3li_app`` through ``traf3li.core.db.product_database_env``.
"""

import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.db import connection

from traf3li.core.db import APP_ROLE, AUDIT_ROLE, product_database_env
from traf3li.core.processes import child_env

ROOT = Path(__file__).resolve().parent.parent

# table -> the privileges the product must have (True) or must not (False)
AUDIT_RIGHTS = {
    "audit_auditevent": {"SELECT": True, "INSERT": True, "UPDATE": False, "DELETE": False, "TRUNCATE": False},
    "audit_auditchainanchor": {"SELECT": True, "INSERT": False, "UPDATE": False, "DELETE": False, "TRUNCATE": False},
    "audit_auditchainhead": {"SELECT": True, "UPDATE": True, "DELETE": False, "TRUNCATE": False},
    "timeline_entry": {"SELECT": True, "INSERT": True, "UPDATE": True, "DELETE": True},
}


def rights_in(schema: str) -> dict:
    with connection.cursor() as cursor:
        return {
            table: {
                right: cursor.execute(
                    "SELECT has_table_privilege(%s, %s, %s)", [APP_ROLE, f'"{schema}".{table}', right]
                ).fetchone()[0]
                for right in wanted
            }
            for table, wanted in AUDIT_RIGHTS.items()
        }


def owners_in(schema: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = %s", [schema])
        return {row[0] for row in cursor.fetchall()}


def audit_function_owners(schema: str) -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT p.proname, pg_get_userbyid(p.proowner) FROM pg_proc p
                 JOIN pg_namespace n ON n.oid = p.pronamespace
                WHERE n.nspname = %s AND p.proname IN ('audit_purge_events', 'audit_erase_events')""",
            [schema],
        )
        return dict(cursor.fetchall())


@pytest.mark.django_db
def test_in_every_firm_schema_the_product_appends_to_the_log_and_can_not_rewrite_it(firm_a, firm_b):
    with connection.cursor() as cursor:
        cursor.execute("SELECT schema_name FROM firms_firm WHERE schema_name <> 'public'")
        schemas = [row[0] for row in cursor.fetchall()]
    assert {"alpha", "beta", "gamma"} <= set(schemas)
    for schema in schemas:
        assert rights_in(schema) == AUDIT_RIGHTS, schema
        assert APP_ROLE not in owners_in(schema), schema
        assert audit_function_owners(schema) == {"audit_purge_events": AUDIT_ROLE, "audit_erase_events": AUDIT_ROLE}
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = %s", [APP_ROLE])
        assert cursor.fetchone() == (False, False, False)
        cursor.execute("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", [AUDIT_ROLE])
        assert cursor.fetchone() == (False,)


def _start_wsgi(database_url: str) -> str:
    env = child_env(DATABASE_URL=database_url, DEBUG="false", DATABASE_OWNER_URL="")
    done = subprocess.run(
        [sys.executable, "-c", "import traf3li.wsgi"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stderr


@pytest.mark.django_db
def test_start_up_warns_when_the_product_connects_as_a_superuser(firm_a):
    owner = product_database_env()["DATABASE_OWNER_URL"]
    assert "a superuser" in _start_wsgi(owner)
    assert "a superuser" not in _start_wsgi(product_database_env()["DATABASE_URL"])


@pytest.mark.slow
def test_a_firm_the_product_creates_is_built_by_the_owner_and_granted_to_it(django_db_setup, django_db_blocker):
    # given the product's environment: its own role, and the owner's URL for schema work
    slug = f"roles_{uuid.uuid4().hex[:6]}"
    env = child_env(**product_database_env())
    try:
        # when it creates a firm (as the platform admin or create_firm does)
        done = subprocess.run(
            [sys.executable, "manage.py", "create_firm", slug, "--name", "Roles Test"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        with django_db_blocker.unblock():
            # then the owner owns every table, the product got its rights, the audit log is sealed
            assert owners_in(slug) == {connection.settings_dict["USER"]}
            assert rights_in(slug) == AUDIT_RIGHTS
            assert audit_function_owners(slug) == {
                "audit_purge_events": AUDIT_ROLE,
                "audit_erase_events": AUDIT_ROLE,
            }
            with connection.cursor() as cursor:  # and its chain starts with the firm's creation
                cursor.execute(f'SELECT action FROM "{slug}".audit_auditevent ORDER BY seq')
                assert [row[0] for row in cursor.fetchall()] == ["create"]
    finally:
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute(f'DROP SCHEMA IF EXISTS "{slug}" CASCADE')
            cursor.execute(
                "DELETE FROM firms_domain WHERE tenant_id IN (SELECT id FROM firms_firm WHERE schema_name = %s)", [slug]
            )
            cursor.execute("DELETE FROM firms_firm WHERE schema_name = %s", [slug])
