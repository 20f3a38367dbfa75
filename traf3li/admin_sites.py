"""Two admin sites, so a firm's staff never see Firms and the platform never sees firm data."""

from django.contrib import admin

from traf3li.core.registries import admin_index_context


class PlatformAdminSite(admin.AdminSite):
    site_header = "Traf3li platform"
    site_title = "Traf3li platform"
    index_title = "Firms"


class FirmAdminSite(admin.AdminSite):
    site_header = "Traf3li Timeline"
    site_title = "Traf3li"
    index_title = "Your firm"

    def index(self, request, extra_context=None):
        # The apps above add their counters (the timeline its activity SLAs) without this module importing them.
        extra_context = {**(extra_context or {}), **admin_index_context(request)}
        return super().index(request, extra_context)


platform_admin = PlatformAdminSite(name="platform_admin")
firm_admin = FirmAdminSite(name="admin")
