"""Demo calendar: a month of hearings, meetings and deadlines around today, and recurring meetings.

Idempotent: a firm that already has events gets none. Past hearings are completed with an outcome
(some with a follow-up task), one occurrence of the weekly review is cancelled and one moved, so the
calendar, the feed and the case timelines show every shape an event can take.
"""

from datetime import datetime, time, timedelta
from decimal import Decimal

from timeline.activities.deadlines import firm_today
from timeline.events import recurrence, services
from timeline.events.models import Event
from timeline.rollups import firm_tz
from traf3li.crm.models import Case
from traf3li.users.models import User

WORKING_DAYS = (6, 0, 1, 2, 3)  # Sunday to Thursday, as in Saudi Arabia
COURTS = [
    "المحكمة العمالية بالرياض، القاعة ٣",
    "Riyadh Commercial Court, room 12",
    "المحكمة العامة بجدة",
    "Board of Grievances, Riyadh",
]
HEARINGS = ["جلسة المرافعة الأولى", "Hearing on the merits", "جلسة النطق بالحكم", "Expert report hearing"]
MEETINGS = ["اجتماع مع العميل لمراجعة العقد", "Settlement strategy meeting", "Witness preparation", "مراجعة المستندات"]
DEADLINES = ["آخر موعد لتقديم المذكرة الجوابية", "File the statement of defence", "Appeal deadline"]
OUTCOMES = ["Adjourned for the expert's report", "تأجيل الجلسة لتقديم المستندات", "Judgment reserved"]
WEEKS_BACK, WEEKS_AHEAD = 2, 3


def _at(day, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute))


def _working_days(start, count):
    days, day = [], start
    while len(days) < count:
        if day.weekday() in WORKING_DAYS:
            days.append(day)
        day += timedelta(days=1)
    return days


def seed(firm, rng) -> None:
    if Event.objects.exists():
        return
    people = list(User.objects.filter(is_active=True).order_by("id"))
    cases = list(Case.objects.select_related("client").order_by("id")[:30])
    if not people or not cases:
        return
    tz, today = firm_tz(), firm_today()
    lawyer = next((u for u in people if u.role == "lawyer"), people[0])
    first = today - timedelta(weeks=WEEKS_BACK)
    days = _working_days(first, (WEEKS_BACK + WEEKS_AHEAD) * 5)

    sundays = [day for day in days if day.weekday() == 6]
    review = services.event_create(
        data={
            "title": "Weekly case review / مراجعة القضايا الأسبوعية",
            "type": "meeting",
            "timezone": tz.key,
            "start": _at(sundays[0], 9),  # DTSTART on one of the rule's days (RFC 5545 §3.8.5.3)
            "end": _at(sundays[0], 10),
            "location": "Meeting room 1",
            "rrule": "FREQ=WEEKLY;BYDAY=SU",
            "organizer": lawyer,
        },
        attendees=[{"user": person} for person in people if person != lawyer],
        agenda=[
            {"title": "New cases", "duration_minutes": 20},
            {"title": "Hearings this week", "duration_minutes": 30},
        ],
        actor=lawyer,
    )
    if len(sundays) > 3:
        moment = recurrence.instant(sundays[2], time(9), tz)
        services.event_cancel(event=review, scope="this", occurrence=moment, actor=lawyer)
        moved = recurrence.instant(sundays[3], time(9), tz)
        services.event_update(
            event=review,
            data={"start": _at(sundays[3], 11), "end": _at(sundays[3], 12)},
            scope="this",
            occurrence=moved,
            actor=lawyer,
        )
    services.event_create(
        data={
            "title": "Monthly billing review",
            "type": "meeting",
            "timezone": tz.key,
            "start": _at(days[1], 14),
            "end": _at(days[1], 15),
            "rrule": "FREQ=MONTHLY;COUNT=12",  # the same day each month, for a year
            "organizer": people[0],
            "is_billable": False,
        },
        actor=people[0],
    )
    for index, day in enumerate(days):
        case = rng.choice(cases)
        organizer = case.lawyer or rng.choice(people)
        if index % 2 == 0:
            hearing = services.event_create(
                data={
                    "title": rng.choice(HEARINGS),
                    "type": rng.choice(["hearing", "hearing", "court_date"]),
                    "timezone": tz.key,
                    "start": _at(day, rng.choice([9, 10, 11])),
                    "end": _at(day, 12),
                    "location": rng.choice(COURTS),
                    "case": case,
                    "organizer": organizer,
                    "is_billable": True,
                    "billing_type": "hourly",
                    "billable_amount": Decimal(rng.choice(["800.00", "1200.00", "1500.00"])),
                },
                attendees=[{"user": lawyer}] if organizer != lawyer else [],
                agenda=[{"title": "Oral pleading", "duration_minutes": 30, "presenter": organizer}],
                actor=organizer,
            )
            if day < today:
                services.event_complete(
                    event=hearing,
                    outcome=rng.choice(OUTCOMES),
                    follow_up_required=rng.random() < 0.5,
                    actor=organizer,
                )
        if index % 3 == 1:
            services.event_create(
                data={
                    "title": rng.choice(MEETINGS),
                    "type": "client_meeting",
                    "timezone": tz.key,
                    "start": _at(day, 13, 30),
                    "end": _at(day, 14, 30),
                    "location": "Office",
                    "case": case,
                    "organizer": organizer,
                },
                attendees=[{"email": f"client{case.client_id}@example.com", "name": case.client.name}],
                action_items=[{"description": "Send the meeting notes", "assignee": organizer}] if day >= today else [],
                actor=organizer,
            )
        if index % 4 == 3:
            services.event_create(
                data={
                    "title": rng.choice(DEADLINES),
                    "type": "filing_deadline",
                    "all_day": True,
                    "timezone": tz.key,
                    "start": day,
                    "case": case,
                    "organizer": organizer,
                },
                actor=organizer,
            )
