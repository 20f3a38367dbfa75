"""The privacy data map: where each app keeps a person's data, and how to export and erase it.

Each app registers its own models from ``AppConfig.ready()`` (in ``<app>/privacy.py``), so the
erasure and export services in ``privacy/`` walk the map without importing any app, and each
app's rows are only ever written by that app's own function::

    privacy_register("billing.Invoice", fields=["notes"], export=..., erase=...)

``export(subject)`` returns the rows held about the subject (dicts with ``id`` and the mapped
fields); ``erase(subject)`` anonymises them and returns what it redacted (ids and field names,
never values). A subject is a ``PrivacySubject``: the record (a contact, client or lead), and the
identifiers other rows quote it by (its name, email and phone, taken before anything is erased).
Mappings run in ``order``: the audit log's last, since it redacts the events of every record the
others redacted.

``subject_held(ref)`` says whether a record is under legal hold: its case is held, or it reaches a
held case, a held case's client or a held client through the hierarchy registry (ADR 0065);
``subjects_held(refs)`` answers for many at once (the retention purge). Everything that erases
calls ``legal_hold_check`` first.
"""

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.db import models
from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.utils.translation import gettext_lazy as _

from traf3li.api.exceptions import TransitionError
from traf3li.core import registries
from traf3li.core.subjects import SubjectRef, subject_model, subject_of, subject_parse

REDACTED = "[erased]"
MIN_MARKER = 3  # shorter identifiers ("Al") would redact unrelated text wherever the letters occur
ERROR_HELD = _("{subject} is under legal hold (it is or belongs to a held case or client): it can't be erased.")


class SubjectHeldError(TransitionError):
    """Erasing a record that reaches a case under legal hold; the API answers 409."""


@dataclass(frozen=True)
class Redaction:
    """One row an erasure changed: its model, id and the fields it blanked (never the values)."""

    model: str
    id: int
    fields: tuple[str, ...]

    def as_dict(self) -> dict:
        return {"model": self.model, "id": self.id, "fields": list(self.fields)}


@dataclass
class PrivacySubject:
    """The person being exported or erased, and the identifiers other rows quote them by."""

    ref: SubjectRef
    instance: models.Model
    markers: tuple[str, ...]
    # Filled in as the mappings erase, so the audit log's mapping (last) can redact their events.
    redacted: list[Redaction] = field(default_factory=list)
    actor: object = None  # who erases: the audit log's ``erase`` event names them

    @classmethod
    def of(cls, instance: models.Model, identifiers: Iterable[str]) -> "PrivacySubject":
        markers = sorted({v.strip() for v in identifiers if v and len(v.strip()) >= MIN_MARKER}, key=len, reverse=True)
        return cls(ref=subject_of(instance), instance=instance, markers=tuple(markers))

    def is_subject(self, subject_type: str, subject_id) -> bool:
        return subject_type == self.ref.type and subject_id == self.ref.id


@dataclass(frozen=True)
class PrivacyMapping:
    """Where one model keeps personal data, and the model's own functions to export and erase it."""

    model: str
    fields: tuple[str, ...]
    export: Callable[[PrivacySubject], list[dict]]
    erase: Callable[[PrivacySubject], list[Redaction]]
    order: int


_MAP: dict[str, PrivacyMapping] = {}


def privacy_register(
    model: type[models.Model] | str,
    *,
    fields: Iterable[str],
    export: Callable[[PrivacySubject], list[dict]],
    erase: Callable[[PrivacySubject], list[Redaction]],
    order: int = 50,
) -> None:
    label = model if isinstance(model, str) else model._meta.label
    _MAP[label] = PrivacyMapping(label, tuple(fields), export, erase, order)


def privacy_map() -> list[PrivacyMapping]:
    """Every mapping, in the order erasure runs them."""
    return sorted(_MAP.values(), key=lambda mapping: (mapping.order, mapping.model))


def privacy_mapped(label: str) -> PrivacyMapping | None:
    return _MAP.get(label)


# The helpers below are for the apps' own functions: each is called on the app's own rows.


def scrub(value, markers: Iterable[str]):
    """``value`` with every marker replaced by ``REDACTED``, case-insensitively, in strings at any
    depth of lists and dicts (keys stay: they are structure, not data)."""
    markers = tuple(markers)
    if isinstance(value, str):
        for marker in markers:
            value = re.sub(re.escape(marker), REDACTED, value, flags=re.IGNORECASE)
        return value
    if isinstance(value, list):
        return [scrub(item, markers) for item in value]
    if isinstance(value, dict):
        return {key: scrub(item, markers) for key, item in value.items()}
    return value


def quoting(model: type[models.Model], fields: Iterable[str], markers: Iterable[str]) -> Q:
    """Rows where any of ``fields`` (text or JSON) contains any marker. JSON fields are searched as
    their text, so callers annotate ``<field>_astext`` first (``with_text``)."""
    query = Q(pk__in=[])
    for name in fields:
        column = f"{name}_astext" if isinstance(model._meta.get_field(name), models.JSONField) else name
        for marker in markers:
            query |= Q(**{f"{column}__icontains": marker})
    return query


def with_text(queryset: models.QuerySet, fields: Iterable[str]) -> models.QuerySet:
    """Annotate each JSON field among ``fields`` as text, for ``quoting``."""
    model = queryset.model
    json_fields = [n for n in fields if isinstance(model._meta.get_field(n), models.JSONField)]
    return queryset.annotate(**{f"{n}_astext": Cast(n, TextField()) for n in json_fields})


def rows_export(queryset: models.QuerySet, fields: Iterable[str]) -> list[dict]:
    return [{"id": row.pop("pk"), **row} for row in queryset.order_by("pk").values("pk", *fields)]


def _assign(row: models.Model, values: dict) -> set[str]:
    """Set ``values`` on ``row``; the names of the fields that changed."""
    changed = set()
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed.add(name)
    return changed


def rows_redact(
    queryset: models.QuerySet,
    *,
    subject: PrivacySubject,
    scrubbed: Iterable[str] = (),
    replace: Callable[[models.Model], dict] | None = None,
) -> list[Redaction]:
    """Anonymise the rows of ``queryset`` (locked in id order, ADR 0030): scrub the markers out of
    the ``scrubbed`` fields, then set what ``replace(row)`` returns (the row is about the subject:
    its free text goes whole). Saves only the fields that changed, without ``save()`` or signals:
    an erasure writes no audit event of the values it removes."""
    scrubbed = tuple(scrubbed)
    changed_rows, redactions, touched = [], [], set()
    for row in queryset.select_for_update(of=("self",)).order_by("pk"):
        changed = _assign(row, {name: scrub(getattr(row, name), subject.markers) for name in scrubbed})
        if replace is not None:  # it sees the row already scrubbed, so what it returns keeps the scrubbing
            changed |= _assign(row, replace(row))
        if changed:
            changed_rows.append(row)
            touched.update(changed)
            redactions.append(Redaction(row._meta.label, row.pk, tuple(sorted(changed))))
    if changed_rows:
        queryset.model._default_manager.bulk_update(changed_rows, sorted(touched), batch_size=500)
    return redactions


# Legal hold, through the hierarchy: the contract's "a case under legal hold blocks erasure".


def _held_refs() -> set[SubjectRef]:
    """The held cases and every ancestor of theirs (a held case's client is held too), and the
    clients under a hold of their own."""
    held = registries.legal_hold_case_ids()
    clients = registries.legal_hold_client_ids()
    refs = set()
    if isinstance(held, models.QuerySet):
        for case in subject_model("case")._default_manager.filter(pk__in=held):
            refs.add(SubjectRef("case", case.pk))
            refs.update(registries.hierarchy_ancestors("case", case))
    if isinstance(clients, models.QuerySet):
        refs.update(SubjectRef("client", pk) for pk in clients.values_list("pk", flat=True))
    return refs


def _reached(ref: SubjectRef, instance: models.Model | None) -> set[SubjectRef]:
    """``ref``, its ancestors and its case: what a hold on any of them holds it by."""
    reached = {ref}
    if instance is not None:
        reached.update(registries.hierarchy_ancestors(ref.type, instance))
        case_id = registries.case_of(instance)
        if case_id:
            reached.add(SubjectRef("case", case_id))
    return reached


def subject_held(subject, instance: models.Model | None = None) -> bool:
    """Whether ``subject`` is, belongs to or reaches a case or client under legal hold (or is a held case's client)."""
    ref = subject_parse(subject)
    held = _held_refs()
    if not held:
        return False
    if instance is None:
        instance = subject_model(ref.type)._default_manager.filter(pk=ref.id).first()
    return bool(_reached(ref, instance) & held)


def subjects_held(refs: Iterable[SubjectRef]) -> set[SubjectRef]:
    """Those of ``refs`` under legal hold, as ``subject_held`` says, in one query per subject type
    (the ancestors come from the records' foreign-key ids)."""
    held = _held_refs()
    refs = set(refs)
    if not held or not refs:
        return set()
    by_type: dict[str, set[int]] = {}
    for ref in refs:
        by_type.setdefault(ref.type, set()).add(ref.id)
    found = set()
    for subject_type, ids in by_type.items():
        for instance in subject_model(subject_type)._default_manager.filter(pk__in=ids):
            ref = SubjectRef(subject_type, instance.pk)
            if _reached(ref, instance) & held:
                found.add(ref)
    return found


def legal_hold_check(subject, instance: models.Model | None = None) -> None:
    """Refuse (409) to erase a record under legal hold."""
    if subject_held(subject, instance):
        raise SubjectHeldError(ERROR_HELD.format(subject=subject_parse(subject)))


def privacy_register_rows(
    model: type[models.Model],
    *,
    scrubbed: Iterable[str],
    about: Callable[[PrivacySubject], Q] | None = None,
    replace: Callable[[PrivacySubject, models.Model], dict] | None = None,
    exported: Iterable[str] = (),
    order: int = 50,
) -> None:
    """Map ``model`` the common way: its rows about the subject (``about``) or quoting the subject's
    identifiers in ``scrubbed`` are exported and erased. Erasure scrubs the identifiers out of
    ``scrubbed`` and, on each row, sets what ``replace(subject, row)`` returns (the free text of a
    row about the person). ``exported`` adds fields to the export beyond ``scrubbed``."""
    scrubbed = tuple(scrubbed)
    fields = tuple(dict.fromkeys((*scrubbed, *exported)))

    def rows(subject: PrivacySubject) -> models.QuerySet:
        query = quoting(model, scrubbed, subject.markers)
        if about is not None:
            query |= about(subject)
        return with_text(model._default_manager.all(), scrubbed).filter(query)

    def export(subject: PrivacySubject) -> list[dict]:
        return rows_export(rows(subject), fields)

    def erase(subject: PrivacySubject) -> list[Redaction]:
        fill = (lambda row: replace(subject, row)) if replace is not None else None
        return rows_redact(rows(subject), subject=subject, scrubbed=scrubbed, replace=fill)

    privacy_register(model, fields=fields, export=export, erase=erase, order=order)
