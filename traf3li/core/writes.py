"""Applying a service's changes to the row it locked, so that no update is lost to a stale instance.

A caller's instance may have been read long before the write (a form, a serializer, the admin).
Saving it whole would write back its stale values over what other transactions committed since.
Services therefore lock the row, apply only the requested changes to the locked copy, save only
the fields that changed, and hand the saved values back to the caller's instance.
"""

from django.db import models


def apply_changes(locked: models.Model, data: dict) -> list[str]:
    """Set ``data`` on ``locked`` (read under select_for_update), validate it, and save the fields
    whose value changed (with the auto_now ones). Returns the changed fields' names, [] for no write.
    """
    fields = [field for field in locked._meta.concrete_fields if not field.primary_key]
    old = {field.attname: getattr(locked, field.attname) for field in fields}
    for name, value in data.items():
        setattr(locked, name, value)
    full_clean_loaded(locked)  # after the changes: the model's clean() normalises them (emails, phones)
    changed = [field.name for field in fields if getattr(locked, field.attname) != old[field.attname]]
    if changed:
        stamps = [f.name for f in fields if getattr(f, "auto_now", False) and f.name not in changed]
        locked.save(update_fields=changed + stamps)
    return changed


def loaded_relations(instance: models.Model) -> set[str]:
    """The foreign keys of ``instance`` whose related object is cached on it as read from the database."""
    names = set()
    for field in instance._meta.concrete_fields:
        if field.many_to_one and not field.remote_field.limit_choices_to and field.is_cached(instance):
            related = field.get_cached_value(instance)
            loaded = related is not None and not related._state.adding and related.pk is not None
            if loaded and related.pk == getattr(instance, field.attname):
                names.add(field.name)
    return names


def full_clean_loaded(instance: models.Model, **options) -> None:
    """``full_clean``, without its ``SELECT 1 … LIMIT 1`` per foreign key whose object was just read.

    Only the field check of those keys is left out: ``exclude`` would also drop every unique check
    and constraint they take part in, and a duplicate would then be the database's IntegrityError
    (a 500) instead of a ValidationError. The foreign key's own constraint still holds at commit
    for a row deleted in between, the same race the check leaves open.
    """
    loaded = loaded_relations(instance)
    if not loaded:
        instance.full_clean(**options)
        return
    clean_fields = instance.clean_fields
    instance.clean_fields = lambda exclude=None: clean_fields(exclude={*(exclude or ()), *loaded})
    try:
        instance.full_clean(**options)
    finally:
        del instance.clean_fields


def copy_saved(source: models.Model, target: models.Model) -> None:
    """Give ``target`` the row's values as ``source`` holds them, including those another
    transaction committed after ``target`` was read; related objects cached on the stale copy go."""
    if target is source:
        return
    target._state.fields_cache = {}
    for field in source._meta.concrete_fields:
        setattr(target, field.attname, getattr(source, field.attname))
        if field.is_relation and field.is_cached(source):
            field.set_cached_value(target, field.get_cached_value(source))
    target._state.adding, target._state.db = source._state.adding, source._state.db


def form_changes(form) -> dict:
    """A model form's changes as a service's ``data``: the cleaned values of the fields the user
    changed, model fields only (many-to-many ones are saved by the form itself, after the service).

    The admin hands services an instance its form has already mutated with every field, the
    untouched ones as they were when the admin read the row; applying only these keeps a field
    another transaction committed since.
    """
    fields = {field.name for field in form._meta.model._meta.concrete_fields}
    return {name: form.cleaned_data[name] for name in form.changed_data if name in fields and name in form.cleaned_data}
