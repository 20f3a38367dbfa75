"""Prepare a Citus cluster for the product: idempotent, and a no-op on plain PostgreSQL.

    python manage.py citus_setup [--workers host:port,host:port] [--coordinator host:port] [--dry-run]

On a database with the citus extension it, in this order:

1. sets the database settings the product needs (``SETTINGS``; docs/scale-out.md says why each
   is safe here). They apply to new sessions: restart web, worker and beat afterwards.
2. with ``--workers``, registers the coordinator and the worker nodes (skipping known ones);
3. makes the shared tables of the ``public`` schema reference tables: their foreign keys are
   dropped, the tables converted, the keys added back (a key between a reference table and a
   local one would silently turn the local one into a Citus local table), and each one's id
   sequence is set past its largest id (Citus was seen to reset ``firms_domain``'s);
4. distributes every firm schema that isn't yet (new firms are distributed when created, by
   ``citus.enable_schema_based_sharding``);
5. sets the column statistics targets the apps registered (``traf3li.core.citus``) on every firm's
   shards: Citus refuses them on the distributed table, and a moved shard loses them.

``--dry-run`` prints the statements instead, also on plain PostgreSQL (what it would run on a
fresh cluster), so that the plan can be read and tested without one.
"""

from contextlib import nullcontext

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django_tenants.utils import get_public_schema_name, get_tenant_model

from traf3li.core.citus import citus_installed, column_statistics

# name -> value. What each one is for, and why it is safe here, is in docs/scale-out.md.
SETTINGS = {
    # A firm's CREATE SCHEMA makes it a distributed schema, placed whole on one worker.
    "citus.enable_schema_based_sharding": "on",
    # The audit log's append-only triggers and the chain head's guard are row triggers on firm
    # tables; they touch only tables of their own schema, which Citus keeps on one node.
    "citus.enable_unsafe_triggers": "on",
    # A transaction's SET LOCAL (search_path, statement timeouts) must reach the worker it runs on.
    # The audit's purge and erase are SECURITY DEFINER functions in the firm's schema (ADR 0062).
    "citus.propagate_set_commands": "local",
}


def _node(value: str) -> tuple[str, int]:
    host, _, port = value.strip().rpartition(":")
    if not host or not port.isdigit():
        raise CommandError(f"'{value}' is not host:port")
    return host, int(port)


def shared_tables() -> list[str]:
    """The public schema's tables that the shared apps' models own (m2m tables too)."""
    from django.conf import settings

    public_labels = {config.label for config in apps.get_app_configs() if config.name in settings.SHARED_APPS}
    tables = set()
    for model in apps.get_models(include_auto_created=True):
        if model._meta.app_label in public_labels and not model._meta.proxy and model._meta.managed:
            tables.add(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s AND tablename = ANY(%s) ORDER BY tablename",
            [get_public_schema_name(), sorted(tables)],
        )
        return [row[0] for row in cursor.fetchall()]


def _foreign_keys(tables: list[str]) -> list[tuple[str, str, str]]:
    """(table, constraint, definition) of the keys from one shared table to another."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT t.relname, c.conname, pg_get_constraintdef(c.oid)
              FROM pg_constraint c
              JOIN pg_class t ON t.oid = c.conrelid
              JOIN pg_class r ON r.oid = c.confrelid
             WHERE c.contype = 'f' AND t.relnamespace = %s::regnamespace AND r.relnamespace = %s::regnamespace
               AND t.relname = ANY(%s) AND r.relname = ANY(%s)
             ORDER BY t.relname, c.conname
            """,
            [get_public_schema_name(), get_public_schema_name(), tables, tables],
        )
        return cursor.fetchall()


def _sequences(tables: list[str]) -> list[tuple[str, str, str]]:
    """(table, column, sequence) for each column a sequence feeds (serial or identity)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT t.relname, a.attname, pg_get_serial_sequence(format('%%I.%%I', n.nspname, t.relname), a.attname)
              FROM pg_class t
              JOIN pg_namespace n ON n.oid = t.relnamespace
              JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped
             WHERE n.nspname = %s AND t.relname = ANY(%s)
               AND pg_get_serial_sequence(format('%%I.%%I', n.nspname, t.relname), a.attname) IS NOT NULL
             ORDER BY t.relname, a.attname
            """,
            [get_public_schema_name(), tables],
        )
        return cursor.fetchall()


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


class Plan:
    """The statements, in order; ``citus`` False plans for a fresh cluster (``--dry-run`` without Citus)."""

    def __init__(self, citus: bool):
        self.citus = citus
        self.statements: list[tuple[str, str, list]] = []  # (step, sql, params)
        self.step = ""

    def add(self, sql: str, params: list | None = None) -> None:
        self.statements.append((self.step, sql, params or []))

    def build(self, coordinator, workers) -> "Plan":
        steps = (
            ("settings", self.settings),
            ("nodes", lambda: self.nodes(coordinator, workers)),
            ("reference tables", self.reference_tables),
            ("distribute", self.distribute),
            ("statistics", self.statistics),
        )
        for step, build in steps:
            self.step = step
            build()
        return self

    def _rows(self, sql: str, params: list | None = None) -> list[tuple]:
        if not self.citus:
            return []
        with connection.cursor() as cursor:
            cursor.execute(sql, params or [])
            return cursor.fetchall()

    def settings(self) -> None:
        current = dict(
            self._rows(
                """
                SELECT split_part(s, '=', 1), split_part(s, '=', 2)
                  FROM pg_db_role_setting d, unnest(d.setconfig) AS s
                 WHERE d.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
                   AND d.setrole = 0
                """
            )
        )
        database = _quote(connection.settings_dict["NAME"])
        for name, value in SETTINGS.items():
            if current.get(name) != value:
                self.add(f"ALTER DATABASE {database} SET {name} = '{value}'")
        # The database's settings reach new sessions only: this one distributes schemas next.
        for name, value in SETTINGS.items():
            self.add(f"SET {name} = '{value}'")

    def nodes(self, coordinator: tuple[str, int] | None, workers: list[tuple[str, int]]) -> None:
        if coordinator:
            self.add("SELECT citus_set_coordinator_host(%s, %s)", list(coordinator))
        known = {(host, port) for host, port in self._rows("SELECT nodename, nodeport FROM pg_dist_node")}
        for host, port in workers:
            if (host, port) not in known:
                self.add("SELECT citus_add_node(%s, %s)", [host, port])

    def reference_tables(self) -> None:
        tables = shared_tables()
        done = {
            row[0]
            for row in self._rows(
                "SELECT logicalrelid::regclass::text FROM pg_dist_partition WHERE partmethod = 'n' AND repmodel = 't'"
            )
        }
        todo = [table for table in tables if table not in done]
        if not todo:
            return
        keys = _foreign_keys(tables)
        for table, name, _ in keys:
            self.add(f"ALTER TABLE {_quote(table)} DROP CONSTRAINT {_quote(name)}")
        for table in todo:
            self.add("SELECT create_reference_table(%s::regclass)", [f"{get_public_schema_name()}.{table}"])
        for table, name, definition in keys:
            self.add(f"ALTER TABLE {_quote(table)} ADD CONSTRAINT {_quote(name)} {definition}")
        for table, column, sequence in _sequences(todo):
            self.add(
                f"SELECT setval(%s, coalesce((SELECT max({_quote(column)}) FROM {_quote(table)}), 0) + 1, false)",
                [sequence],
            )

    def firm_schemas(self) -> list[str]:
        return list(
            get_tenant_model()
            .objects.exclude(schema_name=get_public_schema_name())
            .order_by("schema_name")
            .values_list("schema_name", flat=True)
        )

    def distribute(self) -> None:
        distributed = {row[0] for row in self._rows("SELECT schema_name::text FROM citus_schemas")}
        for schema in self.firm_schemas():
            if schema not in distributed:
                self.add("SELECT citus_schema_distribute(%s)", [schema])

    def statistics(self) -> None:
        distributed = {row[0] for row in self._rows("SELECT schema_name::text FROM citus_schemas")}
        for schema in self.firm_schemas():
            for entry in column_statistics():
                table = f"{_quote(schema)}.{_quote(entry.table)}"
                if schema in distributed and self._target_everywhere(table, entry):
                    continue
                # Citus's %s: each shard's name (not a query parameter).
                self.add(
                    "SELECT bool_and(success) FROM run_command_on_placements(%s::regclass, %s)",
                    [table, entry.sql(table="%s")],
                )

    def _target_everywhere(self, table: str, entry) -> bool:
        """Whether every shard of ``table`` has the column's target already."""
        # The column name comes from the apps' registry (code), not from input.
        check = f"SELECT attstattarget FROM pg_attribute WHERE attrelid = '%s'::regclass AND attname = '{entry.column}'"
        rows = self._rows("SELECT success, result FROM run_command_on_placements(%s::regclass, %s)", [table, check])
        return bool(rows) and all(success and result == str(entry.target) for success, result in rows)


class Command(BaseCommand):
    help = "Prepare a Citus cluster for the product (idempotent). On plain PostgreSQL it changes nothing."

    def add_arguments(self, parser):
        parser.add_argument("--workers", default="", help="worker nodes to register, host:port,host:port")
        parser.add_argument("--coordinator", default="", help="the coordinator's host:port as the workers reach it")
        parser.add_argument("--dry-run", action="store_true", help="print the statements instead of running them")

    def handle(self, *args, workers, coordinator, dry_run, **options):
        with connection.cursor() as cursor:
            citus = citus_installed(cursor)
        if not citus and not dry_run:
            self.stdout.write("Plain PostgreSQL (no citus extension): nothing to do, nothing changed.")
            return
        worker_nodes = [_node(value) for value in workers.split(",") if value.strip()]
        coordinator_node = _node(coordinator) if coordinator else None
        if worker_nodes and coordinator_node is None:
            settings = connection.settings_dict
            coordinator_node = (settings["HOST"] or "localhost", int(settings["PORT"] or 5432))
        plan = Plan(citus).build(coordinator_node, worker_nodes)
        if dry_run:
            if not citus:
                self.stdout.write("-- Plain PostgreSQL: what citus_setup would run on a fresh Citus cluster")
            for step, sql, params in plan.statements:
                self.stdout.write(f"{sql};" + (f"  -- {params}" if params else "") + f"  -- {step}")
            return
        # Step by step, in order. Each statement commits on its own (ALTER DATABASE and node changes
        # don't belong in a transaction), except the reference tables: all of them or none, so that
        # no foreign key stays dropped.
        for step in dict.fromkeys(step for step, _, _ in plan.statements):
            statements = [(sql, params) for s, sql, params in plan.statements if s == step]
            with transaction.atomic() if step == "reference tables" else nullcontext():
                for sql, params in statements:
                    self._run(sql, params)
        done = f"Citus set up: {len(plan.statements)} statement(s)." if plan.statements else "Nothing to do."
        self.stdout.write(done)

    def _run(self, sql: str, params: list) -> None:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            if sql.startswith("SELECT bool_and(success)") and not cursor.fetchone()[0]:
                raise CommandError(f"a shard refused: {sql} {params}")
        self.stdout.write(f"  {sql}" + (f"  {params}" if params else ""))
