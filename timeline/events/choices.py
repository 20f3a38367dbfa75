from django.db import models
from django.utils.translation import gettext_lazy as _

from timeline.activities import choices as activity_choices


class EventType(models.TextChoices):
    HEARING = "hearing", _("Hearing")
    COURT_DATE = "court_date", _("Court date")
    MEETING = "meeting", _("Meeting")
    CLIENT_MEETING = "client_meeting", _("Client meeting")
    DEPOSITION = "deposition", _("Deposition")
    MEDIATION = "mediation", _("Mediation")
    DEADLINE = "deadline", _("Deadline")
    FILING_DEADLINE = "filing_deadline", _("Filing deadline")


# Court appearances: listed first among conflicts, and on the admin's hearing calendar.
COURT_TYPES = (EventType.HEARING, EventType.COURT_DATE)


class EventStatus(models.TextChoices):
    SCHEDULED = "scheduled", _("Scheduled")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")


class AttendeeResponse(models.TextChoices):
    """An attendee's answer to the invitation; iCalendar's PARTSTAT."""

    NEEDS_ACTION = "needs_action", _("Not answered yet")
    ACCEPTED = "accepted", _("Accepted")
    TENTATIVE = "tentative", _("Tentative")
    DECLINED = "declined", _("Declined")


class AttendeeStatus(models.TextChoices):
    """Whether the attendee came, as the organizer records it."""

    INVITED = "invited", _("Invited")
    ATTENDED = "attended", _("Attended")
    ABSENT = "absent", _("Absent")


class BillingType(models.TextChoices):
    HOURLY = "hourly", _("Hourly")
    FLAT_FEE = "flat_fee", _("Flat fee")
    NON_BILLABLE = "non_billable", _("Not billable")


class EditScope(models.TextChoices):
    """Which occurrences of a recurring event an edit or a cancellation changes."""

    SERIES = "series", _("The whole series")
    THIS = "this", _("This occurrence")
    FOLLOWING = "following", _("This and the following occurrences")


# The reminder ledger's states are the activities' own: the same ledger design (ADR 0053).
ReminderState = activity_choices.ReminderState


class ReminderOffset(models.TextChoices):
    """When a reminder rings, relative to the occurrence (timeline.events.offsets)."""

    DAY_BEFORE = "day_before", _("The day before")
    MORNING_OF = "morning_of", _("The morning of")
