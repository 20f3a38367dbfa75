"""Recording and changing timeline entries. Every app records through ``entry_record``, inside its
own transaction; each write keeps the 360° links and the daily rollups in step and is audited.
"""

import copy
import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from functools import cache, partial
from itertools import islice

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy

from audit.services import audit_record, snapshot
from timeline.choices import EntryKind, EntrySource
from timeline.models import Entry, EntryLink
from timeline.rollups import RollupDeltas, firm_tz
from timeline.schemas import PayloadError, payload_duration_seconds, payload_validate
from traf3li.api.exceptions import TransitionError
from traf3li.core.commit_work import Batch, bulk_execute
from traf3li.core.context import current_context
from traf3li.core.registries import case_of, hierarchy_ancestors, hierarchy_registered, hierarchy_types
from traf3li.core.subjects import (
    SubjectRef,
    subject_display_name,
    subject_of,
    subjects_load,
)

ERROR_KIND = gettext_lazy("Unknown kind '{kind}'. Known kinds: {known}.")
ERROR_SOURCE = gettext_lazy("Unknown source '{source}'. Known sources: {known}.")
ERROR_TITLE = gettext_lazy("A title is required.")
ERROR_NAIVE = gettext_lazy("occurred_at must carry a timezone offset.")
ERROR_DELETED = gettext_lazy("This entry is deleted; restore it first.")
ERROR_NOT_EDITABLE = gettext_lazy("'{field}' can't be changed.")
ERROR_RECORDED_DELETED = gettext_lazy(
    "This source and external_id name entry {activity_id}, which was deleted; restore it instead of recording it again."
)
RELINK_FIELDS = ("id", "occurred_at", "subject_type", "subject_id", "related")
KINDS, SOURCES = frozenset(EntryKind.values), frozenset(EntrySource.values)  # ``.values`` builds a list
IMPORT_CHUNK = 1000  # entries per transaction of entry_import: about 20,000 statement parameters
# ACT-YYYYMM-NNNNNN from the sequence number n: six digits at least, more past a million.
ACTIVITY_ID_SQL = "'ACT-' || %s || '-' || lpad(n::text, greatest(6, length(n::text)), '0')"
# Fields ``entry_update`` may change; source, external_id and activity_id identify the entry.
EDITABLE = {"kind", "subject", "related", "title", "description", "occurred_at", "performed_by", "status", "payload"}


def _payload_errors(exc: PayloadError) -> ValidationError:
    return ValidationError({"payload": [f"{path}: {msg}" for path, msgs in exc.errors.items() for msg in msgs]})


def entry_clean_payload(kind: str, payload: dict | None) -> dict:
    """The kind's cleaned payload, or a ValidationError on ``payload`` naming each bad field."""
    if kind not in KINDS:
        raise ValidationError({"kind": [ERROR_KIND.format(kind=kind, known=", ".join(EntryKind.values))]})
    try:
        return payload_validate(kind, payload)
    except PayloadError as exc:
        raise _payload_errors(exc)


def _name(instance: models.Model | None) -> str:
    return subject_display_name(instance)[:300] if instance is not None else ""


def _performer_name(user) -> str:
    return (getattr(user, "display_name", "") or "")[:200] if user is not None else ""


def _related_refs(subject_ref: SubjectRef, related: Iterable[models.Model]) -> list[tuple[SubjectRef, models.Model]]:
    seen, pairs = {subject_ref}, []
    for instance in related:
        ref = subject_of(instance)
        if ref not in seen:
            seen.add(ref)
            pairs.append((ref, instance))
    return pairs


def _link_keys(pairs: Iterable[tuple[SubjectRef, models.Model | None]]) -> set[tuple[str, int]]:
    """Each subject plus its registered ancestors: every 360° view the entry belongs on."""
    keys = set()
    for ref, instance in pairs:
        keys.add((ref.type, ref.id))
        if instance is not None:
            keys.update((parent.type, parent.id) for parent in hierarchy_ancestors(ref.type, instance))
    return keys


def _activity_month() -> str:
    return f"{timezone.now().astimezone(firm_tz()):%Y%m}"


def _case_id(entry: Entry) -> int | None:
    """The case of the entry's subject, else of the first related subject that has one (the registry's say)."""
    refs = [SubjectRef(entry.subject_type, entry.subject_id), *(SubjectRef(r["type"], r["id"]) for r in entry.related)]
    return next((case for ref in refs if (case := case_of(ref)) is not None), None)


def _validate_common(*, kind: str, title: str, source: str, occurred_at: datetime | None) -> None:
    errors = {}
    if kind not in KINDS:
        errors["kind"] = [ERROR_KIND.format(kind=kind, known=", ".join(EntryKind.values))]
    if source not in SOURCES:
        errors["source"] = [ERROR_SOURCE.format(source=source, known=", ".join(EntrySource.values))]
    if not (title or "").strip():
        errors["title"] = [ERROR_TITLE]
    if occurred_at is not None and timezone.is_naive(occurred_at):
        errors["occurred_at"] = [ERROR_NAIVE]
    if errors:
        raise ValidationError(errors)


@cache
def _entry_columns() -> tuple[list, str, str, list[str]]:
    """The inserted fields, their column list, names for them in a query and their base types."""
    fields = [f for f in Entry._meta.concrete_fields if not f.primary_key and f.name != "activity_id"]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    names = ", ".join(f"c{i}" for i in range(len(fields)))
    return fields, columns, names, [f.db_type(connection).split("(")[0] for f in fields]


def _column_value(field, entry: Entry):
    value = field.pre_save(entry, add=True)
    if isinstance(field, models.JSONField):  # as text in a jsonb[] array
        return json.dumps(value, cls=field.encoder)
    return field.get_db_prep_save(value, connection)


def _insert_entry(
    entry: Entry, keys: set[tuple[str, int]], pairs: list | None = None
) -> list[tuple[Entry, set[tuple[str, int]]]]:
    """``_insert_entries`` of one entry (``entry_record``'s case): a plain INSERT … SELECT, cheaper to plan.

    With ``pairs`` (the entry's subjects), the FOR SHARE reads of ``_links_locked`` go in the same
    round trip, before the insert; the links were computed from the caller's instances, and are
    corrected in the rare case a locked record turns out to have moved since the caller read it.
    """
    fields, columns, _, _ = _entry_columns()
    params = [_activity_month(), *(f.get_db_prep_save(f.pre_save(entry, add=True), connection) for f in fields)]
    links = ", ".join(["(%s, %s::bigint)"] * len(keys))
    params += [item for key in sorted(keys) for item in key]
    batch, fresh, stored = Batch(connection), {}, []
    for model, sql, lock_params in _share_locks(pairs or []):
        batch.add(sql, lock_params, then=partial(_keep_fresh, model, fresh))
    batch.add(
        f"""
        WITH inserted AS (
            INSERT INTO {Entry._meta.db_table} (activity_id, {columns})
            SELECT {ACTIVITY_ID_SQL}, {", ".join(["%s"] * len(fields))}
              FROM (SELECT nextval('timeline_activity_seq') AS n) AS seq
            ON CONFLICT (source, external_id) WHERE external_id IS NOT NULL DO NOTHING
            RETURNING id, activity_id, occurred_at
        ), links AS (
            INSERT INTO {EntryLink._meta.db_table} (entry_id, subject_type, subject_id, occurred_at)
            SELECT i.id, l.subject_type, l.subject_id, i.occurred_at
              FROM inserted i, (VALUES {links}) AS l(subject_type, subject_id)
        )
        SELECT id, activity_id FROM inserted
        """,
        params,
        then=stored.extend,
    )
    batch.finish()
    if not stored:
        return []
    entry.pk, entry.activity_id = stored[0]
    entry._state.adding, entry._state.db = False, connection.alias
    if fresh:
        keys = _correct_links(entry, keys, _current_keys(pairs, fresh))
    return [(entry, keys)]


def _correct_links(entry: Entry, stored: set, wanted: set) -> set:
    """Make the entry's links ``wanted`` where the caller's stale instances gave ``stored``."""
    if stored != wanted:
        for subject_type, subject_id in stored - wanted:
            EntryLink.objects.filter(entry=entry, subject_type=subject_type, subject_id=subject_id).delete()
        EntryLink.objects.bulk_create(
            EntryLink(entry=entry, subject_type=t, subject_id=i, occurred_at=entry.occurred_at)
            for t, i in sorted(wanted - stored)
        )
    return wanted


def _insert_entries(rows: list[tuple[Entry, set[tuple[str, int]]]]) -> list[tuple[Entry, set[tuple[str, int]]]]:
    """Insert entries with their 360° links in one statement; returns the pairs that were inserted.

    ON CONFLICT DO NOTHING skips an entry whose (source, external_id) is stored, and makes a
    concurrent duplicate wait for the first writer, then insert nothing: no savepoint, no error.
    Rows go in in the order given; callers sort them by (source, external_id), so two imports
    that overlap wait on each other's keys in one order and can't deadlock. Activity ids come from
    the sequence in the same statement (ADR 0010; a skipped entry leaves a gap, never a reuse).
    """
    if len(rows) == 1:
        return _insert_entry(*rows[0])
    fields, columns, names, array_types = _entry_columns()
    # One array per column (unnest), not one placeholder per value: the statement stays small
    # and the same for every chunk, and the driver binds 20 lists instead of 20,000 values.
    arrays = [[] for _ in fields]
    link_positions, link_types, link_ids = [], [], []
    for position, (entry, keys) in enumerate(rows):
        for values, field in zip(arrays, fields, strict=True):
            values.append(_column_value(field, entry))
        for subject_type, subject_id in sorted(keys):
            link_positions.append(position + 1)  # WITH ORDINALITY counts from 1
            link_types.append(subject_type)
            link_ids.append(subject_id)
    casts = ", ".join(f"%s::{array_type}[]" for array_type in array_types)
    sql = f"""
        WITH input AS MATERIALIZED (
            SELECT {ACTIVITY_ID_SQL} AS activity_id, numbered.*
              FROM (SELECT nextval('timeline_activity_seq') AS n, v.*
                      FROM unnest({casts}) WITH ORDINALITY AS v({names}, position)
                     ORDER BY v.position) AS numbered
        ), inserted AS (
            INSERT INTO {Entry._meta.db_table} (activity_id, {columns})
            SELECT activity_id, {names} FROM input ORDER BY position
            ON CONFLICT (source, external_id) WHERE external_id IS NOT NULL DO NOTHING
            RETURNING id, activity_id, occurred_at
        ), keyed AS (
            -- RETURNING can't name an input column: the activity id finds each row's position.
            SELECT i.id, i.activity_id, i.occurred_at, p.position FROM inserted i JOIN input p USING (activity_id)
        ), links AS (
            INSERT INTO {EntryLink._meta.db_table} (entry_id, subject_type, subject_id, occurred_at)
            SELECT k.id, l.subject_type, l.subject_id, k.occurred_at
              FROM keyed k
              JOIN unnest(%s::bigint[], %s::varchar[], %s::bigint[]) AS l(position, subject_type, subject_id)
                ON l.position = k.position
        )
        SELECT position - 1, id, activity_id FROM keyed
    """
    rows_back = bulk_execute(connection, sql, [_activity_month(), *arrays, link_positions, link_types, link_ids])
    stored = {position: (pk, activity_id) for position, pk, activity_id in rows_back}
    inserted = []
    for position, (entry, keys) in enumerate(rows):
        if position in stored:
            entry.pk, entry.activity_id = stored[position]
            entry._state.adding, entry._state.db = False, connection.alias
            inserted.append((entry, keys))
    return inserted


def _build(
    *,
    kind: str,
    subject: models.Model,
    title: str,
    description: str = "",
    occurred_at: datetime | None = None,
    related: Iterable[models.Model] = (),
    performed_by=None,
    status: str = "",
    source: str = "system",
    external_id: str | None = None,
    payload: dict | None = None,
) -> tuple[Entry, list[tuple[SubjectRef, models.Model]]]:
    """A validated, unsaved entry (no activity id yet) and its subjects, each with its instance."""
    _validate_common(kind=kind, title=title, source=source, occurred_at=occurred_at)
    payload = entry_clean_payload(kind, payload)
    subject_ref = subject_of(subject)
    related_pairs = _related_refs(subject_ref, related)
    entry = Entry(
        kind=kind,
        subject_content_type=ContentType.objects.get_for_model(subject),
        subject_id=subject_ref.id,
        subject_type=subject_ref.type,
        subject_name=_name(subject),
        related=[{"type": ref.type, "id": ref.id, "name": _name(obj)} for ref, obj in related_pairs],
        title=title.strip()[:300],
        description=description or "",
        occurred_at=occurred_at or timezone.now(),
        performed_by=performed_by,
        performed_by_name=_performer_name(performed_by),
        status=status or "",
        source=source,
        external_id=external_id or None,
        payload=payload,
        duration_seconds=payload_duration_seconds(kind, payload),
    )
    return entry, [(subject_ref, subject), *related_pairs]


def _share_locks(pairs: Iterable[tuple[SubjectRef, models.Model | None]]) -> list[tuple[type, str, list]]:
    """FOR SHARE reads of the records whose parents go into links (one per model, ids in order)."""
    wanted = defaultdict(set)
    for ref, instance in pairs:
        if hierarchy_registered(ref.type) and instance is not None:
            wanted[type(instance)].add(instance.pk)
    statements = []
    for model, ids in sorted(wanted.items(), key=lambda item: item[0]._meta.label):
        columns = ", ".join(connection.ops.quote_name(f.column) for f in model._meta.concrete_fields)
        table, pk = model._meta.db_table, model._meta.pk.column
        sql = f"SELECT {columns} FROM {table} WHERE {pk} = ANY(%s) ORDER BY {pk} FOR SHARE"
        statements.append((model, sql, [sorted(ids)]))
    return statements


def _keep_fresh(model, fresh: dict, rows: list) -> None:
    names = [f.attname for f in model._meta.concrete_fields]
    for row in rows:
        instance = model.from_db(connection.alias, names, row)
        fresh[(model, instance.pk)] = instance


def _current_keys(pairs, fresh: dict) -> set[tuple[str, int]]:
    def current(obj):
        return fresh.get((type(obj), obj.pk), obj) if obj is not None else None

    return _link_keys((ref, current(obj)) for ref, obj in pairs)


def _links_locked(built: list[tuple[Entry, list]]) -> list[tuple[Entry, set[tuple[str, int]]]]:
    """Each entry with its link keys, computed from its subjects re-read under FOR SHARE.

    A record whose parents go into the links (a contact's client) is read again, locked FOR
    SHARE, one query per model, in id order. A concurrent move of it (``record_update`` locks it
    FOR UPDATE, then relinks) therefore either commits first, and the links name the new parent,
    or waits for this transaction, and its relink sees this entry. Many recorders share the lock.
    """
    batch, fresh = Batch(connection), {}
    for model, sql, params in _share_locks(pair for _, pairs in built for pair in pairs):
        batch.add(sql, params, then=partial(_keep_fresh, model, fresh))
    batch.finish()  # one round trip for every model's lock
    return [(entry, _current_keys(pairs, fresh)) for entry, pairs in built]


def batched(items: Iterable, size: int):
    """``itertools.batched`` of Python 3.12: lists of ``size`` items, the last one shorter."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _bookkeep(entries: list[Entry], actor) -> None:
    """What follows every insert: rollups and one audit event per entry, both owed to the commit."""
    deltas = RollupDeltas()
    for entry in entries:
        deltas.add_entry(entry, +1)
    deltas.apply()
    for entry in entries:
        audit_record(action="create", instance=entry, after=snapshot(entry), case_id=_case_id(entry), actor=actor)


class EntryDeletedError(TransitionError):
    """The (source, external_id) names an entry a user deleted: recording it again is a 409, not a 201."""

    def __init__(self, entry: Entry):
        self.entry = entry
        super().__init__(ERROR_RECORDED_DELETED.format(activity_id=entry.activity_id))


@transaction.atomic
def entry_record(
    *,
    kind: str,
    subject: models.Model,
    title: str,
    description: str = "",
    occurred_at: datetime | None = None,
    related: Iterable[models.Model] = (),
    performed_by=None,
    status: str = "",
    source: str = "system",
    external_id: str | None = None,
    payload: dict | None = None,
    actor=None,
) -> Entry:
    """Record one entry; a second call with the same (source, external_id) returns the first entry.

    If that first entry was deleted, raises ``EntryDeletedError`` (409): the replay is refused,
    never resurrected nor answered with a document that isn't stored (ADR 0030).
    """
    built = _build(
        kind=kind,
        subject=subject,
        title=title,
        description=description,
        occurred_at=occurred_at,
        related=related,
        performed_by=performed_by,
        status=status,
        source=source,
        external_id=external_id,
        payload=payload,
    )
    entry, pairs = built
    if not _insert_entry(entry, _link_keys(pairs), pairs):
        stored = Entry.objects.get(source=source, external_id=entry.external_id)
        if stored.deleted_at is not None:
            raise EntryDeletedError(stored)
        return stored
    _bookkeep([entry], actor)
    return entry


def entry_import(*, items: Iterable[dict], actor=None, chunk_size: int = IMPORT_CHUNK) -> int:
    """Record many entries (imports, the demo) with entry_record's checks and bookkeeping, in chunks.

    Streams ``items`` (any iterable; a generator keeps memory bounded): each chunk of
    ``chunk_size`` is one transaction with one statement for its entries and links, one for its
    rollups and one per 2,000 audit events. Items whose (source, external_id) is stored, or
    repeated, are skipped, also against a concurrent import of the same ids (it waits, then skips).
    A failed import leaves its earlier chunks stored: run it again and it resumes. Inside an outer
    transaction, the chunks' audit events wait for that transaction's commit. Returns how many
    entries were stored.
    """
    stored = 0
    for chunk in batched(items, chunk_size):
        stored += _import_chunk(chunk, actor)
    return stored


@transaction.atomic
def _import_chunk(items: Iterable[dict], actor) -> int:
    built, seen = [], set()
    for item in items:
        entry, pairs = _build(**item)
        key = (entry.source, entry.external_id)
        if entry.external_id is not None:
            if key in seen:
                continue
            seen.add(key)
        built.append((entry, pairs))
    built = _links_locked(built)
    # Keyed rows first, in key order: the lock order of ON CONFLICT's waits.
    built.sort(key=lambda pair: (pair[0].external_id is None, pair[0].source, pair[0].external_id or ""))
    inserted = _insert_entries(built) if built else []
    _bookkeep([entry for entry, _ in inserted], actor)
    return len(inserted)


def _stored_refs(entry: Entry) -> list[tuple[str, int]]:
    return [(entry.subject_type, entry.subject_id), *((r["type"], r["id"]) for r in entry.related)]


def _relink(entries: list[Entry]) -> None:
    """Recompute the link rows of ``entries`` from their subjects as they are now."""
    instances = subjects_load(ref for entry in entries for ref in _stored_refs(entry))
    EntryLink.objects.filter(entry__in=entries).delete()
    rows = []
    for entry in entries:
        keys = _link_keys((SubjectRef(*ref), instances.get(ref)) for ref in _stored_refs(entry))
        rows.extend(
            EntryLink(entry=entry, subject_type=t, subject_id=i, occurred_at=entry.occurred_at) for t, i in keys
        )
    EntryLink.objects.bulk_create(rows)


def entry_relink_subject(*, subject: models.Model, before: dict | None = None) -> int:
    """After a record moves (a contact or case to another client), move its entries' 360° links too.

    ``before`` is the record's snapshot before the move. With it, the move is one set-based
    statement however many entries the record has: it locks the entries in id order, adds the
    new parents' links and drops the old parents' ones that nothing else on the entry justifies.
    Only entries with another subject that has parents of its own (a call about a contact and a
    case) are recomputed one by one. Without ``before``, every entry is recomputed. Returns how
    many entries the record has.
    """
    ref = subject_of(subject)
    if before is None:
        entries = list(
            Entry.objects.live()
            .filter(links__subject_type=ref.type, links__subject_id=ref.id)
            .order_by("pk")
            .select_for_update(no_key=True, of=("self",))
            .only(*RELINK_FIELDS)
        )
        if entries:
            _relink(entries)
        return len(entries)
    old = copy.copy(subject)
    for attname, value in before.items():
        setattr(old, attname, value)
    new_parents = {(p.type, p.id) for p in hierarchy_ancestors(ref.type, subject)}
    old_parents = {(p.type, p.id) for p in hierarchy_ancestors(ref.type, old)} - new_parents
    entry, link = Entry._meta.db_table, EntryLink._meta.db_table
    params = {
        "type": ref.type,
        "id": ref.id,
        "hierarchical": hierarchy_types(),
        "old_types": [t for t, _ in sorted(old_parents)],
        "old_ids": [i for _, i in sorted(old_parents)],
        "new_types": [t for t, _ in sorted(new_parents)],
        "new_ids": [i for _, i in sorted(new_parents)],
    }
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH affected AS MATERIALIZED (
                SELECT e.id, e.occurred_at, e.subject_type, e.subject_id, e.related
                  FROM {entry} e
                 WHERE e.deleted_at IS NULL
                   AND e.id IN (SELECT entry_id FROM {link} WHERE subject_type = %(type)s AND subject_id = %(id)s)
                 ORDER BY e.id
                   FOR NO KEY UPDATE
            ), old_parent AS (
                SELECT * FROM unnest(%(old_types)s::text[], %(old_ids)s::bigint[]) AS p(subject_type, subject_id)
            ), new_parent AS (
                SELECT * FROM unnest(%(new_types)s::text[], %(new_ids)s::bigint[]) AS p(subject_type, subject_id)
            ), gone AS (
                DELETE FROM {link} l USING affected a, old_parent p
                 WHERE l.entry_id = a.id AND l.subject_type = p.subject_type AND l.subject_id = p.subject_id
                   -- the old parent stays where the entry names it itself
                   AND NOT (a.subject_type = p.subject_type AND a.subject_id = p.subject_id)
                   AND NOT a.related @> jsonb_build_array(
                       jsonb_build_object('type', p.subject_type, 'id', p.subject_id))
                RETURNING 1
            ), added AS (
                INSERT INTO {link} (entry_id, subject_type, subject_id, occurred_at)
                SELECT a.id, p.subject_type, p.subject_id, a.occurred_at FROM affected a, new_parent p
                    ON CONFLICT (entry_id, subject_type, subject_id) DO NOTHING
                RETURNING 1
            )
            SELECT a.id,
                   -- another subject with parents of its own may justify an old parent: recompute those
                   (a.subject_type = ANY(%(hierarchical)s) AND (a.subject_type, a.subject_id) <> (%(type)s, %(id)s))
                   OR EXISTS (SELECT 1 FROM jsonb_array_elements(a.related) r
                               WHERE r->>'type' = ANY(%(hierarchical)s)
                                 AND (r->>'type', (r->>'id')::bigint) <> (%(type)s, %(id)s))
              FROM affected a, (SELECT (SELECT count(*) FROM gone) + (SELECT count(*) FROM added)) AS done(n)
            """,
            params,
        )
        rows = cursor.fetchall()
    tangled = [pk for pk, other in rows if other]
    if tangled:
        _relink(list(Entry.objects.filter(pk__in=tangled).order_by("pk").only(*RELINK_FIELDS)))
    return len(rows)


def _locked(entry: Entry) -> Entry:
    return Entry.objects.select_for_update(no_key=True).get(pk=entry.pk)


def entry_update_by_id(*, entry_id: int, data: dict, actor=None) -> Entry:
    """``entry_update`` for an app that keeps an entry's id, not the entry (channels)."""
    return entry_update(entry=Entry(pk=entry_id), data=data, actor=actor)


@transaction.atomic
def entry_update(*, entry: Entry, data: dict, actor=None) -> Entry:
    """Change an entry's editable fields; links and rollups follow, the audit keeps the diff."""
    if unknown := set(data) - EDITABLE:
        raise ValidationError({name: [ERROR_NOT_EDITABLE.format(field=name)] for name in sorted(unknown)})
    current = _locked(entry)
    if current.deleted_at is not None:
        raise TransitionError(ERROR_DELETED)
    before = snapshot(current)
    old = RollupDeltas()
    old.add_entry(current, -1)
    kind = data.get("kind", current.kind)
    _validate_common(
        kind=kind, title=data.get("title", current.title), source=current.source, occurred_at=data.get("occurred_at")
    )
    if "kind" in data or "payload" in data:
        current.payload = entry_clean_payload(kind, data.get("payload", current.payload))
        current.kind = kind
        current.duration_seconds = payload_duration_seconds(kind, current.payload)
    for name in ("title", "description", "occurred_at", "status"):
        if name in data:
            setattr(current, name, data[name].strip()[:300] if name == "title" else data[name])
    if "performed_by" in data:
        current.performed_by = data["performed_by"]
        current.performed_by_name = _performer_name(data["performed_by"])
    if "subject" in data:
        subject = data["subject"]
        ref = subject_of(subject)
        current.subject_content_type = ContentType.objects.get_for_model(subject)
        current.subject_id, current.subject_type, current.subject_name = ref.id, ref.type, _name(subject)
    if "related" in data:
        pairs = _related_refs(SubjectRef(current.subject_type, current.subject_id), data["related"])
        current.related = [{"type": r.type, "id": r.id, "name": _name(obj)} for r, obj in pairs]
    elif "subject" in data:  # the new subject is no longer one of its own related subjects
        current.related = [r for r in current.related if (r["type"], r["id"]) != (current.subject_type, ref.id)]
    current.save()
    if {"subject", "related", "occurred_at"} & set(data):
        _relink([current])
    old.add_entry(current, +1)
    old.apply()
    audit_record(
        action="update",
        instance=current,
        before=before,
        after=snapshot(current),
        case_id=_case_id(current),
        actor=actor,
    )
    return current


@transaction.atomic
def entry_delete(*, entry: Entry, actor=None) -> Entry:
    """Soft delete: gone from every list, search and stat; the row stays for the audit."""
    current = _locked(entry)
    if current.deleted_at is not None:
        return current
    before = snapshot(current)
    current.deleted_at = timezone.now()
    current.save(update_fields=["deleted_at", "updated_at"])
    EntryLink.objects.filter(entry=current).delete()
    deltas = RollupDeltas()
    deltas.add_entry(current, -1)
    deltas.apply()
    audit_record(action="delete", instance=current, before=before, case_id=_case_id(current), actor=actor)
    return current


@transaction.atomic
def entry_restore(*, entry: Entry, actor=None) -> Entry:
    """Undo a soft delete: the entry is back in its lists, search results and stats."""
    current = _locked(entry)
    if current.deleted_at is None:
        return current
    before = snapshot(current)
    current.deleted_at = None
    current.save(update_fields=["deleted_at", "updated_at"])
    _relink([current])
    deltas = RollupDeltas()
    deltas.add_entry(current, +1)
    deltas.apply()
    audit_record(
        action="restore",
        instance=current,
        before=before,
        after=snapshot(current),
        case_id=_case_id(current),
        actor=actor,
    )
    return current


def actor_user(actor=None):
    """The user an automatic entry is performed by: the explicit actor, else the request's user."""
    user = actor or current_context().user
    return user if getattr(user, "is_authenticated", False) else None
