"""Builders for activity tests: types with each chaining, a subject, and activities through the services."""

from datetime import date

from timeline.activities import services
from timeline.activities.models import ActivityType
from traf3li.crm import services as crm
from traf3li.crm.models import Client


def activity_type(name="Call", **fields) -> ActivityType:
    existing = ActivityType.objects.filter(name=name).first()
    return existing or services.activity_type_create(instance=ActivityType(name=name, **fields))


def chained_types(chaining: str, *, delay_count=2, delay_unit="business_days") -> ActivityType:
    """A 'Court filing' type whose completion triggers or suggests a 'Follow-up'."""
    follow_up = activity_type(f"Follow-up ({chaining})", delay_count=delay_count, delay_unit=delay_unit)
    return activity_type(f"Court filing ({chaining})", chaining=chaining, next_type=follow_up)


def a_client(name="Ahmed Al-Harbi") -> Client:
    return crm.record_create(instance=Client(name=name))


def schedule(*, subject, assignee, type=None, deadline: date | None = None, **kwargs):
    return services.activity_schedule(
        subject=subject, type=type or activity_type(), assignee=assignee, deadline=deadline, **kwargs
    )
