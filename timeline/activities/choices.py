from django.db import models


class DelayUnit(models.TextChoices):
    DAYS = "days", "Days"
    BUSINESS_DAYS = "business_days", "Business days"
    WEEKS = "weeks", "Weeks"
    MONTHS = "months", "Months"


class Chaining(models.TextChoices):
    NONE = "none", "None"
    SUGGEST = "suggest", "Suggest the next activity"
    TRIGGER = "trigger", "Schedule the next activity"


class ActivityState(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"


class Due(models.TextChoices):
    """Where a scheduled activity's deadline falls relative to the firm's today."""

    OVERDUE = "overdue", "Overdue"
    TODAY = "today", "Today"
    PLANNED = "planned", "Planned"


class ReminderBucket(models.TextChoices):
    OVERDUE = "overdue", "Overdue"
    TODAY = "today", "Due today"
    TOMORROW = "tomorrow", "Due tomorrow"
    WITHIN_3_DAYS = "within_3_days", "Due within 3 days"


class ReminderState(models.TextChoices):
    PENDING = "pending", "Pending"
    # Claimed by a worker that is talking to the mail server; taken again if its lease expires.
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    # The activity was completed, cancelled or rescheduled before its reminder went out.
    OBSOLETE = "obsolete", "Obsolete"


class Weekday(models.IntegerChoices):
    """Python's ``date.weekday()`` numbering."""

    MONDAY = 0, "Monday"
    TUESDAY = 1, "Tuesday"
    WEDNESDAY = 2, "Wednesday"
    THURSDAY = 3, "Thursday"
    FRIDAY = 4, "Friday"
    SATURDAY = 5, "Saturday"
    SUNDAY = 6, "Sunday"
