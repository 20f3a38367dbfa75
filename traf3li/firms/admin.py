from django.contrib import admin

from audit.services import PlatformActor
from traf3li.admin_sites import platform_admin
from traf3li.firms.models import RETENTION_FIELDS, Domain, Firm
from traf3li.firms.services import FIRM_SETTINGS, firm_update


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0


@admin.register(Firm, site=platform_admin)
class FirmAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "timezone", "vat_number", "created_at"]
    search_fields = ["slug", "name"]
    readonly_fields = ["schema_name"]
    # Retention is the firm's own admins' call (``PATCH /api/v1/firm/``), not the platform operator's.
    exclude = list(RETENTION_FIELDS)
    inlines = [DomainInline]

    def get_readonly_fields(self, request, obj=None):
        # The slug names the schema and the host: it can't change once the firm exists.
        return ["schema_name", "slug"] if obj is not None else ["schema_name"]

    def save_model(self, request, obj, form, change):
        if not change:
            return super().save_model(request, obj, form, change)
        # Settings changes land in the firm's own audit log, signed by the platform operator.
        data = {name: form.cleaned_data[name] for name in FIRM_SETTINGS if name in form.changed_data}
        actor = PlatformActor(name=request.user.get_username(), email=request.user.email)
        firm_update(firm=obj, data=data, actor=actor)
