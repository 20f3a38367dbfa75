"""Writes to core records. API, admin and commands all come through here; each write is audited.

What the timeline shows of these writes is its own business: the services send ``crm.signals``
inside their transaction and the timeline subscribes (crm never imports the layers above it).
"""

from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.db.models.deletion import Collector
from django.utils.translation import gettext_lazy as _

from audit.services import audit_record, snapshot
from traf3li.api.exceptions import TransitionError
from traf3li.core.registries import case_of
from traf3li.core.writes import apply_changes, copy_saved
from traf3li.crm import signals
from traf3li.crm.models import Case, Client, Contact, Lead, Organization
from traf3li.users.roles import PERM_HOLD_CASE, actor_may

CRM_MODELS = (Client, Contact, Lead, Case, Organization)
ERROR_HOLD_RIGHT = _("Only the firm's admins may place or lift a legal hold.")
ERROR_DELETE_RIGHT = _("Your role may not delete this record.")
ERROR_HELD = _("“%(case)s” is under legal hold and can't be deleted: lift the hold first.")


class CaseHeldError(TransitionError):
    """Deleting a case under legal hold, refused for everyone (ADR 0031); the API answers 409."""


HELD_MODELS = (Case, Client)  # the records with a ``legal_hold`` of their own (ADR 0065)


def _check_hold_right(*, was_held: bool, held: bool, actor) -> None:
    """A case's or a client's legal hold is placed and lifted only by admins (ADR 0065); either change
    is audited as the record's ``update`` event (``legal_hold`` before and after)."""
    if bool(held) != bool(was_held) and not actor_may(actor, PERM_HOLD_CASE):
        raise PermissionDenied(ERROR_HOLD_RIGHT)


@transaction.atomic
def record_create(*, instance: models.Model, actor=None) -> models.Model:
    """Validate and insert an unsaved core record (built from the API's or the admin's input)."""
    if isinstance(instance, HELD_MODELS):
        _check_hold_right(was_held=False, held=instance.legal_hold, actor=actor)
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
    if isinstance(locked, HELD_MODELS) and "legal_hold" in data:  # against the row as committed, not a stale copy
        _check_hold_right(was_held=locked.legal_hold, held=data["legal_hold"], actor=actor)
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
    clients and contacts, ``on_delete=SET_NULL``) as updated.

    Refused before anything is written: for an actor whose role may not delete this kind of record
    (``PermissionDenied``; staff and cases, ADR 0031), and for everyone when the delete would remove a
    case under legal hold (``CaseHeldError``), read under a row lock so a hold placed meanwhile counts.
    """
    meta = type(instance)._meta
    if not actor_may(actor, f"{meta.app_label}.delete_{meta.model_name}"):
        raise PermissionDenied(ERROR_DELETE_RIGHT)
    collector = Collector(using=instance._state.db)
    collector.collect([instance])  # raises ProtectedError (a client with cases) before anything is written
    doomed_cases = sorted(obj.pk for obj in collector.data.get(Case, ()))
    # Every doomed case locked as the DELETE will lock it (FOR UPDATE, no upgrade later), held or not:
    # a hold committed meanwhile is seen, and none can be placed between this check and the delete.
    cases = Case.objects.select_for_update().filter(pk__in=doomed_cases).order_by("pk")
    held = next((case for case in cases if case.legal_hold), None)
    if held is not None:
        raise CaseHeldError(ERROR_HELD % {"case": held})
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
