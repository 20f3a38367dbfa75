"""Where activities and notifications keep personal data (the privacy data map, ``traf3li.core.privacy``).

An activity on the person keeps its type, assignee, deadline and state (the firm's work, and its
SLA history) and loses its note and feedback; the notifications of the person's activities, or quoting them,
lose the person's name in their title, and their body.
"""

from django.contrib.contenttypes.models import ContentType
from django.db.models import Q

from timeline.activities.models import Activity, Notification
from traf3li.core.privacy import privacy_register_rows


def _activities_of(subject) -> Q:
    content_type = ContentType.objects.get_for_model(type(subject.instance))
    return Q(subject_content_type=content_type, subject_id=subject.ref.id)


def _activity_replace(subject, activity: Activity) -> dict:
    content_type = ContentType.objects.get_for_model(type(subject.instance))  # cached: no query
    about = activity.subject_content_type_id == content_type.pk and activity.subject_id == subject.ref.id
    return {"note": "", "feedback": ""} if about else {}


def _notifications_of(subject) -> Q:
    return Q(activity__in=Activity.objects.filter(_activities_of(subject)).values("pk"))


def _notification_replace(subject, notification: Notification) -> dict:
    # A reminder's body is generated from the activity: nothing of record is lost with it.
    return {"body": ""}


def register() -> None:
    privacy_register_rows(
        Activity, scrubbed=("summary", "note", "feedback"), about=_activities_of, replace=_activity_replace,
        exported=("state", "deadline"),
    )  # fmt: skip
    privacy_register_rows(
        Notification, scrubbed=("title", "body"), about=_notifications_of, replace=_notification_replace,
        exported=("created_at",),
    )  # fmt: skip
