"""Where the audit log keeps personal data (the privacy data map, ``traf3li.core.privacy``).

Last in the map (order 100): it redacts, through ``audit_erase`` (ADR 0005, the chain still
verifies), the events about the person, the events about every record the other mappings
redacted, and any event whose entity name or changes quote the person. Its ``erase`` event lists
the redacted events and records by id and field name, never their values.
"""

from django.apps import apps
from django.db.models import Q, TextField
from django.db.models.functions import Cast

from audit.choices import AuditAction
from audit.models import AuditEvent, AuditStateSnapshot
from audit.services import audit_erase
from traf3li.core.privacy import Redaction, privacy_register, quoting, rows_export, with_text
from traf3li.core.subjects import SubjectError, subject_type_of

EXPORTED = ("occurred_at", "action", "entity_type", "entity_id", "entity_name", "changes")


def _records(redactions) -> Q:
    query = Q(pk__in=[])
    for redaction in redactions:
        try:
            entity_type = subject_type_of(apps.get_model(redaction.model))
        except SubjectError:  # a model the audit log never names (no events to redact)
            continue
        query |= Q(entity_type=entity_type, entity_id=redaction.id)
    return query


def _events(subject, *, redactions=()):
    quoted = Q(pk__in=[])
    for marker in subject.markers:
        quoted |= Q(entity_name__icontains=marker) | Q(changes_astext__icontains=marker)
    about = Q(entity_type=subject.ref.type, entity_id=subject.ref.id)
    rows = AuditEvent.objects.annotate(changes_astext=Cast("changes", TextField()))
    return rows.filter(about | quoted | _records(redactions)).exclude(action=AuditAction.ERASE)


def _export(subject) -> list[dict]:
    return rows_export(_events(subject), EXPORTED)


def _erase(subject) -> list[Redaction]:
    events = _events(subject, redactions=subject.redacted)
    ids = list(events.order_by("seq").values_list("pk", flat=True))
    audit_erase(
        subject=subject.ref,
        events=AuditEvent.objects.filter(pk__in=ids),
        markers=subject.markers,
        records=[redaction.as_dict() for redaction in subject.redacted],
        actor=subject.actor,
    )
    return [Redaction(AuditEvent._meta.label, pk, ("changes", "entity_name")) for pk in ids]


def _snapshots(subject):
    about = Q(entity_type=subject.ref.type, entity_id=subject.ref.id)
    quoted = quoting(AuditStateSnapshot, ("state",), subject.markers)
    return with_text(AuditStateSnapshot.objects.all(), ("state",)).filter(about | quoted)


def _snapshots_erase(subject) -> list[Redaction]:
    # Point-in-time states cached from the events: deleted, the next read rebuilds them from the
    # redacted events (audit_erase already dropped those of the entities it redacted).
    doomed = list(_snapshots(subject).values_list("pk", flat=True))
    AuditStateSnapshot.objects.filter(pk__in=doomed).delete()
    return [Redaction(AuditStateSnapshot._meta.label, pk, ("state",)) for pk in doomed]


def register() -> None:
    privacy_register(AuditEvent, fields=EXPORTED, export=_export, erase=_erase, order=100)
    privacy_register(
        AuditStateSnapshot, fields=("entity_type", "entity_id", "state"), order=101, erase=_snapshots_erase,
        export=lambda subject: rows_export(_snapshots(subject), ("entity_type", "entity_id", "state")),
    )  # fmt: skip
