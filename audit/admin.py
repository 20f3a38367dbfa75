from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connection
from django.utils.functional import cached_property

from audit.choices import action_catalogue
from audit.models import AuditEvent
from traf3li.admin_sites import firm_admin
from traf3li.core.subjects import subject_types


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

    def lookups(self, request, model_admin):
        return [(value, value) for value in self.catalogue()]

    def queryset(self, request, queryset):
        return queryset.filter(**{self.parameter_name: self.value()}) if self.value() else queryset


class ActionFilter(CatalogueFilter):
    title, parameter_name = "action", "action"

    catalogue = staticmethod(lambda: list(action_catalogue()))


class EntityTypeFilter(CatalogueFilter):
    title, parameter_name = "entity type", "entity_type"
    catalogue = staticmethod(subject_types)


@admin.register(AuditEvent, site=firm_admin)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the log is append-only in the database too, so there is nothing to add, change or delete."""

    list_display = ["seq", "occurred_at", "actor_name", "action", "entity_type", "entity_id", "entity_name", "source"]
    list_filter = [ActionFilter, "source", EntityTypeFilter, "actor_type"]
    search_fields = ["entity_name", "actor_name", "actor_email", "request_id"]
    ordering = ["-occurred_at", "-id"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 50

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]
