import random

import pytest

from timeline.activities import demo, selectors
from timeline.activities.models import Activity, ActivityType, Holiday
from timeline.activities.tests.factories import a_client

pytestmark = pytest.mark.django_db


def test_the_demo_has_sensible_counters_and_is_idempotent(in_firm_a, admin_a, lawyer_a, staff_a):
    # given a few clients to hang activities on
    for i in range(5):
        a_client(f"Demo client {i}")
    # when seeded twice
    demo.seed(in_firm_a, random.Random("acme"))
    counts = (ActivityType.objects.count(), Activity.objects.count(), Holiday.objects.count())
    demo.seed(in_firm_a, random.Random("acme"))
    # then the second run changed nothing
    assert (ActivityType.objects.count(), Activity.objects.count(), Holiday.objects.count()) == counts
    stats = selectors.activity_stats()
    assert stats["overdue_count"] > 5 and stats["today_count"] > 3 and stats["done_count"] > 5
    assert stats["planned_count"] > stats["overdue_count"]
    assert {row["type"] for row in stats["by_type"]} >= {"Call", "Court filing"}
    assert ActivityType.objects.get(name="Court filing").chaining == "trigger"
    assert Activity.objects.filter(automated=True).exists()  # completed court filings triggered follow-ups


def test_a_later_run_with_nothing_due_today_schedules_a_few(in_firm_a, admin_a, monkeypatch):
    monkeypatch.setattr(demo, "DEMO_ACTIVITIES", 20)
    a_client()
    demo.seed(in_firm_a, random.Random("nour"))
    Activity.objects.filter(deadline=selectors.activity_stats()["today"]).update(state="cancelled")
    demo.seed(in_firm_a, random.Random("nour"))
    assert selectors.activity_stats()["today_count"] == demo.TOP_UP_TODAY
