from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ActivitiesConfig(AppConfig):
    """Scheduled activities (Odoo-style), SLA counters and reminders."""

    name = "timeline.activities"
    label = "activities"
    verbose_name = _("Activities")

    def ready(self):
        from traf3li.core.subjects import subject_register

        subject_register("activity", "activities.Activity")
        # Not subjects of the contract, but the audit log names every entity it records by subject type.
        subject_register("activity_type", "activities.ActivityType", public=False)
        subject_register("working_calendar", "activities.WorkingCalendar", public=False)
        subject_register("holiday", "activities.Holiday", public=False)
        subject_register("notification", "activities.Notification", public=False)
        from timeline.activities import privacy

        privacy.register()  # the privacy data map: activities and notifications
