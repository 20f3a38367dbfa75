from django.contrib import admin
from django.db import models

from traf3li.admin_sites import firm_admin
from traf3li.core.writes import form_changes
from traf3li.crm import services
from traf3li.crm.models import Case, Client, Contact, Lead, Organization


class ServiceModelAdmin(admin.ModelAdmin):
    """Admin saves and deletes go through the same audited services as the API."""

    # Django 6 makes https the default scheme for bare URLs; say so now (no deprecation warning).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def save_model(self, request, obj, form, change):
        if change:
            # Only the fields this form changed: the rest of ``obj`` is as the admin read it, maybe stale.
            services.record_update(instance=obj, data=form_changes(form), actor=request.user)
        else:
            services.record_create(instance=obj, actor=request.user)

    def delete_model(self, request, obj):
        services.record_delete(instance=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for obj in queryset.order_by("pk"):
            services.record_delete(instance=obj, actor=request.user)


@admin.register(Organization, site=firm_admin)
class OrganizationAdmin(ServiceModelAdmin):
    list_display = ["name", "email", "phone", "created_at"]
    search_fields = ["name", "email", "phone"]


@admin.register(Client, site=firm_admin)
class ClientAdmin(ServiceModelAdmin):
    list_display = ["name", "kind", "email", "phone", "organization", "created_at"]
    list_filter = ["kind", "created_at"]
    search_fields = ["name", "email", "phone", "national_id"]
    autocomplete_fields = ["organization"]


@admin.register(Contact, site=firm_admin)
class ContactAdmin(ServiceModelAdmin):
    list_display = ["name", "email", "phone", "client", "organization"]
    list_filter = ["created_at"]
    search_fields = ["name", "email", "phone"]
    autocomplete_fields = ["client", "organization"]


@admin.register(Lead, site=firm_admin)
class LeadAdmin(ServiceModelAdmin):
    list_display = ["name", "email", "phone", "source", "status", "created_at"]
    list_filter = ["status", "source"]
    search_fields = ["name", "email", "phone"]


@admin.register(Case, site=firm_admin)
class CaseAdmin(ServiceModelAdmin):
    list_display = ["title", "case_number", "client", "status", "lawyer", "legal_hold", "created_at"]
    list_filter = ["status", "legal_hold", "lawyer"]
    search_fields = ["title", "case_number", "client__name"]
    autocomplete_fields = ["client"]
