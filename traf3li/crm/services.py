"""Writes to core records. API, admin and commands all come through here; each write is audited.

What the timeline shows of these writes is its own business: the services send ``crm.signals``
inside their transaction and the timeline subscribes (crm never imports the layers above it).
"""

from django.db import models, transaction
from django.db.models.deletion import Collector

from audit.services import audit_record, snapshot
from traf3li.core.registries import case_of
from traf3li.core.writes import apply_changes, copy_saved
from traf3li.crm import signals
from traf3li.crm.models import Case, Client, Contact, Lead, Organization

CRM_MODELS = (Client, Contact, Lead, Case, Organization)


@transaction.atomic
def record_create(*, instance: models.Model, actor=None) -> models.Model:
    """Validate and insert an unsaved core record (built from the API's or the admin's input)."""
    instance.full_clean()
    instance.save()
    after = snapshot(instance)
    audit_record(action="create", instance=instance, after=after, case_id=case_of(instance), actor=actor)
    signals.record_created.send(sender=type(instance), instance=instance, before=None, after=after, actor=actor)
    return instance


@transaction.atomic
def record_update(*, instance: models.Model, data: dict, actor=None) -> models.Model:
    """Apply the changes in ``data``; the audit event carries only the fields that changed.

    ``instance`` may be stale (read before another transaction committed a change to it), so the
    changes go onto a copy read under a row lock and only the changed fields are saved: a full
    save of ``instance`` would silently revert the other transaction's fields. ``instance`` gets
    the saved row's values back. Nothing changed: no write, no event.
    """
    locked = type(instance)._default_manager.select_for_update(no_key=True).get(pk=instance.pk)
    before = snapshot(locked)
    changed = apply_changes(locked, data)
    copy_saved(locked, instance)
    if not changed:
        return instance
    after = snapshot(instance)
    audit_record(action="update", instance=instance, before=before, after=after, case_id=case_of(instance), actor=actor)
    signals.record_updated.send(sender=type(instance), instance=instance, before=before, after=after, actor=actor)
    return instance


@transaction.atomic
def record_delete(*, instance: models.Model, actor=None) -> None:
    """Delete a record and audit it with every record the delete touches: those it cascades to (a
    client's contacts) are audited as deleted, those whose reference it nulls (an organization's
    clients and contacts, ``on_delete=SET_NULL``) as updated."""
    collector = Collector(using=instance._state.db)
    collector.collect([instance])  # raises ProtectedError (a client with cases) before anything is written
    doomed = [instance] + [
        obj
        for model in collector.data
        if model in CRM_MODELS
        for obj in sorted(collector.data[model], key=lambda o: o.pk)
        if not (type(obj) is type(instance) and obj.pk == instance.pk)
    ]
    nulled = _nulled_by(collector)  # locked before the first audit event, like an update's row
    for obj, values in nulled:
        before = snapshot(obj)
        for attname, value in values.items():
            setattr(obj, attname, value)
        audit_record(
            action="update", instance=obj, before=before, after=snapshot(obj), case_id=case_of(obj), actor=actor
        )
    for obj in doomed:
        audit_record(action="delete", instance=obj, before=snapshot(obj), case_id=case_of(obj), actor=actor)
    instance.delete()


def _nulled_by(collector: Collector) -> list[tuple[models.Model, dict]]:
    """The records whose references the delete sets (SET_NULL, SET_DEFAULT, SET(...)) but doesn't
    delete, each read under a row lock, with {attname: new value}; by model and id."""
    deleted = {(model._meta.concrete_model, obj.pk) for model, objs in collector.data.items() for obj in objs}
    updates: dict[type[models.Model], dict[object, dict]] = {}
    for (field, value), batches in collector.field_updates.items():
        model = field.model._meta.concrete_model
        new = value.pk if isinstance(value, models.Model) else value
        for batch in batches:
            pks = batch.values_list("pk", flat=True) if isinstance(batch, models.QuerySet) else [o.pk for o in batch]
            for pk in pks:
                if (model, pk) not in deleted:
                    updates.setdefault(model, {}).setdefault(pk, {})[field.attname] = new
    found = []
    for model in sorted(updates, key=lambda m: m._meta.label):
        rows = model._base_manager.using(collector.using).select_for_update().filter(pk__in=updates[model])
        found.extend((obj, updates[model][obj.pk]) for obj in rows.order_by("pk"))
    return found
