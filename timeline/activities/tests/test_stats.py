import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from unittest import mock
from zoneinfo import ZoneInfo

import pytest

from conftest import make_user
from timeline.activities import selectors, services
from timeline.activities.models import Activity
from timeline.activities.tests.factories import a_client, activity_type, schedule
from traf3li.crm.models import Case

pytestmark = pytest.mark.django_db

RIYADH = ZoneInfo("Asia/Riyadh")
WED_2330 = datetime(2026, 3, 4, 23, 30, tzinfo=RIYADH)  # 20:30 UTC on Wednesday
THU_0030 = datetime(2026, 3, 5, 0, 30, tzinfo=RIYADH)  # 21:30 UTC, still Wednesday in UTC
WEDNESDAY, THURSDAY = date(2026, 3, 4), date(2026, 3, 5)


def counts(stats):
    keys = ("overdue_count", "today_count", "planned_count", "done_count", "total_pending")
    return tuple(stats[key] for key in keys)


@pytest.fixture
def tz_user(in_firm_a):
    return make_user(in_firm_a, "tz_user", role="lawyer")


def test_counters_turn_over_at_the_firms_midnight_not_utcs(tz_user):
    # given one activity due Wednesday and one due Thursday (both UTC instants below are on Wednesday)
    client = a_client()
    schedule(subject=client, assignee=tz_user, deadline=WEDNESDAY)
    schedule(subject=client, assignee=tz_user, deadline=THURSDAY)
    # when / then: at 23:30 Wednesday in Riyadh, one is due today and one is planned
    assert counts(selectors.activity_stats(assignee_id=tz_user.pk, now=WED_2330)) == (0, 1, 1, 0, 2)
    # an hour later it is Thursday in Riyadh: one overdue, one today
    assert counts(selectors.activity_stats(assignee_id=tz_user.pk, now=THU_0030)) == (1, 1, 0, 0, 2)
    assert selectors.activity_stats(now=THU_0030)["today"] == THURSDAY


def test_done_in_the_last_7_days_starts_at_the_firms_midnight(tz_user):
    # given two activities done either side of Friday 27 February 00:00 in Riyadh
    client = a_client()
    inside = schedule(subject=client, assignee=tz_user, deadline=WEDNESDAY)
    outside = schedule(subject=client, assignee=tz_user, deadline=WEDNESDAY)
    services.activity_complete(activity=inside, now=datetime(2026, 2, 27, 0, 30, tzinfo=RIYADH))
    services.activity_complete(activity=outside, now=datetime(2026, 2, 26, 23, 30, tzinfo=RIYADH))
    # when counted at 00:30 on Thursday 5 March: the window is 27 Feb .. 5 Mar, firm-local
    stats = selectors.activity_stats(assignee_id=tz_user.pk, now=THU_0030)
    # then
    assert stats["done_count"] == 1


def test_the_api_uses_the_firms_today(api_a, tz_user):
    client = a_client()
    schedule(subject=client, assignee=tz_user, deadline=THURSDAY)
    for moment, expected in ((WED_2330, (0, 0, 1)), (THU_0030, (0, 1, 0))):
        with mock.patch("django.utils.timezone.now", return_value=moment.astimezone(UTC)):
            body = api_a.get(f"/api/v1/activities/stats/?assignee={tz_user.pk}").json()
            due_today = api_a.get(f"/api/v1/activities/?due=today&assignee={tz_user.pk}").json()["results"]
        assert (body["overdue_count"], body["today_count"], body["planned_count"]) == expected
        assert len(due_today) == expected[1]


def _brute_force(rows, *, today, done_since, assignee_id=None):
    rows = [r for r in rows if assignee_id is None or r["assignee_id"] == assignee_id]
    pending = [r for r in rows if r["state"] == "scheduled"]
    by_type = Counter(r["type__name"] for r in pending)
    by_subject = Counter(r["subject_content_type__model"] for r in pending)
    return {
        "overdue_count": sum(r["deadline"] < today for r in pending),
        "today_count": sum(r["deadline"] == today for r in pending),
        "planned_count": sum(r["deadline"] > today for r in pending),
        "done_count": sum(r["state"] == "done" and r["done_at"] >= done_since for r in rows),
        "total_pending": len(pending),
        "by_type": dict(by_type),
        "by_subject_type": dict(by_subject),
    }


def test_counters_equal_a_brute_force_count_over_500_random_activities(in_firm_a):
    # given 500 activities with random states, deadlines, done times, assignees, types and subjects
    rng = random.Random(20260305)
    users = [make_user(in_firm_a, f"sla{i}", role="lawyer") for i in range(3)]
    types = [activity_type(name) for name in ("Call", "Meeting", "Email", "Court filing")]
    client = a_client()
    subjects = [client, Case.objects.create(title="Case", client=client), a_client("Other client")]
    rows = []
    for _ in range(500):
        state = rng.choice(["scheduled", "scheduled", "done", "cancelled"])
        activity = Activity(
            subject=rng.choice(subjects),
            type=rng.choice(types),
            assignee=rng.choice(users),
            deadline=THURSDAY + timedelta(days=rng.randint(-20, 20)),
            state=state,
            done_at=THU_0030 - timedelta(minutes=rng.randint(0, 15 * 24 * 60)) if state == "done" else None,
        )
        rows.append(activity)
    Activity.objects.bulk_create(rows)
    everything = list(
        Activity.objects.values(
            "assignee_id", "state", "deadline", "done_at", "type__name", "subject_content_type__model"
        )
    )
    subject_names = {"client": "client", "case": "case"}
    for now in (WED_2330, THU_0030, THU_0030 + timedelta(hours=23)):
        today = now.astimezone(RIYADH).date()
        done_since = datetime.combine(today - timedelta(days=6), datetime.min.time(), tzinfo=RIYADH)
        for assignee in [None, *users]:
            assignee_id = assignee.pk if assignee else None
            # when
            stats = selectors.activity_stats(assignee_id=assignee_id, now=now)
            # then
            expected = _brute_force(everything, today=today, done_since=done_since, assignee_id=assignee_id)
            assert stats["today"] == today
            assert counts(stats) == counts(expected), (now, assignee_id)
            assert {row["type"]: row["count"] for row in stats["by_type"]} == expected["by_type"]
            assert {row["subject_type"]: row["count"] for row in stats["by_subject_type"]} == {
                subject_names[k]: v for k, v in expected["by_subject_type"].items()
            }
    assert selectors.activity_stats(now=THU_0030)["overdue_count"] > 50  # the sample really spans all buckets


def test_stats_cost_a_fixed_number_of_queries(tz_user, django_assert_max_num_queries):
    client = a_client()
    for day in range(30):
        schedule(subject=client, assignee=tz_user, deadline=THURSDAY + timedelta(days=day - 10))
    selectors.activity_stats()  # warm the content-type cache
    # Three statements; django-tenants prefixes each cursor with a SET search_path.
    with django_assert_max_num_queries(6):
        selectors.activity_stats(assignee_id=tz_user.pk)
