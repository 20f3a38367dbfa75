"""Reads of the audit log: lists, the chain's verification and point-in-time state."""

import copy
from dataclasses import asdict, dataclass
from datetime import datetime
from types import SimpleNamespace

from django.db import connection, transaction
from django.db.models import DateTimeField, QuerySet

from audit import chain
from audit.choices import AuditAction
from audit.models import AuditChainAnchor, AuditChainHead, AuditEvent, AuditStateSnapshot, AuditVerifyCheckpoint
from traf3li.api.pagination import keyset_filter
from traf3li.core.subjects import SubjectError, SubjectRef, subject_model

# Why verify stopped: the API and the command print these with the event's id.
REASON_GAP = "events before this one are missing (no retention anchor covers the gap)"
REASON_UNVOUCHED = "events before this one are missing, and no purge event vouches for the anchor that claims the gap"
REASON_PREV = "prev_hash does not match the hash of the event before it"
REASON_PAYLOAD = "payload (names, changes or metadata) was altered: its digest does not match"
REASON_HASH = "hash does not match the event's contents"
REASON_ERASED = "marked erased, but no erase event lists it"
REASON_HEAD_MISSING = "the chain head is missing"
REASON_TAIL = "events after this one are missing, or the chain head was altered"
# Actions that say something about a record without changing it: replay skips them.
NON_STATE_ACTIONS = frozenset({AuditAction.VIEW, AuditAction.EXPORT, AuditAction.ERASE, AuditAction.PURGE})
# Point-in-time reads store a snapshot every this many replayed events, so the next read of a
# long history replays at most this many (ADR 0004).
SNAPSHOT_EVERY = 100

_VERIFY_COLUMNS = (
    "id", "seq", "occurred_at", "actor_type", "actor_id", "actor_name", "actor_email", "actor_role", "action",
    "entity_type", "entity_id", "entity_name", "case_id", "changes", "metadata", "source", "request_id",
    "payload_salt", "payload_digest", "prev_hash", "hash", "erased_at", "digest_version", "payload_proof",
)  # fmt: skip


def event_list() -> QuerySet[AuditEvent]:
    """Every event of the firm, newest first (filter with ``AuditEventFilterSet``)."""
    return AuditEvent.objects.all()


def case_history(*, case_id: int) -> QuerySet[AuditEvent]:
    """The case-scoped log: changes to the case and to everything that belongs to it."""
    return AuditEvent.objects.filter(case_id=case_id)


@dataclass
class VerifyResult:
    ok: bool
    checked: int
    event_id: int | None = None
    seq: int | None = None
    reason: str | None = None

    def as_dict(self) -> dict:
        if self.ok:
            return {"ok": True, "checked": self.checked}
        return asdict(self)


def chain_verify(*, incremental: bool = False) -> VerifyResult:
    """Walk the firm's chain in order; return ok, or the first broken link and why (ADR 0035).

    One snapshot: the walk runs in a REPEATABLE READ, read-only transaction, so an append that
    commits meanwhile is simply not seen (reading the head and then the events in two snapshots
    took such an append for tampering). The events stream through a server-side cursor inside it.

    ``incremental`` starts after the stored checkpoint (``AuditVerifyCheckpoint``: the last event a
    verify found sound) instead of the first event: what was appended since is checked, and every
    erased event is still checked against the erase events that list it. A full walk (the default,
    ``manage.py audit_verify``) checks everything. A sound walk moves the checkpoint forward.
    """
    if connection.in_atomic_block:  # a caller's transaction (a test's): its snapshot is the walk's
        result, last = _verify(incremental)
    else:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            result, last = _verify(incremental)
    if result.ok and last is not None:
        _checkpoint(last)
    return result


def _vouched_anchors() -> tuple[dict[int, str], set[int]]:
    """The anchors a purge event vouches for, ``{seq: hash}``, and the seqs of those none does.

    A purge lists the anchors it left (``changes.after.anchors``, inside what the chain hashes); a
    row in the anchor table that no purge lists is not a gap's excuse."""
    vouched: dict[int, str] = {}
    for changes in AuditEvent.objects.filter(action=AuditAction.PURGE).values_list("changes", flat=True):
        listed = (changes.get("after") or {}).get("anchors")
        if isinstance(listed, list):
            vouched.update({int(seq): str(hash_) for seq, hash_ in listed})
    good, unvouched = {}, set()
    for seq, hash_ in AuditChainAnchor.objects.values_list("seq", "hash"):
        if vouched.get(seq) == hash_:
            good[seq] = hash_
        else:
            unvouched.add(seq)
    return good, unvouched


def _verify(incremental: bool) -> tuple[VerifyResult, SimpleNamespace | None]:
    head = AuditChainHead.objects.filter(pk=1).first()
    anchors, unvouched = _vouched_anchors()
    checkpoint = AuditVerifyCheckpoint.objects.filter(pk=1).first() if incremental else None
    checked, prev = 0, None
    events = AuditEvent.objects.order_by("seq")
    if checkpoint is not None:
        prev = SimpleNamespace(id=None, seq=checkpoint.seq, hash=checkpoint.hash)
        events = events.filter(seq__gt=checkpoint.seq)

    def broken(event, reason: str) -> tuple[VerifyResult, None]:
        event_id, seq = getattr(event, "id", None), getattr(event, "seq", None)
        return VerifyResult(ok=False, checked=checked, event_id=event_id, seq=seq, reason=reason), None

    for row in events.values(*_VERIFY_COLUMNS).iterator(chunk_size=2000):
        event = SimpleNamespace(**row)
        if prev is not None and event.seq == prev.seq + 1:
            expected = prev.hash
        elif prev is None and event.seq == 1:
            expected = chain.GENESIS_HASH
        else:
            expected = anchors.get(event.seq - 1)
        if expected is None:
            return broken(event, REASON_UNVOUCHED if event.seq - 1 in unvouched else REASON_GAP)
        if event.prev_hash != expected:
            return broken(event, REASON_PREV)
        if chain.event_payload_ok(event) is False:  # None: an erased event of the old format
            return broken(event, REASON_PAYLOAD)
        if chain.event_link_hash(event) != event.hash:
            return broken(event, REASON_HASH)
        checked += 1
        prev = event
    authorised: set[int] = set()
    for changes in AuditEvent.objects.filter(action=AuditAction.ERASE).values_list("changes", flat=True):
        authorised.update((changes.get("after") or {}).get("redacted_events") or [])
    for event_id, seq in AuditEvent.objects.filter(erased_at__isnull=False).order_by("seq").values_list("id", "seq"):
        if event_id not in authorised:
            return broken(SimpleNamespace(id=event_id, seq=seq), REASON_ERASED)
    if head is None:
        return broken(prev, REASON_HEAD_MISSING)
    if prev is None and head.seq == 0:
        return VerifyResult(ok=True, checked=0), None
    if prev is not None and prev.seq == head.seq:
        tail_ok = prev.hash == head.hash
    else:  # the newest events were purged: the head must match the anchor the purge left
        tail_ok = (prev is None or prev.seq < head.seq) and anchors.get(head.seq) == head.hash
    if not tail_ok:
        return broken(prev, REASON_TAIL)
    return VerifyResult(ok=True, checked=checked), prev


def _checkpoint(last: SimpleNamespace) -> None:
    """Move the checkpoint forward to ``last`` (never back: a slower verify may finish second)."""
    table = AuditVerifyCheckpoint._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} (id, seq, hash, verified_at) VALUES (1, %s, %s, now())
            ON CONFLICT (id) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash, verified_at = EXCLUDED.verified_at
             WHERE {table}.seq < EXCLUDED.seq
            """,
            [last.seq, last.hash],
        )


@dataclass
class EntityState:
    state: dict
    deleted: bool
    event_id: int
    occurred_at: datetime
    replayed: int  # events applied after the snapshot the replay started from


def _apply(state: dict, deleted: bool, action: str, changes: dict) -> tuple[dict, bool]:
    """One event's effect: create sets every field, update and restore change some, delete ends it.

    A domain action (``complete_activity``) changes only fields the record already has: keys it
    adds beyond them (``remind_activity``'s ``reminder_bucket``) describe the action, not the record.
    """
    before, after = changes.get("before") or {}, changes.get("after") or {}
    # A record's first event with nothing before it is its creation, whatever the domain calls it
    # (an activity is born by ``schedule_activity``).
    if action == AuditAction.CREATE or (not state and not before and not deleted):
        return dict(after), False
    if action == AuditAction.DELETE:
        return state, True
    if action not in (AuditAction.UPDATE, AuditAction.RESTORE):
        after = {key: value for key, value in after.items() if key in state}
        before = {}
    state = {**state, **after}
    for key in before.keys() - after.keys():  # a field the change removed
        state.pop(key, None)
    return state, deleted if action != AuditAction.RESTORE else False


def entity_state_at(*, entity: SubjectRef, at: datetime, use_snapshots: bool = True) -> EntityState | None:
    """The entity as it stood at ``at``, rebuilt from its events; None before its first event.

    Starts from the newest stored snapshot at or before ``at`` and replays the events after it
    in chain order, storing a new snapshot every ``SNAPSHOT_EVERY`` events. Snapshots are pure
    caches of this replay, so the answer is the same with or without them.
    """
    events = AuditEvent.objects.filter(entity_type=entity.type, entity_id=entity.id, occurred_at__lte=at).exclude(
        action__in=NON_STATE_ACTIONS
    )
    base = None
    if use_snapshots:
        base = (
            AuditStateSnapshot.objects.filter(entity_type=entity.type, entity_id=entity.id, occurred_at__lte=at)
            .order_by("-occurred_at", "-event_id")
            .first()
        )
    if base is not None:
        state, deleted, last = base.state, base.deleted, (base.occurred_at, base.event_id)
        events = events.filter(keyset_filter("occurred_at", "id", last, descending=False))
    else:
        state, deleted, last = {}, False, None
    replayed, pending = 0, []
    rows = events.order_by("occurred_at", "id").values_list("id", "occurred_at", "action", "changes")
    for event_id, occurred_at, action, changes in rows.iterator(chunk_size=1000):
        state, deleted = _apply(state, deleted, action, changes)
        replayed += 1
        last = (occurred_at, event_id)
        if use_snapshots and replayed % SNAPSHOT_EVERY == 0:
            pending.append(
                AuditStateSnapshot(
                    entity_type=entity.type,
                    entity_id=entity.id,
                    event_id=event_id,
                    occurred_at=occurred_at,
                    state=copy.deepcopy(state),
                    deleted=deleted,
                )
            )
    if pending:
        # A cache write inside a read: two readers may race to store the same one, hence ignore_conflicts.
        AuditStateSnapshot.objects.bulk_create(pending, ignore_conflicts=True)
    if last is None:
        return None
    return EntityState(state=state, deleted=deleted, event_id=last[1], occurred_at=last[0], replayed=replayed)


def state_as_fields(entity_type: str, state: dict) -> dict:
    """Snapshot keys are attribute names (``client_id``); show them as the API does (``client``)."""
    try:
        model = subject_model(entity_type)
    except SubjectError:
        return dict(state)
    names = {field.attname: field.name for field in model._meta.concrete_fields}
    return {names.get(key, key): value for key, value in state.items()}


def state_datetime_names(entity_type: str) -> list[str]:
    """The record's date-time fields, by their API names: the state shows them in the firm's offset."""
    try:
        model = subject_model(entity_type)
    except SubjectError:
        return []
    return [field.name for field in model._meta.concrete_fields if isinstance(field, DateTimeField)]
