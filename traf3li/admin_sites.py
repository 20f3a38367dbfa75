"""Two admin sites, so a firm's staff never see Firms and the platform never sees firm data."""

from django.contrib import admin


class PlatformAdminSite(admin.AdminSite):
    site_header = "Traf3li platform"
    site_title = "Traf3li platform"
    index_title = "Firms"


class FirmAdminSite(admin.AdminSite):
    site_header = "Traf3li Timeline"
    site_title = "Traf3li"
    index_title = "Your firm"

    def index(self, request, extra_context=None):
        from timeline.activities.selectors import admin_index_counters

        # The SLA counters (firm-wide and the signed-in user's) head the firm's admin index page.
        extra_context = {**(extra_context or {}), "activity_counters": admin_index_counters(user=request.user)}
        return super().index(request, extra_context)


platform_admin = PlatformAdminSite(name="platform_admin")
firm_admin = FirmAdminSite(name="admin")
