import django_filters
from django import forms
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from audit.choices import ActorType, Source, action_catalogue
from audit.models import AuditEvent
from traf3li.api.bounds import INT8_MAX
from traf3li.api.filters import AnySubjectFormField, ChoiceInFilter, IdFilter, MomentFilter, SubjectFilter
from traf3li.core.subjects import subject_types

ERROR_ACTOR = gettext_lazy("Use a user id or 'system'.")


class ActorFormField(forms.CharField):
    def clean(self, value):
        value = (super().clean(value) or "").strip()
        if not value:
            return None
        if value in (ActorType.SYSTEM, ActorType.PLATFORM):
            return value
        if value.isdigit() and 0 < int(value) <= INT8_MAX:
            return int(value)
        raise forms.ValidationError(ERROR_ACTOR)


@extend_schema_field(OpenApiTypes.STR)
class EntityFilter(SubjectFilter):
    """``?entity=case:7``: the record the events are about (any audited type, ``user:3`` too)."""

    field_class = AnySubjectFormField


@extend_schema_field(OpenApiTypes.STR)
class ActorFilter(django_filters.Filter):
    """``?actor=3`` (a user id) or ``?actor=system``."""

    field_class = ActorFormField

    def filter(self, queryset, value):
        if value is None:
            return queryset
        if isinstance(value, int):
            return queryset.filter(actor_type=ActorType.USER, actor_id=value)
        return queryset.filter(actor_type=value)


class ActionInFilter(ChoiceInFilter):
    """``?action=update,complete_activity``; the choices are read per request, so registered actions count."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, choices=lambda: list(action_catalogue().items()), **kwargs)


class EntityTypeInFilter(ChoiceInFilter):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, choices=lambda: [(name, name) for name in subject_types()], **kwargs)


class EventFilters(django_filters.FilterSet):
    """What both audit lists filter on: entity, action, actor, source, request and time."""

    entity = EntityFilter(method="filter_entity", help_text="The record the event is about, e.g. case:7.")
    action = ActionInFilter(field_name="action", help_text="Comma list of catalogue actions.")
    actor = ActorFilter(help_text="A user id, or 'system'.")
    source = ChoiceInFilter(field_name="source", choices=Source.choices, help_text="api, admin, webhook, task…")
    request_id = django_filters.CharFilter(field_name="request_id", help_text="Every event of one request.")
    since = MomentFilter(field_name="occurred_at", lookup_expr="gte")
    until = MomentFilter(field_name="occurred_at", lookup_expr="lt")

    class Meta:
        model = AuditEvent
        fields = ["entity", "action", "actor", "source", "request_id", "since", "until"]

    def filter_entity(self, queryset, name, value):
        if value is None:
            return queryset
        return queryset.filter(entity_type=value.type, entity_id=value.id)


class AuditEventFilterSet(EventFilters):
    """Filters of ``GET /api/v1/audit/`` and of the admin."""

    entity_type = EntityTypeInFilter(field_name="entity_type", help_text="Comma list of subject types.")
    case = IdFilter(field_name="case_id", help_text="Events that belong to this case.")

    class Meta(EventFilters.Meta):
        fields = [*EventFilters.Meta.fields, "entity_type", "case"]


class CaseHistoryFilterSet(EventFilters):
    """``GET /api/v1/cases/{id}/history/?resource=``: ``resource`` narrows to entity types."""

    resource = EntityTypeInFilter(field_name="entity_type", help_text="Comma list: case, entry, activity…")

    class Meta(EventFilters.Meta):
        fields = [*EventFilters.Meta.fields, "resource"]
