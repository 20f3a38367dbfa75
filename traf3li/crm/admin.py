from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.utils.translation import gettext

from traf3li.admin_sites import firm_admin
from traf3li.api.exceptions import TransitionError
from traf3li.core.writes import form_changes
from traf3li.crm import services
from traf3li.crm.models import Case, Client, Contact, Lead, Organization
from traf3li.users.roles import PERM_HOLD_CASE


class ServiceModelAdmin(admin.ModelAdmin):
    """Admin saves and deletes go through the same audited services as the API.

    Who may view, add, change and delete is Django's model permissions, which the roles grant
    (``traf3li.users.roles``); the services check the same permissions where the roles differ.
    """

    # Django 6 makes https the default scheme for bare URLs; say so now (no deprecation warning).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def save_model(self, request, obj, form, change):
        if change:
            # Only the fields this form changed: the rest of ``obj`` is as the admin read it, maybe stale.
            services.record_update(instance=obj, data=form_changes(form), actor=request.user)
        else:
            services.record_create(instance=obj, actor=request.user)

    def delete_model(self, request, obj):
        self._delete(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset.order_by("pk"):
            self._delete(request, obj)

    def _delete(self, request, obj):
        # The confirmation page already refused what it could see; a hold placed since is a message, not a 500.
        try:
            services.record_delete(instance=obj, actor=request.user)
        except (TransitionError, PermissionDenied) as exc:
            self.message_user(request, str(exc), messages.ERROR)


@admin.register(Organization, site=firm_admin)
class OrganizationAdmin(ServiceModelAdmin):
    list_display = ["name", "email", "phone", "created_at"]
    search_fields = ["name", "email", "phone"]


class HoldAdminMixin:
    """The ``legal_hold`` box is read-only for whoever may not place or lift holds (admins only, ADR 0065)."""

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if not request.user.has_perm(PERM_HOLD_CASE):
            readonly.append("legal_hold")
        return readonly


@admin.register(Client, site=firm_admin)
class ClientAdmin(HoldAdminMixin, ServiceModelAdmin):
    list_display = ["name", "kind", "email", "phone", "organization", "legal_hold", "created_at"]
    list_filter = ["kind", "legal_hold", "created_at"]
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
class CaseAdmin(HoldAdminMixin, ServiceModelAdmin):
    list_display = ["title", "case_number", "client", "status", "lawyer", "legal_hold", "created_at"]
    list_filter = ["status", "legal_hold", "lawyer"]
    search_fields = ["title", "case_number", "client__name"]
    autocomplete_fields = ["client"]

    def get_deleted_objects(self, objs, request):
        """Held cases are listed as protected: Django's confirmation page then refuses the delete (ADR 0031)."""
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        held = [case for case in objs if case.legal_hold]
        if held:
            protected = [*protected, *(gettext("%(case)s (under legal hold)") % {"case": case} for case in held)]
            for case in held:
                self.message_user(request, services.ERROR_HELD % {"case": case}, messages.ERROR)
        return deleted, model_count, perms_needed, protected
