"""Work a transaction owes at its commit: the writes to rows that every writer of a firm shares.

The audit chain head and the stats rollups are rows that nearly every write of a firm touches.
Taken in the middle of a transaction they are held until its COMMIT and taken in whatever order
the services happen to call each other, which deadlocks (ADR 0030). Instead a service hands its
share to ``commit_work_add(key, item)``; the database backend (``traf3li.core.postgresql``)
runs every owed flush right before COMMIT, by rank: rollups first, the audit head last. So each
transaction takes the shared rows once, last, and in one order, and holds them only for the
flush and the COMMIT.

Savepoints are honoured: rolling back to one drops what was added after it. A TestCase's
wrapping atomic blocks stand for "no transaction" here, as they do for Django's ``durable``
check, so a service called from a test flushes when the service's own outermost block exits.
Outside any transaction, the item is flushed in a transaction of its own at once.
"""

from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django_tenants.utils import schema_context

Flush = Callable[[list, "Batch"], None]


@dataclass(frozen=True)
class _Flusher:
    rank: int
    flush: Flush


_FLUSHERS: dict[str, _Flusher] = {}


def commit_work_register(key: str, *, rank: int, flush: Flush) -> None:
    """``flush(items, batch)`` runs at commit with everything added under ``key``; lower ranks run
    first. It sends its statements through ``batch``, which saves round trips inside the lock window."""
    _FLUSHERS[key] = _Flusher(rank, flush)


def _pending(conn) -> dict[str, list]:
    pending = getattr(conn, "commit_work", None)
    if pending is None:
        pending = conn.commit_work = {}
    return pending


def base_depth(conn) -> int:
    """How many of the open atomic blocks are a TestCase's wrappers rather than real work."""
    depth = 0
    for block in conn.atomic_blocks:
        if not getattr(block, "_from_testcase", False):
            break
        depth += 1
    return depth


def commit_work_add(key: str, item, *, using: str = DEFAULT_DB_ALIAS) -> None:
    """Owe ``item`` to the ``key`` flusher at the end of the current transaction, in the current schema."""
    conn = connections[using]
    if key not in _FLUSHERS:
        raise KeyError(f"No commit work registered under '{key}'.")
    slot = (key, conn.schema_name)  # a platform action may write into several firms' schemas
    if not conn.in_atomic_block or len(conn.atomic_blocks) <= base_depth(conn):
        with transaction.atomic(using=using):  # its exit flushes
            _pending(conn).setdefault(slot, []).append(item)
        return
    _pending(conn).setdefault(slot, []).append(item)


def commit_work_discard(key: str, *, using: str = DEFAULT_DB_ALIAS) -> None:
    """Forget what the current transaction owes ``key`` in the current schema (its work was redone whole)."""
    conn = connections[using]
    _pending(conn).pop((key, conn.schema_name), None)


class Batch:
    """The statements of one commit's flushes, sent together, in the order added: the lock order.

    Flushers ``add`` statements (with ``then(rows)`` when they need a statement's rows back), and
    the flush sends them in one round trip, with the COMMIT itself when the transaction ends: the
    last shared row is then released by the server's COMMIT, with no round trip or Python while
    it is held. With psycopg's client-side binding (Django's default) several statements go as one
    simple query, which stops at the first error, so a failed statement never reaches the COMMIT;
    a server-side binding cursor gets them one by one, in the same order.
    """

    def __init__(self, conn):
        self.conn = conn
        self.queued: list[tuple[str, list, Callable | None]] = []

    def add(self, sql: str, params=(), *, then: Callable[[list], None] | None = None, bulk: bool = False) -> None:
        """Queue ``sql``. ``bulk``: it binds large arrays, which go faster bound by the server
        (binary) than quoted into the text; it is sent at once, after what is queued."""
        if bulk:
            self.finish()
            rows = bulk_execute(self.conn, sql, params)
            if then is not None:
                then(rows)
            return
        self.queued.append((sql, list(params), then))

    def finish(self, closing: str | None = None) -> None:
        """Send what is queued, and ``closing`` (the COMMIT) after it, in one round trip."""
        statements, self.queued = self.queued, []
        if closing:
            statements.append((closing, [], None))
        if not statements:
            return
        with self.conn.cursor() as cursor:
            if len(statements) == 1 or not isinstance(cursor.cursor, psycopg.ClientCursor):
                for sql, params, then in statements:
                    cursor.execute(sql, params)
                    if then is not None:
                        then(cursor.fetchall())
                return
            cursor.execute(
                "; ".join(sql for sql, _, _ in statements), [p for _, params, _ in statements for p in params]
            )
            for index, (_, _, then) in enumerate(statements):
                if index:
                    cursor.cursor.nextset()
                if then is not None:
                    then(cursor.fetchall())


def bulk_execute(conn, sql: str, params, *, fetch: bool = True) -> list[tuple]:
    """Run ``sql`` with server-side binding, on the connection's current transaction and schema.

    Django's cursors quote every parameter into the statement's text (client-side binding); for
    statements that bind arrays of thousands of values, the server's binary binding is several
    times cheaper. The statement bypasses Django's execute wrappers (it isn't in query counts).
    """
    with conn.cursor() as cursor:  # makes sure the connection is open and on the schema's search path
        raw = psycopg.Cursor(cursor.connection)
        try:
            raw.execute(sql.replace("%s", "%b"), params)  # %b: bound in binary, arrays unquoted
            return raw.fetchall() if fetch and raw.description is not None else []
        finally:
            raw.close()


def commit_work_flush(conn, *, committing: bool = True) -> None:
    """Run the owed flushes by rank, then schema; called by the backend right before COMMIT.

    The (rank, schema) order is the same in every transaction, so even a transaction that
    writes into two firms takes their shared rows in the one global order.
    """
    pending = getattr(conn, "commit_work", None)
    if not pending:
        return
    owed = sorted(
        ((_FLUSHERS[key], schema, items) for (key, schema), items in pending.items() if items),
        key=lambda owed: (owed[0].rank, owed[1]),
    )
    conn.commit_work = {}
    batch = Batch(conn)
    # Django's foreign keys are DEFERRABLE INITIALLY DEFERRED: their checks, which take FOR KEY
    # SHARE on the referenced rows, would otherwise run at COMMIT, after the shared rows below.
    # Run them first, so the shared rows stay the last locks of the transaction.
    batch.add("SET CONSTRAINTS ALL IMMEDIATE")
    current = conn.schema_name
    for flusher, schema, items in owed:
        if schema == current:
            flusher.flush(items, batch)
        else:
            batch.finish()  # what was queued belongs to the schema on the search path now
            with schema_context(schema):
                flusher.flush(items, batch)
                batch.finish()
    # COMMIT in the same round trip: the backend's own COMMIT then finds nothing left to do.
    # A transaction that goes on (a test's wrapper) gets its deferred checks back instead.
    batch.finish(closing="COMMIT" if committing else "SET CONSTRAINTS ALL DEFERRED")


def commit_work_mark(conn) -> dict[str, int]:
    return {key: len(items) for key, items in _pending(conn).items()}


def commit_work_rewind(conn, mark: dict[str, int] | None) -> None:
    """Forget what was added after ``mark`` (a savepoint's), or everything when ``mark`` is None."""
    if mark is None:
        conn.commit_work = {}
        return
    pending = _pending(conn)
    for key in list(pending):
        del pending[key][mark.get(key, 0) :]
