"""The hash chain's canonical serialisation, shared by the writer, the verifier and migrations.

Each event's ``hash`` is ``sha256(prev_hash | seq | occurred_at | body_digest)``:
- ``body_digest`` is sha256 of the canonical JSON of the event's non-personal columns plus
  ``payload_digest``;
- ``payload_digest`` is sha256 of a per-event salt and the canonical JSON of the personal
  columns (actor name and email, entity name, changes, metadata).
The writer computes both digests in Python and lets PostgreSQL compute the link (``LINK_SQL``)
under the chain-head row lock, so an append is one statement. Changing anything here breaks the
verification of every existing chain: treat the format as frozen (ADR 0004).
"""

import hashlib
import json
from datetime import UTC, datetime

GENESIS_HASH = "0" * 64
# PostgreSQL's spelling of ``timestamp_text`` below; both must render the same string.
TIMESTAMP_SQL = "to_char({ts} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"


def _normalise(value):
    """JSON as jsonb gives it back: integral floats become ints (jsonb drops ``1e20``'s exponent)."""
    if isinstance(value, dict):
        return {str(key): _normalise(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_normalise(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def canonical(value) -> bytes:
    """Sorted keys, no whitespace, UTF-8: the same bytes for the same data, however it was stored."""
    return json.dumps(_normalise(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def payload_of(*, actor_name: str, actor_email: str, entity_name: str, changes: dict, metadata: dict) -> dict:
    """The erasable part of an event: everything that can name a person."""
    return {
        "actor_email": actor_email,
        "actor_name": actor_name,
        "changes": changes,
        "entity_name": entity_name,
        "metadata": metadata,
    }


def payload_digest(salt: str, payload: dict) -> str:
    return hashlib.sha256(salt.encode() + b"|" + canonical(payload)).hexdigest()


def body_digest(
    *,
    actor_type: str,
    actor_id: int | None,
    actor_role: str,
    action: str,
    entity_type: str,
    entity_id: int,
    case_id: int | None,
    source: str,
    request_id: str,
    payload_digest: str,
) -> str:
    body = {
        "action": action,
        "actor_id": actor_id,
        "actor_role": actor_role,
        "actor_type": actor_type,
        "case_id": case_id,
        "entity_id": entity_id,
        "entity_type": entity_type,
        "payload_digest": payload_digest,
        "request_id": request_id,
        "source": source,
    }
    return hashlib.sha256(canonical(body)).hexdigest()


def timestamp_text(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def link_hash(*, prev_hash: str, seq: int, occurred_at: datetime, body_digest: str) -> str:
    return hashlib.sha256(f"{prev_hash}|{seq}|{timestamp_text(occurred_at)}|{body_digest}".encode()).hexdigest()


def event_body_digest(event) -> str:
    """``body_digest`` of a stored event (a model instance or anything with the same attributes)."""
    return body_digest(
        actor_type=event.actor_type,
        actor_id=event.actor_id,
        actor_role=event.actor_role,
        action=event.action,
        entity_type=event.entity_type,
        entity_id=event.entity_id,
        case_id=event.case_id,
        source=event.source,
        request_id=event.request_id,
        payload_digest=event.payload_digest,
    )


def event_payload_digest(event) -> str:
    payload = payload_of(
        actor_name=event.actor_name,
        actor_email=event.actor_email,
        entity_name=event.entity_name,
        changes=event.changes,
        metadata=event.metadata,
    )
    return payload_digest(event.payload_salt, payload)


def event_link_hash(event) -> str:
    """What a stored event's ``hash`` must be, given its columns."""
    return link_hash(
        prev_hash=event.prev_hash, seq=event.seq, occurred_at=event.occurred_at, body_digest=event_body_digest(event)
    )
