"""Two admin sites, so a firm's staff never see Firms and the platform never sees firm data."""

from django.contrib import admin
from django.contrib.admin.templatetags import admin_list
from django.templatetags.static import static
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from traf3li.core import throttle
from traf3li.core.registries import admin_index_context

BOOLEAN_ICONS = {True: "yes", False: "no", None: "unknown"}


def boolean_icon(value) -> str:
    """Django's yes/no/unknown icon, its text alternative in the reader's language ("نعم"), not "True"."""
    label = {True: gettext("Yes"), False: gettext("No"), None: gettext("Unknown")}[value]
    return format_html('<img src="{}" alt="{}">', static(f"admin/img/icon-{BOOLEAN_ICONS[value]}.svg"), label)


# Django writes the Python literal (alt="True") into every boolean column and read-only field, in any
# language; its list, its change pages and its helpers all import the icon from this one module attribute.
# tests/test_arabic_sweep.py reads every alt text, so a Django that renamed the function would fail it.
admin_list._boolean_icon = boolean_icon


class ReadOnlyAdmin(admin.ModelAdmin):
    """What the system wrote (audit events, reminders, deliveries): shown, never added, changed or deleted."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class RevocableTokenAdmin(admin.ModelAdmin):
    """Tokens issued to their owners, of which only a hash is kept: listed and revoked here, never added or deleted."""

    @admin.display(boolean=True, description=_("active"))
    def active(self, obj):
        return obj.is_active

    def has_add_permission(self, request):
        return False  # each owner is issued theirs where the token is shown, once

    def has_delete_permission(self, request, obj=None):
        return False  # revoked tokens stay, for the audit


class ThrottledLoginMixin:
    """The login page answers 429 while its username or client is blocked (``traf3li.core.throttle``)."""

    def login(self, request, extra_context=None):
        if request.method == "POST":
            seconds = throttle.blocked_for(request, request.POST.get("username", ""))
            if seconds:
                return throttle.too_many(seconds, json=False)
        return super().login(request, extra_context)


class PlatformAdminSite(ThrottledLoginMixin, admin.AdminSite):
    site_header = _("Traf3li platform")
    site_title = _("Traf3li platform")
    index_title = _("Firms")


class FirmAdminSite(ThrottledLoginMixin, admin.AdminSite):
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
