"""The one audit recording function. Services call it inside their own transaction."""

import json
from decimal import Decimal

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from audit.models import AuditEvent
from traf3li.core.context import current_context
from traf3li.core.subjects import subject_of

SYSTEM_ACTOR = "system"


def json_safe(value):
    """Round-trip through DjangoJSONEncoder: Decimal, date and UUID become strings."""
    if isinstance(value, Decimal):
        return str(value)
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def snapshot(instance: models.Model) -> dict:
    """The instance's concrete field values, JSON-safe, keyed by attribute name (FKs as ids)."""
    data = {}
    for field in instance._meta.concrete_fields:
        if field.name in {"password"}:
            continue
        data[field.attname] = json_safe(getattr(instance, field.attname))
    return data


def diff(before: dict | None, after: dict | None) -> dict:
    """Changed fields only, as {"before": {...}, "after": {...}}."""
    before, after = before or {}, after or {}
    keys = sorted(set(before) | set(after))
    changed = [k for k in keys if before.get(k) != after.get(k)]
    return {
        "before": {k: before[k] for k in changed if k in before},
        "after": {k: after[k] for k in changed if k in after},
    }


def audit_record(
    *,
    action: str,
    instance: models.Model,
    before: dict | None = None,
    after: dict | None = None,
    case_id: int | None = None,
    actor=None,
) -> AuditEvent | None:
    """Append one audit event for ``instance``; returns None when an update changed nothing."""
    ctx = current_context()
    actor = actor or ctx.user
    changes = diff(before, after)
    if action == "update" and not changes["after"] and not changes["before"]:
        return None
    ref = subject_of(instance)
    return AuditEvent.objects.create(
        occurred_at=timezone.now(),
        actor_id=getattr(actor, "pk", None),
        actor_name=getattr(actor, "display_name", None) or SYSTEM_ACTOR,
        actor_email=getattr(actor, "email", "") or "",
        actor_role=getattr(actor, "role", "") or "",
        action=action,
        entity_type=ref.type,
        entity_id=ref.id,
        entity_name=str(instance)[:300],
        case_id=case_id,
        changes=changes,
        metadata=ctx.as_metadata(),
        request_id=ctx.request_id,
    )
