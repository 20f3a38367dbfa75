"""Demo activity types, a Saudi working calendar and activities whose counters make sense today.

Idempotent: types, calendar and activities are created once. Because "today" moves and the demo
does not, a later run that finds nothing due today schedules a few activities for today, so the
admin's and the SPA's "today" never look empty; a second run on the same day changes nothing.
"""

from datetime import date, datetime, time, timedelta

from django.utils import timezone

from timeline.activities import services
from timeline.activities.choices import ActivityState
from timeline.activities.deadlines import firm_today
from timeline.activities.models import Activity, ActivityType, Holiday, WorkingCalendar
from timeline.rollups import firm_tz
from traf3li.crm.models import Case, Client, Lead
from traf3li.users.models import User

# name: (icon, delay_count, delay_unit, chaining, next_type, default summary)
TYPES = {
    "Call": ("phone", 2, "days", "none", None, "Call the client"),
    "Meeting": ("users", 1, "weeks", "none", None, "Meet the client"),
    "Email": ("envelope", 1, "days", "none", None, "Email an update"),
    "Follow-up": ("bell", 3, "business_days", "none", None, "Follow up"),
    "Court filing": ("gavel", 5, "business_days", "trigger", "Follow-up", "File with the court"),
    "Document review": ("file-text", 3, "business_days", "suggest", "Meeting", "Review the documents"),
    "Hearing preparation": ("briefcase", 2, "weeks", "trigger", "Court filing", "Prepare the hearing file"),
}
SUMMARIES = {
    "Call": ["اتصال بالعميل بخصوص الجلسة", "Call about the settlement offer", "Confirm the power of attorney"],
    "Meeting": ["اجتماع لمراجعة العقد", "Strategy meeting", "Meet the opposing counsel"],
    "Email": ["Send the engagement letter", "إرسال مسودة المذكرة", "Share the hearing date"],
    "Follow-up": ["Chase the signed documents", "متابعة سداد الأتعاب", "Follow up on the expert report"],
    "Court filing": ["Submit the statement of claim", "تقديم لائحة اعتراضية", "File the appeal memorandum"],
    "Document review": ["Review the lease agreement", "مراجعة عقد العمل", "Review the evidence bundle"],
    "Hearing preparation": ["Prepare the witness list", "تجهيز ملف الجلسة", "Draft the oral pleading"],
}
# Fixed Saudi public holidays, plus the Eids of the current and next Hijri years (approximate dates).
FIXED_HOLIDAYS = {(2, 22): "Founding Day / يوم التأسيس", (9, 23): "National Day / اليوم الوطني"}
EIDS = {
    date(2026, 3, 20): "Eid al-Fitr (approx.)",
    date(2026, 3, 21): "Eid al-Fitr (approx.)",
    date(2026, 3, 22): "Eid al-Fitr (approx.)",
    date(2026, 5, 26): "Eid al-Adha (approx.)",
    date(2026, 5, 27): "Eid al-Adha (approx.)",
    date(2026, 5, 28): "Eid al-Adha (approx.)",
    date(2027, 3, 10): "Eid al-Fitr (approx.)",
    date(2027, 3, 11): "Eid al-Fitr (approx.)",
    date(2027, 5, 16): "Eid al-Adha (approx.)",
    date(2027, 5, 17): "Eid al-Adha (approx.)",
}
DEMO_ACTIVITIES = 120
TOP_UP_TODAY = 4


def _types() -> dict[str, ActivityType]:
    existing = {t.name: t for t in ActivityType.objects.all()}
    for name, (icon, count, unit, _, _, summary) in TYPES.items():
        if name not in existing:
            existing[name] = services.activity_type_create(
                instance=ActivityType(name=name, icon=icon, delay_count=count, delay_unit=unit, default_summary=summary)
            )
    for name, (_, _, _, chaining, next_name, _) in TYPES.items():
        activity_type = existing[name]
        if next_name and activity_type.next_type_id is None:
            services.activity_type_update(
                instance=activity_type, data={"chaining": chaining, "next_type": existing[next_name]}
            )
    return existing


def _calendar(today: date) -> None:
    calendar = WorkingCalendar.objects.first() or services.working_calendar_save(
        calendar=WorkingCalendar(name="Saudi working week")
    )
    wanted = dict(EIDS)
    for year in (today.year, today.year + 1):
        for (month, day), name in FIXED_HOLIDAYS.items():
            wanted[date(year, month, day)] = name
    known = set(calendar.holidays.values_list("date", flat=True))
    for day, name in sorted(wanted.items()):
        if day not in known:
            services.holiday_save(holiday=Holiday(calendar=calendar, date=day, name=name))


def _subjects() -> list:
    subjects = list(Client.objects.order_by("id")[:40]) + list(Case.objects.order_by("id")[:40])
    subjects += list(Lead.objects.order_by("id")[:10])
    return subjects


def _local(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour, 0), tzinfo=firm_tz())


def seed(firm, rng) -> None:
    today = firm_today()
    types = _types()
    _calendar(today)
    people = list(User.objects.filter(is_active=True).order_by("id"))
    subjects = _subjects()
    if not people or not subjects:
        return
    if not Activity.objects.exists():
        _activities(rng, today, types, people, subjects)
    elif not Activity.objects.filter(state=ActivityState.SCHEDULED, deadline=today).exists():
        for _ in range(TOP_UP_TODAY):
            _schedule(rng, types, people, subjects, deadline=today)


def _schedule(rng, types, people, subjects, *, deadline, now=None):
    name = rng.choice(list(TYPES))
    return services.activity_schedule(
        subject=rng.choice(subjects),
        type=types[name],
        assignee=rng.choice(people),
        summary=rng.choice(SUMMARIES[name]),
        deadline=deadline,
        now=now,
    )


def _activities(rng, today, types, people, subjects) -> None:
    """About 15 % overdue, 10 % due today, 55 % planned, 15 % done this fortnight, 5 % cancelled."""
    for _ in range(DEMO_ACTIVITIES):
        roll = rng.random()
        if roll < 0.15:
            _schedule(rng, types, people, subjects, deadline=today - timedelta(days=rng.randint(1, 20)))
        elif roll < 0.25:
            _schedule(rng, types, people, subjects, deadline=today)
        elif roll < 0.80:
            _schedule(rng, types, people, subjects, deadline=today + timedelta(days=rng.randint(1, 45)))
        elif roll < 0.95:
            done_on = today - timedelta(days=rng.randint(0, 13))
            activity = _schedule(rng, types, people, subjects, deadline=done_on + timedelta(days=rng.randint(-3, 3)))
            done_at = min(_local(done_on, rng.randint(8, 17)), timezone.now())
            services.activity_complete(
                activity=activity, feedback=rng.choice(["Done", "تم", "Client informed", "Filed"]), now=done_at
            )
        else:
            activity = _schedule(rng, types, people, subjects, deadline=today + timedelta(days=rng.randint(1, 10)))
            services.activity_cancel(activity=activity)
