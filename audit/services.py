"""The one audit recording function, plus the two audited ways around append-only.

Services call ``audit_record`` inside their own transaction. The event is built and digested at
once, and linked to the firm's hash chain when the transaction commits: the flush reads the
chain head under its row lock, links the transaction's events in Python and inserts them, then moves
the head (ADR 0004, ADR 0030). The head is thus the last lock a writer takes,
and it is held only for the flush and the COMMIT. ``audit_purge`` (retention) and
``audit_erase`` (GDPR) are the only code that may delete or rewrite events; each calls the
database's SECURITY DEFINER function for it (the product's own role may not, ADR 0062) and records
what it did as a new event.
"""

import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal
from functools import cache

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.db.models import Q

from audit import chain
from audit.choices import ERROR_UNKNOWN_ACTION, ActorType, AuditAction, Source, action_is_registered
from audit.models import AuditChainHead, AuditEvent, AuditStateSnapshot
from traf3li.core import privacy, registries
from traf3li.core.commit_work import commit_work_add, commit_work_register
from traf3li.core.context import current_context
from traf3li.core.privacy import legal_hold_check
from traf3li.core.subjects import SubjectRef, subject_of, subject_parse

SYSTEM_ACTOR = "system"
REDACTED = privacy.REDACTED  # one word for erased data, in the log and in every app's rows
assert REDACTED in chain.BLANKS  # verify accepts nothing else under an erased field
ERROR_NO_HEAD = "The audit chain head of schema '{schema}' is missing; run the audit migrations."
# Keys an erasure leaves alone by default: they identify records, not people.
STRUCTURAL_KEYS = frozenset({"id", "created_at", "updated_at"})
PERSONAL_COLUMNS = ("actor_name", "actor_email", "entity_name", "changes", "metadata")  # chain.payload_of's
BODY_COLUMNS = (
    "actor_type", "actor_id", "actor_role", "action", "entity_type", "entity_id", "case_id", "source",
    "request_id", "payload_digest",
)  # fmt: skip


@dataclass(frozen=True)
class PlatformActor:
    """An operator acting from the platform admin: not a user of the firm, so no id in its log."""

    name: str
    email: str = ""


class AuditJSONEncoder(DjangoJSONEncoder):
    """DjangoJSONEncoder, but times keep their microseconds: a value read back equals the one written."""

    def default(self, o):
        if isinstance(o, datetime):
            text = o.isoformat()
            return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text
        if isinstance(o, time):
            return o.isoformat()
        return super().default(o)


_PLAIN = frozenset({str, int, float, bool, type(None)})


def json_safe(value):
    """Plain JSON: Decimal ("12.30"), dates, times and UUIDs become strings that parse back exactly."""
    kind = type(value)
    if kind in _PLAIN:  # already JSON (exact types: a str or int enum member goes the long way)
        return value
    if kind is datetime:
        return AuditJSONEncoder.default(None, value)
    if isinstance(value, Decimal):
        return str(value)
    # Containers of plain JSON (a snapshot's diff, the request metadata) are walked, not round-tripped.
    if kind is dict and all(type(key) is str for key in value):
        return {key: json_safe(item) for key, item in value.items()}
    if kind is list:
        return [json_safe(item) for item in value]
    return json.loads(json.dumps(value, cls=AuditJSONEncoder))


# model label ("messaging.ChannelAccount") -> fields that audit snapshots leave out: secrets, and
# their encrypted forms, never reach the log. Apps register theirs in ``AppConfig.ready()``.
_OMITTED: dict[str, frozenset[str]] = {}


def snapshot_omit_register(model: type[models.Model] | str, fields: Iterable[str]) -> None:
    label = model if isinstance(model, str) else model._meta.label
    _OMITTED[label] = _OMITTED.get(label, frozenset()) | frozenset(fields)


def snapshot(instance: models.Model) -> dict:
    """The instance's concrete field values, JSON-safe, keyed by attribute name (FKs as ids).

    Passwords and the fields registered with ``snapshot_omit_register`` are left out."""
    omitted = _OMITTED.get(instance._meta.label, frozenset()) | {"password"}
    data = {}
    for field in instance._meta.concrete_fields:
        if field.name in omitted or field.attname in omitted:
            continue
        data[field.attname] = json_safe(getattr(instance, field.attname))
    return data


def diff(before: dict | None, after: dict | None) -> dict:
    """Changed fields only, as {"before": {...}, "after": {...}}.

    A creation (no ``before``) keeps every field of ``after``, empty ones included, and a
    deletion every field of ``before``: replaying the events must rebuild the whole record.
    """
    if before is None or after is None:
        return {"before": dict(before or {}), "after": dict(after or {})}
    keys = sorted(set(before) | set(after))
    changed = [k for k in keys if before.get(k) != after.get(k)]
    return {
        "before": {k: before[k] for k in changed if k in before},
        "after": {k: after[k] for k in changed if k in after},
    }


def _actor_columns(actor) -> dict:
    if isinstance(actor, PlatformActor):
        kind, pk, name, email, role = ActorType.PLATFORM, None, actor.name, actor.email, ""
    elif actor is None or not getattr(actor, "is_authenticated", False):
        kind, pk, name, email, role = ActorType.SYSTEM, None, SYSTEM_ACTOR, "", ""
    else:
        kind, pk = ActorType.USER, actor.pk
        name = getattr(actor, "display_name", None) or str(actor)
        email, role = getattr(actor, "email", "") or "", getattr(actor, "role", "") or ""
    return {"actor_type": kind.value, "actor_id": pk, "actor_name": name[:200], "actor_email": email,
            "actor_role": role}  # fmt: skip


EVENT_COLUMNS = (
    "seq", "prev_hash", "hash", "occurred_at", "actor_type", "actor_id", "actor_name", "actor_email", "actor_role",
    "action", "entity_type", "entity_id", "entity_name", "case_id", "changes", "metadata", "source", "request_id",
    "payload_salt", "payload_digest", "digest_version",
)  # fmt: skip
JSON_COLUMNS = frozenset({"changes", "metadata"})
SOURCES = frozenset(Source.values)
BULK_EVENTS = 64  # more events than this (an import's chunk) are bound by the server, as arrays


@cache
def _event_array_types() -> list[str]:
    fields = {field.attname: field for field in AuditEvent._meta.concrete_fields}
    return [fields[name].db_type(connection).split("(")[0] for name in EVENT_COLUMNS]


def _append(*, action: str, entity: SubjectRef, entity_name: str, changes: dict, case_id: int | None, actor):
    """Owe one event to the chain; it is linked and inserted when the transaction commits (ADR 0030).

    Everything but the link is computed now, in the writer's time; the returned event gets its
    id, seq, hashes and time when the flush runs.
    """
    if not action_is_registered(action):
        raise ValueError(ERROR_UNKNOWN_ACTION.format(action=action))
    ctx = current_context()
    columns = {
        **_actor_columns(actor if actor is not None else ctx.user),
        "action": action,
        "entity_type": entity.type,
        "entity_id": entity.id,
        "entity_name": (entity_name or "")[:300],
        "case_id": case_id,
        "changes": json_safe(changes),
        "metadata": json_safe(ctx.as_metadata()),
        "source": ctx.source if ctx.source in SOURCES else Source.SYSTEM,
        "request_id": ctx.request_id[:64],
        "payload_salt": secrets.token_hex(16),
    }
    payload = chain.payload_of(
        actor_name=columns["actor_name"],
        actor_email=columns["actor_email"],
        entity_name=columns["entity_name"],
        changes=columns["changes"],
        metadata=columns["metadata"],
    )
    columns["payload_digest"] = chain.payload_digest_v2(columns["payload_salt"], payload)
    columns["digest_version"] = chain.DIGEST_V2
    event = AuditEvent(**columns)
    event._body_digest = chain.body_digest(**{key: columns[key] for key in BODY_COLUMNS})
    commit_work_add(COMMIT_WORK_KEY, event)
    return event


def _flush(events: list[AuditEvent], batch) -> None:
    """Link the transaction's events to the chain and insert them: the head row is the last lock taken.

    One statement, sent with what the batch queued before it: it locks the head, links the events
    in order (a recursive CTE over the digests computed in Python), inserts them and moves the
    head, so the head is held for that statement's rest and the COMMIT, with no round trip or
    Python in between. The functions that format and hash (STABLE ``to_char``, ``convert_to``)
    run in the INSERT's SELECT; the UPDATE of the head only copies columns, as Citus requires.
    Time follows the chain: never before the previous event.
    """

    def linked(rows):
        by_seq = {row[0]: row for row in rows if row[0] is not None}
        first = min(by_seq)
        for offset, event in enumerate(events):
            event.seq, event.id, event.prev_hash, event.hash, event.occurred_at = by_seq[first + offset]
            event._state.adding, event._state.db = False, connection.alias

    missing = ERROR_NO_HEAD.format(schema=connection.schema_name)
    if len(events) == 1:  # most transactions: the same statement without the recursion and arrays
        params = [events[0]._body_digest, *_payload_values(events[0]), missing]
        batch.add(_append_one_sql(), params, then=linked)
    else:
        batch.add(_append_sql(), [*_append_params(events), missing], then=linked, bulk=len(events) > BULK_EVENTS)


PAYLOAD_COLUMNS = EVENT_COLUMNS[4:]  # what the writer computed; seq, hashes and time come from the chain


def _payload_values(event: AuditEvent) -> list:
    return [
        json.dumps(getattr(event, name)) if name in JSON_COLUMNS else getattr(event, name) for name in PAYLOAD_COLUMNS
    ]


def _append_params(events: list[AuditEvent]) -> list[list]:
    """One array per column (unnest): a small statement, the same for any number of events."""
    rows = [_payload_values(event) for event in events]
    return [[event._body_digest for event in events], *(list(column) for column in zip(*rows, strict=True))]


def _link_sql(prev: str, seq: str, at: str, body: str) -> str:
    """``chain.link_hash`` in SQL: sha256 of ``prev_hash|seq|occurred_at|body_digest``, hex."""
    stamp = chain.TIMESTAMP_SQL.format(ts=at)
    return (
        f"encode(sha256(convert_to({prev} || '|' || ({seq})::text || '|' || {stamp} || '|' || {body}, 'UTF8')), 'hex')"
    )


def _moved_sql(head: str) -> str:
    return f"""moved AS (
            UPDATE {head} SET seq = m.seq, prev_hash = m.prev_hash, hash = m.hash, occurred_at = m.occurred_at
              FROM (SELECT * FROM inserted ORDER BY seq DESC LIMIT 1) AS m
             WHERE {head}.id = 1
            RETURNING 1
        )"""


@cache
def _append_one_sql() -> str:
    head, table = AuditChainHead._meta.db_table, AuditEvent._meta.db_table
    casts = {name: t for name, t in zip(EVENT_COLUMNS, _event_array_types(), strict=True)}
    values = ", ".join(f"%s::{casts[name]}" for name in PAYLOAD_COLUMNS)
    return f"""
        WITH head AS MATERIALIZED (
            SELECT seq, hash, greatest(clock_timestamp(), occurred_at) AS at FROM {head} WHERE id = 1 FOR UPDATE
        ), inserted AS (
            INSERT INTO {table} ({", ".join(EVENT_COLUMNS)})
            SELECT h.seq + 1, h.hash, {_link_sql("h.hash", "h.seq + 1", "h.at", "%s::varchar")}, h.at, {values}
              FROM head h
            RETURNING seq, id, prev_hash, hash, occurred_at
        ), {_moved_sql(head)}
        SELECT seq, id, prev_hash, hash, occurred_at FROM inserted
        UNION ALL {HEAD_CHECK_SQL}
    """


# No head, no events: fail the statement (casting the message to a number raises it), so the
# COMMIT sent after it never runs. A UNION ALL arm is always run; the scalar subquery keeps the
# planner from folding the cast; with a head it yields one row of NULLs, which ``linked`` skips.
HEAD_CHECK_SQL = (
    "SELECT (SELECT %s::text WHERE NOT EXISTS (SELECT 1 FROM head))::bigint, NULL::bigint, NULL::varchar, "
    "NULL::varchar, NULL::timestamptz"
)


@cache
def _append_sql() -> str:
    head, table = AuditChainHead._meta.db_table, AuditEvent._meta.db_table
    arrays = ", ".join(f"%s::{t}[]" for t in _event_array_types()[4:])
    return f"""
        WITH RECURSIVE head AS MATERIALIZED (
            SELECT seq, hash, greatest(clock_timestamp(), occurred_at) AS at FROM {head} WHERE id = 1 FOR UPDATE
        ), digests AS (
            SELECT %s::varchar[] AS body
        ), input AS MATERIALIZED (
            SELECT * FROM unnest({arrays}) WITH ORDINALITY AS v({", ".join(PAYLOAD_COLUMNS)}, n)
        ), link (n, seq, prev_hash, hash) AS (
            -- Each step reads its digest by subscript: linking n events costs n steps, not n².
            SELECT 0::bigint, seq, ''::varchar, hash::varchar FROM head
            UNION ALL
            SELECT l.n + 1, l.seq + 1, l.hash, {_link_sql("l.hash", "l.seq + 1", "h.at", "d.body[l.n + 1]")}
              FROM link l CROSS JOIN head h CROSS JOIN digests d
             WHERE l.n < cardinality(d.body)
        ), inserted AS (
            INSERT INTO {table} ({", ".join(EVENT_COLUMNS)})
            SELECT l.seq, l.prev_hash, l.hash, h.at, {", ".join("i." + c for c in PAYLOAD_COLUMNS)}
              FROM link l JOIN input i ON i.n = l.n CROSS JOIN head h
             ORDER BY l.n
            RETURNING seq, id, prev_hash, hash, occurred_at
        ), {_moved_sql(head)}
        SELECT seq, id, prev_hash, hash, occurred_at FROM inserted
        UNION ALL {HEAD_CHECK_SQL}
    """


COMMIT_WORK_KEY = "audit.events"
commit_work_register(COMMIT_WORK_KEY, rank=100, flush=_flush)  # last: the head is the hottest row


def audit_record(
    *,
    action: str,
    instance: models.Model,
    before: dict | None = None,
    after: dict | None = None,
    case_id: int | None = None,
    actor=None,
) -> AuditEvent | None:
    """Append one audit event for ``instance``; returns None when an update changed nothing.

    ``action`` must be in the catalogue (``audit.choices``); ``before``/``after`` are
    ``snapshot()``s and only the fields that differ are kept. The actor defaults to the user of
    the current request, task or command context, else ``system``.
    """
    changes = diff(before, after)
    if action == AuditAction.UPDATE and not changes["after"] and not changes["before"]:
        return None
    return _append(
        action=action,
        entity=subject_of(instance),
        entity_name=str(instance),
        changes=changes,
        case_id=case_id,
        actor=actor,
    )


def _redact_changes(changes: dict, fields: set[str] | None) -> dict:
    def redact(values: dict) -> dict:
        out = {}
        for key, value in values.items():
            # A foreign key's id is structure; a text "…_id" (national_id) is the person's.
            foreign_key = key.endswith("_id") and (value is None or isinstance(value, int))
            personal = key in fields if fields is not None else not (key in STRUCTURAL_KEYS or foreign_key)
            out[key] = REDACTED if personal and value not in (None, "") else value
        return out

    return {side: redact(values) if isinstance(values, dict) else values for side, values in changes.items()}


@transaction.atomic
def audit_erase(
    *,
    subject,
    fields: Iterable[str] | None = None,
    events: models.QuerySet | None = None,
    markers: Iterable[str] = (),
    records: Iterable[dict] = (),
    actor=None,
) -> int:
    """Blank a person's data in the audit payloads without breaking the chain (ADR 0005).

    Redacts the events *about* ``subject`` (its name and the changed values, all of them or only
    ``fields``), the events it *performed* when it is a user (name, email, ip, user agent), and
    any further ``events`` the caller found (for example entries that quoted the person). Each
    redacted event keeps its ``payload_digest`` and loses its salt, so the chain still verifies
    and the old values can't be guessed back; an event with per-field digests keeps the digests
    of the fields blanked and the salts of the others, so those stay verified (ADR 0063). One
    ``erase`` event lists the redacted ids; verify rejects an erased event that no ``erase``
    event lists. Returns the number of events redacted.

    A subject under legal hold (its case is held, or it reaches a held case through the
    hierarchy) is refused with ``SubjectHeldError`` (409). ``markers`` (the person's name, email,
    phone) also blank the entity name of the further ``events`` that quote them; ``records``
    (``{"model", "id", "fields"}``, from the privacy erasure) are listed in the ``erase`` event.
    """
    ref = subject_parse(subject)
    legal_hold_check(ref)
    markers = tuple(markers)
    wanted = set(fields) if fields is not None else None
    about = Q(entity_type=ref.type, entity_id=ref.id)
    performed = Q(actor_type=ActorType.USER, actor_id=ref.id) if ref.type == "user" else Q(pk__in=[])
    query = about | performed
    if events is not None:
        query |= Q(pk__in=events.values("pk"))
    redacted, touched, rows = [], set(), []
    events = AuditEvent.objects.filter(query).exclude(action__in=[AuditAction.ERASE, AuditAction.PURGE])
    for event in events.order_by("seq").iterator():
        before = chain.event_payload(event)
        is_about = event.entity_type == ref.type and event.entity_id == ref.id
        is_by = ref.type == "user" and event.actor_type == ActorType.USER and event.actor_id == ref.id
        if is_about or any(marker.lower() in event.entity_name.lower() for marker in markers):
            event.entity_name = REDACTED
        if is_about or not is_by:  # about the person, or an event the caller found quoting them
            event.changes = _redact_changes(event.changes, wanted)
        if is_by:
            event.actor_name, event.actor_email = REDACTED, ""
            blanks = {key: blank for key, blank in (("ip", None), ("user_agent", "")) if key in event.metadata}
            event.metadata = {**event.metadata, **blanks}
        if event.digest_version == chain.DIGEST_V2:  # the untouched fields stay verifiable (ADR 0063)
            after = chain.event_payload(event)
            event.payload_proof = chain.erasure_proof(
                salt=event.payload_salt, proof=event.payload_proof, before=before, after=after
            )
        event.payload_salt = ""
        redacted.append(event)
        touched.add((event.entity_type, event.entity_id))
        rows.append({name: getattr(event, name) for name in ("id", *PERSONAL_COLUMNS, "payload_salt", "payload_proof")})
    if rows:
        with connection.cursor() as cursor:  # the only way the product's role can rewrite an event
            cursor.execute("SELECT audit_erase_events(%s::jsonb)", [json.dumps(rows, cls=AuditJSONEncoder)])
        stale = Q(pk__in=[])
        for entity_type, entity_id in touched:
            stale |= Q(entity_type=entity_type, entity_id=entity_id)
        AuditStateSnapshot.objects.filter(stale).delete()
    _append(
        action=AuditAction.ERASE,
        entity=ref,
        entity_name=REDACTED,
        changes={
            "before": {},
            "after": {"redacted_events": [event.pk for event in redacted], "redacted_records": list(records)},
        },
        case_id=None,
        actor=actor,
    )
    return len(redacted)


def current_clock() -> datetime:
    """The database's clock, the one event times come from."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        return cursor.fetchone()[0]


def legal_hold_case_ids():
    """Cases under legal hold, as a subquery: their audit is never purged. The apps that own
    cases say which are held (``traf3li.core.registries.legal_hold_register``)."""
    return registries.legal_hold_case_ids()


def audit_purge_selection(
    *, before: datetime, entity_types: Iterable[str] | None = None, case_scoped: bool | None = None
) -> tuple[models.QuerySet, models.QuerySet]:
    """What ``audit_purge`` with these arguments deletes, and what it keeps only for a legal hold
    (a held case's events and the case's own): one selection for the purge and its receipts."""
    candidates = AuditEvent.objects.filter(occurred_at__lt=before).exclude(
        action__in=[AuditAction.ERASE, AuditAction.PURGE]
    )
    if entity_types is not None:
        candidates = candidates.filter(entity_type__in=list(entity_types))
    if case_scoped is not None:
        candidates = candidates.filter(case_id__isnull=not case_scoped)
    held = legal_hold_case_ids()
    doomed = candidates.exclude(case_id__in=held).exclude(Q(entity_type="case") & Q(entity_id__in=held))
    return doomed, candidates.filter(Q(case_id__in=held) | (Q(entity_type="case") & Q(entity_id__in=held)))


@transaction.atomic
def audit_purge(
    *,
    before: datetime,
    entity_types: Iterable[str] | None = None,
    case_scoped: bool | None = None,
    actor=None,
) -> int:
    """Delete events older than ``before`` (the retention purge); returns how many went.

    ``entity_types`` narrows it to some entities; ``case_scoped=True`` to events that belong to
    a case, ``False`` to the others. Never deletes events of a case under legal hold, nor the
    ``erase`` and ``purge`` records. Before deleting, it keeps the seq and hash of each deleted
    run's last event as an anchor, so the first surviving event after the gap still verifies.
    The purge itself is recorded as a ``purge`` event on the firm, listing those anchors.
    """
    doomed, _ = audit_purge_selection(before=before, entity_types=entity_types, case_scoped=case_scoped)
    doomed_sql, doomed_params = doomed.values("id").query.sql_with_params()
    event, snap = AuditEvent._meta.db_table, AuditStateSnapshot._meta.db_table
    with connection.cursor() as cursor:
        # The snapshots of the entities losing events first (a cache the product may delete), then
        # the events, through the one function that may delete them (ADR 0062).
        cursor.execute(
            f"""DELETE FROM {snap} s USING (SELECT DISTINCT entity_type, entity_id FROM {event}
                 WHERE id IN ({doomed_sql})) g
                WHERE s.entity_type = g.entity_type AND s.entity_id = g.entity_id""",
            doomed_params,
        )
        cursor.execute(
            f"""SELECT deleted, anchors
                  FROM audit_purge_events(ARRAY(SELECT id FROM {event} WHERE id IN ({doomed_sql})))""",
            doomed_params,
        )
        deleted, anchors = cursor.fetchone()
    if isinstance(anchors, str):
        anchors = json.loads(anchors)
    tenant = connection.tenant
    _append(
        action=AuditAction.PURGE,
        entity=SubjectRef("firm", tenant.pk),
        entity_name=str(tenant),
        changes={
            "before": {},
            "after": {
                "older_than": json_safe(before),
                "entity_types": sorted(entity_types) if entity_types is not None else None,
                "case_scoped": case_scoped,
                "deleted": deleted,
                # Each anchor it leaves, inside what the chain hashes: verify honours an anchor only
                # when a purge event vouches for it (a row inserted into the anchor table alone is a gap).
                "anchors": [[int(seq), str(hash_)] for seq, hash_ in anchors],
            },
        },
        case_id=None,
        actor=actor,
    )
    return deleted
