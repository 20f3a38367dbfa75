import json

from django.contrib import admin
from django.core.exceptions import FieldDoesNotExist
from django.core.paginator import Paginator
from django.db import connection, models
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.formats import date_format
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.text import capfirst
from django.utils.translation import gettext, gettext_noop, pgettext
from django.utils.translation import gettext_lazy as _

from audit.choices import ActorType, Source, action_catalogue
from audit.models import AuditEvent
from audit.services import SYSTEM_ACTOR
from traf3li.admin_sites import ReadOnlyAdmin, firm_admin
from traf3li.core.subjects import SubjectError, subject_model, subject_types
from traf3li.users.models import User

# What the request context adds to each event (``ActionContext.as_metadata``), by the names a reader knows.
METADATA_LABELS = {
    "ip": _("IP address"),
    "user_agent": _("browser (user agent)"),
    "source": _("source"),
    "request_id": _("request ID"),
}
CHANGES_SIDES = (("before", _("before")), ("after", _("after")))
# Field names that third-party models leave untranslated (django-tenants' ``schema_name`` on the firm):
# field_label() looks them up in our catalogue.
UNMARKED_FIELD_NAMES = (gettext_noop("schema name"),)


def action_label(action: str) -> str:
    """An action as the catalogue describes it ("An activity was scheduled"), else as stored."""
    description = action_catalogue().get(action)
    return str(description) if description else action


def entity_model(entity_type: str):
    try:
        return subject_model(entity_type)
    except SubjectError:
        return None


def entity_type_label(entity_type: str) -> str:
    """``activity_type`` as the admin names the model ("Activity type"), in the page's language."""
    model = entity_model(entity_type)
    return capfirst(model._meta.verbose_name) if model is not None else entity_type


def _model_field(model, name: str):
    if model is None:
        return None
    try:
        return model._meta.get_field(name)
    except FieldDoesNotExist:
        # a foreign key is snapshotted by its column (``client_id``)
        return next((f for f in model._meta.concrete_fields if f.attname == name), None)


def field_label(model, name: str) -> str:
    field = _model_field(model, name)
    return capfirst(gettext(str(field.verbose_name))) if field is not None else name


def value_label(model, name: str, value) -> str:
    """A snapshotted value as a reader knows it: a choice by its label, a yes or no, a dash for nothing."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return gettext("Yes") if value else gettext("No")
    field = _model_field(model, name)
    choices = dict(field.flatchoices) if field is not None and field.flatchoices else {}
    if isinstance(value, str | int) and value in choices:
        return str(choices[value])
    if isinstance(value, str) and isinstance(field, models.DateTimeField) and (moment := parse_datetime(value)):
        return date_format(timezone.localtime(moment) if timezone.is_aware(moment) else moment, "DATETIME_FORMAT")
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


class EstimatedCountPaginator(Paginator):
    """The unfiltered log's count comes from the planner's estimate: an exact COUNT(*) walks every event."""

    @cached_property
    def count(self):
        query = self.object_list.query
        if query.where:
            return super().count
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)", [AuditEvent._meta.db_table]
            )
            row = cursor.fetchone()
        estimate = row[0] if row else -1
        return super().count if estimate < 10_000 else estimate


class CatalogueFilter(admin.SimpleListFilter):
    """Lists a catalogue's values, not ``SELECT DISTINCT`` over every event."""

    @staticmethod
    def catalogue() -> list[str]:
        raise NotImplementedError

    @staticmethod
    def label(value: str) -> str:
        return value

    def lookups(self, request, model_admin):
        return [(value, self.label(value)) for value in self.catalogue()]

    def queryset(self, request, queryset):
        return queryset.filter(**{self.parameter_name: self.value()}) if self.value() else queryset


class ActionFilter(CatalogueFilter):
    title, parameter_name = _("action"), "action"
    catalogue = staticmethod(lambda: list(action_catalogue()))
    label = staticmethod(action_label)


class EntityTypeFilter(CatalogueFilter):
    title, parameter_name = _("entity type"), "entity_type"
    catalogue = staticmethod(subject_types)
    label = staticmethod(entity_type_label)


@admin.register(AuditEvent, site=firm_admin)
class AuditEventAdmin(ReadOnlyAdmin):
    """Read-only: the log is append-only in the database too, so there is nothing to add, change or delete."""

    list_display = [
        "seq",
        "occurred_at",
        "actor",
        "action_description",
        "entity_kind",
        "entity_id",
        "entity_name",
        "source",
    ]
    list_filter = [ActionFilter, "source", EntityTypeFilter, "actor_type"]
    search_fields = ["entity_name", "actor_name", "actor_email", "request_id"]
    ordering = ["-occurred_at", "-id"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 50

    # Codes and JSON shown by their human names: the action's description, the entity's model, a table of changes.
    shown_as = {
        "actor_name": "actor",
        "actor_role": "actor_role_label",
        "action": "action_description",
        "entity_type": "entity_kind",
        "changes": "changes_table",
        "metadata": "metadata_table",
    }
    change_form_template = "admin/labelled_change_form.html"

    def get_fields(self, request, obj=None):
        return [self.shown_as.get(field.name, field.name) for field in self.model._meta.fields]

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        event = self.get_object(request, object_id)
        if event is not None:
            # "#12: An activity was scheduled — Activity “Call the court”", not "#12 schedule_activity activity:3"
            subtitle = _("#%(seq)s: %(action)s — %(entity_type)s “%(entity)s”") % {
                "seq": event.seq,
                "action": action_label(event.action),
                "entity_type": entity_type_label(event.entity_type),
                "entity": event.entity_name or event.entity_id,
            }
            extra_context = {**(extra_context or {}), "subtitle": subtitle}
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description=AuditEvent._meta.get_field("actor_name").verbose_name, ordering="actor_name")
    def actor(self, event):
        if event.actor_type == ActorType.SYSTEM and event.actor_name == SYSTEM_ACTOR:
            return pgettext("write source", "System")
        return event.actor_name

    @admin.display(description=AuditEvent._meta.get_field("actor_role").verbose_name)
    def actor_role_label(self, event):
        return User.Role(event.actor_role).label if event.actor_role in User.Role.values else event.actor_role or "—"

    @admin.display(description=AuditEvent._meta.get_field("action").verbose_name, ordering="action")
    def action_description(self, event):
        return action_label(event.action)

    @admin.display(description=AuditEvent._meta.get_field("entity_type").verbose_name, ordering="entity_type")
    def entity_kind(self, event):
        return entity_type_label(event.entity_type)

    @admin.display(description=AuditEvent._meta.get_field("changes").verbose_name)
    def changes_table(self, event):
        """Field by field, before and after, each field and value by its human name."""
        changes = event.changes or {}
        model = entity_model(event.entity_type)
        if not set(changes) <= {"before", "after"}:  # a purge's or an erasure's own summary
            return self._pairs(model, changes)
        names = list(dict.fromkeys([*changes.get("before", {}), *changes.get("after", {})]))
        if not names:
            return "—"
        head = format_html_join(
            "", "<th>{}</th>", [(capfirst(gettext("field")),), *((capfirst(label),) for _side, label in CHANGES_SIDES)]
        )
        rows = format_html_join(
            "",
            '<tr><td>{}</td><td dir="auto">{}</td><td dir="auto">{}</td></tr>',
            (
                (
                    field_label(model, name),
                    *(
                        value_label(model, name, changes[side][name]) if name in changes.get(side, {}) else "—"
                        for side, _label in CHANGES_SIDES
                    ),
                )
                for name in names
            ),
        )
        return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, rows)

    @admin.display(description=AuditEvent._meta.get_field("metadata").verbose_name)
    def metadata_table(self, event):
        metadata = dict(event.metadata or {})
        if metadata.get("source") in Source.values:
            metadata["source"] = str(Source(metadata["source"]).label)
        return self._pairs(None, metadata, labels=METADATA_LABELS)

    @staticmethod
    def _pairs(model, values: dict, labels=None):
        if not values:
            return "—"
        labels = labels or {}
        rows = format_html_join(
            "",
            '<tr><th>{}</th><td dir="auto">{}</td></tr>',
            (
                (capfirst(labels[key]) if key in labels else field_label(model, key), value_label(model, key, value))
                for key, value in values.items()
            ),
        )
        return format_html("<table><tbody>{}</tbody></table>", rows)
