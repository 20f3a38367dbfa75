"""Subject references: the one way to name any record polymorphically.

A subject is ``"<type>:<id>"`` in query strings and ``{"type", "id", "name"}`` in bodies. Apps
register their subject types in ``AppConfig.ready()``; content types back the registry so that
GenericForeignKeys (timeline entries, activities, audit events) can store them.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils.translation import gettext_lazy

_REGISTRY: dict[str, str] = {}  # type name -> "app_label.ModelName"
# The contract's subject types (client, case, invoice …): what timelines, activities and the SPA
# may point at. Internal types (user, holiday, notification …) are registered only so the audit
# log can name them.
_PUBLIC: set[str] = set()

ERROR_FORMAT = gettext_lazy("Use '<type>:<id>', for example 'client:42'.")
ERROR_UNKNOWN_TYPE = gettext_lazy("Unknown subject type '{type}'. Known types: {known}.")
ERROR_NOT_FOUND = gettext_lazy("No {type} with id {id}.")


class SubjectError(ValueError):
    """A subject reference that is malformed, of an unknown type, or names nothing."""


@dataclass(frozen=True)
class SubjectRef:
    type: str
    id: int

    def __str__(self) -> str:
        return f"{self.type}:{self.id}"

    @property
    def model(self) -> type[models.Model]:
        return subject_model(self.type)

    @property
    def content_type(self) -> ContentType:
        return ContentType.objects.get_for_model(self.model)

    def resolve(self) -> models.Model:
        obj = self.model._default_manager.filter(pk=self.id).first()
        if obj is None:
            raise SubjectError(ERROR_NOT_FOUND.format(type=self.model._meta.verbose_name, id=self.id))
        return obj


def subject_register(type_name: str, model_label: str, *, public: bool = True) -> None:
    _REGISTRY[type_name] = model_label
    if public:
        _PUBLIC.add(type_name)
    else:
        _PUBLIC.discard(type_name)


def subject_types(*, public_only: bool = False) -> list[str]:
    return sorted(_PUBLIC if public_only else _REGISTRY)


def subject_model(type_name: str) -> type[models.Model]:
    try:
        return apps.get_model(_REGISTRY[type_name])
    except KeyError:
        raise SubjectError(ERROR_UNKNOWN_TYPE.format(type=type_name, known=", ".join(subject_types())))


def subject_type_of(model_or_instance) -> str:
    model = model_or_instance if isinstance(model_or_instance, type) else type(model_or_instance)
    label = model._meta.label
    for type_name, registered in _REGISTRY.items():
        if registered == label:
            return type_name
    raise SubjectError(f"{label} is not a registered subject type.")


def subject_parse(value, *, public_only: bool = False) -> SubjectRef:
    """Parse ``"client:42"`` or ``{"type": "client", "id": 42}`` into a SubjectRef.

    ``public_only`` accepts only the contract's subject types (what an API client may name).
    """
    if isinstance(value, SubjectRef):
        return value
    if isinstance(value, dict):
        type_name, raw_id = value.get("type"), value.get("id")
    elif isinstance(value, str) and ":" in value:
        type_name, _, raw_id = value.strip().partition(":")
    else:
        raise SubjectError(ERROR_FORMAT)
    known = _PUBLIC if public_only else _REGISTRY
    if not isinstance(type_name, str) or type_name not in known:
        raise SubjectError(
            ERROR_UNKNOWN_TYPE.format(type=type_name, known=", ".join(subject_types(public_only=public_only)))
        )
    try:
        pk = int(raw_id)
    except (TypeError, ValueError):
        raise SubjectError(ERROR_FORMAT)
    if pk <= 0 or pk > 2**63 - 1:
        raise SubjectError(ERROR_FORMAT)
    return SubjectRef(type_name, pk)


def subject_of(instance: models.Model) -> SubjectRef:
    return SubjectRef(subject_type_of(instance), instance.pk)


def subject_display_name(instance: models.Model) -> str:
    return str(instance)


def subject_dict(instance: models.Model) -> dict:
    ref = subject_of(instance)
    return {"type": ref.type, "id": ref.id, "name": subject_display_name(instance)}


def subjects_load(refs: Iterable[tuple[str, int]]) -> dict[tuple[str, int], models.Model]:
    """The records behind ``(type, id)`` refs, one query per type; unknown types, blank refs and
    gone records are left out."""
    by_type = defaultdict(set)
    for type_name, pk in refs:
        if type_name and pk is not None:
            by_type[type_name].add(pk)
    found = {}
    for type_name, ids in by_type.items():
        try:
            model = subject_model(type_name)
        except SubjectError:
            continue
        for pk, obj in model._default_manager.in_bulk(ids).items():
            found[(type_name, pk)] = obj
    return found
