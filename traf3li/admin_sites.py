"""Two admin sites, so a firm's staff never see Firms and the platform never sees firm data."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from traf3li.core.registries import admin_index_context


class PlatformAdminSite(admin.AdminSite):
    site_header = _("Traf3li platform")
    site_title = _("Traf3li platform")
    index_title = _("Firms")


class FirmAdminSite(admin.AdminSite):
    site_header = _("Traf3li Timeline")
    site_title = _("Traf3li")
    index_title = _("Your firm")  # only where no firm is known (never on a firm's host)

    def each_context(self, request):
        # Staff should read whose office they are in: the header and the index name the firm ("Acme Law").
        context = super().each_context(request)
        firm = getattr(request, "tenant", None)
        if firm is not None and firm.name:
            context["site_header"] = firm.name
            context["site_title"] = firm.name
        return context

    def index(self, request, extra_context=None):
        # The apps above add their counters (the timeline its activity SLAs) without this module importing them.
        extra_context = {**(extra_context or {}), **admin_index_context(request)}
        firm = getattr(request, "tenant", None)
        if firm is not None and firm.name and "title" not in extra_context:
            extra_context["title"] = _("%(firm)s administration") % {"firm": firm.name}
        return super().index(request, extra_context)


platform_admin = PlatformAdminSite(name="platform_admin")
firm_admin = FirmAdminSite(name="admin")
