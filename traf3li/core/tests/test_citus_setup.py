"""``citus_setup`` on plain PostgreSQL: it changes nothing, and its plan for a cluster is complete.

CI has no Citus cluster; the plan (``--dry-run``) is built from this database's real catalog, so
these tests see the shared tables, keys, sequences and firm schemas a cluster would be given.
"""

from io import StringIO

from django.core.management import call_command
from django.db import connection
from django_tenants.utils import schema_context

from traf3li.core.citus import citus_installed, set_column_statistics


def run(*args) -> str:
    out = StringIO()
    call_command("citus_setup", *args, stdout=out)
    return out.getvalue()


def database_settings() -> list:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT setconfig FROM pg_db_role_setting WHERE setdatabase = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        return cursor.fetchall()


def test_on_plain_postgresql_it_says_so_and_changes_nothing(firm_a):
    with connection.cursor() as cursor:
        assert not citus_installed(cursor)
    before = database_settings()
    assert run() == "Plain PostgreSQL (no citus extension): nothing to do, nothing changed.\n"
    assert database_settings() == before


def test_the_dry_run_plans_every_step_in_order(firm_a, firm_b):
    lines = run("--dry-run", "--workers", "worker1:5432,worker2:6432", "--coordinator", "coordinator:5432")
    lines = lines.splitlines()
    assert lines[0].startswith("-- Plain PostgreSQL")

    def index(fragment: str) -> int:
        found = [n for n, line in enumerate(lines) if fragment in line]
        assert found, f"no statement with {fragment!r}"
        return found[0]

    # the database settings, for new sessions and for this one
    for name, value in (
        ("citus.enable_schema_based_sharding", "on"),
        ("citus.enable_unsafe_triggers", "on"),
        ("citus.propagate_set_commands", "local"),
    ):
        assert index(f"SET {name} = '{value}'") < index("citus_set_coordinator_host")
        assert any(line.startswith("ALTER DATABASE") and f"{name} = '{value}'" in line for line in lines)
    # the nodes
    assert "['coordinator', 5432]" in lines[index("citus_set_coordinator_host")]
    assert "['worker1', 5432]" in lines[index("citus_add_node")]
    assert sum("citus_add_node" in line for line in lines) == 2
    # the shared tables: the key between them dropped, both converted, the key back, the sequence repaired
    drop = index('ALTER TABLE "firms_domain" DROP CONSTRAINT')
    firm, domain = index("['public.firms_firm']"), index("['public.firms_domain']")
    add = index('ALTER TABLE "firms_domain" ADD CONSTRAINT')
    assert drop < min(firm, domain) and max(firm, domain) < add
    assert "REFERENCES firms_firm(id) DEFERRABLE INITIALLY DEFERRED" in lines[add]
    assert add < index("['public.firms_domain_id_seq']")
    assert "create_reference_table" in lines[index("['public.django_celery_beat_periodictask']")]
    assert not any("django_migrations" in line for line in lines)  # the coordinator's own
    # every firm schema distributed, then its statistics target set on the shards
    for schema in (firm_a.schema_name, firm_b.schema_name):
        distribute = index(f"citus_schema_distribute(%s);  -- ['{schema}']")
        target = index(f'"{schema}"."timeline_entry"')
        assert distribute < target
        assert "ALTER TABLE %s ALTER COLUMN search SET STATISTICS 1000" in lines[target]


def test_a_node_must_be_host_and_port(firm_a):
    from django.core.management.base import CommandError

    try:
        run("--dry-run", "--workers", "worker1")
    except CommandError as exc:
        assert "'worker1' is not host:port" in str(exc)
    else:
        raise AssertionError("a worker without a port was accepted")


def test_the_statistics_helper_sets_the_target_on_plain_postgresql(firm_a):
    def target() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT attstattarget FROM pg_attribute WHERE attrelid = 'timeline_entry'::regclass "
                "AND attname = 'search'"
            )
            return cursor.fetchone()[0]

    with schema_context(firm_a.schema_name):
        assert target() == 1000  # what the migration set
        with connection.cursor() as cursor:
            set_column_statistics(cursor, "timeline_entry", "search", 300)
        assert target() == 300
