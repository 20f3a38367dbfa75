"""Retention: what ages out of a firm goes by the firm's settings, daily, never under legal hold (ADR 0064).

What goes, per the firm's settings (``GET/PATCH /api/v1/firm/``, ``retention``):

- **Email events** (``messaging_emailevent``, partitioned by month of ``occurred_at``) older than
  ``email_events_days``: whole monthly partitions are dropped once the month has wholly expired,
  so an event goes between N days and N days plus a month after it happened. The events of an
  email whose subject is under legal hold are moved first, in the same transaction, into the
  table's DEFAULT partition, where they stay (a later purge deletes them row by row once the
  hold is lifted: the DEFAULT partition only ever holds such rows and strays).
- **A case's audit events** older than ``case_audit_years`` (``audit.services.audit_purge``,
  ``case_scoped=True``): the audit log keeps its own rules (never a held case's events, never the
  erase and purge records) and leaves its vouched anchors, so the chain still verifies.
- **The unmatched inbox**: messages, calls and emails matched to no record, created more than
  ``unmatched_inbox_days`` ago. A row with no subject can't be under any hold.
- **Raw webhook deliveries** (``messaging_webhookdelivery``, partitioned by month of
  ``received_at``) processed more than ``webhook_deliveries_days`` ago, with the events they were
  counted by (``ProcessedEvent``) and their replay keys (``DeliveryKey``), unless they carried an
  event of a held message, call or email. A month's partition is dropped once the month is wholly
  older than the setting; its rows not processed yet, processed since the cut-off, or held move
  to DEFAULT first (the same code as the email events'), where a later purge deletes them row by
  row when they may go. Their processed events and keys are deleted by row (small rows). A
  delivery not processed yet is never purged.

**Held** means what ``traf3li.core.privacy.subjects_held`` says of the row's subject: the message,
call or email's ``subject`` is, belongs to or reaches (through the hierarchy registry) a case or
client under legal hold. An email event is held when its email is; a webhook delivery when one
of its counted events names a held message or call (the provider's id before the ``:`` of the
event's idempotency key) or is an event of a held email.

**The receipt.** One ``retention_purge`` audit event on the firm, in the purge's transaction:
per table the rows removed, the rows kept under hold, the range of what went (oldest and newest
time), the partitions dropped and a SHA-256 digest of the removed ids (never their content).
A digest is ``sha256`` of the removed ids in ascending order, as decimal text joined by commas,
computed per dropped partition or per statement; a table's ``sha256`` is that of its parts'
digests joined by newlines, in the order listed in ``parts``.

**Partitions are DDL.** Creating the months ahead and dropping expired ones runs on
``connections[owner_alias()]`` with schema-qualified names; everything else on the default
connection. When those are one connection (no owner alias) it is all one transaction. When they
are two, the receipt (default) commits before the drops (owner): a failure in between leaves a
receipt whose rows are still there, and the next day's run removes them with a receipt of its own;
never rows removed without a receipt.

**Locks** (ADR 0030): the row deletes first (inbox, the audit purge under its own bypass), then,
for each expiring month of the email events and then of the deliveries, the month's partition
(SHARE) and the table's parent (ACCESS EXCLUSIVE, under ``lock_timeout``: a purge that can't have
it within seconds fails and runs again the next day instead of queueing every writer behind it),
then the chain head at commit as always.
"""

import hashlib
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import connection, connections, transaction
from django.db.models import Q
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import audit_purge, audit_purge_selection, audit_record, json_safe
from messaging.models import Call, DeliveryKey, EmailEvent, EmailMessage, Message, ProcessedEvent, WebhookDelivery
from traf3li.core.db import owner_alias, owner_as_default
from traf3li.core.privacy import subjects_held
from traf3li.core.subjects import SubjectRef
from traf3li.firms.selectors import firm_current

logger = logging.getLogger(__name__)

RECEIPT_ACTION = "retention_purge"
MONTHS_AHEAD = 3  # partitions kept ready ahead of time: a missed upkeep run sends nothing to DEFAULT
LOCK_TIMEOUT = "5s"
EMAIL_EVENTS = EmailEvent._meta.db_table
DEFAULT_PARTITION = f"{EMAIL_EVENTS}_default"
DELIVERIES, COUNTED, KEYS = WebhookDelivery._meta.db_table, ProcessedEvent._meta.db_table, DeliveryKey._meta.db_table
# The sha256 of the removed ids, ascending, joined by commas (see the module's docstring).
DIGEST_SQL = "encode(sha256(convert_to(coalesce(string_agg(id::text, ',' ORDER BY id), ''), 'UTF8')), 'hex')"
SUMMARY_SQL = f"count(*), min({{at}}), max({{at}}), {DIGEST_SQL}"
HELD_EVENT = "message_id = ANY(%s::bigint[])"  # an email event of a held email (the ids are the parameter)


@dataclass
class Part:
    """What one statement or one dropped partition removed (or would remove)."""

    name: str
    removed: int
    oldest: datetime | None
    newest: datetime | None
    sha256: str

    def as_dict(self) -> dict:
        return {"name": self.name, "removed": self.removed, "oldest": self.oldest, "newest": self.newest,
                "sha256": self.sha256}  # fmt: skip


@dataclass
class TablePurge:
    """One table's share of a purge: how, before when, what went and what stayed under hold."""

    model: str
    method: str  # "partition" (whole months dropped) or "delete"
    before: datetime
    kept_under_hold: int = 0
    parts: list[Part] = field(default_factory=list)
    partitions_dropped: list[str] = field(default_factory=list)
    # Seconds per step, for the logs and the benchmark (not in the receipt: it is about the data).
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def removed(self) -> int:
        return sum(part.removed for part in self.parts)

    def as_dict(self) -> dict:
        times = [t for part in self.parts for t in (part.oldest, part.newest) if t is not None]
        digest = hashlib.sha256("\n".join(part.sha256 for part in self.parts).encode()).hexdigest()
        return {
            "model": self.model,
            "method": self.method,
            "before": self.before,
            "removed": self.removed,
            "kept_under_hold": self.kept_under_hold,
            "oldest": min(times) if times else None,
            "newest": max(times) if times else None,
            "partitions_dropped": self.partitions_dropped,
            "sha256": digest,
            "parts": [part.as_dict() for part in self.parts],
        }


def _years_before(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year - years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year - years, day=28)


def retention_cutoffs(firm, now: datetime | None = None) -> dict[str, datetime]:
    """Before when each kind of data goes, by the firm's settings (UTC instants)."""
    now = now or timezone.now()
    return {
        "email_events": now - timedelta(days=firm.retention_email_events_days),
        "case_audit": _years_before(now, firm.retention_case_audit_years),
        "unmatched_inbox": now - timedelta(days=firm.retention_unmatched_inbox_days),
        "webhook_deliveries": now - timedelta(days=firm.retention_webhook_deliveries_days),
    }


# --- who is held -----------------------------------------------------------------------------------


def _held_ids(model) -> list[int]:
    """The ids of ``model``'s rows (messages, calls, emails) whose subject is under legal hold."""
    subjects = {
        SubjectRef(subject_type, subject_id)
        for subject_type, subject_id in model.objects.filter(subject_id__isnull=False)
        .exclude(subject_type="")
        .values_list("subject_type", "subject_id")
        .distinct()
    }
    held = subjects_held(subjects)
    if not held:
        return []
    query = Q(pk__in=[])
    for ref in held:
        query |= Q(subject_type=ref.type, subject_id=ref.id)
    return list(model.objects.filter(query).values_list("pk", flat=True))


# --- partitions ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Monthly:
    """A table partitioned by month of ``at`` (UTC), with a DEFAULT partition for the rest."""

    table: str
    at: str

    @property
    def default(self) -> str:
        return f"{self.table}_default"

    def partition(self, month: datetime) -> str:
        return f"{self.table}_p{month:%Y%m}"


EMAIL_EVENTS_BY_MONTH = Monthly(EMAIL_EVENTS, "occurred_at")
DELIVERIES_BY_MONTH = Monthly(DELIVERIES, "received_at")
PARTITIONED = (EMAIL_EVENTS_BY_MONTH, DELIVERIES_BY_MONTH)


def _month_start(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _next_month(month: datetime) -> datetime:
    return month.replace(year=month.year + 1, month=1) if month.month == 12 else month.replace(month=month.month + 1)


def _qualified(schema: str, name: str) -> str:
    return f'"{schema}"."{name}"'


def partitions_of(schema: str, monthly: Monthly) -> list[tuple[str, datetime]]:
    """A table's monthly partitions in ``schema``: (name, first instant of the month), oldest first."""
    with connections[owner_alias()].cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname FROM pg_inherits i
              JOIN pg_class c ON c.oid = i.inhrelid
              JOIN pg_class p ON p.oid = i.inhparent
              JOIN pg_namespace n ON n.oid = p.relnamespace
             WHERE n.nspname = %s AND p.relname = %s
            """,
            [schema, monthly.table],
        )
        names = [row[0] for row in cursor.fetchall()]
    prefix = f"{monthly.table}_p"
    found = []
    for name in names:
        suffix = name.removeprefix(prefix)
        if name.startswith(prefix) and len(suffix) == 6 and suffix.isdigit():
            found.append((name, datetime(int(suffix[:4]), int(suffix[4:]), 1, tzinfo=UTC)))
    return sorted(found, key=lambda item: item[1])


def partitions_ensure(schema: str, *, now: datetime | None = None, months_ahead: int = MONTHS_AHEAD) -> list[str]:
    """Create each partitioned table's partitions of this month and the next ``months_ahead``; the names created.

    A month's rows already in the DEFAULT partition (strays) move into the new partition in the
    same transaction, before it is attached (PostgreSQL refuses to attach over them otherwise). A
    new partition takes the DEFAULT partition's storage settings (the deliveries' autovacuum ones).
    """
    alias, created = owner_alias(), []
    for monthly in PARTITIONED:
        existing = {name for name, _ in partitions_of(schema, monthly)}
        month = _month_start(now or timezone.now())
        parent, default = _qualified(schema, monthly.table), _qualified(schema, monthly.default)
        for _ in range(months_ahead + 1):
            name, upper = monthly.partition(month), _next_month(month)
            if name not in existing:
                table = _qualified(schema, name)
                with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
                    cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                    cursor.execute("SELECT array_to_string(reloptions, ', ') FROM pg_class WHERE oid = %s::regclass",
                                   [default])  # fmt: skip
                    storage = cursor.fetchone()[0]
                    cursor.execute(
                        f"CREATE TABLE {table} (LIKE {parent} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
                        + (f" WITH ({storage})" if storage else "")
                    )
                    cursor.execute(
                        f"WITH moved AS (DELETE FROM {default} WHERE {monthly.at} >= %s AND {monthly.at} < %s"
                        f" RETURNING *) INSERT INTO {table} SELECT * FROM moved",
                        [month, upper],
                    )
                    cursor.execute(f"ALTER TABLE {parent} ATTACH PARTITION {table} FOR VALUES FROM (%s) TO (%s)",
                                   [month, upper])  # fmt: skip
                created.append(name)
            month = upper
    return created


def _summary(cursor, sql: str, params, name: str) -> Part:
    cursor.execute(sql, params)
    removed, oldest, newest, digest = cursor.fetchone()
    return Part(name, removed, oldest, newest, digest)


def _drop_months(
    schema: str,
    monthly: Monthly,
    purge: TablePurge,
    *,
    kept: tuple[str, list],
    held: tuple[str, list],
    dry_run: bool,
    removing=None,
) -> None:
    """Drop every monthly partition wholly before ``purge.before``; its ``kept`` rows move to DEFAULT.

    ``kept`` and ``held`` are SQL conditions on the partition's rows with their parameters: what
    stays (moved to DEFAULT) and, of it, what counts as kept under hold. ``removing(cursor, table,
    condition, params)``, when given, runs before the drop, the partition locked, to remove what
    goes with the removed rows (``condition`` selects them in ``table``).
    """
    alias = owner_alias()
    parent = _qualified(schema, monthly.table)
    (kept_sql, kept_params), (held_sql, held_params) = kept, held
    gone = f"NOT ({kept_sql})"
    for name, month in partitions_of(schema, monthly):
        if _next_month(month) > purge.before:
            break
        table = _qualified(schema, name)
        started = time.perf_counter()
        with connections[alias].cursor() as cursor:
            if not dry_run:
                # The transaction's deferred foreign-key checks run now: PostgreSQL drops no table
                # with checks pending, and they'd otherwise run at COMMIT under our lock (ADR 0030).
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                # The month's rows stay as counted (SHARE: no late row lands in it, none changes);
                # every other month is written and read as usual while the digest is taken.
                cursor.execute(f"LOCK TABLE {table} IN SHARE MODE")
            cursor.execute(
                f"SELECT count(*) FILTER (WHERE {gone}), min({monthly.at}) FILTER (WHERE {gone}),"
                f" max({monthly.at}) FILTER (WHERE {gone}), encode(sha256(convert_to(coalesce("
                f"string_agg(id::text, ',' ORDER BY id) FILTER (WHERE {gone}), ''), 'UTF8')), 'hex'),"
                f" count(*) FILTER (WHERE {held_sql}) FROM {table}",
                [*kept_params * 4, *held_params],
            )
            removed, oldest, newest, digest, kept_count = cursor.fetchone()
            if not dry_run:
                if removing is not None:
                    removed_at = time.perf_counter()
                    removing(cursor, table, gone, kept_params)
                    purge.timings[f"{name} related rows deleted"] = time.perf_counter() - removed_at
                keep = f'"retention_keep_{name}"'
                cursor.execute(
                    f"CREATE TEMP TABLE {keep} ON COMMIT DROP AS SELECT * FROM {table} WHERE {kept_sql}", kept_params
                )
                # Only now the parent, for the drop: from here to COMMIT every reader and writer of
                # the table waits (ADR 0064: the drop, the kept rows' insert, the receipt).
                purge.timings[f"{name} counted and copied"] = time.perf_counter() - started
                started = time.perf_counter()
                cursor.execute(f"LOCK TABLE {parent} IN ACCESS EXCLUSIVE MODE")
                cursor.execute(f"DROP TABLE {table}")
                cursor.execute(f"INSERT INTO {parent} SELECT * FROM {keep}")  # no partition for the month: DEFAULT
                cursor.execute(f"DROP TABLE {keep}")
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")
                purge.timings[f"{name} dropped"] = time.perf_counter() - started
        purge.parts.append(Part(name, removed, oldest, newest, digest))
        purge.partitions_dropped.append(name)
        purge.kept_under_hold += kept_count


def _purge_email_events(schema: str, before: datetime, *, dry_run: bool) -> TablePurge:
    """Drop every monthly partition wholly before ``before``; the held emails' events move to DEFAULT."""
    purge = TablePurge(EmailEvent._meta.label, "partition", before)
    held = _held_ids(EmailMessage)
    default = _qualified(schema, DEFAULT_PARTITION)
    summary = SUMMARY_SQL.format(at="occurred_at")
    # What the DEFAULT partition holds past the cut-off (rows once held, strays) goes row by row; first,
    # so the rows this run moves there (held) are counted once.
    doomed = f"FROM {default} WHERE occurred_at < %s AND NOT {HELD_EVENT}"
    with connections[owner_alias()].cursor() as cursor:
        if dry_run:
            part = _summary(cursor, f"SELECT {summary} {doomed}", [before, held], DEFAULT_PARTITION)
        else:
            part = _summary(
                cursor,
                f"WITH gone AS (DELETE {doomed} RETURNING id, occurred_at) SELECT {summary} FROM gone",
                [before, held],
                DEFAULT_PARTITION,
            )
        cursor.execute(f"SELECT count(*) FROM {default} WHERE occurred_at < %s AND {HELD_EVENT}", [before, held])
        purge.kept_under_hold += cursor.fetchone()[0]
    purge.parts.append(part)
    _drop_months(schema, EMAIL_EVENTS_BY_MONTH, purge, kept=(HELD_EVENT, [held]), held=(HELD_EVENT, [held]),
                 dry_run=dry_run)  # fmt: skip
    return purge


# --- webhook deliveries ----------------------------------------------------------------------------


def _held_deliveries() -> list[int]:
    """The ids of deliveries that carried an event of a held message, call or email."""
    held_messages = list(
        Message.objects.filter(pk__in=_held_ids(Message)).values_list("provider", "external_id")
    ) + list(Call.objects.filter(pk__in=_held_ids(Call)).values_list("provider", "external_id"))
    held_emails = _held_ids(EmailMessage)
    with connections[owner_alias()].cursor() as cursor:
        cursor.execute(
            f"""
            SELECT DISTINCT pe.delivery_id FROM {COUNTED} pe
             WHERE (pe.provider, split_part(pe.idempotency_key, ':', 1)) IN (
                       SELECT * FROM unnest(%s::text[], %s::text[]))
                OR (pe.provider, pe.idempotency_key) IN (
                       SELECT provider, idempotency_key FROM {EMAIL_EVENTS} WHERE {HELD_EVENT})
            """,
            [[p for p, _ in held_messages], [e for _, e in held_messages], held_emails],
        )
        return [row[0] for row in cursor.fetchall()]


# A delivery held (its id the first parameter), not processed yet, or processed since the cut-off
# (the second): it stays, in DEFAULT when its month is dropped.
HELD_DELIVERY = "id = ANY(%s::bigint[])"
KEPT_DELIVERY = f"({HELD_DELIVERY} OR processed_at IS NULL OR processed_at >= %s)"


def _deliveries_removing(cursor, table: str, condition: str, params: list) -> None:
    """Delete, by row, the processed events and replay keys of ``table``'s deliveries that ``condition`` selects.

    A few small rows per delivery (an event id, a key); the deliveries themselves go by the drop.
    """
    cursor.execute(f"DELETE FROM {COUNTED} WHERE delivery_id IN (SELECT id FROM {table} WHERE {condition})", params)
    cursor.execute(
        f"DELETE FROM {KEYS} WHERE (provider, dedup_key) IN"
        f" (SELECT provider, dedup_key FROM {table} WHERE {condition})",
        params,
    )


def _purge_deliveries(schema: str, before: datetime, *, dry_run: bool) -> TablePurge:
    """Processed deliveries older than ``before``, with their processed events and keys, unless held.

    The months wholly before ``before`` are dropped, what they still keep (held, unprocessed,
    processed since) moved to DEFAULT; what DEFAULT holds and may go now is deleted row by row.
    """
    purge = TablePurge(WebhookDelivery._meta.label, "partition", before)
    held = _held_deliveries()
    default = _qualified(schema, DELIVERIES_BY_MONTH.default)
    doomed = f"{default} WHERE processed_at IS NOT NULL AND processed_at < %s AND NOT {HELD_DELIVERY}"
    summary = SUMMARY_SQL.format(at="received_at")
    with connections[owner_alias()].cursor() as cursor:
        if dry_run:
            part = _summary(cursor, f"SELECT {summary} FROM {doomed}", [before, held], DELIVERIES_BY_MONTH.default)
        else:
            cursor.execute(f"CREATE TEMP TABLE retention_gone_deliveries ON COMMIT DROP AS SELECT * FROM {doomed}",
                           [before, held])  # fmt: skip
            _deliveries_removing(cursor, "retention_gone_deliveries", "true", [])
            part = _summary(
                cursor,
                f"WITH gone AS (DELETE FROM {default} w USING retention_gone_deliveries d WHERE w.id = d.id"
                f" RETURNING w.id, w.received_at) SELECT {summary} FROM gone",
                [],
                DELIVERIES_BY_MONTH.default,
            )
            cursor.execute("DROP TABLE retention_gone_deliveries")
        cursor.execute(f"SELECT count(*) FROM {default} WHERE processed_at < %s AND {HELD_DELIVERY}", [before, held])
        purge.kept_under_hold += cursor.fetchone()[0]
    purge.parts.append(part)
    _drop_months(schema, DELIVERIES_BY_MONTH, purge, kept=(KEPT_DELIVERY, [held, before]),
                 held=(f"{HELD_DELIVERY} AND processed_at < %s", [held, before]), dry_run=dry_run,
                 removing=_deliveries_removing)  # fmt: skip
    return purge


# --- rows deleted one by one -----------------------------------------------------------------------


def _part_of(name: str, rows, at: str) -> tuple[Part, list[int]]:
    """The part ``rows`` (a queryset) would remove, counted and digested in Python; and their ids."""
    found = sorted(rows.values_list("pk", at))
    ids, times = [pk for pk, _ in found], [moment for _, moment in found]
    digest = hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()
    return Part(name, len(ids), min(times, default=None), max(times, default=None), digest), ids


def _purge_unmatched(before: datetime, *, dry_run: bool) -> list[TablePurge]:
    """Messages, calls and emails matched to no record, created before ``before``; an email's events
    go with it (listed as a part of the email's table)."""
    purges = []
    for model in (Message, Call, EmailMessage):
        purge = TablePurge(model._meta.label, "delete", before)
        part, ids = _part_of(
            model._meta.db_table, model.objects.filter(subject_id__isnull=True, created_at__lt=before), "created_at"
        )
        purge.parts.append(part)
        if model is EmailMessage:
            events, _ = _part_of(EMAIL_EVENTS, EmailEvent.objects.filter(message_id__in=ids), "occurred_at")
            purge.parts.append(events)
        if ids and not dry_run:
            model.objects.filter(pk__in=ids).delete()  # the ORM's cascade: an email's events first
        purges.append(purge)
    return purges


def _purge_case_audit(before: datetime, *, dry_run: bool, actor) -> TablePurge:
    """A case's audit events older than ``before``, by ``audit_purge`` (never a held case's)."""
    purge = TablePurge(AuditEvent._meta.label, "delete", before)
    # What ``audit_purge(case_scoped=True)`` takes, by its own selection, read first for the receipt:
    # the log is append-only and these events are years old, so the two reads see the same rows.
    doomed, under_hold = audit_purge_selection(before=before, case_scoped=True)
    part, _ = _part_of(AuditEvent._meta.db_table, doomed, "occurred_at")
    purge.kept_under_hold = under_hold.count()
    if not dry_run:
        part.removed = audit_purge(before=before, case_scoped=True, actor=actor)
    purge.parts.append(part)
    return purge


# --- the purge ---------------------------------------------------------------------------------------


def _run(*, dry_run: bool, actor, now: datetime | None, timings: dict | None = None) -> dict:
    firm = firm_current(fresh=True)
    now = now or timezone.now()
    cutoffs = retention_cutoffs(firm, now)
    schema = connection.schema_name
    steps = [
        ("unmatched inbox", lambda: _purge_unmatched(cutoffs["unmatched_inbox"], dry_run=dry_run)),
        ("case audit", lambda: [_purge_case_audit(cutoffs["case_audit"], dry_run=dry_run, actor=actor)]),
        ("email events", lambda: [_purge_email_events(schema, cutoffs["email_events"], dry_run=dry_run)]),
        # Last: from its drop to COMMIT the webhooks wait (ADR 0064).
        ("webhook deliveries", lambda: [_purge_deliveries(schema, cutoffs["webhook_deliveries"], dry_run=dry_run)]),
    ]
    tables = []
    for step, purge in steps:
        started = time.perf_counter()
        done = purge()
        tables.extend(done)
        if timings is not None:
            timings[step] = time.perf_counter() - started
            for table in done:
                timings.update(table.timings)
    return {
        "dry_run": dry_run,
        "at": now,
        "settings": {
            "email_events_days": firm.retention_email_events_days,
            "case_audit_years": firm.retention_case_audit_years,
            "unmatched_inbox_days": firm.retention_unmatched_inbox_days,
            "webhook_deliveries_days": firm.retention_webhook_deliveries_days,
        },
        "tables": [table.as_dict() for table in tables],
        "removed": sum(table.removed for table in tables),
        "kept_under_hold": sum(table.kept_under_hold for table in tables),
    }


def retention_dry_run(*, now: datetime | None = None) -> dict:
    """What the purge would remove now in the current firm, per table, and what it would keep under hold."""
    with owner_as_default(), transaction.atomic(using=owner_alias()), transaction.atomic():
        return json_safe(_run(dry_run=True, actor=None, now=now))


def retention_purge(*, actor=None, now: datetime | None = None, timings: dict | None = None) -> dict:
    """Purge the current firm by its retention settings and leave the receipt in its audit chain.

    ``timings`` (a dict), when given, gets the seconds of each step (the benchmark's)."""
    alias = owner_alias()
    timings = {} if timings is None else timings
    with owner_as_default(), transaction.atomic(using=alias):
        with transaction.atomic():  # the default connection's: the receipt commits first (see above)
            receipt = json_safe(_run(dry_run=False, actor=actor, now=now, timings=timings))
            audit_record(action=RECEIPT_ACTION, instance=firm_current(fresh=True), after=receipt, actor=actor)
            started = time.perf_counter()
        timings["receipt"] = time.perf_counter() - started
        started = time.perf_counter()
        partitions_ensure(connection.schema_name, now=now)
        timings["months ahead made"] = time.perf_counter() - started
        started = time.perf_counter()
    timings["committed"] = time.perf_counter() - started
    logger.info("retention: %s removed, %s kept under hold; seconds %s", receipt["removed"],
                receipt["kept_under_hold"], {step: round(seconds, 3) for step, seconds in timings.items()})  # fmt: skip
    return receipt
