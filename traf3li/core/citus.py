"""What differs on a Citus cluster, in one place (docs/scale-out.md).

The product runs unchanged on a single PostgreSQL and on Citus with schema-based sharding, where
each firm's schema is a distributed schema placed whole on one worker. Citus refuses a few things
on a distributed table that plain PostgreSQL allows; the one the product needs is a column's
statistics target, which Citus won't ``ALTER`` on the distributed table but which the worker's
planner reads from the shard. So the target goes to the shard (``run_command_on_placements``),
and ``manage.py citus_setup`` sets it again after a firm moves (a moved shard is rebuilt without
it).

Apps name the targets they need with ``column_statistics_register`` in ``AppConfig.ready()``;
their migrations call ``set_column_statistics`` with the values frozen at that migration.
"""

from dataclasses import dataclass

_STATISTICS: list["ColumnStatistics"] = []


@dataclass(frozen=True)
class ColumnStatistics:
    table: str
    column: str
    target: int

    def sql(self, table: str | None = None) -> str:
        return f"ALTER TABLE {table or self.table} ALTER COLUMN {self.column} SET STATISTICS {int(self.target)}"


def column_statistics_register(table: str, column: str, target: int) -> None:
    entry = ColumnStatistics(table, column, target)
    if entry not in _STATISTICS:
        _STATISTICS.append(entry)


def column_statistics() -> list[ColumnStatistics]:
    return list(_STATISTICS)


def citus_installed(cursor) -> bool:
    cursor.execute("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')")
    return cursor.fetchone()[0]


def is_distributed(cursor, table: str) -> bool:
    """Whether ``table`` (resolved by the search path) is a Citus table; only asked where Citus is."""
    cursor.execute("SELECT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = to_regclass(%s))", [table])
    return cursor.fetchone()[0]


def set_column_statistics(cursor, table: str, column: str, target: int) -> None:
    """``ALTER TABLE … SET STATISTICS`` on the table, or on its shards when Citus distributed it."""
    entry = ColumnStatistics(table, column, target)
    if citus_installed(cursor) and is_distributed(cursor, table):
        # %s is Citus's placeholder for each shard's name, not a query parameter.
        cursor.execute(
            "SELECT bool_and(success) FROM run_command_on_placements(to_regclass(%s), %s)",
            [table, entry.sql(table="%s")],
        )
        if not cursor.fetchone()[0]:
            raise RuntimeError(f"Citus could not set the statistics target of {table}.{column} on every shard")
        return
    cursor.execute(entry.sql())
