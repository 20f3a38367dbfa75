"""A user's calendar as RFC 5545 text, built with the ``icalendar`` library.

Each series is one VEVENT with its RRULE, RDATEs and EXDATEs in its own zone (DTSTART;TZID=… and
a VTIMEZONE for every zone used); each override is a VEVENT with the series' UID and a
RECURRENCE-ID. UIDs are the event ids, so they never change, and SEQUENCE grows with every change
the organizer makes: a subscribed calendar replaces its copy instead of adding a second one.
"""

from datetime import UTC, date, datetime, timedelta

import icalendar
from django.db import connection
from django.utils.translation import gettext as _

from timeline.events import offsets, recurrence
from timeline.events.choices import AttendeeResponse, EventStatus
from timeline.events.models import Event

PRODID = "-//Traf3li//Timeline calendar//EN"
PARTSTAT = {
    AttendeeResponse.NEEDS_ACTION: "NEEDS-ACTION",
    AttendeeResponse.ACCEPTED: "ACCEPTED",
    AttendeeResponse.TENTATIVE: "TENTATIVE",
    AttendeeResponse.DECLINED: "DECLINED",
}
# VTIMEZONE definitions cover this many years past today (icalendar writes the zone's transitions).
ZONE_YEARS_AHEAD = 10


def uid_of(event: Event) -> str:
    """The series' UID: one per firm and event id, on whatever host the feed is read."""
    series = event.recurrence_parent or event
    return f"{series.event_id}@{connection.schema_name}.traf3li"


def _moment(event: Event, instant: datetime) -> date | datetime:
    """An instant as the feed writes it: a date for all-day events, else the wall time with its TZID."""
    local = instant.astimezone(recurrence.zone(event.timezone))
    return local.date() if event.all_day else local


def _address(email: str) -> str:
    return f"mailto:{email}"


def _attendee(attendee) -> icalendar.vCalAddress | None:
    email = attendee.user.email if attendee.user_id else attendee.email
    if not email:
        return None
    address = icalendar.vCalAddress(_address(email))
    name = attendee.user.display_name if attendee.user_id else attendee.name
    if name:
        address.params["CN"] = icalendar.vText(name)
    address.params["PARTSTAT"] = icalendar.vText(PARTSTAT[attendee.response])
    address.params["ROLE"] = icalendar.vText("REQ-PARTICIPANT")
    return address


def _alarms(vevent: icalendar.Event, event: Event) -> None:
    for offset in offsets.offsets_for(event.type):
        alarm = icalendar.Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", event.title)
        alarm.add("trigger", -offsets.lead_time(offset, start_time=event.start_time))
        vevent.add_component(alarm)


def _vevent(event: Event, series: Event) -> icalendar.Event:
    vevent = icalendar.Event()
    vevent.add("uid", uid_of(event))
    vevent.add("dtstamp", event.updated_at.astimezone(UTC))
    vevent.add("last-modified", event.updated_at.astimezone(UTC))
    vevent.add("created", event.created_at.astimezone(UTC))
    vevent.add("sequence", event.sequence)
    vevent.add("summary", event.title)
    if event.description:
        vevent.add("description", event.description)
    if event.location:
        vevent.add("location", event.location)
    vevent.add("categories", [event.get_type_display()])
    vevent.add("status", "CANCELLED" if event.status == EventStatus.CANCELLED else "CONFIRMED")
    if event.all_day:
        vevent.add("dtstart", event.start_date)
        vevent.add("dtend", event.end_date + timedelta(days=1))
    else:
        vevent.add("dtstart", _moment(event, event.start_at))
        vevent.add("dtend", _moment(event, event.end_at))
    if event.recurrence_parent_id:
        vevent.add("recurrence-id", _moment(series, event.recurrence_id))
    else:
        if event.rrule:
            vevent.add("rrule", icalendar.vRecur.from_ical(event.rrule))
        if event.rdates:
            vevent.add("rdate", [_moment(event, moment) for moment in event.rdates])
        if event.exdates:
            vevent.add("exdate", [_moment(event, moment) for moment in event.exdates])
    organizer = series.organizer
    if organizer.email:
        address = icalendar.vCalAddress(_address(organizer.email))
        address.params["CN"] = icalendar.vText(organizer.display_name)
        vevent.add("organizer", address)
    for attendee in series.attendees.all():
        address = _attendee(attendee)
        if address is not None:
            vevent.add("attendee", address, encode=False)
    _alarms(vevent, event)
    return vevent


def feed_calendar(*, events, name: str, today: date) -> bytes:
    """The feed's bytes for ``events`` (masters first, then their overrides)."""
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    calendar.add("x-wr-caldesc", _("Hearings, meetings and deadlines"))
    events = list(events)
    # Overrides share their series' attendees: take them from the master read (and prefetched) here.
    masters = {event.pk: event for event in events if event.recurrence_parent_id is None}
    first = today
    for event in events:
        series = (
            masters.get(event.recurrence_parent_id, event.recurrence_parent) if event.recurrence_parent_id else event
        )
        calendar.add_component(_vevent(event, series))
        first = min(first, event.start_date)
    calendar.add_missing_timezones(
        first_date=date(first.year - 1, 1, 1), last_date=date(today.year + ZONE_YEARS_AHEAD, 1, 1)
    )
    return calendar.to_ical()
