from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from timeline import services
from timeline.models import Entry
from timeline.selectors import entry_search
from traf3li.admin_sites import firm_admin
from traf3li.core.subjects import SubjectError, subject_model, subject_parse, subject_types

EDITABLE_FIELDS = ["title", "description", "status", "occurred_at", "payload"]


def subject_admin_url(type_name: str, pk: int) -> str | None:
    """The subject's change page in the firm admin, when its type is registered and has one."""
    try:
        meta = subject_model(type_name)._meta
        return reverse(f"{firm_admin.name}:{meta.app_label}_{meta.model_name}_change", args=[pk])
    except (SubjectError, NoReverseMatch):
        return None


def subject_type_label(type_name: str) -> str:
    """``client`` as the admin names the model ("Client"), in the page's language; an unknown type as stored."""
    try:
        return capfirst(subject_model(type_name)._meta.verbose_name)
    except SubjectError:
        return type_name


def subject_text(type_name: str, name: str) -> str:
    return f"{subject_type_label(type_name)}: {name}"


class DeletedFilter(admin.SimpleListFilter):
    """Live entries unless asked: soft-deleted ones only show when someone looks for them."""

    title = _("deleted")
    parameter_name = "deleted"

    def lookups(self, request, model_admin):
        return [("yes", _("Deleted only")), ("all", _("Live and deleted"))]

    def choices(self, changelist):
        choices = list(super().choices(changelist))
        choices[0]["display"] = _("Live only")
        return choices

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(deleted_at__isnull=False)
        if self.value() == "all":
            return queryset
        return queryset.filter(deleted_at__isnull=True)


class SubjectViewFilter(admin.SimpleListFilter):
    """``?subject=client:42``: the record's 360° view, the target of the change pages' "all entries" link."""

    title = _("360° view of")
    parameter_name = "subject"

    def lookups(self, request, model_admin):
        value = request.GET.get(self.parameter_name)
        if not value:
            return []
        try:  # the record by its type's name and its own ("Client: Ahmed Al-Harbi"), not "client:42"
            ref = subject_parse(value)
            return [(value, subject_text(ref.type, str(ref.resolve())))]
        except SubjectError:
            return [(value, value)]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        try:
            ref = subject_parse(self.value())
        except SubjectError as exc:
            raise admin.options.IncorrectLookupParameters(exc)
        return queryset.filter(links__subject_type=ref.type, links__subject_id=ref.id)


class SubjectTypeFilter(admin.SimpleListFilter):
    """The subject types by the models' names; the registry's list, not ``SELECT DISTINCT`` over every entry."""

    title = Entry._meta.get_field("subject_type").verbose_name
    parameter_name = "subject_type__exact"  # the parameter Django's own field filter used: old links still work

    def lookups(self, request, model_admin):
        return [(name, subject_type_label(name)) for name in subject_types(public_only=True)]

    def queryset(self, request, queryset):
        return queryset.filter(subject_type=self.value()) if self.value() else queryset


class EntryAdminForm(forms.ModelForm):
    class Meta:
        model = Entry
        fields = EDITABLE_FIELDS

    def clean(self):
        cleaned = super().clean()
        if "payload" in cleaned:
            try:
                cleaned["payload"] = services.entry_clean_payload(self.instance.kind, cleaned["payload"])
            except ValidationError as exc:
                self.add_error("payload", exc.message_dict["payload"])
        return cleaned


@admin.register(Entry, site=firm_admin)
class EntryAdmin(admin.ModelAdmin):
    form = EntryAdminForm
    list_display = [
        "activity_id",
        "occurred_at",
        "kind",
        "subject_link",
        "title",
        "performed_by_name",
        "source",
        "live",
    ]
    list_filter = [DeletedFilter, SubjectViewFilter, "kind", "source", SubjectTypeFilter, "occurred_at"]
    search_fields = ["activity_id"]
    search_help_text = _("An entry's public ID, or words from its title, description or payload (Arabic or English).")
    ordering = ["-occurred_at", "-id"]
    actions = ["soft_delete", "restore"]
    show_full_result_count = False  # an exact count of the whole timeline costs more than the page
    fields = [
        "activity_id",
        "kind",
        "subject_link",
        "related_links",
        *EDITABLE_FIELDS,
        "performed_by_name",
        "source",
        "external_id",
        "created_at",
        "deleted_at",
    ]
    readonly_fields = [
        "activity_id",
        "kind",
        "subject_link",
        "related_links",
        "performed_by_name",
        "source",
        "external_id",
        "created_at",
        "deleted_at",
    ]

    @admin.display(description=_("subject"), ordering="subject_type")
    def subject_link(self, entry):
        url = subject_admin_url(entry.subject_type, entry.subject_id)
        label = subject_text(entry.subject_type, entry.subject_name)
        return format_html('<a href="{}">{}</a>', url, label) if url else label

    @admin.display(description=_("related"))
    def related_links(self, entry):
        parts = []
        for ref in entry.related:
            url = subject_admin_url(ref["type"], ref["id"])
            label = subject_text(ref["type"], ref["name"])
            parts.append(format_html('<a href="{}">{}</a>', url, label) if url else label)
        return format_html(", ".join(["{}"] * len(parts)), *parts) if parts else "—"

    @admin.display(description=_("live"), boolean=True)
    def live(self, entry):
        return entry.deleted_at is None

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(Q(activity_id__iexact=term) | Q(entry_search(term))), False

    def has_add_permission(self, request):
        return False  # entries come from the API, channels and other apps' services

    def has_delete_permission(self, request, obj=None):
        return False  # no hard delete: the "soft delete" action keeps the row for the audit

    def has_soft_delete_permission(self, request, obj=None):
        # The role map's delete right on entries is the soft delete (and its undo), as in the API.
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.delete_{opts.model_name}")

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in form.changed_data}
        services.entry_update(entry=Entry.objects.get(pk=obj.pk), data=data, actor=request.user)

    @admin.action(description=_("Soft-delete the selected entries"), permissions=["soft_delete"])
    def soft_delete(self, request, queryset):
        entries = list(queryset.filter(deleted_at__isnull=True).order_by("pk"))
        for entry in entries:
            services.entry_delete(entry=entry, actor=request.user)
        message = ngettext(
            "%(count)d entry deleted; restore it from “Deleted only”.",
            "%(count)d entries deleted; restore them from “Deleted only”.",
            len(entries),
        )
        self.message_user(request, message % {"count": len(entries)}, messages.SUCCESS)

    @admin.action(description=_("Restore the selected entries"), permissions=["soft_delete"])
    def restore(self, request, queryset):
        entries = list(queryset.filter(deleted_at__isnull=False).order_by("pk"))
        for entry in entries:
            services.entry_restore(entry=entry, actor=request.user)
        message = ngettext("%(count)d entry restored.", "%(count)d entries restored.", len(entries))
        self.message_user(request, message % {"count": len(entries)}, messages.SUCCESS)
