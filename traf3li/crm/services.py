"""Writes to core records. API, admin and commands all come through here; each write is audited."""

from django.db import models, transaction
from django.db.models.deletion import Collector

from audit.services import audit_record, snapshot
from timeline.recorders import record_created as timeline_record_created
from timeline.recorders import record_updated as timeline_record_updated
from traf3li.crm.models import Case, Client, Contact, Lead, Organization

CRM_MODELS = (Client, Contact, Lead, Case, Organization)


def _case_id_of(instance: models.Model) -> int | None:
    return instance.pk if isinstance(instance, Case) else None


@transaction.atomic
def record_create(*, instance: models.Model, actor=None) -> models.Model:
    """Validate and insert an unsaved core record (built from the API's or the admin's input)."""
    instance.full_clean()
    instance.save()
    audit_record(
        action="create", instance=instance, after=snapshot(instance), case_id=_case_id_of(instance), actor=actor
    )
    _on_created(instance, actor=actor)
    return instance


@transaction.atomic
def record_update(*, instance: models.Model, data: dict, actor=None) -> models.Model:
    """Apply field changes; the audit event carries only the fields that changed."""
    # Re-read under a row lock: the admin hands us an already-mutated instance, and two
    # concurrent updates must each diff against what the other committed.
    before = snapshot(type(instance)._default_manager.select_for_update().get(pk=instance.pk))
    for name, value in data.items():
        setattr(instance, name, value)
    instance.full_clean()
    instance.save()
    after = snapshot(instance)
    audit_record(
        action="update", instance=instance, before=before, after=after, case_id=_case_id_of(instance), actor=actor
    )
    _on_updated(instance, before=before, after=after, actor=actor)
    return instance


@transaction.atomic
def record_delete(*, instance: models.Model, actor=None) -> None:
    """Delete a record and audit it together with every record the delete cascades to (a client's contacts)."""
    collector = Collector(using=instance._state.db)
    collector.collect([instance])  # raises ProtectedError (a client with cases) before anything is written
    doomed = [instance] + [
        obj
        for model in collector.data
        if model in CRM_MODELS
        for obj in sorted(collector.data[model], key=lambda o: o.pk)
        if not (type(obj) is type(instance) and obj.pk == instance.pk)
    ]
    for obj in doomed:
        audit_record(action="delete", instance=obj, before=snapshot(obj), case_id=_case_id_of(obj), actor=actor)
    instance.delete()


def _on_created(instance: models.Model, *, actor) -> None:
    """Hook for the timeline: a new case or contact shows on its client's timeline."""
    timeline_record_created(instance, actor=actor)


def _on_updated(instance: models.Model, *, before: dict, after: dict, actor) -> None:
    """Hook for the timeline: a case's status change shows on its client's timeline."""
    timeline_record_updated(instance, before=before, after=after, actor=actor)
