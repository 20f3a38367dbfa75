from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from timeline.activities.choices import (
    ActivityState,
    Chaining,
    DelayUnit,
    ReminderBucket,
    ReminderState,
    Weekday,
)

ERROR_NEXT_TYPE_REQUIRED = _("A type that suggests or triggers a next activity needs a next type.")
ERROR_WEEKEND_ALL_WEEK = _("At least one day of the week must be a working day.")
MAX_DELAY_COUNT = 3650


def default_weekend() -> list[int]:
    # Saudi Arabia's weekend: Friday and Saturday.
    return [Weekday.FRIDAY, Weekday.SATURDAY]


class WorkingCalendar(models.Model):
    """The firm's working week and holidays, used to count business-day delays."""

    # One calendar per firm schema: the unique constant column makes a second row impossible.
    singleton = models.BooleanField(default=True, unique=True, editable=False)
    name = models.CharField(_("name"), max_length=100, default="Working week")
    weekend_days = ArrayField(
        models.PositiveSmallIntegerField(choices=Weekday.choices),
        default=default_weekend,
        blank=True,
        verbose_name=_("weekend days"),
        help_text=_("Days of the week nobody works (0 = Monday … 6 = Sunday)."),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("working calendar")
        verbose_name_plural = _("working calendars")
        constraints = [models.CheckConstraint(condition=Q(singleton=True), name="working_calendar_singleton")]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        super().clean()
        self.weekend_days = sorted(set(self.weekend_days or []))
        if len(self.weekend_days) >= 7:
            raise ValidationError({"weekend_days": ERROR_WEEKEND_ALL_WEEK})


class Holiday(models.Model):
    """A day the firm does not work (Eid, National Day…); business-day delays skip it."""

    calendar = models.ForeignKey(
        WorkingCalendar, on_delete=models.CASCADE, related_name="holidays", verbose_name=_("calendar")
    )
    date = models.DateField(_("date"))
    name = models.CharField(_("name"), max_length=120)

    class Meta:
        verbose_name = _("holiday")
        verbose_name_plural = _("holidays")
        ordering = ["date"]
        constraints = [models.UniqueConstraint(fields=["calendar", "date"], name="holiday_unique_date")]

    def __str__(self) -> str:
        return f"{self.date}: {self.name}"


class ActivityType(models.Model):
    """A kind of scheduled activity (call, court filing…) with its default delay and chaining."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    icon = models.CharField(
        _("icon"), max_length=50, blank=True, help_text=_("An icon name for the SPA, e.g. 'phone'.")
    )
    delay_count = models.PositiveIntegerField(_("delay"), default=0)
    delay_unit = models.CharField(_("delay unit"), max_length=16, choices=DelayUnit.choices, default=DelayUnit.DAYS)
    chaining = models.CharField(_("chaining"), max_length=16, choices=Chaining.choices, default=Chaining.NONE)
    next_type = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="previous_types",
        verbose_name=_("next type"),
    )
    default_summary = models.CharField(_("default summary"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("activity type")
        verbose_name_plural = _("activity types")
        ordering = ["name"]
        indexes = [models.Index(fields=["-created_at", "-id"], name="acttype_created_idx")]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        super().clean()
        if self.chaining != Chaining.NONE and self.next_type_id is None:
            raise ValidationError({"next_type": ERROR_NEXT_TYPE_REQUIRED})
        if self.delay_count > MAX_DELAY_COUNT:
            raise ValidationError({"delay_count": f"At most {MAX_DELAY_COUNT}."})


class Activity(models.Model):
    """A to-do on any subject (client, case, lead…) with an assignee and a deadline date."""

    subject_content_type = models.ForeignKey(
        ContentType, on_delete=models.PROTECT, related_name="+", verbose_name=_("subject type")
    )
    subject_id = models.PositiveBigIntegerField(_("subject ID"))
    subject = GenericForeignKey("subject_content_type", "subject_id")
    type = models.ForeignKey(ActivityType, on_delete=models.PROTECT, related_name="activities", verbose_name=_("type"))
    summary = models.CharField(_("summary"), max_length=300, blank=True)
    note = models.TextField(_("note"), blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="activities", verbose_name=_("assignee")
    )
    # A date, not a datetime: "due on the 5th" means the 5th in the firm's timezone.
    deadline = models.DateField(_("deadline"))
    state = models.CharField(_("state"), max_length=16, choices=ActivityState.choices, default=ActivityState.SCHEDULED)
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)
    feedback = models.TextField(_("feedback"), blank=True)
    chained_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="chained", verbose_name=_("chained from")
    )
    automated = models.BooleanField(
        _("automated"), default=False, help_text=_("Created by chaining or a rule, not by a person.")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("activity")
        verbose_name_plural = _("activities")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="activity_created_idx"),
            models.Index(fields=["subject_content_type", "subject_id"], name="activity_subject_idx"),
            # The SLA counters (docs/performance.md): partial indexes keep the pending
            # and the recently-done counts index-only, firm-wide and per assignee.
            models.Index(fields=["deadline"], condition=Q(state="scheduled"), name="activity_pending_idx"),
            models.Index(
                fields=["assignee", "deadline"], condition=Q(state="scheduled"), name="activity_pending_user_idx"
            ),
            # by_type and by_subject_type of the pending ones, index-only (a third of a seq scan's time).
            models.Index(fields=["type", "assignee"], condition=Q(state="scheduled"), name="activity_pending_type_idx"),
            models.Index(
                fields=["subject_content_type", "assignee"],
                condition=Q(state="scheduled"),
                name="activity_pending_subj_idx",
            ),
            models.Index(fields=["done_at"], condition=Q(state="done"), name="activity_done_idx"),
            models.Index(fields=["assignee", "done_at"], condition=Q(state="done"), name="activity_done_user_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(state="done", done_at__isnull=False) | ~Q(state="done"), name="activity_done_has_done_at"
            ),
        ]

    def __str__(self) -> str:
        return self.summary or self.type.name

    def is_overdue_on(self, today) -> bool:
        return self.state == ActivityState.SCHEDULED and self.deadline < today

    @property
    def is_overdue(self) -> bool:
        from timeline.activities.deadlines import firm_today

        return self.is_overdue_on(firm_today())


class Reminder(models.Model):
    """One reminder owed for an activity's deadline: claimed, mailed outside any transaction, then marked sent."""

    activity = models.ForeignKey(
        Activity, on_delete=models.CASCADE, related_name="reminders", verbose_name=_("activity")
    )
    # The reminder key is (activity, deadline): rescheduling re-arms it, a second tick cannot (ADR 0020).
    deadline = models.DateField(_("deadline"))
    bucket = models.CharField(_("reminder window"), max_length=16, choices=ReminderBucket.choices)
    state = models.CharField(_("state"), max_length=16, choices=ReminderState.choices, default=ReminderState.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    # When a worker may next take the row: a pending row's retry time, a sending row's lease expiry.
    next_attempt_at = models.DateTimeField(_("next attempt at"))
    # When the current (or last) claim was taken; a worker finishing late recognises its own claim by it.
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        verbose_name = _("reminder")
        verbose_name_plural = _("reminders")
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["activity", "deadline"], name="reminder_once_per_deadline")]
        indexes = [
            # What a worker may claim: pending rows due for a (re)try and sending rows whose lease expired.
            models.Index(
                fields=["next_attempt_at", "id"],
                condition=Q(state__in=["pending", "sending"]),
                name="reminder_claimable_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.bucket} reminder for activity {self.activity_id} due {self.deadline}"


class Notification(models.Model):
    """An in-app message for one user (an activity reminder), read or unread."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications", verbose_name=_("recipient")
    )
    kind = models.CharField(_("kind"), max_length=32, default="activity_reminder")
    title = models.CharField(_("title"), max_length=300)
    body = models.TextField(_("body"), blank=True)
    activity = models.ForeignKey(
        Activity,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="notifications",
        verbose_name=_("activity"),
    )
    # Unique: a reminder can produce at most one notification, whatever the workers do.
    reminder = models.OneToOneField(
        Reminder,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="notification",
        verbose_name=_("reminder"),
    )
    bucket = models.CharField(_("reminder window"), max_length=16, choices=ReminderBucket.choices, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["recipient", "-created_at", "-id"], name="notification_inbox_idx")]

    def __str__(self) -> str:
        return self.title
