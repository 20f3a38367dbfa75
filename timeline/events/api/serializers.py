from datetime import date, datetime, timedelta

from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from timeline.events import recurrence, selectors
from timeline.events.choices import (
    AttendeeResponse,
    AttendeeStatus,
    BillingType,
    EditScope,
    EventStatus,
    EventType,
)
from timeline.events.models import ActionItem, AgendaItem, Attendee, Event
from traf3li.api.bounds import MAX_ITEMS as MAX_FILTER_VALUES
from traf3li.api.bounds import day_error, moment_error
from traf3li.api.fields import DayField, MomentField, SubjectField
from traf3li.api.serializers import ModelSerializer
from traf3li.crm.models import Case
from traf3li.users.models import User

ERROR_WHEN = _("Must be a date (YYYY-MM-DD) or an ISO-8601 date-time.")
ERROR_USE_ACTION = _("Change this with the {action} action.")
ERROR_USER_OR_EMAIL = _("Give a user or an email.")
MAX_ITEMS = 200
MAX_DATES = 500
MAX_MINUTES = 7 * 24 * 60

ACTIVE_USERS = User.objects.filter(is_active=True)


def parse_when(value) -> date | datetime:
    """A date or a date-time (naive: wall time in the event's zone) in the range the stack can take."""
    if isinstance(value, datetime | date):
        parsed = value
    elif isinstance(value, str) and len(value.strip()) == 10:
        try:
            parsed = parse_date(value.strip())
        except ValueError:
            parsed = None
    elif isinstance(value, str):
        try:
            parsed = parse_datetime(value.strip())
        except ValueError:
            parsed = None
    else:
        parsed = None
    if parsed is None:
        raise serializers.ValidationError(ERROR_WHEN)
    error = moment_error(parsed) if isinstance(parsed, datetime) else day_error(parsed)
    if error:
        raise serializers.ValidationError(error)
    return parsed


@extend_schema_field({"oneOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]})
class WhenField(serializers.Field):
    """An event's start or end: a date for all-day events, else a date-time shown in the event's zone."""

    def __init__(self, *, which: str, **kwargs):
        self.which = which
        super().__init__(source="*", **kwargs)

    def to_internal_value(self, value):
        return {self.which: parse_when(value)}

    def to_representation(self, event):
        if event.all_day:
            return (event.start_date if self.which == "start" else event.end_date).isoformat()
        instant = event.start_at if self.which == "start" else event.end_at
        return instant.astimezone(recurrence.zone(event.timezone)).isoformat()


@extend_schema_field({"type": "array", "items": {"type": "string", "format": "date-time"}})
class MomentsField(serializers.ListField):
    """EXDATEs or RDATEs: occurrence starts, shown in the event's zone (dates for all-day events)."""

    def __init__(self, **kwargs):
        super().__init__(child=serializers.CharField(max_length=64), max_length=MAX_DATES, required=False, **kwargs)

    def to_internal_value(self, data):
        return [parse_when(value) for value in super().to_internal_value(data)]

    def to_representation(self, moments):
        return [moment.isoformat() for moment in moments]


class AttendeeSerializer(ModelSerializer):
    user = serializers.PrimaryKeyRelatedField(queryset=ACTIVE_USERS, required=False, allow_null=True)
    # null for a guest invited by email alone
    user_name = serializers.CharField(source="user.display_name", read_only=True, default=None, allow_null=True)
    email = serializers.EmailField(required=False, allow_null=True)
    status = serializers.ChoiceField(choices=AttendeeStatus.choices, required=False)

    class Meta:
        model = Attendee
        fields = ["id", "user", "user_name", "email", "name", "status", "response", "comment", "responded_at"]
        read_only_fields = ["response", "comment", "responded_at"]

    def validate(self, attrs):
        if bool(attrs.get("user")) == bool(attrs.get("email")):
            raise serializers.ValidationError(ERROR_USER_OR_EMAIL)
        if attrs.get("email"):
            attrs["email"] = attrs["email"].strip().lower()
        return attrs


class AgendaItemSerializer(ModelSerializer):
    presenter = serializers.PrimaryKeyRelatedField(queryset=ACTIVE_USERS, required=False, allow_null=True)
    duration_minutes = serializers.IntegerField(min_value=0, max_value=MAX_MINUTES, required=False, allow_null=True)

    class Meta:
        model = AgendaItem
        fields = ["id", "title", "duration_minutes", "presenter", "completed"]


class ActionItemSerializer(ModelSerializer):
    assignee = serializers.PrimaryKeyRelatedField(queryset=ACTIVE_USERS)
    due_date = DayField(required=False, help_text="Defaults to a week from today.")
    status = serializers.CharField(source="activity.state", read_only=True, help_text="The activity's state.")

    class Meta:
        model = ActionItem
        fields = ["id", "description", "assignee", "due_date", "status", "activity"]
        read_only_fields = ["activity"]


@extend_schema_field(
    {
        "type": "object",
        "nullable": True,
        "properties": {"type": {"type": "string", "enum": ["invoice"]}, "id": {"type": "integer"}},
    }
)
class InvoiceRefField(SubjectField):
    """``"invoice:5"`` or ``{"type": "invoice", "id": 5}``: a subject reference, since billing owns invoices."""

    def __init__(self, **kwargs):
        super().__init__(types=("invoice",), **kwargs)

    def to_internal_value(self, data):
        return super().to_internal_value(data).pk

    def to_representation(self, value):
        return {"type": "invoice", "id": value}


class BillingSerializer(serializers.Serializer):
    is_billable = serializers.BooleanField(required=False)
    billing_type = serializers.ChoiceField(choices=BillingType.choices, required=False)
    billable_amount = serializers.DecimalField(
        max_digits=15, decimal_places=2, min_value=0, required=False, allow_null=True
    )
    currency = serializers.RegexField(r"^[A-Z]{3}$", required=False)
    linked_invoice = InvoiceRefField(source="linked_invoice_id", required=False, allow_null=True)
    invoice_status = serializers.SerializerMethodField()

    def get_invoice_status(self, event) -> str | None:
        if not event.linked_invoice_id:
            return None
        return self.root.context.get("invoice_statuses", {}).get(event.linked_invoice_id)


class TimingMixin(serializers.Serializer):
    """``duration_minutes`` and the firm's ``is_past`` / ``is_today`` / ``is_upcoming`` of what ``bounds`` gives."""

    duration_minutes = serializers.SerializerMethodField()
    is_past = serializers.SerializerMethodField()
    is_today = serializers.SerializerMethodField()
    is_upcoming = serializers.SerializerMethodField()

    def bounds(self, instance) -> tuple[datetime, datetime]:
        raise NotImplementedError

    def get_duration_minutes(self, instance) -> int:
        start, end = self.bounds(instance)
        return int((end - start).total_seconds() // 60)

    def _timing(self, instance) -> dict:
        start, end = self.bounds(instance)
        return selectors.timing(start=start, end=end, moment=self.context["moment"])

    def get_is_past(self, instance) -> bool:
        return self._timing(instance)["is_past"]

    def get_is_today(self, instance) -> bool:
        return self._timing(instance)["is_today"]

    def get_is_upcoming(self, instance) -> bool:
        return self._timing(instance)["is_upcoming"]


class EventSerializer(TimingMixin, ModelSerializer):
    type = serializers.ChoiceField(choices=EventType.choices, required=False)
    timezone = serializers.CharField(required=False, max_length=64, help_text="An IANA zone; default the firm's.")
    start = WhenField(which="start")
    end = WhenField(which="end", required=False)
    case = serializers.PrimaryKeyRelatedField(queryset=Case.objects.all(), required=False, allow_null=True)
    organizer = serializers.PrimaryKeyRelatedField(
        queryset=ACTIVE_USERS, required=False, help_text="Defaults to the requesting user."
    )
    organizer_name = serializers.CharField(source="organizer.display_name", read_only=True)
    attendees = AttendeeSerializer(many=True, required=False, max_length=MAX_ITEMS)
    agenda = AgendaItemSerializer(many=True, required=False, max_length=MAX_ITEMS)
    action_items = ActionItemSerializer(
        many=True,
        required=False,
        max_length=MAX_ITEMS,
        help_text="Each becomes a scheduled activity; on an edit, items are added (existing ones stay).",
    )
    billing = BillingSerializer(source="*", required=False)
    recurrence = serializers.CharField(
        source="rrule", required=False, allow_blank=True, max_length=500, help_text="An RFC 5545 RRULE."
    )
    rdates = MomentsField(help_text="Extra occurrence starts (RDATE).")
    exdates = MomentsField(help_text="Occurrence starts left out (EXDATE); a cancelled occurrence lands here.")
    scope = serializers.ChoiceField(
        choices=EditScope.choices,
        write_only=True,
        required=False,
        help_text="Editing a recurring event: the whole series (default), this occurrence, or this and following.",
    )
    occurrence = MomentField(
        write_only=True, required=False, help_text="The original start of the occurrence that scope names."
    )

    class Meta:
        model = Event
        fields = [
            "id",
            "event_id",
            "title",
            "description",
            "type",
            "timezone",
            "start",
            "end",
            "all_day",
            "location",
            "case",
            "organizer",
            "organizer_name",
            "attendees",
            "agenda",
            "action_items",
            "billing",
            "recurrence",
            "rdates",
            "exdates",
            "recurrence_parent",
            "recurrence_id",
            "split_from",
            "status",
            "outcome",
            "follow_up_required",
            "completed_at",
            "follow_up",
            "duration_minutes",
            "is_past",
            "is_today",
            "is_upcoming",
            "sequence",
            "scope",
            "occurrence",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "event_id",
            "recurrence_parent",
            "recurrence_id",
            "split_from",
            "status",
            "outcome",
            "follow_up_required",
            "completed_at",
            "follow_up",
            "sequence",
            "created_by",
        ]

    def bounds(self, event) -> tuple[datetime, datetime]:
        return event.start_at, event.end_at

    def validate(self, attrs):
        actions = {"status": "complete or cancel", "outcome": "complete", "follow_up_required": "complete"}
        errors = {
            name: [ERROR_USE_ACTION.format(action=action)]
            for name, action in actions.items()
            if name in self.initial_data
        }
        if errors:
            raise serializers.ValidationError(errors)
        if self.instance is None and "start" not in attrs:
            raise serializers.ValidationError({"start": [_("This field is required.")]})
        return attrs


class EventRsvpSerializer(serializers.Serializer):
    response = serializers.ChoiceField(choices=[c for c in AttendeeResponse.choices if c[0] != "needs_action"])
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)


class EventCompleteSerializer(serializers.Serializer):
    outcome = serializers.CharField(allow_blank=True, max_length=10_000)
    follow_up_required = serializers.BooleanField(default=False)
    follow_up_deadline = DayField(required=False, help_text="Defaults from the follow-up type's delay.")
    occurrence = MomentField(required=False, help_text="For a recurring event: the occurrence's original start.")


class EventCancelSerializer(serializers.Serializer):
    scope = serializers.ChoiceField(choices=EditScope.choices, default=EditScope.SERIES)
    occurrence = MomentField(required=False, help_text="The original start of the occurrence that scope names.")


class EventWindowSerializer(serializers.Serializer):
    start = MomentField()
    end = MomentField()


class CalendarQuerySerializer(EventWindowSerializer):
    case = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1), required=False, max_length=MAX_FILTER_VALUES
    )
    type = serializers.ListField(
        child=serializers.ChoiceField(choices=EventType.choices), required=False, max_length=MAX_FILTER_VALUES
    )
    status = serializers.ListField(
        child=serializers.ChoiceField(choices=EventStatus.choices), required=False, max_length=MAX_FILTER_VALUES
    )

    def to_internal_value(self, data):
        # Comma lists, as every filter of the API takes them: ?type=hearing,meeting
        flat = {key: data.get(key) for key in ("start", "end") if key in data}
        for key in ("case", "type", "status"):
            if data.get(key):
                flat[key] = [item for item in str(data.get(key)).split(",") if item]
        return super().to_internal_value(flat)


class ConflictsQuerySerializer(EventWindowSerializer):
    user = serializers.PrimaryKeyRelatedField(queryset=User.objects.all(), required=False)


class OccurrenceSerializer(TimingMixin, serializers.Serializer):
    """One occurrence of the caller's calendar; ``id`` is the row to act on (an override's own id)."""

    id = serializers.IntegerField(source="event.pk")
    event_id = serializers.CharField(source="event.event_id")
    series = serializers.SerializerMethodField()
    title = serializers.CharField(source="event.title")
    type = serializers.CharField(source="event.type")
    status = serializers.CharField(source="event.status")
    all_day = serializers.BooleanField(source="event.all_day")
    start = serializers.SerializerMethodField()
    end = serializers.SerializerMethodField()
    timezone = serializers.CharField(source="event.timezone")
    location = serializers.CharField(source="event.location")
    case = serializers.IntegerField(source="event.case_id", allow_null=True)
    case_title = serializers.CharField(source="event.case.title", default=None)
    organizer = serializers.IntegerField(source="event.organizer_id")
    organizer_name = serializers.CharField(source="event.organizer.display_name")
    recurrence_id = serializers.DateTimeField(allow_null=True)
    is_override = serializers.BooleanField()

    def get_series(self, occurrence) -> int:
        return occurrence.event.recurrence_parent_id or occurrence.event.pk

    def _local(self, occurrence, instant):
        return instant.astimezone(recurrence.zone(occurrence.event.timezone))

    def get_start(self, occurrence) -> str:
        local = self._local(occurrence, occurrence.start)
        return local.date().isoformat() if occurrence.event.all_day else local.isoformat()

    def get_end(self, occurrence) -> str:
        local = self._local(occurrence, occurrence.end)
        if occurrence.event.all_day:  # the last day, as the event's own ``end`` says it
            return (local.date() - timedelta(days=1)).isoformat()
        return local.isoformat()

    def bounds(self, occurrence) -> tuple[datetime, datetime]:
        return occurrence.start, occurrence.end


class CalendarFeedSerializer(serializers.Serializer):
    url = serializers.URLField(help_text="Subscribe to this URL in Google Calendar, Outlook or Apple Calendar.")
    token = serializers.CharField(help_text="Shown once; only its hash is stored.")
