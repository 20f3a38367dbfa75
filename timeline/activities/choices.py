from django.db import models
from django.utils.translation import gettext_lazy as _


class DelayUnit(models.TextChoices):
    DAYS = "days", _("Days")
    BUSINESS_DAYS = "business_days", _("Business days")
    WEEKS = "weeks", _("Weeks")
    MONTHS = "months", _("Months")


class Chaining(models.TextChoices):
    NONE = "none", _("None")
    SUGGEST = "suggest", _("Suggest the next activity")
    TRIGGER = "trigger", _("Schedule the next activity")


class ActivityState(models.TextChoices):
    SCHEDULED = "scheduled", _("Scheduled")
    DONE = "done", _("Done")
    CANCELLED = "cancelled", _("Cancelled")


class Due(models.TextChoices):
    """Where a scheduled activity's deadline falls relative to the firm's today."""

    OVERDUE = "overdue", _("Overdue")
    TODAY = "today", _("Today")
    PLANNED = "planned", _("Planned")


class ReminderBucket(models.TextChoices):
    OVERDUE = "overdue", _("Overdue")
    TODAY = "today", _("Due today")
    TOMORROW = "tomorrow", _("Due tomorrow")
    WITHIN_3_DAYS = "within_3_days", _("Due within 3 days")


class ReminderState(models.TextChoices):
    PENDING = "pending", _("Pending")
    # Claimed by a worker that is talking to the mail server; taken again if its lease expires.
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    # The activity was completed, cancelled or rescheduled before its reminder went out.
    OBSOLETE = "obsolete", _("Obsolete")


class Weekday(models.IntegerChoices):
    """Python's ``date.weekday()`` numbering."""

    MONDAY = 0, _("Monday")
    TUESDAY = 1, _("Tuesday")
    WEDNESDAY = 2, _("Wednesday")
    THURSDAY = 3, _("Thursday")
    FRIDAY = 4, _("Friday")
    SATURDAY = 5, _("Saturday")
    SUNDAY = 6, _("Sunday")
