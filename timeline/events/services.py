"""Writes to calendar events: create, edit (a series, one occurrence, or this and the following),
cancel, RSVP, complete, and the calendar feed's tokens.

Every service runs in one transaction, audits with its domain action and puts ``event`` entries on
the timeline through ``timeline.services.entry_record`` (the entry's subject is the event, whose
registered ancestors, its case and that case's client, put it on their 360° views).

Lock order, in every service here (ADR 0052, inside ADR 0030's step 1): the series' master row
first (``FOR NO KEY UPDATE``), then its overrides in id order, then its attendees, agenda and action
items, then the activities that action items and follow-ups schedule (the activity services lock
those), and last the rows the audit log and the timeline take at commit. No activity service ever
locks an event, so no cycle can form with them. Nothing here talks to the network.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audit.services import audit_record, snapshot
from timeline.activities import services as activities
from timeline.activities.models import ActivityType
from timeline.events import offsets, recurrence, selectors
from timeline.events.choices import AttendeeResponse, EditScope, EventStatus, ReminderState
from timeline.events.models import ActionItem, AgendaItem, Attendee, Event, EventReminder, FeedToken
from timeline.rollups import firm_tz
from timeline.services import entry_record
from traf3li.api.exceptions import TransitionError
from traf3li.core.i18n import in_firm_language

ERROR_END_BEFORE_START = _("The end must not be before the start.")
ERROR_ALL_DAY_DATES = _("An all-day event takes dates (YYYY-MM-DD), not date-times.")
ERROR_TIMED_MOMENTS = _("A timed event takes date-times, not dates.")
ERROR_NOT_OCCURRENCE = _("The series has no occurrence starting at this moment.")
ERROR_OCCURRENCE_REQUIRED = _("Name the occurrence (its original start) to change one occurrence.")
ERROR_OCCURRENCE_CANCELLED = _("This occurrence was cancelled.")
ERROR_OVERRIDE_RECURRENCE = _("One occurrence can't have its own recurrence.")
ERROR_NOT_RECURRING = _("This event does not recur.")
ERROR_ATTENDEE_ONLY = _("Only an attendee can answer this invitation.")
ERROR_ATTENDEE_TWICE = _("Each attendee may be listed once.")
ERROR_ATTENDEE_USER_OR_EMAIL = _("An attendee is a user or an email, not both.")
ERROR_ASSIGNEE_INACTIVE = _("The assignee must be an active user of this firm.")
ERROR_TRANSITION = {
    "complete": _("This event can't be completed: it is {state}."),
    "cancel": _("This event can't be cancelled: it is {state}."),
    "edit": _("This event can't be changed: it is {state}."),
}
ERROR_REQUIRED = _("This field is required.")
ERROR_COMPLETE_SERIES = _("Complete one occurrence of a recurring event: name it in 'occurrence'.")

TIMELINE_TITLES = {
    "scheduled": _("{type} scheduled: {title}"),
    "completed": _("{type} completed: {title}"),
    "cancelled": _("{type} cancelled: {title}"),
}
# The activity types of action items and follow-ups, named in the firm's language when first used.
ACTION_ITEM_TYPE = _("Action item")
FOLLOW_UP_TYPE = _("Follow-up")
# Fields of an event a person sets; the rest is derived (instants, span) or changed by actions.
PLAIN_FIELDS = (
    "title",
    "description",
    "type",
    "location",
    "case",
    "organizer",
    "is_billable",
    "billing_type",
    "billable_amount",
    "currency",
    "linked_invoice_id",
)
TIME_FIELDS = ("timezone", "all_day", "start", "end")
RECURRENCE_FIELDS = ("rrule", "rdates", "exdates")
# Copied from a master onto an override or onto the series that continues it after a split.
COPIED_FIELDS = (
    *PLAIN_FIELDS,
    "timezone",
    "all_day",
    "start_date",
    "start_time",
    "end_date",
    "end_time",
    "start_at",
    "end_at",
    "created_by",
)


# --- ids, times ---------------------------------------------------------------------------------


def _next_event_id() -> str:
    """``EVT-YYYYMM-NNNN``: the firm-local month and the next number of the firm's sequence (ADR 0050)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval('events_event_seq')")
        number = cursor.fetchone()[0]
    return f"EVT-{timezone.now().astimezone(firm_tz()):%Y%m}-{number:04d}"


def _wall(value, tz, *, all_day: bool, field: str) -> tuple[date, time | None]:
    """A date (all-day) or a moment as the date and time on the wall in ``tz``; a naive moment is that wall time."""
    if all_day:
        if isinstance(value, datetime) or not isinstance(value, date):
            raise ValidationError({field: [ERROR_ALL_DAY_DATES]})
        return value, None
    if not isinstance(value, datetime):
        raise ValidationError({field: [ERROR_TIMED_MOMENTS]})
    local = value.astimezone(tz) if timezone.is_aware(value) else value.replace(tzinfo=tz)
    return local.date(), local.time().replace(tzinfo=None)


def _set_times(event: Event, *, start, end) -> None:
    tz = recurrence.zone(event.timezone)
    event.start_date, event.start_time = _wall(start, tz, all_day=event.all_day, field="start")
    if end is None:
        end_date, end_time = event.start_date, event.start_time
    else:
        end_date, end_time = _wall(end, tz, all_day=event.all_day, field="end")
    event.end_date, event.end_time = end_date, end_time
    event.start_at = recurrence.instant(event.start_date, event.start_time, tz)
    if event.all_day:
        event.end_at = recurrence.instant(event.end_date + timedelta(days=1), None, tz)
    else:
        event.end_at = recurrence.instant(event.end_date, event.end_time, tz)
    if (event.end_date, event.end_time or time.min) < (event.start_date, event.start_time or time.min) or (
        event.end_at < event.start_at
    ):
        raise ValidationError({"end": [ERROR_END_BEFORE_START]})


def _check_timezone(name: str) -> None:
    from traf3li.firms.models import validate_timezone

    try:
        validate_timezone(name)
    except ValidationError as exc:
        raise ValidationError({"timezone": exc.messages})


def _refresh_series(event: Event) -> None:
    """Normalise the recurrence and recompute where the series ends (the span the range index holds)."""
    shape = recurrence.shape_of(event)
    if event.rrule:
        try:
            event.rrule = recurrence.rrule_normalize(event.rrule, dtstart=shape.dtstart, all_day=event.all_day)
        except ValidationError as exc:
            raise ValidationError({"recurrence": exc.messages})
    event.exdates = sorted(set(event.exdates or ()))
    event.rdates = sorted(set(event.rdates or ()))
    event.series_end_at = recurrence.series_end(recurrence.shape_of(event))


def _start_value(event: Event):
    """The event's start as a service takes it: a date, or the wall time in its zone."""
    if event.all_day:
        return event.start_date
    return datetime.combine(event.start_date, event.start_time)


def _end_value(event: Event):
    if event.all_day:
        return event.end_date
    return datetime.combine(event.end_date, event.end_time)


def _apply(event: Event, data: dict) -> None:
    """Set what ``data`` names on ``event`` (unsaved or locked) and recompute the derived columns.

    A new zone without a new start keeps the wall time (the series recurs in the new zone's 09:00);
    a new start without a new end keeps the duration.
    """
    for name in PLAIN_FIELDS:
        if name in data:
            setattr(event, name, data[name])
    if "timezone" in data:
        _check_timezone(data["timezone"])
    if any(name in data for name in TIME_FIELDS):
        had_times = event.start_date is not None
        start = data["start"] if "start" in data else (_start_value(event) if had_times else None)
        end = data.get("end")
        same_kind = data.get("all_day", event.all_day) == event.all_day
        if "end" not in data and had_times and "start" in data and same_kind:
            end = _shifted_end(event, start)
        elif "end" not in data and had_times and "start" not in data:
            end = _end_value(event)
        event.timezone = data.get("timezone", event.timezone)
        event.all_day = data.get("all_day", event.all_day)
        if start is None:
            raise ValidationError({"start": [ERROR_REQUIRED]})
        _set_times(event, start=start, end=end)
    tz = recurrence.zone(event.timezone)
    if "rrule" in data:
        event.rrule = data["rrule"] or ""
    for name in ("rdates", "exdates"):
        if name in data:
            setattr(event, name, [_occurrence_instant(value, tz, field=name) for value in data[name] or ()])
    _refresh_series(event)


def _occurrence_instant(value, tz, *, field: str) -> datetime:
    """An RDATE or EXDATE as stored: the UTC instant of a date's midnight or of a wall time in the event's zone."""
    if isinstance(value, datetime):
        return (value if timezone.is_aware(value) else value.replace(tzinfo=tz)).astimezone(UTC)
    if isinstance(value, date):
        return recurrence.instant(value, None, tz)
    raise ValidationError({field: [ERROR_TIMED_MOMENTS]})


def _shifted_end(event: Event, start):
    """The end that keeps the event's duration from a new start (wall-time arithmetic)."""
    if event.all_day:
        return start + (event.end_date - event.start_date)
    tz = recurrence.zone(event.timezone)
    wall = start.astimezone(tz).replace(tzinfo=None) if timezone.is_aware(start) else start
    return wall + (_end_value(event) - _start_value(event))


def event_validate(*, event: Event | None, data: dict) -> None:
    """Raise the ValidationError that creating or editing with ``data`` would raise; writes nothing.

    For forms (the admin) that must show the error on the page before anything is saved.
    """
    copy = Event(timezone=firm_tz().key, all_day=bool(data.get("all_day")))
    if event is not None:
        for name in (*COPIED_FIELDS, "rrule", "rdates", "exdates"):
            setattr(copy, name, getattr(event, name))
    _apply(copy, data)


# --- recording ----------------------------------------------------------------------------------


def _audit(event: Event, *, action: str, before: dict | None, actor, instance=None) -> None:
    target = instance if instance is not None else event
    audit_record(
        action=action,
        instance=target,
        before=before,
        after=snapshot(target) if action != "delete" else None,
        case_id=event.case_id,
        actor=actor,
    )


def _timeline(event: Event, *, action: str, actor, occurred_at: datetime | None = None) -> None:
    with in_firm_language():  # stored as written: in the firm's language
        title = str(TIMELINE_TITLES[action]).format(type=event.get_type_display(), title=event.title)
    payload = {
        "event_id": event.event_id,
        "event_type": event.type,
        "action": action,
        "start": event.start_at,
        "end": event.end_at,
        "location": event.location,
        "outcome": event.outcome if action == "completed" else None,
    }
    entry_record(
        kind="event",
        subject=event,
        title=title[:300],
        description=event.outcome if action == "completed" else event.description,
        occurred_at=occurred_at,  # when it was scheduled, completed or cancelled; the start is in the payload
        performed_by=actor if getattr(actor, "is_authenticated", False) else None,
        status=event.status,
        source="system",
        payload={
            key: value.isoformat() if isinstance(value, datetime) else value
            for key, value in payload.items()
            if value not in (None, "")
        },
        actor=actor,
    )


def _activity_type(label, *, delay_count: int, delay_unit: str) -> ActivityType:
    """The activity type action items and follow-ups are scheduled with, created on first use."""
    with in_firm_language():
        name = str(label)
    existing = ActivityType.objects.filter(name=name).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return activities.activity_type_create(
                instance=ActivityType(name=name, delay_count=delay_count, delay_unit=delay_unit)
            )
    except IntegrityError:  # a concurrent first use created it
        return ActivityType.objects.get(name=name)


# --- children -----------------------------------------------------------------------------------


def _attendee_key(item: dict) -> tuple[str, object]:
    if item.get("user") is not None:
        return ("user", item["user"].pk)
    return ("email", (item.get("email") or "").strip().lower())


def _sync_attendees(event: Event, items: list[dict], actor) -> None:
    """Make the attendee list ``items``: answers of the people who stay are kept."""
    existing = {
        (("user", a.user_id) if a.user_id else ("email", a.email)): a
        for a in Attendee.objects.select_for_update().filter(event=event).order_by("id")
    }
    wanted = {}
    for item in items:
        if item.get("user") is not None and item.get("email"):
            raise ValidationError({"attendees": [ERROR_ATTENDEE_USER_OR_EMAIL]})
        key = _attendee_key(item)
        if key in wanted:
            raise ValidationError({"attendees": [ERROR_ATTENDEE_TWICE]})
        wanted[key] = item
    for key, attendee in existing.items():
        if key not in wanted:
            _audit(event, action="delete", before=snapshot(attendee), actor=actor, instance=attendee)
            attendee.delete()
    for key, item in wanted.items():
        attendee = existing.get(key)
        if attendee is None:
            attendee = Attendee(event=event, user=item.get("user"), email=None if key[0] == "user" else key[1])
            before = None
        else:
            before = snapshot(attendee)
        attendee.name = item.get("name", attendee.name) or ""
        attendee.status = item.get("status") or attendee.status
        attendee.full_clean(exclude=["event"])
        attendee.save()
        _audit(event, action="create" if before is None else "update", before=before, actor=actor, instance=attendee)


def _replace_agenda(event: Event, items: list[dict], actor) -> None:
    for item in AgendaItem.objects.select_for_update().filter(event=event).order_by("id"):
        _audit(event, action="delete", before=snapshot(item), actor=actor, instance=item)
        item.delete()
    for position, item in enumerate(items):
        agenda = AgendaItem(
            event=event,
            position=position,
            title=item["title"],
            duration_minutes=item.get("duration_minutes"),
            presenter=item.get("presenter"),
            completed=bool(item.get("completed")),
        )
        agenda.full_clean(exclude=["event"])
        agenda.save()
        _audit(event, action="create", before=None, actor=actor, instance=agenda)


def _add_action_items(event: Event, items: list[dict], actor) -> list[ActionItem]:
    """Each action item becomes a scheduled activity on the event (so it counts in the SLA counters)."""
    created = []
    if not items:
        return created
    action_type = _activity_type(ACTION_ITEM_TYPE, delay_count=7, delay_unit="days")
    for item in items:
        assignee = item["assignee"]
        if assignee is None or not assignee.is_active:
            raise ValidationError({"action_items": [ERROR_ASSIGNEE_INACTIVE]})
        activity = activities.activity_schedule(
            subject=event,
            type=action_type,
            assignee=assignee,
            summary=item["description"][:300],
            deadline=item.get("due_date"),
            actor=actor,
        )
        action_item = ActionItem(
            event=event,
            description=item["description"][:300],
            assignee=assignee,
            due_date=activity.deadline,
            activity=activity,
        )
        action_item.save()
        _audit(event, action="create", before=None, actor=actor, instance=action_item)
        created.append(action_item)
    return created


# --- events -------------------------------------------------------------------------------------


@transaction.atomic
def event_create(
    *,
    data: dict,
    attendees: list[dict] = (),
    agenda: list[dict] = (),
    action_items: list[dict] = (),
    actor=None,
) -> Event:
    """Create an event (or a recurring series) with its attendees, agenda and action items."""
    event = Event(
        timezone=data.get("timezone") or firm_tz().key,
        all_day=bool(data.get("all_day")),
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    if "start" not in data:
        raise ValidationError({"start": [ERROR_REQUIRED]})
    _apply(event, {**data, "timezone": event.timezone})
    if event.organizer_id is None and getattr(actor, "pk", None):
        event.organizer = actor
    event.event_id = _next_event_id()
    event.full_clean(exclude=["span"])
    event.save()
    _audit(event, action="create", before=None, actor=actor)
    _sync_attendees(event, list(attendees), actor)
    _replace_agenda(event, list(agenda), actor)
    _add_action_items(event, list(action_items), actor)
    _timeline(event, action="scheduled", actor=actor)
    return event


def _lock_series(event: Event) -> Event:
    """Lock the master of ``event``'s series (the first lock of every service) and return it."""
    return Event.objects.select_for_update(no_key=True).get(pk=event.recurrence_parent_id or event.pk)


def _lock(event: Event) -> Event:
    master = _lock_series(event)
    if event.pk == master.pk:
        return master
    return Event.objects.select_for_update(no_key=True).get(pk=event.pk)


def _save(event: Event, before: dict, *, actor, bump: bool = True) -> None:
    if bump:
        event.sequence += 1
    event.full_clean(exclude=["span"])
    event.save()
    _audit(event, action="update", before=before, actor=actor)


def _check_editable(event: Event) -> None:
    if event.status == EventStatus.CANCELLED:
        raise TransitionError(ERROR_TRANSITION["edit"].format(state=str(EventStatus(event.status).label).lower()))


def _check_occurrence(master: Event, occurrence: datetime | None, *, cancelling: bool = False) -> datetime:
    if occurrence is None:
        raise ValidationError({"occurrence": [ERROR_OCCURRENCE_REQUIRED]})
    if not master.is_recurring:
        raise ValidationError({"occurrence": [ERROR_NOT_RECURRING]})
    moment = occurrence.astimezone(UTC)
    if not recurrence.is_occurrence(recurrence.shape_of(master), moment):
        raise ValidationError({"occurrence": [ERROR_NOT_OCCURRENCE]})
    if moment in master.exdates and not cancelling:
        raise ValidationError({"occurrence": [ERROR_OCCURRENCE_CANCELLED]})
    return moment


def _override_for(master: Event, moment: datetime, *, actor) -> Event:
    """The override of the occurrence starting at ``moment``, created from the master if there is none."""
    existing = (
        Event.objects.select_for_update(no_key=True).filter(recurrence_parent=master, recurrence_id=moment).first()
    )
    if existing is not None:
        return existing
    shape = recurrence.shape_of(master)
    start, end = shape.bounds(moment.astimezone(shape.tz).replace(tzinfo=None if master.all_day else shape.tz))
    override = Event(recurrence_parent=master, recurrence_id=moment, event_id=_next_event_id(), status=master.status)
    for name in COPIED_FIELDS:
        setattr(override, name, getattr(master, name))
    override.sequence = master.sequence
    tz = shape.tz
    override.start_at, override.end_at = start, end
    local_start, local_end = start.astimezone(tz), end.astimezone(tz)
    if master.all_day:
        override.start_date = local_start.date()
        override.end_date = (local_end - timedelta(days=1)).date()
    else:
        override.start_date, override.start_time = local_start.date(), local_start.time().replace(tzinfo=None)
        override.end_date, override.end_time = local_end.date(), local_end.time().replace(tzinfo=None)
    _refresh_series(override)
    override.full_clean(exclude=["span"])
    override.save()
    _audit(master, action="create", before=None, actor=actor, instance=override)
    return override


def _shift(moments, old_start: datetime, new_start: datetime, tz, *, all_day: bool) -> list[datetime]:
    """Move occurrence starts by the change of the series' local start (wall-time arithmetic)."""
    if all_day:
        delta = new_start.date() - old_start.date()
        return [recurrence.instant(m.astimezone(tz).date() + delta, None, tz) for m in moments]
    delta = new_start.replace(tzinfo=None) - old_start.replace(tzinfo=None)
    return [(m.astimezone(tz).replace(tzinfo=None) + delta).replace(tzinfo=tz).astimezone(UTC) for m in moments]


def _update_series(master: Event, data: dict, *, actor) -> Event:
    before = snapshot(master)
    old_shape = recurrence.shape_of(master)
    was_recurring = master.is_recurring
    _apply(master, data)
    new_shape = recurrence.shape_of(master)
    if was_recurring and not master.is_recurring:
        # A series that stops recurring has no occurrences left for its overrides to replace.
        for override in Event.objects.select_for_update(no_key=True).filter(recurrence_parent=master).order_by("id"):
            _audit(master, action="delete", before=snapshot(override), actor=actor, instance=override)
            override.delete()
    if master.is_recurring and old_shape.dtstart != new_shape.dtstart and old_shape.tz == new_shape.tz:
        # Exclusions and overrides name occurrences by their start: they move with the series.
        master.exdates = _shift(
            master.exdates, old_shape.dtstart, new_shape.dtstart, new_shape.tz, all_day=master.all_day
        )
        for override in Event.objects.select_for_update(no_key=True).filter(recurrence_parent=master).order_by("id"):
            moved = _shift(
                [override.recurrence_id], old_shape.dtstart, new_shape.dtstart, new_shape.tz, all_day=master.all_day
            )[0]
            override_before = snapshot(override)
            override.recurrence_id = moved
            override.save(update_fields=["recurrence_id", "updated_at"])
            _audit(master, action="update", before=override_before, actor=actor, instance=override)
        _refresh_series(master)
    _save(master, before, actor=actor)
    return master


ATTENDEE_COPIED = ("user_id", "email", "name", "response", "comment", "responded_at")
AGENDA_COPIED = ("position", "title", "duration_minutes", "presenter_id")


def _copy_children(model, fields, *, source: Event, target: Event, actor) -> None:
    for row in model.objects.filter(event=source).order_by("id"):
        copy = model(event=target, **{name: getattr(row, name) for name in fields})
        copy.save()
        _audit(target, action="create", before=None, actor=actor, instance=copy)


def _split(master: Event, moment: datetime, data: dict, *, actor) -> Event:
    """End the series before ``moment`` and continue it from there as a new series with ``data`` applied."""
    shape = recurrence.shape_of(master)
    before = snapshot(master)
    follower = Event(split_from=master, event_id=_next_event_id(), status=master.status)
    for name in COPIED_FIELDS:
        setattr(follower, name, getattr(master, name))
    start, end = shape.bounds(moment.astimezone(shape.tz).replace(tzinfo=None if master.all_day else shape.tz))
    local_start = start.astimezone(shape.tz)
    if master.all_day:
        follower.start_date, follower.end_date = (
            local_start.date(),
            local_start.date() + (master.end_date - master.start_date),
        )
    else:
        follower.start_date, follower.start_time = local_start.date(), master.start_time
        follower.end_date = local_start.date() + (master.end_date - master.start_date)
        follower.end_time = master.end_time
    follower.start_at, follower.end_at = start, end
    rule = master.rrule
    if "COUNT=" in rule:
        done = len(
            [
                o
                for o in recurrence.occurrences(
                    recurrence.SeriesShape(**{**shape.__dict__, "exdates": frozenset()}), master.start_at, moment
                )
                if o[0] < moment
            ]
        )
        parts = [p for p in rule.split(";") if not p.startswith("COUNT=")]
        total = int(next(p for p in rule.split(";") if p.startswith("COUNT="))[6:])
        rule = ";".join([*parts, f"COUNT={max(total - done, 1)}"])
    follower.rrule = rule
    follower.exdates = [m for m in master.exdates if m >= moment]
    follower.rdates = [m for m in master.rdates if m >= moment]
    _refresh_series(follower)
    follower.full_clean(exclude=["span"])
    follower.save()
    _audit(follower, action="create", before=None, actor=actor)
    # The continuation has the same people and agenda; action items stay with the meetings they came from.
    _copy_children(Attendee, ATTENDEE_COPIED, source=master, target=follower, actor=actor)
    _copy_children(AgendaItem, AGENDA_COPIED, source=master, target=follower, actor=actor)
    for override in (
        Event.objects.select_for_update(no_key=True)
        .filter(recurrence_parent=master, recurrence_id__gte=moment)
        .order_by("id")
    ):
        override_before = snapshot(override)
        override.recurrence_parent = follower
        override.save(update_fields=["recurrence_parent", "updated_at"])
        _audit(follower, action="update", before=override_before, actor=actor, instance=override)
    if master.rrule:
        master.rrule = recurrence.until_before(master.rrule, moment, tz=shape.tz, all_day=master.all_day)
    master.exdates = [m for m in master.exdates if m < moment]
    master.rdates = [m for m in master.rdates if m < moment]
    _refresh_series(master)
    _save(master, before, actor=actor)
    if data:
        _update_series(follower, data, actor=actor)
    return follower


@transaction.atomic
def event_update(
    *,
    event: Event,
    data: dict,
    attendees: list[dict] | None = None,
    agenda: list[dict] | None = None,
    action_items: list[dict] | None = None,
    scope: str = EditScope.SERIES,
    occurrence: datetime | None = None,
    actor=None,
) -> Event:
    """Edit an event; for a recurring one, the whole series, one occurrence (an override with its
    RECURRENCE-ID) or this and the following occurrences (the series is split). Returns the event
    that now holds the change: the series, the override, or the series that continues it."""
    master = _lock_series(event)
    if event.recurrence_parent_id:  # editing an override is editing that one occurrence
        target = _lock(event)
        _check_editable(target)
        if any(name in data for name in RECURRENCE_FIELDS):
            raise ValidationError({"recurrence": [ERROR_OVERRIDE_RECURRENCE]})
        before = snapshot(target)
        _apply(target, data)
        _save(target, before, actor=actor)
        return target
    _check_editable(master)
    if scope != EditScope.SERIES and master.is_recurring:
        moment = _check_occurrence(master, occurrence)
        if scope == EditScope.THIS:
            if any(name in data for name in RECURRENCE_FIELDS):
                raise ValidationError({"recurrence": [ERROR_OVERRIDE_RECURRENCE]})
            override = _override_for(master, moment, actor=actor)
            before = snapshot(override)
            _apply(override, data)
            _save(override, before, actor=actor)
            return override
        if moment > master.start_at:
            target = _split(master, moment, data, actor=actor)
            _children(target, attendees=attendees, agenda=agenda, action_items=action_items, actor=actor)
            return target
    _update_series(master, data, actor=actor)
    _children(master, attendees=attendees, agenda=agenda, action_items=action_items, actor=actor)
    return master


def _children(event: Event, *, attendees, agenda, action_items, actor) -> None:
    if attendees is not None:
        _sync_attendees(event, attendees, actor)
    if agenda is not None:
        _replace_agenda(event, agenda, actor)
    if action_items:
        _add_action_items(event, action_items, actor)


@transaction.atomic
def event_delete(*, event: Event, actor=None) -> None:
    """Delete an event (a series with its overrides). Its audit events, timeline entries and the
    activities of its action items stay (an activity is never deleted, ADR 0022)."""
    target = _lock(event)  # an override's own row: deleting it puts its occurrence back as the series has it
    series = target.series
    involved = {series.organizer_id, series.created_by_id, *series.attendees.values_list("user_id", flat=True)}
    _audit(target, action="delete", before=snapshot(target), actor=actor)
    target.delete()
    # Feeds poll with Last-Modified: a deletion leaves no row whose updated_at moves, so say it here.
    FeedToken.objects.filter(user_id__in=involved - {None}, revoked_at__isnull=True).update(removal_at=timezone.now())


@transaction.atomic
def event_cancel(
    *, event: Event, scope: str = EditScope.SERIES, occurrence: datetime | None = None, actor=None
) -> Event:
    """Cancel an event, one occurrence of a series (it becomes an EXDATE) or this and the following ones."""
    master = _lock_series(event)
    if event.recurrence_parent_id:
        scope, occurrence = EditScope.THIS, event.recurrence_id
    target = master
    if scope != EditScope.SERIES and master.is_recurring:
        moment = _check_occurrence(master, occurrence, cancelling=True)
        before = snapshot(master)
        if scope == EditScope.THIS:
            override = (
                Event.objects.select_for_update(no_key=True)
                .filter(recurrence_parent=master, recurrence_id=moment)
                .first()
            )
            if override is not None:
                if override.status == EventStatus.COMPLETED:  # its outcome is on record: not undone by a cancel
                    raise TransitionError(
                        ERROR_TRANSITION["cancel"].format(state=str(EventStatus.COMPLETED.label).lower())
                    )
                _audit(master, action="delete", before=snapshot(override), actor=actor, instance=override)
                override.delete()
            master.exdates = [*master.exdates, moment]
        elif moment > master.start_at:
            for override in (
                Event.objects.select_for_update(no_key=True)
                .filter(recurrence_parent=master, recurrence_id__gte=moment)
                .order_by("id")
            ):
                _audit(master, action="delete", before=snapshot(override), actor=actor, instance=override)
                override.delete()
            if master.rrule:
                master.rrule = recurrence.until_before(
                    master.rrule, moment, tz=recurrence.zone(master.timezone), all_day=master.all_day
                )
            master.rdates = [m for m in master.rdates if m < moment]
        else:
            scope = EditScope.SERIES
        if scope != EditScope.SERIES:
            _refresh_series(master)
            master.sequence += 1
            master.full_clean(exclude=["span"])
            master.save()
            _audit(master, action="cancel_event", before=before, actor=actor)
            return master
    if target.status != EventStatus.SCHEDULED:
        raise TransitionError(ERROR_TRANSITION["cancel"].format(state=str(EventStatus(target.status).label).lower()))
    before = snapshot(target)
    target.status = EventStatus.CANCELLED
    target.sequence += 1
    target.save(update_fields=["status", "sequence", "updated_at"])
    _audit(target, action="cancel_event", before=before, actor=actor)
    _timeline(target, action="cancelled", actor=actor, occurred_at=timezone.now())
    return target


@transaction.atomic
def event_rsvp(
    *, event: Event, user, response: str, comment: str = "", actor=None, now: datetime | None = None
) -> Attendee:
    """The attendee's own answer; anyone else gets PermissionDenied (403). Applies to the whole series."""
    master = _lock_series(event)
    attendee = Attendee.objects.select_for_update().filter(event=master, user=user).first()
    if attendee is None or getattr(actor, "pk", user.pk) != user.pk:
        raise PermissionDenied(ERROR_ATTENDEE_ONLY)
    if response not in AttendeeResponse.values:
        raise ValidationError({"response": [_("Not a valid answer.")]})
    before = snapshot(attendee)
    attendee.response = response
    attendee.comment = comment[:500]
    attendee.responded_at = now or timezone.now()
    attendee.save(update_fields=["response", "comment", "responded_at"])
    # The feed's ETag and Last-Modified follow the series' updated_at: an answer is a change to poll.
    master.save(update_fields=["updated_at"])
    _audit(master, action="rsvp_event", before=before, actor=actor, instance=attendee)
    return attendee


@dataclass
class Completion:
    event: Event
    follow_up: object | None = None


@transaction.atomic
def event_complete(
    *,
    event: Event,
    outcome: str,
    follow_up_required: bool = False,
    follow_up_deadline: date | None = None,
    occurrence: datetime | None = None,
    actor=None,
    now: datetime | None = None,
) -> Completion:
    """Record the outcome; schedule the follow-up task when one is required, and put the outcome on the
    timeline of the event (and so of its case). One occurrence of a series is completed as an override."""
    master = _lock_series(event)
    if event.recurrence_parent_id:
        target = _lock(event)
    elif master.is_recurring:
        if occurrence is None:
            raise ValidationError({"occurrence": [ERROR_COMPLETE_SERIES]})
        target = _override_for(master, _check_occurrence(master, occurrence), actor=actor)
    else:
        target = master
    if target.status != EventStatus.SCHEDULED:
        raise TransitionError(ERROR_TRANSITION["complete"].format(state=str(EventStatus(target.status).label).lower()))
    now = now or timezone.now()
    before = snapshot(target)
    target.status = EventStatus.COMPLETED
    target.outcome = outcome
    target.follow_up_required = follow_up_required
    target.completed_at = now
    completion = Completion(event=target)
    if follow_up_required:
        follow_up_type = _activity_type(FOLLOW_UP_TYPE, delay_count=3, delay_unit="business_days")
        with in_firm_language():
            summary = str(_("Follow up: {title}")).format(title=target.title)[:300]
        completion.follow_up = activities.activity_schedule(
            subject=target.case or target,
            type=follow_up_type,
            assignee=target.organizer,
            summary=summary,
            note=outcome,
            deadline=follow_up_deadline,
            actor=actor,
            now=now,
        )
        target.follow_up = completion.follow_up
    target.sequence += 1
    target.save(
        update_fields=["status", "outcome", "follow_up_required", "completed_at", "follow_up", "sequence", "updated_at"]
    )
    _audit(target, action="complete_event", before=before, actor=actor)
    _timeline(target, action="completed", actor=actor, occurred_at=now)
    return completion


# --- the calendar feed --------------------------------------------------------------------------


def feed_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _revoke_active(user, *, actor, now) -> int:
    revoked = 0
    for feed in FeedToken.objects.select_for_update().filter(user=user, revoked_at__isnull=True).order_by("id"):
        before = snapshot(feed)
        feed.revoked_at = now
        feed.save(update_fields=["revoked_at"])
        audit_record(action="revoke_calendar_feed", instance=feed, before=before, after=snapshot(feed), actor=actor)
        revoked += 1
    return revoked


@transaction.atomic
def feed_token_issue(*, user, actor=None) -> tuple[FeedToken, str]:
    """A new feed token for ``user`` (the older one stops working); returns the row and the token, once."""
    now = timezone.now()
    # The user's row first: two concurrent issues for one user wait here instead of racing the unique index.
    type(user).objects.select_for_update(no_key=True).filter(pk=user.pk).first()
    _revoke_active(user, actor=actor, now=now)
    token = secrets.token_urlsafe(32)
    feed = FeedToken.objects.create(user=user, token_hash=feed_token_hash(token))
    audit_record(action="issue_calendar_feed", instance=feed, after=snapshot(feed), actor=actor)
    return feed, token


@transaction.atomic
def feed_token_revoke(*, user, actor=None) -> int:
    """Stop the user's feed URL from working; returns how many tokens were revoked (0 or 1)."""
    type(user).objects.select_for_update(no_key=True).filter(pk=user.pk).first()
    return _revoke_active(user, actor=actor, now=timezone.now())


@transaction.atomic
def feed_token_revoke_one(*, feed: FeedToken, actor=None) -> bool:
    """Revoke one token (the admin's action); False when it was already revoked."""
    locked = FeedToken.objects.select_for_update().get(pk=feed.pk)
    if locked.revoked_at is not None:
        return False
    before = snapshot(locked)
    locked.revoked_at = timezone.now()
    locked.save(update_fields=["revoked_at"])
    audit_record(action="revoke_calendar_feed", instance=locked, before=before, after=snapshot(locked), actor=actor)
    return True


# --- reminders (ADR 0053: ADR 0020's ledger, per occurrence, offset and person) -----------------

# Occurrences this far ahead are armed: enough for "the day before" of anything starting tomorrow.
REMINDER_HORIZON = timedelta(hours=40)
# A reminder armed later than this after its time is not sent: a stale "the day before" helps nobody.
REMINDER_STALE = timedelta(minutes=30)
REMINDER_CLAIM_LEASE = timedelta(minutes=15)


@dataclass(frozen=True)
class _ReminderClaim:
    reminder_id: int
    claimed_at: datetime
    event_id: int
    email: str
    subject: str
    body: str


def _owed(*, now: datetime, series_id: int | None = None) -> dict[tuple[int, datetime, str, int], datetime]:
    """Every (event row, occurrence start, offset, recipient) owed a reminder now or soon, with its due
    time; of one series only when ``series_id`` is given (a claim checks its own)."""
    owed = {}
    occurrences = selectors.reminder_occurrences(start=now, end=now + REMINDER_HORIZON, series_id=series_id)
    for occurrence in occurrences:
        event = occurrence.event
        tz = recurrence.zone(event.timezone)
        for offset in offsets.offsets_for(event.type):
            due = offsets.due_at(offset, local_start=occurrence.start.astimezone(tz), start_time=event.start_time)
            if due < now - REMINDER_STALE:
                continue
            for recipient in selectors.reminder_recipients(event):
                owed[(event.pk, occurrence.start, offset, recipient)] = due
    return owed


def event_reminders_arm(*, now: datetime | None = None) -> int:
    """Owe each reminder once: a second tick, or two workers, insert nothing new (the unique key)."""
    now = now or timezone.now()
    owed = _owed(now=now)
    rows = [
        EventReminder(
            event_id=event_id,
            occurrence_start=start,
            offset=offset,
            recipient_id=recipient,
            due_at=due,
            next_attempt_at=due,
        )
        for (event_id, start, offset, recipient), due in sorted(owed.items())
    ]
    known = set(
        EventReminder.objects.filter(event_id__in={key[0] for key in owed}).values_list(
            "event_id", "occurrence_start", "offset", "recipient_id"
        )
    )
    rows = [row for row in rows if (row.event_id, row.occurrence_start, row.offset, row.recipient_id) not in known]
    # A concurrent tick may insert the same keys meanwhile: the unique key keeps one of each.
    EventReminder.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
    armed = len(rows)
    # An obsolete reminder (its occurrence had moved when a worker claimed it) is owed again once the
    # occurrence is back: it was never sent.
    with transaction.atomic():
        for reminder in (
            EventReminder.objects.select_for_update(skip_locked=True)
            .filter(state=ReminderState.OBSOLETE, event_id__in={key[0] for key in owed})
            .order_by("id")
        ):
            due = owed.get((reminder.event_id, reminder.occurrence_start, reminder.offset, reminder.recipient_id))
            if due is not None:
                reminder.state, reminder.next_attempt_at, reminder.last_error = ReminderState.PENDING, due, ""
                reminder.save(update_fields=["state", "next_attempt_at", "last_error"])
                armed += 1
    return armed


@transaction.atomic
def _reminder_claim(*, now: datetime):
    reminder = (
        EventReminder.objects.select_for_update(skip_locked=True)
        .filter(state__in=(ReminderState.PENDING, ReminderState.SENDING), next_attempt_at__lte=now)
        .order_by("next_attempt_at", "id")
        .first()
    )
    if reminder is None:
        return None
    # Read, not locked: event rows come first in every service's lock order, and this holds the reminder.
    event = Event.objects.select_related("organizer", "case").filter(pk=reminder.event_id).first()
    owed = _owed(now=now, series_id=event.recurrence_parent_id or event.pk) if event is not None else {}
    key = (reminder.event_id, reminder.occurrence_start, reminder.offset, reminder.recipient_id)
    if event is None or key not in owed:
        reminder.state = ReminderState.OBSOLETE
        reminder.save(update_fields=["state"])
        return "obsolete"
    claimed_at = timezone.now()
    reminder.state = ReminderState.SENDING
    reminder.attempts += 1
    reminder.claimed_at = claimed_at
    reminder.next_attempt_at = max(now, claimed_at) + REMINDER_CLAIM_LEASE
    reminder.save(update_fields=["state", "attempts", "claimed_at", "next_attempt_at"])
    local = reminder.occurrence_start.astimezone(recurrence.zone(event.timezone))
    with in_firm_language():
        when = local.date().isoformat() if event.all_day else local.strftime("%Y-%m-%d %H:%M")
        subject = str(_("Reminder: {title} on {when}")).format(title=event.title, when=when)
    body = "\n".join(line for line in (event.get_type_display(), event.title, when, event.location) if line)
    return _ReminderClaim(
        reminder_id=reminder.pk,
        claimed_at=claimed_at,
        event_id=event.pk,
        email=reminder.recipient.email,
        subject=subject[:300],
        body=body,
    )


def event_reminders_send(*, now: datetime | None = None, limit: int = 10_000) -> dict:
    """Arm, then mail every reminder whose time has come: claim (short transaction), send (none open),
    record (short transaction). At-least-once mail, exactly-once records, as ADR 0020 explains.

    Run it outside a transaction (the task does), or the claim would be held across the send.
    """
    now = now or timezone.now()
    run = {"armed": event_reminders_arm(now=now), "sent": 0, "failed": 0, "obsolete": 0}
    for _attempt in range(limit):
        claim = _reminder_claim(now=now)
        if claim is None:
            break
        if claim == "obsolete":
            run["obsolete"] += 1
            continue
        try:
            if claim.email:
                send_mail(claim.subject, claim.body, settings.DEFAULT_FROM_EMAIL, [claim.email], fail_silently=False)
        except Exception as exc:  # any backend failure means "retry later", never "sent"
            _reminder_release(claim=claim, error=f"{type(exc).__name__}: {exc}"[:2000], now=now)
            run["failed"] += 1
            continue
        _reminder_record_sent(claim=claim)
        run["sent"] += 1
    return run


def _reminder_release(*, claim: _ReminderClaim, error: str, now: datetime) -> None:
    activities.reminder_release(
        EventReminder, reminder_id=claim.reminder_id, claimed_at=claim.claimed_at, error=error, now=now
    )


@transaction.atomic
def _reminder_record_sent(*, claim: _ReminderClaim) -> None:
    event = Event.objects.filter(pk=claim.event_id).first()
    if event is not None:
        _lock_series(event)  # the event first, then the reminder: the services' order
    reminder = EventReminder.objects.select_for_update().filter(pk=claim.reminder_id).first()
    if reminder is None or reminder.state == ReminderState.SENT:
        return  # deleted with its event, or a second worker already recorded the same mail
    reminder.state = ReminderState.SENT
    reminder.sent_at = timezone.now()
    reminder.save(update_fields=["state", "sent_at"])
    if event is not None:
        audit_record(
            action="remind_event",
            instance=event,
            after={
                "reminder": reminder.offset,
                "occurrence": reminder.occurrence_start.isoformat(),
                "recipient_id": reminder.recipient_id,
            },
            case_id=event.case_id,
        )
