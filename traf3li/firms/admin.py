from django.contrib import admin

from traf3li.admin_sites import platform_admin
from traf3li.firms.models import Domain, Firm


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0


@admin.register(Firm, site=platform_admin)
class FirmAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "timezone", "vat_number", "created_at"]
    search_fields = ["slug", "name"]
    readonly_fields = ["schema_name"]
    inlines = [DomainInline]
