"""The 360° timeline panel on a record's admin change page (clients and cases)."""

from django import template
from django.db.models import F
from django.urls import reverse
from django.utils.http import urlencode

from timeline.admin import subject_admin_url
from timeline.choices import EntryKind
from timeline.selectors import entry_filter, entry_subject_view
from traf3li.admin_sites import firm_admin
from traf3li.core.subjects import subject_of

register = template.Library()

PANEL_ROWS = 50
KIND_PARAM = "timeline_kind"


@register.inclusion_tag("admin/timeline/panel.html", takes_context=True)
def timeline_panel(context, record):
    """The record's latest entries (its own, related and children's), filterable by kind."""
    request = context["request"]
    ref = subject_of(record)
    kind = request.GET.get(KIND_PARAM, "")
    kinds = [kind] if kind in EntryKind.values else None
    queryset = entry_filter(entry_subject_view(ref), kind=kinds)
    rows = list(
        queryset.order_by("-occurred_at", "-entry_id").values(
            "entry_id",
            "occurred_at",
            activity_id=F("entry__activity_id"),
            kind=F("entry__kind"),
            title=F("entry__title"),
            about_type=F("entry__subject_type"),
            about_id=F("entry__subject_id"),
            about=F("entry__subject_name"),
            performer=F("entry__performed_by_name"),
        )[:PANEL_ROWS]
    )
    for row in rows:
        row["url"] = reverse(f"{firm_admin.name}:timeline_entry_change", args=[row["entry_id"]])
        row["about_url"] = subject_admin_url(row["about_type"], row["about_id"])
    changelist = reverse(f"{firm_admin.name}:timeline_entry_changelist")
    filters = [("", "All", not kinds)] + [(value, label, value == kind) for value, label in EntryKind.choices]
    return {
        "rows": rows,
        "filters": [
            {"label": label, "selected": selected, "query": "?" + urlencode({KIND_PARAM: value}) if value else "?"}
            for value, label, selected in filters
        ],
        "all_url": f"{changelist}?" + urlencode({"subject": str(ref), **({"kind__exact": kind} if kinds else {})}),
        "limit": PANEL_ROWS,
    }
