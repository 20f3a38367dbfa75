"""The calendar in the firm admin: events with attendees, agenda and action items inline, a week and
agenda view of the firm's hearings, and each user's feed with a revoke action. Every save goes
through the services."""

from datetime import date, datetime, timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.formats import date_format, time_format
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from timeline.events import recurrence, selectors, services
from timeline.events.choices import COURT_TYPES, EventStatus
from timeline.events.models import ActionItem, AgendaItem, Attendee, Event, EventReminder, FeedToken
from timeline.events.recurrence import instant
from timeline.rollups import firm_tz
from traf3li.admin_sites import ReadOnlyAdmin, RevocableTokenAdmin, firm_admin
from traf3li.api.exceptions import TransitionError

# The wall-time columns stand for the services' start and end; the invoice link is the API's (billing's ids).
WHEN_FIELDS = ["timezone", "all_day", "start_date", "start_time", "end_date", "end_time", "rrule"]
FORM_FIELDS = ["title", "type", "description", *WHEN_FIELDS] + [
    name for name in services.PLAIN_FIELDS if name not in ("title", "type", "description", "linked_invoice_id")
]
# The services' names for the form's fields where they differ.
ERROR_FIELDS = {"recurrence": "rrule", "start": "start_date", "end": "end_date"}


class EventForm(forms.ModelForm):
    class Meta:
        model = Event
        fields = FORM_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A read-only page (a user who may not change the event) has none of these fields.
        if not self.instance.pk and "timezone" in self.fields:
            self.fields["timezone"].initial = firm_tz().key
        for name in ("start_time", "end_time", "end_date", "organizer"):
            if name in self.fields:
                self.fields[name].required = False
        if "organizer" in self.fields:
            self.fields["organizer"].queryset = self.fields["organizer"].queryset.filter(is_active=True)

    def service_data(self) -> dict:
        """The form's fields as ``event_create`` / ``event_update`` take them (wall times in the zone)."""
        data = self.cleaned_data
        all_day = data.get("all_day")
        start = data.get("start_date")
        end = data.get("end_date") or start
        if not all_day and start is not None:
            start = datetime.combine(start, data.get("start_time") or datetime.min.time())
            end = datetime.combine(end, data.get("end_time") or data.get("start_time") or datetime.min.time())
        fields = {name: data.get(name) for name in FORM_FIELDS if name in data}
        fields = {k: v for k, v in fields.items() if k not in ("start_date", "start_time", "end_date", "end_time")}
        fields.update({"start": start, "end": end, "all_day": bool(all_day), "rrule": data.get("rrule") or ""})
        if fields.get("organizer") is None:
            fields.pop("organizer")
        return fields

    def clean(self):
        super().clean()
        if self.errors:
            return self.cleaned_data
        try:
            services.event_validate(event=self.instance if self.instance.pk else None, data=self.service_data())
        except ValidationError as exc:
            for name, errors in exc.message_dict.items():
                self.add_error(
                    ERROR_FIELDS.get(name, name) if ERROR_FIELDS.get(name, name) in self.fields else None, errors
                )
        return self.cleaned_data


def may_change(user, event) -> bool:
    """The API's rule (``CanChangeEvent``): the organizer, the creator and the firm's admins change an event."""
    series = event.series
    return getattr(user, "role", None) == "admin" or user.pk in (series.organizer_id, series.created_by_id)


class EventChildInline:
    """Attendees, agenda and action items are changed with their event, by whoever may change it."""

    def has_add_permission(self, request, obj=None):
        return super().has_add_permission(request, obj) and (obj is None or may_change(request.user, obj))

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (obj is None or may_change(request.user, obj))

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and (obj is None or may_change(request.user, obj))


class AttendeeInline(EventChildInline, admin.TabularInline):
    model = Attendee
    fields = ["user", "email", "name", "status", "response", "responded_at"]
    readonly_fields = ["response", "responded_at"]
    extra = 1


class AgendaInline(EventChildInline, admin.TabularInline):
    model = AgendaItem
    fields = ["position", "title", "duration_minutes", "presenter", "completed"]
    extra = 1


class ActionItemInline(EventChildInline, admin.TabularInline):
    """Action items are scheduled activities: added here, then done or cancelled as activities."""

    model = ActionItem
    fields = ["description", "assignee", "due_date", "item_status"]
    readonly_fields = ["item_status"]
    extra = 1
    can_delete = False

    @admin.display(description=_("status"))
    def item_status(self, obj):
        return obj.activity.get_state_display() if obj.pk else "—"

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.form.base_fields["due_date"].required = False
        return formset


@admin.register(Event, site=firm_admin)
class EventAdmin(admin.ModelAdmin):
    form = EventForm
    inlines = [AttendeeInline, AgendaInline, ActionItemInline]
    list_display = ["event_id", "title", "type", "starts", "status", "case", "organizer", "recurring"]
    list_filter = ["type", "status", "organizer", "all_day"]
    list_select_related = ["case", "organizer"]
    search_fields = ["event_id", "title", "location", "description"]
    readonly_fields = [
        "event_id",
        "status",
        "outcome",
        "follow_up_required",
        "completed_at",
        "recurrence_parent",
        "recurrence_id",
        "sequence",
    ]
    date_hierarchy = "start_at"
    ordering = ["-start_at", "-id"]
    actions = ["cancel_selected"]
    change_list_template = "admin/events/event/change_list.html"

    def get_fields(self, request, obj=None):
        return FORM_FIELDS + (self.readonly_fields if obj is not None else [])

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (obj is None or may_change(request.user, obj))

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and (obj is None or may_change(request.user, obj))

    def _theirs(self, request, queryset) -> list[Event]:
        """The selected events the user may change; the others are named in a warning and left alone."""
        events = list(queryset.select_related("recurrence_parent").order_by("pk"))
        mine = [event for event in events if may_change(request.user, event)]
        if len(mine) < len(events):
            skipped = len(events) - len(mine)
            message = ngettext(
                "%(count)d skipped: only its organizer, its creator or an admin may change it.",
                "%(count)d skipped: only their organizers, creators or an admin may change them.",
                skipped,
            )
            self.message_user(request, message % {"count": skipped}, messages.WARNING)
        return mine

    @admin.display(description=_("starts"), ordering="start_at")
    def starts(self, obj):
        local = obj.start_at.astimezone(recurrence.zone(obj.timezone))
        if obj.all_day:
            return date_format(local.date())
        return f"{date_format(local.date())} {time_format(local.time())}"

    @admin.display(boolean=True, description=_("recurring"))
    def recurring(self, obj):
        return obj.is_recurring

    def save_model(self, request, obj, form, change):
        data = form.service_data()
        if change:
            form.instance = services.event_update(event=obj, data=data, actor=request.user)
        else:
            form.instance = services.event_create(data=data, actor=request.user)
        obj.pk = form.instance.pk

    def save_related(self, request, form, formsets, change):
        """Attendees and agenda are replaced as listed, action items added, all through ``event_update``."""
        children = {}
        for formset in formsets:
            # What formset.save() would have set; the admin's change message reads it.
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
            rows = [f.cleaned_data for f in formset.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
            if formset.model is Attendee:
                children["attendees"] = [
                    {
                        "user": row.get("user"),
                        "email": row.get("email") or None,
                        "name": row.get("name", ""),
                        "status": row.get("status"),
                    }
                    for row in rows
                    if row.get("user") or row.get("email")
                ]
            elif formset.model is AgendaItem:
                children["agenda"] = [
                    row for row in sorted(rows, key=lambda r: r.get("position") or 0) if row.get("title")
                ]
            elif formset.model is ActionItem:
                children["action_items"] = [row for row in rows if not row.get("id") and row.get("description")]
        event = form.instance
        try:
            services.event_update(event=event, data={}, actor=request.user, **children)
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)

    def delete_model(self, request, obj):
        services.event_delete(event=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for obj in self._theirs(request, queryset):
            services.event_delete(event=obj, actor=request.user)

    @admin.action(description=_("Cancel the selected events"), permissions=["change"])
    def cancel_selected(self, request, queryset):
        done = skipped = 0
        for event in self._theirs(request, queryset):
            try:
                services.event_cancel(event=event, actor=request.user)
                done += 1
            except TransitionError:
                skipped += 1
        self.message_user(
            request, ngettext("%(count)d event cancelled.", "%(count)d events cancelled.", done) % {"count": done}
        )
        if skipped:
            message = ngettext(
                "%(count)d skipped: it was not scheduled.", "%(count)d skipped: they were not scheduled.", skipped
            )
            self.message_user(request, message % {"count": skipped}, messages.WARNING)

    def get_urls(self):
        view = self.admin_site.admin_view(self.calendar_view)
        return [path("calendar/", view, name="events_event_calendar"), *super().get_urls()]

    def calendar_view(self, request):
        """A week of the firm's hearings and court dates (or every event with ``?all=1``), day by day."""
        tz = firm_tz()
        today = selectors.firm_moment().today
        try:
            day = date.fromisoformat(request.GET.get("week", ""))
        except ValueError:
            day = today
        monday = day - timedelta(days=day.weekday())
        everything = request.GET.get("all") == "1"
        found = selectors.firm_calendar(
            start=instant(monday, None, tz),
            end=instant(monday + timedelta(days=7), None, tz),
            types=None if everything else list(COURT_TYPES),
        )
        days = []
        for offset in range(7):
            current = monday + timedelta(days=offset)
            items = [
                {
                    "occurrence": occurrence,
                    "time": "" if occurrence.event.all_day else time_format(occurrence.start.astimezone(tz).time()),
                    "url": reverse("admin:events_event_change", args=[occurrence.event.pk]),
                    "cancelled": occurrence.event.status == EventStatus.CANCELLED,
                }
                for occurrence in found
                if occurrence.start.astimezone(tz).date() <= current <= _last_day(occurrence, tz)
            ]
            days.append({"date": current, "is_today": current == today, "items": items})
        base = reverse("admin:events_event_calendar")
        keep = "&all=1" if everything else ""
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": gettext("Hearing calendar") if not everything else gettext("Calendar"),
            "days": days,
            "found": bool(found),
            "previous_url": f"{base}?week={(monday - timedelta(days=7)).isoformat()}{keep}",
            "next_url": f"{base}?week={(monday + timedelta(days=7)).isoformat()}{keep}",
            "this_week_url": f"{base}?week={today.isoformat()}{keep}",
            "toggle_url": f"{base}?week={monday.isoformat()}{'' if everything else '&all=1'}",
            "everything": everything,
            "week_label": f"{date_format(monday)} – {date_format(monday + timedelta(days=6))}",
        }
        return TemplateResponse(request, "admin/events/event/calendar.html", context)


def _last_day(occurrence, tz) -> date:
    """The last firm-local day an occurrence covers (its end is exclusive)."""
    end = occurrence.end.astimezone(tz)
    if occurrence.end > occurrence.start and end.time() == datetime.min.time():
        return (end - timedelta(days=1)).date()
    return end.date()


@admin.register(FeedToken, site=firm_admin)
class FeedTokenAdmin(RevocableTokenAdmin):
    """Each user's feed (its URL was shown once, to its owner: only the token's hash is kept) and the revoke action."""

    list_display = ["user", "created_at", "revoked_at", "active"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["user"]
    readonly_fields = ["user", "created_at", "revoked_at"]
    fields = readonly_fields
    actions = ["revoke_selected"]  # each user issues their own, at POST /api/v1/me/calendar-feed/

    @admin.action(description=_("Revoke the selected feeds"), permissions=["change"])
    def revoke_selected(self, request, queryset):
        revoked = sum(services.feed_token_revoke_one(feed=feed, actor=request.user) for feed in queryset.order_by("pk"))
        self.message_user(
            request, ngettext("%(count)d feed revoked.", "%(count)d feeds revoked.", revoked) % {"count": revoked}
        )


@admin.register(EventReminder, site=firm_admin)
class EventReminderAdmin(ReadOnlyAdmin):
    """Read-only: what was sent, what is owed and what keeps failing (and why)."""

    list_display = [
        "event",
        "occurrence_start",
        "offset",
        "recipient",
        "state",
        "attempts",
        "next_attempt_at",
        "sent_at",
        "last_error",
    ]
    list_filter = ["state", "offset"]
    list_select_related = ["event", "recipient"]
