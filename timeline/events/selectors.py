"""Reads of events: the list, a user's calendar expanded within a window, conflicts, and feed contents.

A calendar window is answered in two queries whatever its size: the events (masters, single events
and overrides) whose ``span`` overlaps the window, found by the GiST range index (ADR 0051), and
the occurrence starts that the masters' overrides replace. Expansion happens in Python, bounded by
``recurrence.MAX_WINDOW_DAYS`` and ``recurrence.MAX_OCCURRENCES``.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.core.exceptions import ValidationError
from django.db.models import Count, Exists, F, Max, OuterRef, Q, QuerySet
from django.utils import timezone

from timeline.activities.deadlines import firm_midnight, firm_today
from timeline.events import recurrence
from timeline.events.choices import COURT_TYPES, AttendeeResponse, EventStatus
from timeline.events.models import Attendee, Event, FeedToken
from timeline.events.offsets import OFFSETS
from timeline.rollups import firm_tz
from traf3li.core.subjects import SubjectError, subject_model


@dataclass(frozen=True)
class Occurrence:
    """One occurrence on a calendar: the row it shows (a series' master, a single event or an override)."""

    event: Event
    start: datetime
    end: datetime
    # The original start of a recurring occurrence (iCalendar RECURRENCE-ID); None for a single event.
    recurrence_id: datetime | None

    @property
    def is_override(self) -> bool:
        return self.event.recurrence_parent_id is not None


@dataclass(frozen=True)
class Moment:
    """What "now" and "today" are for the firm, computed once per request (ADR 0021)."""

    now: datetime
    today: date
    today_start: datetime
    today_end: datetime


def firm_moment(now: datetime | None = None) -> Moment:
    tz = firm_tz()
    now = now or timezone.now()
    today = firm_today(now, tz)
    return Moment(
        now=now,
        today=today,
        today_start=firm_midnight(today, tz),
        today_end=firm_midnight(today + timedelta(days=1), tz),
    )


def timing(*, start: datetime, end: datetime, moment: Moment) -> dict:
    """``is_past``, ``is_today`` and ``is_upcoming`` by the firm's clock and calendar."""
    if start == end:  # a deadline: a moment, not a span
        return {
            "is_past": start < moment.now,
            "is_today": moment.today_start <= start < moment.today_end,
            "is_upcoming": start >= moment.now,
        }
    return {
        "is_past": end <= moment.now,
        "is_today": start < moment.today_end and end > moment.today_start,
        "is_upcoming": start > moment.now,
    }


def event_list() -> QuerySet[Event]:
    return Event.objects.select_related("case", "organizer", "created_by").prefetch_related(
        "attendees__user", "agenda__presenter", "action_items__activity", "action_items__assignee"
    )


def _involving(user) -> Q:
    """Series and single events the user created, organizes or is invited to."""
    invited = Attendee.objects.filter(event=OuterRef("id"), user=user)
    return Q(created_by=user) | Q(organizer=user) | Exists(invited)


def _attending(user) -> Q:
    """Series and single events the user organizes or has not declined (what fills their time)."""
    invited = Attendee.objects.filter(event=OuterRef("id"), user=user).exclude(response=AttendeeResponse.DECLINED)
    return Q(organizer=user) | Exists(invited)


def overlaps(occ_start: datetime, occ_end: datetime, start: datetime, end: datetime) -> bool:
    """Whether an occurrence meets [start, end); a deadline (no duration) meets it when it falls inside."""
    if occ_start == occ_end:
        return start <= occ_start < end
    return occ_start < end and occ_end > start


def _expand(rows: list[Event], replaced: dict[int, set[datetime]], start: datetime, end: datetime) -> list[Occurrence]:
    found = []
    for row in rows:
        if row.recurrence_parent_id is not None or not row.is_recurring:
            if overlaps(row.start_at, row.end_at, start, end):
                found.append(Occurrence(row, row.start_at, row.end_at, row.recurrence_id))
            continue
        skip = replaced.get(row.pk, set())
        for occ_start, occ_end in recurrence.occurrences(recurrence.shape_of(row), start, end):
            if occ_start not in skip:
                found.append(Occurrence(row, occ_start, occ_end, occ_start))
    if len(found) > recurrence.MAX_OCCURRENCES:
        raise ValidationError({"end": [recurrence.ERROR_TOO_MANY]})
    return found


def _window_rows(start: datetime, end: datetime, filters: dict, *, whose: Q | None = None) -> list[Event]:
    """The rows whose span meets the window: single events and masters that ``whose`` selects, and the
    overrides of series it selects.

    Two queries, not one with an OR over a join to the override's series: that join made the planner
    hash the firm's whole events table (180 ms at 200,000 events instead of a few).
    """
    rows = Event.objects.filter(span__overlap=(start, end))
    if filters.get("case"):
        rows = rows.filter(case_id__in=filters["case"])
    if filters.get("type"):
        rows = rows.filter(type__in=filters["type"])
    if filters.get("status"):
        rows = rows.filter(status__in=filters["status"])
    rows = rows.select_related("case", "organizer").order_by("start_at", "id")
    if whose is None:
        return list(rows)
    series = Event.objects.filter(pk=OuterRef("recurrence_parent_id")).filter(whose)
    masters = rows.filter(whose, recurrence_parent__isnull=True)
    overrides = rows.filter(Exists(series), recurrence_parent__isnull=False)
    return sorted([*masters, *overrides], key=lambda row: (row.start_at, row.pk))


def _replaced(rows: list[Event]) -> dict[int, set[datetime]]:
    masters = [row.pk for row in rows if row.recurrence_parent_id is None and row.is_recurring]
    replaced: dict[int, set[datetime]] = {}
    if masters:
        pairs = Event.objects.filter(recurrence_parent__in=masters).values_list("recurrence_parent_id", "recurrence_id")
        for parent, moment in pairs:
            replaced.setdefault(parent, set()).add(moment)
    return replaced


def _sorted(found: list[Occurrence]) -> list[Occurrence]:
    return sorted(found, key=lambda o: (o.start, o.end, o.event.pk))


def calendar_for(*, user, start: datetime, end: datetime, filters: dict | None = None) -> list[Occurrence]:
    """The user's occurrences (as creator, organizer or attendee) overlapping [start, end), in order."""
    recurrence.check_window(start, end)
    rows = _window_rows(start, end, filters or {}, whose=_involving(user))
    return _sorted(_expand(rows, _replaced(rows), start, end))


def firm_calendar(*, start: datetime, end: datetime, types: list[str] | None = None) -> list[Occurrence]:
    """Everyone's occurrences in the window (the admin's week and agenda of the firm's hearings)."""
    recurrence.check_window(start, end)
    rows = _window_rows(start, end, {"type": types} if types else {})
    return _sorted(_expand(rows, _replaced(rows), start, end))


def reminder_occurrences(*, start: datetime, end: datetime, series_id: int | None = None) -> list[Occurrence]:
    """Scheduled occurrences of the types that remind (hearings, deadlines…) starting in [start, end)."""
    whose = Q(pk=series_id) if series_id is not None else None
    rows = _window_rows(start, end, {"type": list(OFFSETS), "status": [EventStatus.SCHEDULED]}, whose=whose)
    return [o for o in _expand(rows, _replaced(rows), start, end) if start <= o.start < end]


def reminder_recipients(event: Event) -> list[int]:
    """Who is reminded: the organizer and every invited user who has not declined (the series' list)."""
    series = event.series
    invited = Attendee.objects.filter(event_id=series.pk, user__isnull=False, user__is_active=True).exclude(
        response=AttendeeResponse.DECLINED
    )
    return sorted({series.organizer_id, *invited.values_list("user_id", flat=True)})


def conflicts_for(*, user, start: datetime, end: datetime) -> list[Occurrence]:
    """The user's live occurrences overlapping [start, end) as organizer or attendee (declined ones
    left out), court appearances first, then by start."""
    recurrence.check_window(start, end)
    live = {"status": [EventStatus.SCHEDULED, EventStatus.COMPLETED]}
    rows = _window_rows(start, end, live, whose=_attending(user))
    found = _expand(rows, _replaced(rows), start, end)
    return sorted(found, key=lambda o: (o.event.type not in COURT_TYPES, o.start, o.event.pk))


def invoice_statuses(invoice_ids: set[int]) -> dict[int, str]:
    """The status of each linked invoice, once billing registers the ``invoice`` subject type (ADR 0002)."""
    if not invoice_ids:
        return {}
    try:
        model = subject_model("invoice")
    except SubjectError:
        return {}
    if not any(field.name == "status" for field in model._meta.concrete_fields):
        return {}
    return dict(model._default_manager.filter(pk__in=invoice_ids).values_list("pk", "status"))


# --- the feed -----------------------------------------------------------------------------------

# How far back a feed reaches: calendar apps keep what they already have, so old events need not be resent.
FEED_HISTORY_DAYS = 400


def feed_token_lookup(token_hash: str) -> FeedToken | None:
    return (
        FeedToken.objects.select_related("user")
        .filter(token_hash=token_hash, revoked_at__isnull=True, user__is_active=True)
        .first()
    )


def feed_events(*, user, now: datetime | None = None) -> QuerySet[Event]:
    """Everything the user's feed carries: their series and single events that end within the
    history or later, with the overrides of those series."""
    since = (now or timezone.now()) - timedelta(days=FEED_HISTORY_DAYS)
    series = Event.objects.filter(_involving(user), recurrence_parent__isnull=True).filter(
        Q(series_end_at__isnull=True) | Q(series_end_at__gte=since)
    )
    ids = series.values("pk")
    return (
        Event.objects.filter(Q(pk__in=ids) | Q(recurrence_parent__in=ids))
        .select_related("organizer", "recurrence_parent")
        .prefetch_related("attendees__user")
        .order_by(F("recurrence_parent_id").asc(nulls_first=True), "start_at", "id")
    )


def feed_fingerprint(*, feed: FeedToken, now: datetime | None = None) -> tuple[int, datetime | None]:
    """How many events the feed holds and when it last changed: its ETag and Last-Modified.

    One aggregate instead of building the feed: calendar apps poll every few minutes.
    """
    found = feed_events(user=feed.user, now=now).order_by().aggregate(count=Count("pk"), latest=Max("updated_at"))
    changes = [moment for moment in (found["latest"], feed.removal_at, feed.created_at) if moment is not None]
    return found["count"], max(changes)
