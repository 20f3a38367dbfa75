from django.apps import AppConfig


class ActivitiesConfig(AppConfig):
    """Scheduled activities (Odoo-style), SLA counters and reminders."""

    name = "timeline.activities"
    label = "activities"
