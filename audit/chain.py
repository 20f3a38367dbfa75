"""The hash chain's canonical serialisation, shared by the writer, the verifier and migrations.

Each event's ``hash`` is ``sha256(prev_hash | seq | occurred_at | body_digest)``:
- ``body_digest`` is sha256 of the canonical JSON of the event's non-personal columns plus
  ``payload_digest``;
- ``payload_digest`` is sha256 of a per-event salt and the canonical JSON of the personal
  columns (actor name and email, entity name, changes, metadata).
The writer computes both digests in Python and lets PostgreSQL compute the link (``LINK_SQL``)
under the chain-head row lock, so an append is one statement. Changing anything here breaks the
verification of every existing chain: treat the format as frozen (ADR 0004).

Two payload digest formats, told apart by the event's ``digest_version`` (ADR 0063):
- 1, events written before per-field digests: one digest of the whole payload, so an erased
  event's payload can no longer be checked at all;
- 2: a digest of the map ``{leaf path: leaf digest}``, one leaf per personal field (actor name,
  actor email, entity name, each key of ``changes.before``/``changes.after`` and of
  ``metadata``), each salted with its own salt derived from the event's salt. Erasure keeps, for
  each leaf it blanks, that leaf's digest, and for each leaf it keeps, that leaf's salt (never the
  event's salt, from which the erased leaves' salts would follow). Verify then still checks every
  field the erasure did not touch, and that the touched ones hold nothing but the blank.
"""

import hashlib
import hmac
import json
from datetime import UTC, datetime
from functools import lru_cache

GENESIS_HASH = "0" * 64
# PostgreSQL's spelling of ``timestamp_text`` below; both must render the same string.
TIMESTAMP_SQL = "to_char({ts} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"


def _normalise(value):
    """JSON as jsonb gives it back: integral floats become ints (jsonb drops ``1e20``'s exponent)."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if isinstance(value, dict):
        return {str(key): _normalise(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_normalise(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# json.dumps(..., sort_keys=True, separators=(",", ":"), ensure_ascii=False), built once: dumps with
# arguments makes a new encoder per call, and an audited write serialises some thirty values.
_encode = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
_encode_str = json.encoder.encode_basestring  # what that encoder does to a str


def canonical(value) -> bytes:
    """Sorted keys, no whitespace, UTF-8: the same bytes for the same data, however it was stored."""
    kind = type(value)  # exact types: the scalars most leaves are, written as the encoder writes them
    if kind is str:
        return _encode_str(value).encode()
    if value is None:
        return b"null"
    if kind is bool:
        return b"true" if value else b"false"
    if kind is int:
        return int.__repr__(value).encode()
    return _encode(_normalise(value)).encode()


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


def event_payload(event) -> dict:
    """The erasable part of a stored event (a model instance or anything with the same attributes)."""
    return payload_of(
        actor_name=event.actor_name,
        actor_email=event.actor_email,
        entity_name=event.entity_name,
        changes=event.changes,
        metadata=event.metadata,
    )


def event_payload_digest(event) -> str:
    payload = event_payload(event)
    return payload_digest(event.payload_salt, payload)


# --- per-field digests (version 2) ---------------------------------------------------------------

DIGEST_V1, DIGEST_V2 = 1, 2
# What an erased leaf may hold afterwards: anything else under an erased leaf is tampering.
BLANKS = ("[erased]", "", None)
_NESTED = {"changes": ("before", "after")}  # changes.before.<field>, changes.after.<field>


@lru_cache(maxsize=4096)  # the same few field names, event after event
def _path(*parts: str) -> str:
    return json.dumps(list(parts), ensure_ascii=False, separators=(",", ":"))


def payload_leaves(payload: dict) -> dict[str, object]:
    """The payload's personal fields, one per leaf path; a leaf's value is compared as jsonb gives it.

    Empty containers are leaves of their own, so adding or removing a key changes the path set."""
    leaves: dict[str, object] = {}
    for name in ("actor_email", "actor_name", "entity_name"):
        leaves[_path(name)] = payload.get(name)
    for name in ("changes", "metadata"):
        value = payload.get(name)
        if not isinstance(value, dict) or not value:
            leaves[_path(name)] = value
            continue
        for key, item in value.items():
            if key in _NESTED.get(name, ()) and isinstance(item, dict) and item:
                for field, leaf in item.items():
                    leaves[_path(name, key, str(field))] = leaf
            else:
                leaves[_path(name, str(key))] = item
    return leaves


def leaf_salt(event_salt: str, path: str) -> str:
    """A leaf's own salt: revealing it (after an erasure) reveals neither the event's salt nor its siblings'."""
    return hmac.digest(event_salt.encode(), path.encode(), "sha256").hex()[:32]


def leaf_digest(salt: str, path: str, value) -> str:
    return hashlib.sha256(salt.encode() + b"|" + path.encode() + b"|" + canonical(value)).hexdigest()


def digest_of_leaves(digests: dict[str, str]) -> str:
    return hashlib.sha256(b"v2|" + canonical(digests)).hexdigest()


def payload_digest_v2(salt: str, payload: dict) -> str:
    leaves = payload_leaves(payload)
    return digest_of_leaves({path: leaf_digest(leaf_salt(salt, path), path, value) for path, value in leaves.items()})


def proof_digest(payload: dict, proof: dict) -> str | None:
    """The payload digest of an erased version-2 event from what is left: the kept leaves' values
    and salts, the erased leaves' digests. ``None`` when the proof does not cover the payload, or an
    erased leaf holds anything but a blank."""
    salts, erased = proof.get("salts") or {}, proof.get("digests") or {}
    digests = {}
    for path, value in payload_leaves(payload).items():
        if path in erased:
            if value not in BLANKS:
                return None
            digests[path] = erased[path]
        elif path in salts:
            digests[path] = leaf_digest(salts[path], path, value)
        else:
            return None
    return digest_of_leaves(digests)


def erasure_proof(*, salt: str, proof: dict | None, before: dict, after: dict) -> dict:
    """The proof an erasure leaves: each leaf that changed is kept as its digest (of its value
    ``before``), each leaf that did not as its salt. ``salt`` is the event's (empty once erased),
    ``proof`` the one a previous erasure left."""
    old, new = payload_leaves(before), payload_leaves(after)
    if old.keys() != new.keys():
        raise ValueError("An erasure blanks fields; it must not add or remove any.")
    proof = proof or {}
    salts = dict(proof.get("salts") or {}) if not salt else {path: leaf_salt(salt, path) for path in old}
    digests = dict(proof.get("digests") or {})
    for path, value in new.items():
        if path in digests:
            continue
        if value != old[path]:
            digests[path] = leaf_digest(salts.pop(path), path, old[path])
    return {"digests": digests, "salts": salts}


def event_payload_ok(event) -> bool | None:
    """Whether a stored event's personal fields match its ``payload_digest``; ``None`` when nothing
    can be checked (a version-1 event after erasure)."""
    payload = event_payload(event)
    if getattr(event, "digest_version", DIGEST_V1) == DIGEST_V2:
        if event.erased_at is None:
            return payload_digest_v2(event.payload_salt, payload) == event.payload_digest
        return proof_digest(payload, event.payload_proof or {}) == event.payload_digest
    if event.erased_at is not None:
        return None
    return payload_digest(event.payload_salt, payload) == event.payload_digest


def event_link_hash(event) -> str:
    """What a stored event's ``hash`` must be, given its columns."""
    return link_hash(
        prev_hash=event.prev_hash, seq=event.seq, occurred_at=event.occurred_at, body_digest=event_body_digest(event)
    )
