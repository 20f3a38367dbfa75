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
- **Raw webhook deliveries** processed more than ``webhook_deliveries_days`` ago, with the
  events they were counted by (``ProcessedEvent``), unless they carried an event of a held
  message, call or email. A delivery not processed yet is never purged.

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

**Locks** (ADR 0030): the row deletes first (inbox, deliveries, the audit purge under its own
bypass), then, for each expiring month, ``LOCK TABLE`` on the email events' parent (ACCESS
EXCLUSIVE, under ``lock_timeout``: a purge that can't have it within seconds fails and runs again
the next day instead of queueing every writer behind it), then the chain head at commit as always.
"""

import hashlib
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import connection, connections, transaction
from django.db.models import Q
from django.utils import timezone

from audit.choices import AuditAction
from audit.models import AuditEvent
from audit.services import audit_purge, audit_record, json_safe
from messaging.models import Call, EmailEvent, EmailMessage, Message, ProcessedEvent, WebhookDelivery
from traf3li.core.db import owner_alias
from traf3li.core.privacy import subjects_held
from traf3li.core.registries import legal_hold_case_ids
from traf3li.core.subjects import SubjectRef

logger = logging.getLogger(__name__)

RECEIPT_ACTION = "retention_purge"
MONTHS_AHEAD = 3  # partitions kept ready ahead of time: a missed upkeep run sends nothing to DEFAULT
LOCK_TIMEOUT = "5s"
EMAIL_EVENTS = EmailEvent._meta.db_table
DEFAULT_PARTITION = f"{EMAIL_EVENTS}_default"
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


def _month_start(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _next_month(month: datetime) -> datetime:
    return month.replace(year=month.year + 1, month=1) if month.month == 12 else month.replace(month=month.month + 1)


def _partition_name(month: datetime) -> str:
    return f"{EMAIL_EVENTS}_p{month:%Y%m}"


def _qualified(schema: str, name: str) -> str:
    return f'"{schema}"."{name}"'


def email_event_partitions(schema: str) -> list[tuple[str, datetime]]:
    """The email events' monthly partitions in ``schema``: (name, first instant of the month), oldest first."""
    with connections[owner_alias()].cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname FROM pg_inherits i
              JOIN pg_class c ON c.oid = i.inhrelid
              JOIN pg_class p ON p.oid = i.inhparent
              JOIN pg_namespace n ON n.oid = p.relnamespace
             WHERE n.nspname = %s AND p.relname = %s
            """,
            [schema, EMAIL_EVENTS],
        )
        names = [row[0] for row in cursor.fetchall()]
    prefix = f"{EMAIL_EVENTS}_p"
    found = []
    for name in names:
        suffix = name.removeprefix(prefix)
        if name.startswith(prefix) and len(suffix) == 6 and suffix.isdigit():
            found.append((name, datetime(int(suffix[:4]), int(suffix[4:]), 1, tzinfo=UTC)))
    return sorted(found, key=lambda item: item[1])


def partitions_ensure(schema: str, *, now: datetime | None = None, months_ahead: int = MONTHS_AHEAD) -> list[str]:
    """Create the email events' partitions of this month and the next ``months_ahead``; the names created.

    A month's rows already in the DEFAULT partition (strays) move into the new partition in the
    same transaction, before it is attached (PostgreSQL refuses to attach over them otherwise).
    """
    existing = {name for name, _ in email_event_partitions(schema)}
    month, created = _month_start(now or timezone.now()), []
    alias = owner_alias()
    parent, default = _qualified(schema, EMAIL_EVENTS), _qualified(schema, DEFAULT_PARTITION)
    for _ in range(months_ahead + 1):
        name, upper = _partition_name(month), _next_month(month)
        if name not in existing:
            table = _qualified(schema, name)
            with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
                cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                cursor.execute(f"CREATE TABLE {table} (LIKE {parent} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
                cursor.execute(
                    f"WITH moved AS (DELETE FROM {default} WHERE occurred_at >= %s AND occurred_at < %s RETURNING *)"
                    f" INSERT INTO {table} SELECT * FROM moved",
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


def _purge_email_events(schema: str, before: datetime, *, dry_run: bool) -> TablePurge:
    """Drop every monthly partition wholly before ``before``; the held emails' events move to DEFAULT."""
    purge = TablePurge(EmailEvent._meta.label, "partition", before)
    held = _held_ids(EmailMessage)
    alias = owner_alias()
    parent, default = _qualified(schema, EMAIL_EVENTS), _qualified(schema, DEFAULT_PARTITION)
    summary = SUMMARY_SQL.format(at="occurred_at")
    # What the DEFAULT partition holds past the cut-off (rows once held, strays) goes row by row; first,
    # so the rows this run moves there (held) are counted once.
    doomed = f"FROM {default} WHERE occurred_at < %s AND NOT {HELD_EVENT}"
    with connections[alias].cursor() as cursor:
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
    for name, month in email_event_partitions(schema):
        if _next_month(month) > before:
            break
        table = _qualified(schema, name)
        started = time.perf_counter()
        with connections[alias].cursor() as cursor:
            if not dry_run:
                # The transaction's deferred foreign-key checks run now: PostgreSQL drops no table
                # with checks pending, and they'd otherwise run at COMMIT under our lock (ADR 0030).
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                # The month's rows stay as counted (SHARE: no late event lands in it meanwhile);
                # every other month is written and read as usual while the digest is taken.
                cursor.execute(f"LOCK TABLE {table} IN SHARE MODE")
            cursor.execute(
                f"SELECT count(*) FILTER (WHERE NOT {HELD_EVENT}), min(occurred_at) FILTER (WHERE NOT {HELD_EVENT}),"
                f" max(occurred_at) FILTER (WHERE NOT {HELD_EVENT}), encode(sha256(convert_to(coalesce("
                f"string_agg(id::text, ',' ORDER BY id) FILTER (WHERE NOT {HELD_EVENT}), ''), 'UTF8')), 'hex'),"
                f" count(*) FILTER (WHERE {HELD_EVENT}) FROM {table}",
                [held] * 5,
            )
            removed, oldest, newest, digest, kept = cursor.fetchone()
            if not dry_run:
                keep = f'"retention_keep_{name}"'
                cursor.execute(
                    f"CREATE TEMP TABLE {keep} ON COMMIT DROP AS SELECT * FROM {table} WHERE {HELD_EVENT}", [held]
                )
                # Only now the parent, for the drop: from here to COMMIT every reader and writer of
                # email events waits (ADR 0064: the drop, the held rows' insert, the receipt).
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
        purge.kept_under_hold += kept
    return purge


# --- rows deleted one by one -----------------------------------------------------------------------


def _purge_deliveries(before: datetime, *, dry_run: bool) -> TablePurge:
    """Processed deliveries older than ``before`` and the events they were counted by, unless held."""
    purge = TablePurge(WebhookDelivery._meta.label, "delete", before)
    deliveries, counted = WebhookDelivery._meta.db_table, ProcessedEvent._meta.db_table
    held_messages = list(
        Message.objects.filter(pk__in=_held_ids(Message)).values_list("provider", "external_id")
    ) + list(Call.objects.filter(pk__in=_held_ids(Call)).values_list("provider", "external_id"))
    held_emails = _held_ids(EmailMessage)
    held_sql = f"""
        SELECT pe.delivery_id FROM {counted} pe
         WHERE (pe.provider, split_part(pe.idempotency_key, ':', 1)) IN (
                   SELECT * FROM unnest(%s::text[], %s::text[]))
            OR (pe.provider, pe.idempotency_key) IN (
                   SELECT provider, idempotency_key FROM {EMAIL_EVENTS} WHERE {HELD_EVENT})
    """
    held_params = [[p for p, _ in held_messages], [e for _, e in held_messages], held_emails]
    due = f"SELECT id FROM {deliveries} WHERE processed_at IS NOT NULL AND processed_at < %s"
    summary = SUMMARY_SQL.format(at="received_at")
    with connection.cursor() as cursor:
        doomed = f"doomed AS MATERIALIZED ({due} AND id NOT IN ({held_sql}))"
        if dry_run:
            sql = f"WITH {doomed} SELECT {summary} FROM {deliveries} WHERE id IN (SELECT id FROM doomed)"
        else:
            sql = f"""
                WITH {doomed},
                uncounted AS (DELETE FROM {counted} pe USING doomed d WHERE pe.delivery_id = d.id RETURNING 1),
                gone AS (DELETE FROM {deliveries} w USING doomed d WHERE w.id = d.id RETURNING w.id, w.received_at)
                SELECT {summary} FROM gone
            """
        purge.parts.append(_summary(cursor, sql, [before, *held_params], deliveries))
        cursor.execute(f"SELECT count(*) FROM ({due} AND id IN ({held_sql})) held", [before, *held_params])
        purge.kept_under_hold = cursor.fetchone()[0]
    return purge


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
    held = legal_hold_case_ids()
    # What ``audit_purge(case_scoped=True)`` takes, read first for the receipt: the log is
    # append-only and these events are years old, so the two reads see the same rows.
    candidates = AuditEvent.objects.filter(occurred_at__lt=before, case_id__isnull=False).exclude(
        action__in=[AuditAction.ERASE, AuditAction.PURGE]
    )
    part, _ = _part_of(AuditEvent._meta.db_table, candidates.exclude(case_id__in=held), "occurred_at")
    purge.kept_under_hold = candidates.filter(case_id__in=held).count()
    if not dry_run:
        part.removed = audit_purge(before=before, case_scoped=True, actor=actor)
    purge.parts.append(part)
    return purge


# --- the purge ---------------------------------------------------------------------------------------


def _firm():
    from traf3li.firms.models import Firm

    return Firm.objects.get(pk=connection.tenant.pk)


def _run(*, dry_run: bool, actor, now: datetime | None, timings: dict | None = None) -> dict:
    firm = _firm()
    now = now or timezone.now()
    cutoffs = retention_cutoffs(firm, now)
    schema = connection.schema_name
    steps = [
        ("unmatched inbox", lambda: _purge_unmatched(cutoffs["unmatched_inbox"], dry_run=dry_run)),
        ("webhook deliveries", lambda: [_purge_deliveries(cutoffs["webhook_deliveries"], dry_run=dry_run)]),
        ("case audit", lambda: [_purge_case_audit(cutoffs["case_audit"], dry_run=dry_run, actor=actor)]),
        ("email events", lambda: [_purge_email_events(schema, cutoffs["email_events"], dry_run=dry_run)]),
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
    with transaction.atomic(using=owner_alias()), transaction.atomic():
        return json_safe(_run(dry_run=True, actor=None, now=now))


def retention_purge(*, actor=None, now: datetime | None = None, timings: dict | None = None) -> dict:
    """Purge the current firm by its retention settings and leave the receipt in its audit chain.

    ``timings`` (a dict), when given, gets the seconds of each step (the benchmark's)."""
    alias = owner_alias()
    timings = {} if timings is None else timings
    with transaction.atomic(using=alias):
        with transaction.atomic():  # the default connection's: the receipt commits first (see above)
            receipt = json_safe(_run(dry_run=False, actor=actor, now=now, timings=timings))
            audit_record(action=RECEIPT_ACTION, instance=_firm(), after=receipt, actor=actor)
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
