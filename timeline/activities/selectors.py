"""Reads of activities, their SLA counters, reminders and notifications (all in the firm's timezone)."""

from datetime import date, datetime, timedelta

from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from timeline.activities.choices import ActivityState, Due, ReminderBucket
from timeline.activities.deadlines import WorkWeek, firm_midnight, firm_today, firm_tz
from timeline.activities.models import Activity, ActivityType, Holiday, Notification, WorkingCalendar
from traf3li.core.subjects import SubjectError, subject_type_of

# "Done in the last 7 days": today and the six firm-local calendar days before it.
DONE_WINDOW_DAYS = 7
# Reminders go out once a scheduled activity's deadline is this close (ADR 0020).
REMINDER_HORIZON_DAYS = 3


def working_calendar() -> WorkingCalendar:
    """The firm's calendar, or an unsaved default (Friday and Saturday off, no holidays)."""
    return WorkingCalendar.objects.first() or WorkingCalendar()


def workweek(*, start: date) -> WorkWeek:
    """The calendar as a value, with the holidays from ``start`` on (a firm has a few dozen a year)."""
    calendar = working_calendar()
    holidays = (
        Holiday.objects.filter(calendar=calendar, date__gte=start).values_list("date", flat=True) if calendar.pk else []
    )
    return WorkWeek(weekend=frozenset(calendar.weekend_days), holidays=frozenset(holidays))


def activity_type_list() -> QuerySet[ActivityType]:
    return ActivityType.objects.select_related("next_type")


def activity_list() -> QuerySet[Activity]:
    # One query per subject type on the page for the subjects' names, whatever the page size.
    return Activity.objects.select_related("type", "assignee", "subject_content_type").prefetch_related("subject")


def activity_filter_due(queryset: QuerySet[Activity], due: list[str] | str, *, today: date) -> QuerySet[Activity]:
    """Scheduled activities whose deadline is before, on or after the firm's today."""
    values = [due] if isinstance(due, str) else list(due)
    lookups = {Due.OVERDUE: Q(deadline__lt=today), Due.TODAY: Q(deadline=today), Due.PLANNED: Q(deadline__gt=today)}
    condition = Q()
    for value in values:
        condition |= lookups[value]
    return queryset.filter(condition, state=ActivityState.SCHEDULED)


def activity_upcoming(*, days: int, now: datetime | None = None) -> QuerySet[Activity]:
    """Scheduled activities due from today through today + ``days`` (firm-local dates)."""
    today = firm_today(now)
    return activity_list().filter(
        state=ActivityState.SCHEDULED, deadline__gte=today, deadline__lte=today + timedelta(days=days)
    )


_COUNTS_SQL = """
SELECT
  (SELECT count(*) FROM {table} WHERE state = 'scheduled' AND deadline < %(today)s{user}),
  (SELECT count(*) FROM {table} WHERE state = 'scheduled' AND deadline = %(today)s{user}),
  (SELECT count(*) FROM {table} WHERE state = 'scheduled' AND deadline > %(today)s{user}),
  (SELECT count(*) FROM {table} WHERE state = 'done' AND done_at >= %(done_since)s{user})
"""


def activity_stats(*, assignee_id: int | None = None, now: datetime | None = None) -> dict:
    """The SLA counters, firm-wide or for one assignee.

    Four scalar subqueries, each an index-only count on a partial index, beat one scan with
    FILTER clauses by an order of magnitude firm-wide (docs/performance.md). ``by_type``
    and ``by_subject_type`` break down the pending (scheduled) activities.
    """
    tz = firm_tz()
    now = now or timezone.now()
    today = firm_today(now, tz)
    done_since = firm_midnight(today - timedelta(days=DONE_WINDOW_DAYS - 1), tz)
    sql = _COUNTS_SQL.format(
        table=connection.ops.quote_name(Activity._meta.db_table),
        user=" AND assignee_id = %(assignee)s" if assignee_id is not None else "",
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, {"today": today, "done_since": done_since, "assignee": assignee_id})
        overdue, due_today, planned, done = cursor.fetchone()

    pending = Activity.objects.filter(state=ActivityState.SCHEDULED)
    if assignee_id is not None:
        pending = pending.filter(assignee_id=assignee_id)
    by_type = [
        {"type": row["type__name"], "type_id": row["type_id"], "count": row["count"]}
        for row in pending.values("type_id", "type__name").annotate(count=Count("id")).order_by("-count", "type__name")
    ]
    by_subject_type: dict[str, int] = {}
    for row in pending.values("subject_content_type_id").annotate(count=Count("id")).order_by():
        name = _subject_type_name(row["subject_content_type_id"])
        by_subject_type[name] = by_subject_type.get(name, 0) + row["count"]
    return {
        "today": today,
        "overdue_count": overdue,
        "today_count": due_today,
        "planned_count": planned,
        "done_count": done,
        "total_pending": overdue + due_today + planned,
        "by_type": by_type,
        "by_subject_type": [
            {"subject_type": name, "count": count}
            for name, count in sorted(by_subject_type.items(), key=lambda item: (-item[1], item[0]))
        ],
    }


def _subject_type_name(content_type_id: int) -> str:
    content_type = ContentType.objects.get_for_id(content_type_id)  # cached per process
    model = content_type.model_class()
    try:
        return subject_type_of(model) if model is not None else content_type.model
    except SubjectError:
        return content_type.model


def reminder_bucket(deadline: date, today: date) -> str | None:
    """How a reminder for ``deadline`` is classified on ``today``; None while it is further away."""
    days = (deadline - today).days
    if days < 0:
        return ReminderBucket.OVERDUE
    if days == 0:
        return ReminderBucket.TODAY
    if days == 1:
        return ReminderBucket.TOMORROW
    if days <= REMINDER_HORIZON_DAYS:
        return ReminderBucket.WITHIN_3_DAYS
    return None


def notification_list(*, user) -> QuerySet[Notification]:
    return Notification.objects.filter(recipient=user)


def admin_index_counters(*, user) -> dict:
    """The firm's counters and the signed-in user's own, for the admin's index page."""
    return {"firm": activity_stats(), "mine": activity_stats(assignee_id=user.pk)}
