"""When an event reminds its attendees: per type, the day before and the morning of (firm hours).

The same offsets become the feed's VALARMs and the reminder ledger's due times, so a subscribed
calendar app and our own emails ring at the same moments. Times are relative to the occurrence's
start in the event's own zone, so a recurring 10:00 hearing reminds at 08:00 on each of its days.
"""

from datetime import datetime, time, timedelta

from timeline.events.choices import EventType, ReminderOffset

DAY_BEFORE = ReminderOffset.DAY_BEFORE
MORNING_OF = ReminderOffset.MORNING_OF
# Reminders go out at this wall time: "the day before" at 08:00, "the morning of" at 08:00.
MORNING = time(8, 0)
# An event that starts before the morning hour is reminded this long before it on its day.
EARLY_LEAD = timedelta(hours=1)

OFFSETS = {
    EventType.HEARING: (DAY_BEFORE, MORNING_OF),
    EventType.COURT_DATE: (DAY_BEFORE, MORNING_OF),
    EventType.DEADLINE: (DAY_BEFORE, MORNING_OF),
    EventType.FILING_DEADLINE: (DAY_BEFORE, MORNING_OF),
}


def offsets_for(event_type: str) -> tuple[str, ...]:
    return OFFSETS.get(event_type, ())


def lead_time(offset: str, *, start_time: time | None) -> timedelta:
    """How long before the occurrence's start (local wall time) the reminder rings; constant per series."""
    start_time = start_time or time.min  # an all-day event starts at midnight
    since_midnight = timedelta(hours=start_time.hour, minutes=start_time.minute, seconds=start_time.second)
    morning = timedelta(hours=MORNING.hour, minutes=MORNING.minute)
    if offset == DAY_BEFORE:
        return since_midnight + timedelta(days=1) - morning
    if since_midnight > morning:
        return since_midnight - morning
    if start_time == time.min:  # all day: 08:00 on the day itself, after the start
        return -morning
    return EARLY_LEAD


def due_at(offset: str, *, local_start: datetime, start_time: time | None) -> datetime:
    """The reminder's instant for one occurrence, counted in the wall time of its zone."""
    wall = local_start.replace(tzinfo=None) - lead_time(offset, start_time=start_time)
    return wall.replace(tzinfo=local_start.tzinfo)
