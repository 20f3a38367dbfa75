"""Which database alias runs DDL: the owner's when one is configured, else the default one.

The product connects as a role that owns nothing (ADR 0062): ``DATABASE_URL`` names it. The
owner (``DATABASE_OWNER_URL``) runs the migrations, creates firms' schemas and keeps partitions;
it owns every table. The migrations grant the app role what it needs on each schema, and take
back from it the right to rewrite the audit log: only the SECURITY DEFINER functions owned by
``AUDIT_ROLE`` may delete or rewrite audit events.
"""

import logging
from contextlib import contextmanager
from urllib.parse import quote, urlparse, urlunparse

from django.conf import settings
from django.db import connections
from django.test.utils import override_settings

logger = logging.getLogger("traf3li.db")

APP_ROLE = "traf3li_app"  # the product's role (or the group its login role belongs to)
AUDIT_ROLE = "traf3li_audit"  # owns the audit functions; never logs in
ROLES = (APP_ROLE, AUDIT_ROLE)
OWNER_ALIAS = "owner"


def owner_alias() -> str:
    """The alias whose role owns the tables (migrations, firm creation, partition upkeep)."""
    return OWNER_ALIAS if OWNER_ALIAS in settings.DATABASES else "default"


@contextmanager
def as_owner():
    """Run django-tenants' schema work (``create_schema``, ``migrate_schemas``) as the owner."""
    alias = owner_alias()
    if alias == "default":
        yield connections["default"]
        return
    with override_settings(TENANT_DB_ALIAS=alias):
        yield connections[alias]


@contextmanager
def owner_as_default():
    """Run a maintenance job (the retention purge) wholly on the owner's connection, in the current
    firm's schema: the ORM, the audit receipt and the DDL then share one connection and one
    transaction. Two connections in one job would wait on each other's locks (the default one's row
    locks on a partitioned table, the owner's exclusive lock to drop a month of it)."""
    alias = owner_alias()
    if alias == "default" or connections["default"] is connections[alias]:  # none, or already swapped
        yield connections["default"]
        return
    default, owner = connections["default"], connections[alias]
    tenant = getattr(default, "tenant", None)
    if tenant is not None and tenant.schema_name != "public":
        owner.set_tenant(tenant)
    connections["default"] = owner
    try:
        yield owner
    finally:
        connections["default"] = default
        owner.set_schema_to_public()


# --- roles and grants, run by migrations as the owner -------------------------------------------

ENSURE_ROLES_SQL = """
DO $$
DECLARE
    wanted text;
BEGIN
    FOREACH wanted IN ARRAY %s::text[] LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = wanted) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %%I NOLOGIN', wanted);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;  -- another database's migration created it at the same moment
            END;
        END IF;
    END LOOP;
END
$$
"""


def roles_ensure(cursor) -> None:
    """Create the two roles (cluster-wide) when missing; the app role without a login.

    ``scripts/services.py`` (the demo, CI) creates the app role with a login first; in
    production the operator does. Creating a role needs CREATEROLE: the owner has it."""
    cursor.execute(ENSURE_ROLES_SQL, [list(ROLES)])


def schema_grant(cursor, schema: str) -> None:
    """Let the app role read and write every table and sequence of ``schema``, now and later.

    Default privileges cover the tables later migrations create in this schema (they run as the
    same owner); the audit migration then takes back what the app must not do to the audit log."""
    quoted = '"' + schema.replace('"', '""') + '"'
    statements = [
        f"GRANT USAGE ON SCHEMA {quoted} TO {APP_ROLE}, {AUDIT_ROLE}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {quoted} TO {APP_ROLE}",
        f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {quoted} TO {APP_ROLE}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {quoted} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP_ROLE}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {quoted} GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {APP_ROLE}",
    ]
    for statement in statements:
        cursor.execute(statement)


# --- who we are connected as ----------------------------------------------------------------------


def role_facts(alias: str = "default") -> dict:
    """The connected role's name and whether it is a superuser or a member of the owner's rights."""
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")
        user, superuser = cursor.fetchone()
    return {"user": user, "superuser": bool(superuser)}


def warn_if_superuser() -> bool:
    """With ``DEBUG`` off, say so loudly when the product connects as a superuser (ADR 0062).

    A superuser passes every privilege check: the audit log's protection against the product's
    own role is then only the triggers. Called once at start-up (gunicorn, the worker)."""
    if settings.DEBUG:
        return False
    try:
        facts = role_facts()
    except Exception:  # noqa: BLE001 - a database that is down is reported by /healthz, not here
        return False
    finally:
        connections["default"].close()
    if facts["superuser"]:
        logger.warning(
            "The product is connected to PostgreSQL as %s, a superuser: it could rewrite its own audit log. "
            "Connect as a role that is neither a superuser nor the owner of the tables (DATABASE_URL), "
            "and run migrations as the owner (DATABASE_OWNER_URL). See README, 'Operating it'.",
            facts["user"],
        )
        return True
    return False


# --- the URLs a child process (a test's gunicorn or worker) connects with -------------------------


def database_url(alias: str = "default", *, user: str | None = None) -> str:
    """A URL for ``alias``'s current database (the test database in tests), as ``user`` if given."""
    db = connections[alias].settings_dict
    netloc = quote(user or db["USER"])
    if db.get("PASSWORD") and user is None:
        netloc += ":" + quote(db["PASSWORD"])
    host = db.get("HOST") or "127.0.0.1"
    if host.startswith("/"):  # a unix socket directory (the embedded PostgreSQL)
        return f"postgresql://{netloc}@/{quote(db['NAME'])}?host={quote(host)}"
    netloc += f"@{host}:{db.get('PORT') or 5432}"
    return urlunparse(("postgresql", netloc, "/" + quote(db["NAME"]), "", "", ""))


def product_database_env() -> dict[str, str]:
    """``DATABASE_URL`` as the app role and ``DATABASE_OWNER_URL`` as the owner, for this database.

    What ``./bin/demo`` gives the product, for a process a test starts: it then runs with the
    rights the product has in production, not with the test's superuser."""
    owner = database_url(owner_alias())
    app_user = urlparse(database_url()).username
    if app_user == urlparse(owner).username:  # the test process is the owner: the app role is ours
        app_user = APP_ROLE
    return {"DATABASE_URL": database_url(user=app_user), "DATABASE_OWNER_URL": owner}
