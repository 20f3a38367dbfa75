"""Recording and changing timeline entries. Every app records through ``entry_record``, inside its
own transaction; each write keeps the 360° links and the daily rollups in step and is audited.
"""

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.utils import timezone

from audit.services import audit_record, snapshot
from timeline.choices import EntryKind, EntrySource
from timeline.hierarchy import hierarchy_ancestors
from timeline.models import Entry, EntryLink
from timeline.rollups import RollupDeltas, firm_tz
from timeline.schemas import PayloadError, payload_duration_seconds, payload_validate
from traf3li.api.exceptions import TransitionError
from traf3li.core.context import current_context
from traf3li.core.subjects import SubjectError, SubjectRef, subject_display_name, subject_model, subject_of

ERROR_KIND = "Unknown kind '{kind}'. Known kinds: {known}."
ERROR_SOURCE = "Unknown source '{source}'. Known sources: {known}."
ERROR_TITLE = "A title is required."
ERROR_NAIVE = "occurred_at must carry a timezone offset."
ERROR_DELETED = "This entry is deleted; restore it first."
ERROR_NOT_EDITABLE = "'{field}' can't be changed."
# ACT-YYYYMM-NNNNNN from the sequence number n: six digits at least, more past a million.
ACTIVITY_ID_SQL = "'ACT-' || %s || '-' || lpad(n::text, greatest(6, length(n::text)), '0')"
# Fields ``entry_update`` may change; source, external_id and activity_id identify the entry.
EDITABLE = {"kind", "subject", "related", "title", "description", "occurred_at", "performed_by", "status", "payload"}


def _payload_errors(exc: PayloadError) -> ValidationError:
    return ValidationError({"payload": [f"{path}: {msg}" for path, msgs in exc.errors.items() for msg in msgs]})


def entry_clean_payload(kind: str, payload: dict | None) -> dict:
    """The kind's cleaned payload, or a ValidationError on ``payload`` naming each bad field."""
    if kind not in EntryKind.values:
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


def _next_activity_ids(count: int) -> list[str]:
    # A sequence in the firm's schema: never handed out twice, even to concurrent transactions,
    # and never rolled back (gaps are fine, reuse is not). ADR 0010.
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {ACTIVITY_ID_SQL} FROM (SELECT nextval('timeline_activity_seq') AS n "
            "FROM generate_series(1, %s)) AS seq",
            [_activity_month(), count],
        )
        return [row[0] for row in cursor.fetchall()]


def _case_id(entry: Entry) -> int | None:
    if entry.subject_type == "case":
        return entry.subject_id
    return next((r["id"] for r in entry.related if r.get("type") == "case"), None)


def _validate_common(*, kind: str, title: str, source: str, occurred_at: datetime | None) -> None:
    errors = {}
    if kind not in EntryKind.values:
        errors["kind"] = [ERROR_KIND.format(kind=kind, known=", ".join(EntryKind.values))]
    if source not in EntrySource.values:
        errors["source"] = [ERROR_SOURCE.format(source=source, known=", ".join(EntrySource.values))]
    if not (title or "").strip():
        errors["title"] = [ERROR_TITLE]
    if occurred_at is not None and timezone.is_naive(occurred_at):
        errors["occurred_at"] = [ERROR_NAIVE]
    if errors:
        raise ValidationError(errors)


def _insert_unless_recorded(entry: Entry) -> bool:
    """Insert ``entry`` unless its (source, external_id) is stored; False when it already was.

    One statement, no savepoint: ON CONFLICT DO NOTHING makes a concurrent duplicate wait for the
    first writer, then insert nothing. The activity id's number comes from the same statement.
    """
    fields = [f for f in Entry._meta.concrete_fields if not f.primary_key and f.name != "activity_id"]
    values = [f.get_db_prep_save(f.pre_save(entry, add=True), connection) for f in fields]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {Entry._meta.db_table} (activity_id, {columns})
            SELECT {ACTIVITY_ID_SQL}, {", ".join(["%s"] * len(values))}
            FROM (SELECT nextval('timeline_activity_seq') AS n) AS seq
            ON CONFLICT (source, external_id) WHERE external_id IS NOT NULL DO NOTHING
            RETURNING id, activity_id
            """,
            [_activity_month(), *values],
        )
        row = cursor.fetchone()
    if row is None:
        return False
    entry.pk, entry.activity_id = row
    entry._state.adding, entry._state.db = False, connection.alias
    return True


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
) -> tuple[Entry, set[tuple[str, int]]]:
    """A validated, unsaved entry (no activity id yet) and the subjects whose views it belongs on."""
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
    return entry, _link_keys([(subject_ref, subject), *related_pairs])


def _bookkeep(entries: list[Entry], links: list[set[tuple[str, int]]], actor) -> None:
    """What follows every insert: 360° links, rollups and one audit event per entry."""
    EntryLink.objects.bulk_create(
        EntryLink(entry=entry, subject_type=t, subject_id=i, occurred_at=entry.occurred_at)
        for entry, keys in zip(entries, links, strict=True)
        for t, i in sorted(keys)
    )
    deltas = RollupDeltas()
    for entry in entries:
        deltas.add_entry(entry, +1)
    deltas.apply()
    for entry in entries:
        audit_record(action="create", instance=entry, after=snapshot(entry), case_id=_case_id(entry), actor=actor)


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
    """Record one entry; a second call with the same (source, external_id) returns the first entry."""
    entry, links = _build(
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
    if not _insert_unless_recorded(entry):
        return Entry.objects.get(source=source, external_id=entry.external_id)
    _bookkeep([entry], [links], actor)
    return entry


@transaction.atomic
def entry_import(*, items: Iterable[dict], actor=None) -> list[Entry]:
    """Record many entries at once (imports, the demo): entry_record's checks and bookkeeping with
    one round trip per table rather than per entry. Items whose (source, external_id) is already
    stored are skipped; unlike entry_record, a concurrent import of the same ids fails instead.
    """
    built = [_build(**item) for item in items]
    keys = {(e.source, e.external_id) for e, _ in built if e.external_id is not None}
    if keys:
        stored = set(Entry.objects.filter(external_id__in={k[1] for k in keys}).values_list("source", "external_id"))
        seen = set(stored)
        fresh = []
        for entry, links in built:
            key = (entry.source, entry.external_id)
            if entry.external_id is None or key not in seen:
                seen.add(key)
                fresh.append((entry, links))
        built = fresh
    if not built:
        return []
    for (entry, _), activity_id in zip(built, _next_activity_ids(len(built)), strict=True):
        entry.activity_id = activity_id
    entries = Entry.objects.bulk_create([entry for entry, _ in built], batch_size=1000)
    _bookkeep(entries, [links for _, links in built], actor)
    return entries


def _resolve_refs(refs: Iterable[tuple[str, int]]) -> dict[tuple[str, int], models.Model]:
    """Load the records behind subject refs, one query per type; unknown types and gone records are skipped."""
    by_type = defaultdict(set)
    for type_name, pk in refs:
        by_type[type_name].add(pk)
    found = {}
    for type_name, ids in by_type.items():
        try:
            model = subject_model(type_name)
        except SubjectError:
            continue
        for pk, obj in model._default_manager.in_bulk(ids).items():
            found[(type_name, pk)] = obj
    return found


def _stored_refs(entry: Entry) -> list[tuple[str, int]]:
    return [(entry.subject_type, entry.subject_id), *((r["type"], r["id"]) for r in entry.related)]


def _relink(entries: list[Entry]) -> None:
    """Recompute the link rows of ``entries`` from their subjects as they are now."""
    instances = _resolve_refs(ref for entry in entries for ref in _stored_refs(entry))
    EntryLink.objects.filter(entry__in=entries).delete()
    rows = []
    for entry in entries:
        keys = _link_keys((SubjectRef(*ref), instances.get(ref)) for ref in _stored_refs(entry))
        rows.extend(
            EntryLink(entry=entry, subject_type=t, subject_id=i, occurred_at=entry.occurred_at) for t, i in keys
        )
    EntryLink.objects.bulk_create(rows)


def entry_relink_subject(*, subject: models.Model) -> int:
    """After a record moves (a contact or case to another client), move its entries' 360° links too."""
    ref = subject_of(subject)
    entries = list(
        Entry.objects.live()
        .filter(links__subject_type=ref.type, links__subject_id=ref.id)
        .only("id", "occurred_at", "subject_type", "subject_id", "related")
    )
    if entries:
        _relink(entries)
    return len(entries)


def _locked(entry: Entry) -> Entry:
    return Entry.objects.select_for_update().get(pk=entry.pk)


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
