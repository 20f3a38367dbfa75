"""Writes to activities, their types and the working calendar; reminders and notifications.

Every activity service locks the row, checks the transition, saves, audits with a domain action
and puts a ``task`` entry on the subject's timeline, all in one transaction: a forbidden transition
raises ``TransitionError`` (409) before anything is written.

Lock order, in every service here: the activity row(s) first (by id when several), then anything
else (reminders, notifications, and the audit's and timeline's shared rows, which ``audit_record``
and ``entry_record`` take). The reminder sender holds no lock while it talks to the mail server.
"""

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import connection, models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy

from audit.services import audit_record, snapshot
from timeline.activities import selectors
from timeline.activities.choices import ActivityState, Chaining, ReminderBucket, ReminderState
from timeline.activities.deadlines import add_delay, firm_midnight, firm_today, firm_tz
from timeline.activities.models import (
    Activity,
    ActivityType,
    Holiday,
    Notification,
    Reminder,
    WorkingCalendar,
)
from timeline.services import entry_record
from traf3li.api.exceptions import TransitionError
from traf3li.core.i18n import in_firm_language
from traf3li.core.subjects import subject_display_name, subject_of
from traf3li.core.writes import apply_changes, copy_saved, full_clean_loaded

logger = logging.getLogger(__name__)

# One whole sentence per verb, so that each language can word it; the state is its translated label.
ERROR_TRANSITION = {
    "complete": gettext_lazy("This activity can't be completed: it is {state}."),
    "reschedule": gettext_lazy("This activity can't be rescheduled: it is {state}."),
    "cancel": gettext_lazy("This activity can't be cancelled: it is {state}."),
    "reassign": gettext_lazy("This activity can't be reassigned: it is {state}."),
}
ERROR_ASSIGNEE_INACTIVE = gettext_lazy("The assignee must be an active user of this firm.")
ERROR_SUBJECT_UNSAVED = gettext_lazy("The subject must be a saved record.")

# Reminder retries back off 2, 4, 8… minutes, capped: a broken mail server is retried hourly, forever.
REMINDER_RETRY_CAP = timedelta(hours=1)


@dataclass
class Completion:
    """What completing an activity produced: the done activity and its follow-up, if any."""

    activity: Activity
    next: Activity | None = None
    # True when ``next`` is an unsaved suggestion (a ``suggest`` type), False when it was scheduled.
    next_is_suggestion: bool = False


# --- activity types and the working calendar -------------------------------------------------


def _save_audited(*, instance: models.Model, data: dict | None, actor) -> models.Model:
    """Validate and save a configuration record; audit create or update with the changed fields.

    An update locks the row and applies ``data`` to the locked copy (ADR 0022's pattern), never a
    full ``save()`` of the caller's copy: that would revert whatever another transaction committed
    since the caller read it, and the audit would record the revert as a change.
    """
    if instance.pk is None:
        for name, value in (data or {}).items():
            setattr(instance, name, value)
        instance.full_clean()
        instance.save()
        audit_record(action="create", instance=instance, before=None, after=snapshot(instance), actor=actor)
        return instance
    locked = type(instance)._default_manager.select_for_update(no_key=True).get(pk=instance.pk)
    before = snapshot(locked)
    apply_changes(locked, data or {})
    audit_record(action="update", instance=locked, before=before, after=snapshot(locked), actor=actor)
    copy_saved(locked, instance)
    return instance


def _delete_audited(*, instance: models.Model, actor) -> None:
    audit_record(action="delete", instance=instance, before=snapshot(instance), actor=actor)
    instance.delete()


@transaction.atomic
def activity_type_create(*, instance: ActivityType, actor=None) -> ActivityType:
    return _save_audited(instance=instance, data=None, actor=actor)


@transaction.atomic
def activity_type_update(*, instance: ActivityType, data: dict, actor=None) -> ActivityType:
    return _save_audited(instance=instance, data=data, actor=actor)


@transaction.atomic
def activity_type_delete(*, instance: ActivityType, actor=None) -> None:
    """Raises ProtectedError while activities or other types still use it."""
    _delete_audited(instance=instance, actor=actor)


@transaction.atomic
def working_calendar_save(*, calendar: WorkingCalendar, data: dict | None = None, actor=None) -> WorkingCalendar:
    return _save_audited(instance=calendar, data=data, actor=actor)


@transaction.atomic
def holiday_save(*, holiday: Holiday, data: dict | None = None, actor=None) -> Holiday:
    return _save_audited(instance=holiday, data=data, actor=actor)


@transaction.atomic
def holiday_delete(*, holiday: Holiday, actor=None) -> None:
    _delete_audited(instance=holiday, actor=actor)


# --- activities -------------------------------------------------------------------------------


def _case_id_of(subject) -> int | None:
    from traf3li.crm.models import Case

    if isinstance(subject, Case):
        return subject.pk
    return getattr(subject, "case_id", None)


def _check_assignee(assignee) -> None:
    if assignee is None or not assignee.is_active:
        raise ValidationError({"assignee": ERROR_ASSIGNEE_INACTIVE})


def _lock(activity: Activity, verb: str) -> Activity:
    """Re-read the row under a lock and refuse anything but a scheduled activity."""
    locked = (
        Activity.objects.select_for_update(no_key=True, of=("self",))
        .select_related("type", "assignee")
        .get(pk=activity.pk)
    )
    if locked.state != ActivityState.SCHEDULED:
        raise TransitionError(ERROR_TRANSITION[verb].format(state=str(ActivityState(locked.state).label).lower()))
    return locked


def _default_deadline(activity_type: ActivityType, *, start: date) -> date:
    return add_delay(
        start,
        activity_type.delay_count,
        activity_type.delay_unit,
        selectors.workweek(start=start) if activity_type.delay_unit == "business_days" else None,
    )


TIMELINE_TITLES = {
    "scheduled": gettext_lazy("{type} scheduled: {summary}"),
    "completed": gettext_lazy("{type} done: {summary}"),
    "rescheduled": gettext_lazy("{type} rescheduled: {summary}"),
    "cancelled": gettext_lazy("{type} cancelled: {summary}"),
    "reassigned": gettext_lazy("{type} reassigned: {summary}"),
}


def _timeline(activity: Activity, *, action: str, actor, occurred_at: datetime | None = None, **payload) -> None:
    """Put the activity's change on its subject's timeline (a ``task`` entry)."""
    subject = activity.subject
    if subject is None:  # the subject was deleted; the audit log still has the change
        return
    body = {
        "activity_id": activity.pk,
        "activity_type": activity.type.name,
        "action": action,
        "state": activity.state,
        "deadline": activity.deadline.isoformat(),
        "assignee": activity.assignee.display_name,
        **payload,
    }
    with in_firm_language():  # stored as written: in the firm's language (traf3li.core.i18n)
        title = str(TIMELINE_TITLES[action]).format(
            type=activity.type.name, summary=activity.summary or activity.type.name
        )
    entry_record(
        kind="task",
        subject=subject,
        title=title[:300],
        description=activity.note if action == "scheduled" else body.get("feedback", ""),
        occurred_at=occurred_at,
        related=(activity,),
        performed_by=actor,
        status=activity.state,
        source="system",
        payload={key: value for key, value in body.items() if value is not None},
        actor=actor,
    )


def _activity_audit(activity: Activity, *, action: str, before: dict | None, actor) -> None:
    audit_record(
        action=action,
        instance=activity,
        before=before,
        after=snapshot(activity),
        case_id=_case_id_of(activity.subject),
        actor=actor,
    )


def _new_activity(*, subject, activity_type, assignee, summary, note, deadline, chained_from, automated, actor):
    if getattr(subject, "pk", None) is None:
        raise ValidationError({"subject": ERROR_SUBJECT_UNSAVED})
    subject_of(subject)  # a registered subject type, else SubjectError (400)
    return Activity(
        subject=subject,
        type=activity_type,
        assignee=assignee,
        summary=summary or activity_type.default_summary,
        note=note,
        deadline=deadline,
        chained_from=chained_from,
        automated=automated,
        created_by=actor if getattr(actor, "pk", None) else None,
    )


# What a person chooses when scheduling (API body, admin form); the rest is derived or automated.
SCHEDULE_FIELDS = ("subject", "type", "assignee", "summary", "note", "deadline", "chained_from")


@transaction.atomic
def activity_schedule(
    *,
    subject: models.Model,
    type: ActivityType,  # the contract's field name
    assignee,
    summary: str = "",
    note: str = "",
    deadline: date | None = None,
    chained_from: Activity | None = None,
    automated: bool = False,
    actor=None,
    now: datetime | None = None,
) -> Activity:
    """Schedule an activity; without a deadline, the type's delay counts from the firm's today."""
    _check_assignee(assignee)
    if deadline is None:
        deadline = _default_deadline(type, start=firm_today(now))
    activity = _new_activity(
        subject=subject,
        activity_type=type,
        assignee=assignee,
        summary=summary,
        note=note,
        deadline=deadline,
        chained_from=chained_from,
        automated=automated,
        actor=actor,
    )
    # The type, assignee and subject's content type were just read: no query each to re-check them.
    # Nor for its one constraint (done means a done_at), which a new, scheduled activity can't break.
    full_clean_loaded(activity, validate_constraints=False)
    activity.save()
    _activity_audit(activity, action="schedule_activity", before=None, actor=actor)
    _timeline(activity, action="scheduled", actor=actor)
    return activity


@transaction.atomic
def activity_update(*, activity: Activity, data: dict, actor=None) -> Activity:
    """Edit what an activity says (summary, note); its state, deadline and assignee have their own actions.

    Only the fields ``data`` names are applied, to the locked row; the caller's instance gets the
    stored row back.
    """
    locked = Activity.objects.select_for_update(no_key=True).get(pk=activity.pk)
    before = snapshot(locked)
    apply_changes(locked, {name: data[name] for name in ("summary", "note") if name in data})
    audit_record(
        action="update",
        instance=locked,
        before=before,
        after=snapshot(locked),
        case_id=_case_id_of(locked.subject),
        actor=actor,
    )
    copy_saved(locked, activity)
    return locked


@transaction.atomic
def activity_complete(*, activity: Activity, feedback: str = "", actor=None, now: datetime | None = None) -> Completion:
    """Mark done; a ``trigger`` type schedules its next type, a ``suggest`` type returns it unsaved.

    The follow-up's deadline counts from the completion date in the firm's timezone, not from the
    original deadline: a late call still gets its full follow-up delay.
    """
    locked = _lock(activity, "complete")
    now = now or timezone.now()
    before = snapshot(locked)
    locked.state = ActivityState.DONE
    locked.done_at = now
    locked.feedback = feedback or ""
    locked.save(update_fields=["state", "done_at", "feedback", "updated_at"])
    _activity_audit(locked, action="complete_activity", before=before, actor=actor)

    activity_type = locked.type
    completion = Completion(activity=locked)
    if activity_type.chaining != Chaining.NONE and activity_type.next_type_id:
        next_type = activity_type.next_type
        follow_up = dict(
            subject=locked.subject,
            type=next_type,
            assignee=locked.assignee,
            summary=next_type.default_summary,
            deadline=_default_deadline(next_type, start=firm_today(now)),
            chained_from=locked,
        )
        if activity_type.chaining == Chaining.TRIGGER:
            completion.next = activity_schedule(**follow_up, automated=True, actor=actor, now=now)
        else:
            completion.next = _new_activity(
                subject=follow_up["subject"],
                activity_type=next_type,
                assignee=locked.assignee,
                summary=follow_up["summary"],
                note="",
                deadline=follow_up["deadline"],
                chained_from=locked,
                automated=False,
                actor=actor,
            )
            completion.next_is_suggestion = True
    _timeline(
        locked,
        action="completed",
        actor=actor,
        occurred_at=now,
        feedback=locked.feedback,
        next_activity_id=completion.next.pk if completion.next is not None else None,
    )
    return completion


@transaction.atomic
def activity_reschedule(*, activity: Activity, deadline: date, actor=None) -> Activity:
    """Move the deadline; the reminder for the new deadline is owed afresh (ADR 0020)."""
    locked = _lock(activity, "reschedule")
    if locked.deadline == deadline:
        return locked
    before = snapshot(locked)
    locked.deadline = deadline
    locked.save(update_fields=["deadline", "updated_at"])
    _activity_audit(locked, action="reschedule_activity", before=before, actor=actor)
    _timeline(locked, action="rescheduled", actor=actor)
    return locked


@transaction.atomic
def activity_cancel(*, activity: Activity, actor=None) -> Activity:
    """Cancel; the row stays, with its history, and no longer counts or gets reminders."""
    locked = _lock(activity, "cancel")
    before = snapshot(locked)
    locked.state = ActivityState.CANCELLED
    locked.save(update_fields=["state", "updated_at"])
    _activity_audit(locked, action="cancel_activity", before=before, actor=actor)
    _timeline(locked, action="cancelled", actor=actor)
    return locked


@transaction.atomic
def activity_reassign(*, activity: Activity, assignee, actor=None) -> Activity:
    locked = _lock(activity, "reassign")
    _check_assignee(assignee)
    if locked.assignee_id == assignee.pk:
        return locked
    before = snapshot(locked)
    locked.assignee = assignee
    locked.save(update_fields=["assignee", "updated_at"])
    _activity_audit(locked, action="reassign_activity", before=before, actor=actor)
    _timeline(locked, action="reassigned", actor=actor)
    return locked


# --- reminders --------------------------------------------------------------------------------

# Rows go in activity order, so two arming statements wait on the keys they share in the same order.
# DO NOTHING, not DO UPDATE: the latter locks every conflicting row, and a worker's SKIP LOCKED claim
# would skip them all and end its run early.
_ARM_SQL = """
INSERT INTO {reminder} (activity_id, deadline, bucket, state, attempts, last_error, next_attempt_at, created_at)
SELECT a.id, a.deadline,
       CASE WHEN a.deadline < %(today)s THEN 'overdue'
            WHEN a.deadline = %(today)s THEN 'today'
            WHEN a.deadline = %(tomorrow)s THEN 'tomorrow'
            ELSE 'within_3_days' END,
       'pending', 0, '', %(due_since)s, %(now)s
FROM {activity} a
WHERE a.state = 'scheduled' AND a.deadline <= %(horizon)s
  AND NOT EXISTS (SELECT 1 FROM {reminder} r WHERE r.activity_id = a.id AND r.deadline = a.deadline)
ORDER BY a.id
ON CONFLICT (activity_id, deadline) DO NOTHING
"""

# A reminder dropped as obsolete (its activity had moved away when a worker claimed it) is owed again
# once the activity is scheduled on that deadline again: it was never sent. Only obsolete rows are
# locked, which no claim looks at; SKIP LOCKED lets two arming workers split them without waiting.
_REARM_SQL = """
UPDATE {reminder}
SET state = 'pending', last_error = '', next_attempt_at = %(due_since)s,
    bucket = CASE WHEN deadline < %(today)s THEN 'overdue'
                  WHEN deadline = %(today)s THEN 'today'
                  WHEN deadline = %(tomorrow)s THEN 'tomorrow'
                  ELSE 'within_3_days' END
WHERE id IN (
    SELECT r.id FROM {reminder} r JOIN {activity} a ON a.id = r.activity_id AND a.deadline = r.deadline
    WHERE r.state = 'obsolete' AND a.state = 'scheduled' AND a.deadline <= %(horizon)s
    ORDER BY r.id
    FOR UPDATE OF r SKIP LOCKED
)
"""

# A claim whose worker never reports back (killed, or stuck past every timeout) is taken again after
# this long. Far longer than one message can take with EMAIL_TIMEOUT set (a few SMTP round trips of at
# most EMAIL_TIMEOUT each), so a slow but live worker is not doubled; short enough that a crash delays
# its reminder by minutes, not a day.
REMINDER_CLAIM_LEASE = timedelta(minutes=15)


def reminders_arm(*, now: datetime | None = None) -> int:
    """Owe one reminder per (activity, deadline) that is due within the horizon; idempotent.

    Two ticks or two workers running this at once insert each row once: the unique key settles it.
    A deadline that moved away (its pending reminder dropped as obsolete) and came back is owed again.
    """
    now = now or timezone.now()
    today = firm_today(now)
    quote = connection.ops.quote_name
    tables = {"reminder": quote(Reminder._meta.db_table), "activity": quote(Activity._meta.db_table)}
    params = {
        "today": today,
        "tomorrow": today + timedelta(days=1),
        "horizon": today + timedelta(days=selectors.REMINDER_HORIZON_DAYS),
        "now": now,
        # Claimable from the start of the firm's day, not from this worker's clock: a worker that
        # started a moment earlier than the one arming the row must be able to claim it too.
        "due_since": firm_midnight(today),
    }
    armed = 0
    with connection.cursor() as cursor:
        for sql in (_ARM_SQL, _REARM_SQL):
            cursor.execute(sql.format(**tables), params)
            armed += cursor.rowcount
    return armed


@dataclass
class ReminderRun:
    """What one pass over the owed reminders did."""

    armed: int = 0
    sent: int = 0
    failed: int = 0
    obsolete: int = 0


@dataclass(frozen=True)
class _Claim:
    """A reminder this worker claimed, with the message as of the claim: all it needs while no row is locked."""

    reminder_id: int
    claimed_at: datetime
    activity_id: int
    deadline: date
    bucket: str
    recipient_id: int
    email: str
    title: str
    body: str


_OBSOLETE = "obsolete"


def reminders_send(*, now: datetime | None = None, limit: int = 10_000) -> ReminderRun:
    """Arm, then send every owed reminder whose time has come; safe to run concurrently.

    No row lock is held while the mail server is talking (a hung server would otherwise block
    complete, cancel and reschedule of the activity). Each reminder takes three steps:

    1. claim, one short transaction: take the oldest claimable row with FOR UPDATE SKIP LOCKED (a
       concurrent worker skips it), drop it as obsolete if the activity is no longer owed this
       reminder, else mark it ``sending`` with a lease (``next_attempt_at``) and commit;
    2. send the email outside any transaction;
    3. record, one short transaction: lock the activity, then the reminder, write the in-app
       notification, mark it sent and audit ``remind_activity``. A failed send instead puts the row
       back to pending with a back-off.

    Delivery is at least once, our records exactly once: a worker that dies after claiming leaves
    the row ``sending`` until its lease expires, then another worker sends it. If the first had
    already handed the message to the mail server, it goes out twice; SMTP has no idempotency key,
    so the alternative would be at most once (a crash loses the reminder), which is worse for a
    deadline. The notification, the ``sent`` mark and the audit event are written once whatever
    happens: the notification's unique reminder column and the ``sent`` check under the row lock
    guard them (ADR 0020, amended).

    Run it outside a transaction (the Celery task does): inside one, the claim would not commit
    before the send, and the row locks would be held across it again.
    """
    now = now or timezone.now()
    run = ReminderRun(armed=reminders_arm(now=now))
    tz = firm_tz()
    today = firm_today(now, tz)
    for _ in range(limit):
        claim = _reminder_claim(now=now, today=today)
        if claim is None:
            break
        outcome = _OBSOLETE if claim == _OBSOLETE else _reminder_deliver(claim=claim, now=now)
        setattr(run, outcome, getattr(run, outcome) + 1)
    return run


@transaction.atomic
def _reminder_claim(*, now: datetime, today: date) -> _Claim | str | None:
    reminder = (
        Reminder.objects.select_for_update(skip_locked=True)
        .filter(state__in=(ReminderState.PENDING, ReminderState.SENDING), next_attempt_at__lte=now)
        .order_by("next_attempt_at", "id")
        .first()
    )
    if reminder is None:
        return None
    # Read, not locked: activity locks come first (the services' lock order), and this transaction
    # already holds the reminder. An action committed after this read is no harm: the mail then says
    # what was true a moment before, like one sent a moment earlier.
    activity = Activity.objects.select_related("type", "assignee", "subject_content_type").get(pk=reminder.activity_id)
    bucket = selectors.reminder_bucket(activity.deadline, today)
    if activity.state != ActivityState.SCHEDULED or activity.deadline != reminder.deadline or bucket is None:
        reminder.state = ReminderState.OBSOLETE
        reminder.save(update_fields=["state"])
        return _OBSOLETE
    claimed_at = timezone.now()
    reminder.state = ReminderState.SENDING
    reminder.attempts += 1
    reminder.claimed_at = claimed_at
    # The lease counts from the later of the run's clock and the real one: a long run must not claim
    # with a lease that has already expired.
    reminder.next_attempt_at = max(now, claimed_at) + REMINDER_CLAIM_LEASE
    reminder.save(update_fields=["state", "attempts", "claimed_at", "next_attempt_at"])
    title, body = _reminder_message(activity=activity, bucket=bucket)
    return _Claim(
        reminder_id=reminder.pk,
        claimed_at=claimed_at,
        activity_id=activity.pk,
        deadline=reminder.deadline,
        bucket=bucket,
        recipient_id=activity.assignee_id,
        email=activity.assignee.email,
        title=title,
        body=body,
    )


def _reminder_deliver(*, claim: _Claim, now: datetime) -> str:
    """Mail a claimed reminder with no transaction open, then record the outcome in a short one."""
    if claim.email:
        try:
            send_mail(
                subject=f"[Traf3li] {claim.title}",
                message=claim.body,
                from_email=settings.DEFAULT_FROM_EMAIL,
                recipient_list=[claim.email],
                fail_silently=False,
            )
        except Exception as exc:  # any backend failure (a timeout too) means "retry later", never "sent"
            logger.warning("Reminder %s for activity %s failed: %s", claim.reminder_id, claim.activity_id, exc)
            _reminder_release(claim=claim, error=f"{type(exc).__name__}: {exc}"[:2000], now=now)
            return "failed"
    _reminder_record_sent(claim=claim)
    return "sent"


@transaction.atomic
def reminder_release(model, *, reminder_id: int, claimed_at, error: str, now: datetime) -> None:
    """Put a failed reminder of a ledger (``model``: this app's, or one built like it) back to pending
    with a back-off, unless another worker has taken it since."""
    reminder = model.objects.select_for_update().get(pk=reminder_id)
    if reminder.state != ReminderState.SENDING or reminder.claimed_at != claimed_at:
        return  # our lease expired and another worker claimed it: its outcome stands
    reminder.state = ReminderState.PENDING
    reminder.last_error = error
    reminder.next_attempt_at = now + min(timedelta(minutes=2**reminder.attempts), REMINDER_RETRY_CAP)
    reminder.save(update_fields=["state", "last_error", "next_attempt_at"])


def _reminder_release(*, claim: _Claim, error: str, now: datetime) -> None:
    reminder_release(Reminder, reminder_id=claim.reminder_id, claimed_at=claim.claimed_at, error=error, now=now)


@transaction.atomic
def _reminder_record_sent(*, claim: _Claim) -> None:
    """The mail went out: record it once, whatever state a late finish finds the row in."""
    # Lock order: the activity first, then the reminder (and the audit's and timeline's rows last).
    activity = (
        Activity.objects.select_for_update(no_key=True, of=("self",))
        .select_related("subject_content_type")
        .get(pk=claim.activity_id)
    )
    reminder = Reminder.objects.select_for_update().get(pk=claim.reminder_id)
    if reminder.state == ReminderState.SENT:
        # Our lease expired mid-send and another worker sent and recorded it too: the at-least-once case.
        logger.warning("Reminder %s for activity %s was mailed more than once", reminder.pk, activity.pk)
        return
    # Whatever else it says now (sending under a later claim, pending again, obsolete), the message was
    # delivered: record it, so that no later claim mails it again.
    notification = Notification.objects.create(
        recipient_id=claim.recipient_id,  # whoever was mailed, even if reassigned since
        kind="activity_reminder",
        title=claim.title,
        body=claim.body,
        activity=activity,
        reminder=reminder,
        bucket=claim.bucket,
    )
    reminder.state = ReminderState.SENT
    reminder.bucket = claim.bucket
    reminder.sent_at = timezone.now()
    reminder.save(update_fields=["state", "bucket", "sent_at"])
    audit_record(
        action="remind_activity",
        instance=activity,
        after={
            "reminder_bucket": claim.bucket,
            "reminder_deadline": claim.deadline.isoformat(),
            "notification_id": notification.pk,
        },
        case_id=_case_id_of(activity.subject),
    )


REMINDER_TITLES = {
    ReminderBucket.OVERDUE: "Overdue since {deadline}: {summary}",
    ReminderBucket.TODAY: "Due today: {summary}",
    ReminderBucket.TOMORROW: "Due tomorrow: {summary}",
    ReminderBucket.WITHIN_3_DAYS: "Due on {deadline}: {summary}",
}


def _reminder_message(*, activity: Activity, bucket: str) -> tuple[str, str]:
    """The reminder's title and body, shared by the email and the in-app notification."""
    subject = activity.subject
    about = subject_display_name(subject) if subject is not None else ""
    summary = activity.summary or activity.type.name
    title = REMINDER_TITLES[bucket].format(deadline=activity.deadline.isoformat(), summary=summary)[:300]
    body = "\n".join(
        line
        for line in (
            f"{activity.type.name}: {summary}",
            f"About: {about}" if about else "",
            f"Deadline: {activity.deadline.isoformat()}",
            activity.note,
        )
        if line
    )
    return title, body


# --- notifications ----------------------------------------------------------------------------


@transaction.atomic
def notification_mark_read(*, notification: Notification, actor=None) -> Notification:
    """Idempotent: reading a read notification keeps its first read time."""
    locked = Notification.objects.select_for_update().get(pk=notification.pk)
    if locked.read_at is None:
        before = snapshot(locked)
        locked.read_at = timezone.now()
        locked.save(update_fields=["read_at"])
        audit_record(action="read_notification", instance=locked, before=before, after=snapshot(locked), actor=actor)
    return locked


@transaction.atomic
def notification_mark_all_read(*, user, actor=None) -> int:
    count = 0
    for notification in (
        Notification.objects.select_for_update().filter(recipient=user, read_at__isnull=True).order_by("id")
    ):
        notification_mark_read(notification=notification, actor=actor)
        count += 1
    return count
