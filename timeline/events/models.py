"""Calendar events: hearings, meetings and deadlines, with attendees, agenda, action items and recurrence.

An event's start and end are stored twice: as the wall time in its IANA zone (``start_date`` /
``start_time`` plus ``timezone``), which is what recurs, and as UTC instants (``start_at`` /
``end_at``), which is what is compared and indexed. All-day events have dates and no times.
``span`` covers every occurrence of the series, so one GiST range scan finds what a calendar
window needs (ADR 0051).
"""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField, DateTimeRangeField
from django.contrib.postgres.indexes import GistIndex
from django.db import models
from django.db.models import F, Func, Q, Value
from django.utils.translation import gettext_lazy as _

from timeline.events.choices import (
    AttendeeResponse,
    AttendeeStatus,
    BillingType,
    EventStatus,
    EventType,
    ReminderOffset,
    ReminderState,
)
from traf3li.firms.models import validate_timezone


class Event(models.Model):
    """One calendar event or the master of a recurring series; an override is an event with a parent."""

    event_id = models.CharField(_("event ID"), max_length=24, unique=True, editable=False)
    title = models.CharField(_("title"), max_length=300)
    description = models.TextField(_("description"), blank=True)
    type = models.CharField(_("type"), max_length=24, choices=EventType.choices, default=EventType.MEETING)
    status = models.CharField(_("status"), max_length=16, choices=EventStatus.choices, default=EventStatus.SCHEDULED)
    timezone = models.CharField(_("timezone"), max_length=64, validators=[validate_timezone])
    all_day = models.BooleanField(_("all day"), default=False)
    # The wall time in ``timezone``: a weekly 09:00 stays 09:00 there across daylight saving.
    start_date = models.DateField(_("start date"))
    start_time = models.TimeField(_("start time"), null=True, blank=True)
    # For an all-day event, the last day (inclusive); iCalendar's DTEND is the day after.
    end_date = models.DateField(_("end date"))
    end_time = models.TimeField(_("end time"), null=True, blank=True)
    start_at = models.DateTimeField(_("starts at"))
    end_at = models.DateTimeField(_("ends at"))
    rrule = models.CharField(_("recurrence rule"), max_length=500, blank=True, help_text=_("An RFC 5545 RRULE."))
    rdates = ArrayField(models.DateTimeField(), default=list, blank=True, verbose_name=_("extra dates"))
    exdates = ArrayField(models.DateTimeField(), default=list, blank=True, verbose_name=_("excluded dates"))
    # The end of the last occurrence; null while the series has no end.
    series_end_at = models.DateTimeField(_("series ends at"), null=True, blank=True)
    # Closed at both ends, so that a deadline (start = end) is a point the index finds, not an empty range.
    span = models.GeneratedField(
        expression=Func(
            F("start_at"), F("series_end_at"), Value("[]"), function="tstzrange", output_field=DateTimeRangeField()
        ),
        output_field=DateTimeRangeField(),
        db_persist=True,
        verbose_name=_("span"),
    )
    recurrence_parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="overrides",
        verbose_name=_("series"),
    )
    # For an override: the original start (UTC) of the occurrence it replaces (iCalendar RECURRENCE-ID).
    recurrence_id = models.DateTimeField(_("occurrence replaced"), null=True, blank=True)
    split_from = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("continues the series"),
    )
    location = models.CharField(_("location"), max_length=300, blank=True)
    case = models.ForeignKey(
        "crm.Case", null=True, blank=True, on_delete=models.SET_NULL, related_name="events", verbose_name=_("case")
    )
    organizer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="organized_events", verbose_name=_("organizer")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    is_billable = models.BooleanField(_("billable"), default=False)
    billing_type = models.CharField(
        _("billing type"), max_length=16, choices=BillingType.choices, default=BillingType.NON_BILLABLE
    )
    billable_amount = models.DecimalField(_("billable amount"), max_digits=15, decimal_places=2, null=True, blank=True)
    currency = models.CharField(_("currency"), max_length=3, default="SAR")
    # A subject reference of type "invoice" (ADR 0002): billing owns invoices, so no foreign key.
    linked_invoice_id = models.PositiveBigIntegerField(_("linked invoice"), null=True, blank=True)
    outcome = models.TextField(_("outcome"), blank=True)
    follow_up_required = models.BooleanField(_("follow-up required"), default=False)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    follow_up = models.ForeignKey(
        "activities.Activity",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("follow-up task"),
    )
    # iCalendar SEQUENCE: a subscribed calendar replaces its copy when this grows.
    sequence = models.PositiveIntegerField(_("revision"), default=0)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        ordering = ["start_at", "id"]
        indexes = [
            GistIndex(fields=["span"], name="event_span_gist"),
            models.Index(fields=["-start_at", "-id"], name="event_start_idx"),
            models.Index(fields=["organizer", "start_at"], name="event_organizer_idx"),
            models.Index(fields=["case", "start_at"], name="event_case_idx"),
            models.Index(fields=["created_by"], name="event_creator_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(end_at__gte=F("start_at")), name="event_ends_after_start"),
            models.CheckConstraint(
                condition=Q(all_day=True, start_time__isnull=True, end_time__isnull=True)
                | Q(all_day=False, start_time__isnull=False, end_time__isnull=False),
                name="event_all_day_has_no_times",
            ),
            models.UniqueConstraint(
                fields=["recurrence_parent", "recurrence_id"],
                condition=Q(recurrence_parent__isnull=False),
                name="event_one_override_per_occurrence",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} {self.title}".strip()

    @property
    def is_recurring(self) -> bool:
        return bool(self.rrule or self.rdates)

    @property
    def series(self) -> "Event":
        """The event whose attendees, agenda and recurrence this one shares: its master, or itself."""
        return self.recurrence_parent if self.recurrence_parent_id else self


class Attendee(models.Model):
    """Someone invited to an event: a user of the firm or an outside person by email."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="attendees", verbose_name=_("event"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="event_invitations",
        verbose_name=_("user"),
    )
    email = models.EmailField(_("email"), null=True, blank=True)
    name = models.CharField(_("name"), max_length=200, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=AttendeeStatus.choices, default=AttendeeStatus.INVITED
    )
    response = models.CharField(
        _("response"), max_length=16, choices=AttendeeResponse.choices, default=AttendeeResponse.NEEDS_ACTION
    )
    comment = models.CharField(_("comment"), max_length=500, blank=True)
    responded_at = models.DateTimeField(_("responded at"), null=True, blank=True)

    class Meta:
        verbose_name = _("attendee")
        verbose_name_plural = _("attendees")
        ordering = ["id"]
        indexes = [models.Index(fields=["user", "event"], name="attendee_user_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=False, email__isnull=True) | Q(user__isnull=True, email__isnull=False),
                name="attendee_user_or_email",
            ),
            models.UniqueConstraint(
                fields=["event", "user"], condition=Q(user__isnull=False), name="attendee_user_once"
            ),
            models.UniqueConstraint(
                fields=["event", "email"], condition=Q(email__isnull=False), name="attendee_email_once"
            ),
        ]

    def __str__(self) -> str:
        if self.user_id:
            return self.user.display_name
        return self.name or self.email or ""


class AgendaItem(models.Model):
    """One point of an event's agenda, in order."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="agenda", verbose_name=_("event"))
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    title = models.CharField(_("title"), max_length=300)
    duration_minutes = models.PositiveIntegerField(_("duration (minutes)"), null=True, blank=True)
    presenter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("presenter"),
    )
    completed = models.BooleanField(_("completed"), default=False)

    class Meta:
        verbose_name = _("agenda item")
        verbose_name_plural = _("agenda items")
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.title


class ActionItem(models.Model):
    """A to-do that came out of an event; it is a scheduled activity, whose state is its status."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="action_items", verbose_name=_("event"))
    description = models.CharField(_("description"), max_length=300)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("assignee")
    )
    due_date = models.DateField(_("due date"))
    activity = models.OneToOneField(
        "activities.Activity",
        on_delete=models.PROTECT,
        related_name="event_action_item",
        verbose_name=_("activity"),
    )

    class Meta:
        verbose_name = _("action item")
        verbose_name_plural = _("action items")
        ordering = ["id"]

    def __str__(self) -> str:
        return self.description

    @property
    def status(self) -> str:
        return self.activity.state


class FeedToken(models.Model):
    """A user's calendar feed token, stored as its SHA-256: the URL is shown once, when issued."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feeds", verbose_name=_("user")
    )
    token_hash = models.CharField(_("token hash"), max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    # When an event left this feed by deletion: no row is left whose updated_at could say so.
    removal_at = models.DateTimeField(_("last removal at"), null=True, blank=True)

    class Meta:
        verbose_name = _("calendar feed")
        verbose_name_plural = _("calendar feeds")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user"], condition=Q(revoked_at__isnull=True), name="feed_token_one_active_per_user"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.created_at:%Y-%m-%d})" if self.created_at else str(self.user)

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class EventReminder(models.Model):
    """A reminder owed to one user for one occurrence at one offset; claimed, mailed, then marked sent."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="reminders", verbose_name=_("event"))
    # The occurrence's start (UTC): each occurrence of a series is reminded on its own.
    occurrence_start = models.DateTimeField(_("occurrence starts at"))
    offset = models.CharField(_("reminder"), max_length=16, choices=ReminderOffset.choices)
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("recipient")
    )
    due_at = models.DateTimeField(_("due at"))
    state = models.CharField(_("state"), max_length=16, choices=ReminderState.choices, default=ReminderState.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    next_attempt_at = models.DateTimeField(_("next attempt at"))
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("event reminder")
        verbose_name_plural = _("event reminders")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["event", "occurrence_start", "offset", "recipient"], name="event_reminder_once"
            )
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at", "id"],
                condition=Q(state__in=["pending", "sending"]),
                name="event_reminder_claimable_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.offset} reminder for {self.event_id} at {self.occurrence_start:%Y-%m-%d %H:%M}"
