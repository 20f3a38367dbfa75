"""The 360° timeline panel on a record's admin change page (clients and cases).

It reads through the API's own filters (``EntryFilterSet``) and keyset cursor, so the panel and
``/api/v1/clients/{id}/timeline/`` agree on what a search or a date range means, and the hundredth
page costs what the first does.
"""

from django import template
from django.db.models import F
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import ValidationError

from timeline.admin import subject_admin_url
from timeline.choices import EntryKind
from timeline.filtersets import EntryFilterSet
from timeline.selectors import entry_subject_view
from traf3li.admin_sites import firm_admin
from traf3li.api.pagination import decode_cursor, encode_cursor, keyset_filter
from traf3li.core.subjects import SubjectError, subject_model, subject_of

register = template.Library()

PANEL_ROWS = 50
PREFIX = "timeline_"
# The panel's query parameters (``timeline_kind``, ``timeline_q``…) and the EntryFilterSet filter
# each feeds; prefixed so they never collide with the change page's own (``_changelist_filters``).
FILTER_PARAMS = ("kind", "q", "since", "until")
CURSOR_PARAM = f"{PREFIX}cursor"
KIND_PARAM = f"{PREFIX}kind"

# One glyph per channel, drawn inline (16×16, the text colour): no font or icon file to load, so they
# show in both directions and with no network. The label beside each carries the meaning.
_SVG = (
    '<svg class="timeline-glyph" viewBox="0 0 16 16" width="16" height="16" fill="none" stroke="currentColor" '
    'stroke-width="1.4" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true" '
    'style="vertical-align: text-bottom">{}</svg>'
)
GLYPHS = {
    EntryKind.CALL: '<path d="M3 2h3l1 3-2 1a8 8 0 0 0 5 5l1-2 3 1v3a1 1 0 0 1-1 1A12 12 0 0 1 2 3a1 1 0 0 1 1-1z"/>',
    EntryKind.EMAIL: '<rect x="2" y="4" width="12" height="9" rx="1"/><path d="M2 5l6 4 6-4"/>',
    EntryKind.SMS: '<path d="M2 3h12v8H7l-3 3v-3H2z"/><path d="M5 7h6"/>',
    EntryKind.WHATSAPP: '<path d="M8 2a6 6 0 1 1-3 11.2L2 14l.8-3A6 6 0 0 1 8 2z"/>',
    EntryKind.MEETING: '<circle cx="5.5" cy="5" r="2"/><circle cx="10.5" cy="5" r="2"/>'
    '<path d="M1.5 13a4 4 0 0 1 8 0M6.5 13a4 4 0 0 1 8 0"/>',
    EntryKind.TASK: '<rect x="2" y="2" width="12" height="12" rx="1"/><path d="M5 8l2 2 4-4"/>',
    EntryKind.NOTE: '<path d="M11 2l3 3-8 8H3v-3z"/>',
    EntryKind.DOCUMENT: '<path d="M4 1h5l3 3v11H4z"/><path d="M9 1v3h3M6 8h4M6 11h4"/>',
    EntryKind.STATUS_CHANGE: '<path d="M2 5h11l-3-3M14 11H3l3 3"/>',
    EntryKind.CASE_CREATED: '<path d="M1 4h5l1 2h8v8H1z"/><path d="M8 8v4M6 10h4"/>',
    EntryKind.INVOICE: '<path d="M3 1h10v14l-2-1-2 1-2-1-2 1-2-1z"/><path d="M5 5h6M5 8h6M5 11h3"/>',
    EntryKind.PAYMENT: '<rect x="1" y="3" width="14" height="10" rx="1"/><path d="M1 6h14M4 10h3"/>',
    EntryKind.EVENT: '<rect x="2" y="3" width="12" height="11" rx="1"/><path d="M2 7h12M5 1v4M11 1v4"/>',
}
GLYPH_OTHER = '<circle cx="8" cy="8" r="3"/>'


def kind_glyph(kind: str) -> str:
    return mark_safe(_SVG.format(GLYPHS.get(kind, GLYPH_OTHER)))  # constant markup, no user input


def kind_label(kind: str) -> str:
    try:
        return EntryKind(kind).label
    except ValueError:  # a kind since removed from the catalogue still shows, as stored
        return kind


def subject_label(type_name: str) -> str:
    """``client`` as the admin names the model ("Client"), in the page's language."""
    try:
        return str(subject_model(type_name)._meta.verbose_name).capitalize()
    except SubjectError:
        return type_name


def _query(request, **changes) -> str:
    """This page's query string with the panel's parameters changed (``None`` drops one)."""
    params = {key: value for key, value in request.GET.items()}
    for key, value in changes.items():
        if value in (None, ""):
            params.pop(key, None)
        else:
            params[key] = value
    return "?" + urlencode(params) if params else "?"


@register.inclusion_tag("admin/timeline/panel.html", takes_context=True)
def timeline_panel(context, record):
    """The record's entries (its own, related and children's): searchable, filterable, paged by keyset."""
    request = context["request"]
    ref = subject_of(record)
    data = {name: request.GET.get(PREFIX + name, "").strip() for name in FILTER_PARAMS}
    filterset = EntryFilterSet(data={k: v for k, v in data.items() if v}, queryset=entry_subject_view(ref))
    # An invalid field (a malformed date) is shown as an error and left out; the valid ones still apply.
    filterset.form.is_valid()
    # Named as the panel's own labels name them, never by the query parameter.
    labels = {"q": _("Search"), "kind": _("Kind"), "since": _("From"), "until": _("To")}
    errors = [f"{labels.get(name, name)}: {' '.join(messages)}" for name, messages in filterset.form.errors.items()]
    queryset = filterset.filter_queryset(entry_subject_view(ref))
    cursor = request.GET.get(CURSOR_PARAM, "")
    if cursor:
        try:
            key, _reverse = decode_cursor(cursor, is_datetime=True)
            queryset = queryset.filter(keyset_filter("occurred_at", "entry_id", key, descending=True))
        except ValidationError:
            errors.append(str(_("That page link is no longer valid; showing the latest entries.")))
            cursor = ""
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
        )[: PANEL_ROWS + 1]
    )
    has_more = len(rows) > PANEL_ROWS
    rows = rows[:PANEL_ROWS]
    for row in rows:
        row["url"] = reverse(f"{firm_admin.name}:timeline_entry_change", args=[row["entry_id"]])
        row["about_url"] = subject_admin_url(row["about_type"], row["about_id"])
        row["about_label"] = subject_label(row["about_type"])
        row["kind_label"] = kind_label(row["kind"])
        row["glyph"] = kind_glyph(row["kind"])
    kind = data["kind"] if data["kind"] in EntryKind.values else ""
    choices = [("", _("All"))] + list(EntryKind.choices)
    changelist = reverse(f"{firm_admin.name}:timeline_entry_changelist")
    older = None
    if has_more:
        last = rows[-1]
        older = _query(request, **{CURSOR_PARAM: encode_cursor((last["occurred_at"], last["entry_id"]), reverse=False)})
    return {
        "rows": rows,
        "filters": [
            {
                "value": value,
                "label": label,
                "glyph": kind_glyph(value) if value else "",
                "selected": value == kind,
                "query": _query(request, **{KIND_PARAM: value, CURSOR_PARAM: None}),
            }
            for value, label in choices
        ],
        "form": {name: data[name] for name in FILTER_PARAMS},
        "prefix": PREFIX,
        # The search form replaces the panel's parameters; everything else on the page's URL is kept.
        "kept": [(k, v) for k, v in request.GET.items() if not k.startswith(PREFIX)],
        "errors": errors,
        "paged": bool(cursor),
        "older_url": older,
        "newest_url": _query(request, **{CURSOR_PARAM: None}),
        "all_url": f"{changelist}?" + urlencode({"subject": str(ref), **({"kind__exact": kind} if kind else {})}),
        "limit": PANEL_ROWS,
    }
