from django import forms
from django.contrib import admin, messages
from django.contrib.contenttypes.models import ContentType
from django.db.models.deletion import ProtectedError
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from timeline.activities import selectors, services
from timeline.activities.choices import ActivityState, Due, Weekday
from timeline.activities.deadlines import firm_today
from timeline.activities.models import Activity, ActivityType, Holiday, Reminder, WorkingCalendar
from traf3li.admin_sites import ReadOnlyAdmin, firm_admin
from traf3li.api.exceptions import TransitionError
from traf3li.core.i18n import in_firm_language
from traf3li.core.subjects import subject_model, subject_types

ERROR_SUBJECT_MISSING = _("No such record.")
ADMIN_FEEDBACK = _("Completed from the admin.")


HOLIDAY_FIELDS = ("date", "name")


def changed_values(form) -> dict:
    """The fields this form changed, as cleaned: a service applies them to the locked row and nothing else.

    The form has already copied every field onto its instance, so saving that instance would write
    back whatever it read, over what another transaction committed since.
    """
    return {name: form.cleaned_data[name] for name in form.changed_data if name in form.cleaned_data}


def _firm_feedback() -> str:
    """The feedback the admin's bulk action stores: in the firm's language, like every stored text."""
    with in_firm_language():
        return str(ADMIN_FEEDBACK)


class DueFilter(admin.SimpleListFilter):
    """Overdue, today and planned by the firm's today; done and cancelled by state."""

    title = _("due")
    parameter_name = "due"

    def lookups(self, request, model_admin):
        return [
            *Due.choices,
            (ActivityState.DONE, ActivityState.DONE.label),
            (ActivityState.CANCELLED, ActivityState.CANCELLED.label),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value in Due.values:
            return selectors.activity_filter_due(queryset, value, today=firm_today())
        if value in (ActivityState.DONE, ActivityState.CANCELLED):
            return queryset.filter(state=value)
        return queryset


class ActivityForm(forms.ModelForm):
    class Meta:
        model = Activity
        fields = ["subject_content_type", "subject_id", "type", "summary", "note", "assignee", "deadline"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "subject_content_type" in self.fields:
            ids = [ContentType.objects.get_for_model(subject_model(name)).pk for name in subject_types()]
            self.fields["subject_content_type"].queryset = ContentType.objects.filter(pk__in=ids)
            self.fields["subject_content_type"].label = _("Subject type")
        if "deadline" in self.fields:
            self.fields["deadline"].required = False
            self.fields["deadline"].help_text = _("Leave empty to count the type's delay from today.")
        if "assignee" in self.fields:
            self.fields["assignee"].queryset = self.fields["assignee"].queryset.filter(is_active=True)

    def clean(self):
        data = super().clean()
        content_type, subject_id = data.get("subject_content_type"), data.get("subject_id")
        if content_type and subject_id:
            subject = content_type.model_class()._default_manager.filter(pk=subject_id).first()
            if subject is None:
                self.add_error("subject_id", ERROR_SUBJECT_MISSING)
            data["subject"] = subject
        return data


@admin.register(Activity, site=firm_admin)
class ActivityAdmin(admin.ModelAdmin):
    form = ActivityForm
    list_display = ["__str__", "type", "subject_name", "assignee_name", "deadline_due", "state", "overdue", "automated"]
    # What is due first comes first, as a lawyer works through the list; the id keeps pages stable.
    ordering = ["deadline", "id"]
    list_filter = [DueFilter, "assignee", "type", "state", "automated"]
    list_select_related = ["type", "assignee", "subject_content_type"]
    search_fields = ["summary", "note", "feedback"]
    date_hierarchy = "deadline"
    actions = ["complete_selected", "cancel_selected"]
    always_readonly = ["state", "done_at", "feedback", "chained_from", "automated", "created_by", "created_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("subject")

    def get_fields(self, request, obj=None):
        fields = ["subject_content_type", "subject_id", "type", "summary", "note", "assignee", "deadline"]
        return fields if obj is None else fields + self.always_readonly

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        frozen = ["subject_content_type", "subject_id", "type"]
        if obj.state != ActivityState.SCHEDULED:
            frozen += ["deadline", "assignee"]
        return frozen + self.always_readonly

    @admin.display(description=_("subject"))
    def subject_name(self, obj):
        if obj.subject is not None:
            return str(obj.subject)
        # The record is gone: name its type as the admin does ("Client #42"), not by the content type's code.
        model = obj.subject_content_type.model_class()
        kind = capfirst(model._meta.verbose_name) if model is not None else obj.subject_content_type.model
        return f"{kind} #{obj.subject_id}"

    @admin.display(description=Activity._meta.get_field("assignee").verbose_name, ordering="assignee__first_name")
    def assignee_name(self, obj):
        return obj.assignee.display_name if obj.assignee_id else "—"

    @admin.display(description=Activity._meta.get_field("deadline").verbose_name, ordering="deadline")
    def deadline_due(self, obj):
        # Overdue deadlines stand out in the admin's error colour (both themes define --error-fg).
        if obj.is_overdue_on(self._today):
            return format_html(
                '<strong class="activity-overdue" style="color: var(--error-fg)">{}</strong>', date_format(obj.deadline)
            )
        return date_format(obj.deadline)

    @admin.display(boolean=True, description=_("overdue"))
    def overdue(self, obj):
        return obj.is_overdue_on(self._today)

    def changelist_view(self, request, extra_context=None):
        self._today = firm_today()
        return super().changelist_view(request, extra_context)

    def save_model(self, request, obj, form, change):
        """Every save goes through the services: scheduling, rescheduling, reassigning and editing."""
        data = form.cleaned_data
        if not change:
            fields = {name: data.get(name) for name in services.SCHEDULE_FIELDS}
            form.instance = services.activity_schedule(actor=request.user, **fields)
            obj.pk = form.instance.pk
            return
        try:
            if "deadline" in form.changed_data and data.get("deadline"):
                services.activity_reschedule(activity=obj, deadline=data["deadline"], actor=request.user)
            if "assignee" in form.changed_data:
                services.activity_reassign(activity=obj, assignee=data["assignee"], actor=request.user)
        except TransitionError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        # Only what this form changed: the other field may have been edited since the page was read.
        edits = {name: data[name] for name in ("summary", "note") if name in form.changed_data}
        if edits:
            services.activity_update(activity=obj, data=edits, actor=request.user)

    def has_delete_permission(self, request, obj=None):
        return False  # history is kept: cancel instead

    def _each_scheduled(self, request, queryset, service, done_message):
        done = skipped = 0
        for activity in queryset.order_by("pk"):
            try:
                service(activity)
                done += 1
            except TransitionError:
                skipped += 1
        self.message_user(request, done_message(done) % {"count": done}, messages.SUCCESS)
        if skipped:
            message = ngettext(
                "%(count)d skipped: it was already done or cancelled.",
                "%(count)d skipped: they were already done or cancelled.",
                skipped,
            )
            self.message_user(request, message % {"count": skipped}, messages.WARNING)

    @admin.action(description=_("Mark the selected activities as done"), permissions=["change"])
    def complete_selected(self, request, queryset):
        self._each_scheduled(
            request,
            queryset,
            lambda a: services.activity_complete(activity=a, feedback=_firm_feedback(), actor=request.user),
            lambda n: ngettext("%(count)d activity completed.", "%(count)d activities completed.", n),
        )

    @admin.action(description=_("Cancel the selected activities"), permissions=["change"])
    def cancel_selected(self, request, queryset):
        self._each_scheduled(
            request,
            queryset,
            lambda a: services.activity_cancel(activity=a, actor=request.user),
            lambda n: ngettext("%(count)d activity cancelled.", "%(count)d activities cancelled.", n),
        )


@admin.register(ActivityType, site=firm_admin)
class ActivityTypeAdmin(admin.ModelAdmin):
    list_display = ["name", "icon", "delay_count", "delay_unit", "chaining", "next_type"]
    list_filter = ["chaining", "delay_unit"]
    search_fields = ["name"]

    def save_model(self, request, obj, form, change):
        if change:
            services.activity_type_update(instance=obj, data=changed_values(form), actor=request.user)
        else:
            services.activity_type_create(instance=obj, actor=request.user)

    def delete_model(self, request, obj):
        try:
            services.activity_type_delete(instance=obj, actor=request.user)
        except ProtectedError:
            self.message_user(request, gettext("Activities still use this type."), messages.ERROR)

    def delete_queryset(self, request, queryset):
        for obj in queryset.order_by("pk"):
            self.delete_model(request, obj)


class WorkingCalendarForm(forms.ModelForm):
    weekend_days = forms.TypedMultipleChoiceField(
        label=WorkingCalendar._meta.get_field("weekend_days").verbose_name,
        help_text=_("The days nobody works: delays in business days skip them, and the holidays below."),
        choices=Weekday.choices,
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )

    class Meta:
        model = WorkingCalendar
        fields = ["name", "weekend_days"]


class HolidayInline(admin.TabularInline):
    model = Holiday
    extra = 1


@admin.register(WorkingCalendar, site=firm_admin)
class WorkingCalendarAdmin(admin.ModelAdmin):
    form = WorkingCalendarForm
    inlines = [HolidayInline]
    list_display = ["name", "weekend", "updated_at"]

    @admin.display(description=_("weekend"))
    def weekend(self, obj):
        return ", ".join(str(Weekday(day).label) for day in obj.weekend_days)  # labels are lazy translations

    def has_add_permission(self, request):
        return super().has_add_permission(request) and not WorkingCalendar.objects.exists()  # one per firm

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        data = changed_values(form) if change else None
        services.working_calendar_save(calendar=obj, data=data, actor=request.user)

    def save_formset(self, request, form, formset, change):
        holidays = formset.save(commit=False)
        changed = {holiday.pk: names for holiday, names in formset.changed_objects}
        for holiday in formset.deleted_objects:
            services.holiday_delete(holiday=holiday, actor=request.user)
        for holiday in holidays:
            if holiday.pk is None:
                services.holiday_save(holiday=holiday, actor=request.user)
            else:
                data = {name: getattr(holiday, name) for name in changed.get(holiday.pk, ()) if name in HOLIDAY_FIELDS}
                services.holiday_save(holiday=holiday, data=data, actor=request.user)


@admin.register(Reminder, site=firm_admin)
class ReminderAdmin(ReadOnlyAdmin):
    """Read-only: operators see what was sent and what keeps failing (and why)."""

    list_display = [
        "activity",
        "deadline",
        "bucket",
        "state",
        "attempts",
        "next_attempt_at",
        "claimed_at",
        "sent_at",
        "last_error",
    ]
    list_filter = ["state", "bucket"]
    list_select_related = ["activity__type"]
    change_form_template = "admin/labelled_change_form.html"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        reminder = self.get_object(request, object_id)
        if reminder is not None:
            # Named by its window's label and the activity, not by the model's "within_3_days reminder for …".
            subtitle = _("Reminder (%(bucket)s) for “%(activity)s”, due on %(deadline)s") % {
                "bucket": reminder.get_bucket_display(),
                "activity": reminder.activity,
                "deadline": date_format(reminder.deadline),
            }
            extra_context = {**(extra_context or {}), "subtitle": subtitle}
        return super().change_view(request, object_id, form_url, extra_context)
