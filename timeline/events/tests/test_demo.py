import random
from datetime import timedelta

import pytest

from timeline.activities.deadlines import firm_today
from timeline.events import demo, selectors
from timeline.events.models import Event
from traf3li.crm.tests.factories import CaseFactory

pytestmark = pytest.mark.django_db


def test_the_demo_has_a_month_of_hearings_and_a_recurring_meeting_and_is_idempotent(in_firm_a, admin_a, lawyer_a):
    for _ in range(4):
        CaseFactory()
    demo.seed(in_firm_a, random.Random("acme"))
    count = Event.objects.count()
    demo.seed(in_firm_a, random.Random("acme"))
    assert Event.objects.count() == count
    today = firm_today()
    start = selectors.firm_moment().today_start - timedelta(weeks=2)
    found = selectors.firm_calendar(start=start, end=start + timedelta(weeks=5))
    types = {o.event.type for o in found}
    assert {"hearing", "client_meeting", "filing_deadline", "meeting"} <= types
    assert sum(o.event.title.startswith("Weekly case review") for o in found) >= 4
    assert Event.objects.filter(status="completed", start_date__lt=today).exists()
    assert Event.objects.filter(start_date__gt=today, type__in=["hearing", "court_date"]).exists()
    assert (
        Event.objects.exclude(rrule="").count() == 2 and Event.objects.filter(recurrence_parent__isnull=False).exists()
    )
