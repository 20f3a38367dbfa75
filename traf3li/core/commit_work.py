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

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django_tenants.utils import schema_context

Flush = Callable[[list], None]


@dataclass(frozen=True)
class _Flusher:
    rank: int
    flush: Flush


_FLUSHERS: dict[str, _Flusher] = {}


def commit_work_register(key: str, *, rank: int, flush: Flush) -> None:
    """``flush(items)`` runs at commit with everything added under ``key``; lower ranks run first."""
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


def commit_work_flush(conn, *, committing: bool = True) -> None:
    """Run the owed flushes by rank, then schema; called by the backend right before COMMIT.

    The (rank, schema) order is the same in every transaction, so even a transaction that
    writes into two firms takes their shared rows in the one global order.
    """
    pending = getattr(conn, "commit_work", None)
    if not pending:
        return
    owed = sorted(
        (_FLUSHERS[key].rank, schema, _FLUSHERS[key].flush, items) for (key, schema), items in pending.items() if items
    )
    conn.commit_work = {}
    with conn.cursor() as cursor:
        # Django's foreign keys are DEFERRABLE INITIALLY DEFERRED: their checks, which take
        # FOR KEY SHARE on the referenced rows, would otherwise run at COMMIT, after the shared
        # rows below. Run them now, so the shared rows stay the last locks of the transaction.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    current = conn.schema_name
    for _, schema, flush, items in owed:
        if schema == current:
            flush(items)
        else:
            with schema_context(schema):
                flush(items)
    if not committing:  # the transaction goes on (a test's wrapper): give it back its deferred checks
        with conn.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")


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
