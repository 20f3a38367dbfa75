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


platform_admin = PlatformAdminSite(name="platform_admin")
firm_admin = FirmAdminSite(name="admin")
