"""A firm that changes its timezone gets its stat rollups re-cut by its new local day (issue 8, defect 3).

The entries are recorded while the firm is in Riyadh (UTC+3, no DST), so the rollups start cut by
Riyadh's days; the firm then moves to Europe/London. The moments sit around both zones' midnights,
around London's two 2026 clock changes (23- and 25-hour days) and at a month's edge, so a rollup left
in the old zone puts some of them on the wrong day or month.
"""

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test import Client as BrowserClient
from django_tenants.utils import schema_context

from timeline.models import Entry
from timeline.tests.factories import client_family, record
from traf3li.firms.models import Firm
from traf3li.firms.services import firm_update
from traf3li.firms.signals import firm_timezone_changed
from traf3li.users.models import User

pytestmark = pytest.mark.django_db

LONDON = ZoneInfo("Europe/London")


def utc(*args):
    return datetime(*args, tzinfo=UTC)


MOMENTS = [
    # Around midnight in January: Riyadh's 16th starts at 21:00 UTC on the 15th, London's at 00:00.
    utc(2026, 1, 15, 20, 30),
    utc(2026, 1, 15, 21, 30),
    utc(2026, 1, 15, 23, 30),
    utc(2026, 1, 16, 0, 30),
    # London springs forward at 01:00 UTC on 29 March: that day runs 00:00-23:00 UTC.
    utc(2026, 3, 28, 23, 30),
    utc(2026, 3, 29, 0, 30),
    utc(2026, 3, 29, 1, 30),
    utc(2026, 3, 29, 22, 30),
    utc(2026, 3, 29, 23, 30),
    # 31 March 21:30 UTC is 1 April in Riyadh but still March in London: the month rows move too.
    utc(2026, 3, 31, 21, 30),
    utc(2026, 3, 31, 23, 30),
    # London falls back at 01:00 UTC on 25 October: that day runs 23:00 UTC on the 24th to 00:00 on the 26th.
    utc(2026, 10, 24, 22, 30),
    utc(2026, 10, 24, 23, 30),
    utc(2026, 10, 25, 0, 30),
    utc(2026, 10, 25, 1, 30),
    utc(2026, 10, 25, 23, 30),
    utc(2026, 10, 26, 0, 30),
]
KINDS = ["call", "note", "meeting"]

# Every London day around the moments, then ranges that read day rows and month rows together.
DAYS = {m.astimezone(LONDON).date() + timedelta(days=k) for m in MOMENTS for k in (-1, 0, 1)}
RANGES = [(day, day) for day in sorted(DAYS)]
RANGES += [
    (date(2026, 1, 1), date(2026, 1, 31)),
    (date(2026, 3, 1), date(2026, 3, 31)),
    (date(2026, 4, 1), date(2026, 4, 30)),
    (date(2026, 1, 16), date(2026, 3, 29)),
    (date(2026, 3, 29), date(2026, 10, 25)),
    (date(2026, 3, 30), date(2026, 10, 24)),
    (date(2026, 10, 1), date(2026, 10, 31)),
    (date(2026, 1, 1), date(2026, 12, 31)),
]


@pytest.fixture
def riyadh_entries(firm_a):
    assert firm_a.timezone == "Asia/Riyadh"
    with schema_context(firm_a.schema_name):
        subjects = client_family("Timezone mover")
        ours = []
        for i, moment in enumerate(MOMENTS):
            payload = {"duration_seconds": 60 * (i + 1)} if KINDS[i % 3] == "call" else {}
            ours.append(record(subjects[i % 3], kind=KINDS[i % 3], occurred_at=moment, payload=payload).pk)
    connection.set_schema_to_public()
    return ours


def london_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    end = last + timedelta(days=1)
    return datetime.combine(first, time.min, tzinfo=LONDON), datetime.combine(end, time.min, tzinfo=LONDON)


def assert_stats_cut_by_london_days(api, firm, ours):
    """Stats, the list and a direct aggregate agree for every range, by the London day.

    The direct aggregate counts every live entry (creating the subjects records some "now"); ours
    alone must fall on the London days that zoneinfo gives, so the ranges really move them.
    """
    for first, last in RANGES:
        query = f"since={first}&until={last}"
        since, until = london_bounds(first, last)
        with schema_context(firm.schema_name):
            live = Entry.objects.live().filter(occurred_at__gte=since, occurred_at__lt=until)
            direct = Counter(live.values_list("kind", flat=True))
            mine = Counter(live.filter(pk__in=ours).values_list("kind", flat=True))
        connection.set_schema_to_public()
        assert mine == Counter(KINDS[i % 3] for i, moment in enumerate(MOMENTS) if since <= moment < until), query
        listed = api.get(f"/api/v1/timeline/?{query}&page_size=200").json()
        assert listed["next"] is None
        assert len(listed["results"]) == direct.total(), query
        stats = api.get(f"/api/v1/timeline/stats/?{query}").json()
        assert (stats["total"], stats["by_kind"]) == (direct.total(), dict(sorted(direct.items()))), query
        calls = api.get(f"/api/v1/timeline/stats/?{query}&kind=call").json()
        assert calls["total"] == direct["call"], query


def test_an_api_timezone_change_recuts_the_stats(riyadh_entries, api_a, firm_a):
    response = api_a.patch("/api/v1/firm/", {"timezone": "Europe/London"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["timezone"] == "Europe/London"
    assert_stats_cut_by_london_days(api_a, firm_a, riyadh_entries)


def test_a_platform_admin_timezone_change_recuts_the_stats(riyadh_entries, api_a, firm_a):
    # given: the platform operator, on the public host (public schema), edits the firm
    root = User.objects.create_superuser("platform_root", "root@platform.example", "pw-123456789")
    browser = BrowserClient(HTTP_HOST="localhost")
    browser.force_login(root)
    page = browser.post(
        f"/admin/firms/firm/{firm_a.pk}/change/",
        {
            "name": firm_a.name,
            "timezone": "Europe/London",
            "vat_number": "",
            "phone_region": "SA",
            "address": "",
            "domains-TOTAL_FORMS": "0",
            "domains-INITIAL_FORMS": "0",
        },
    )
    assert page.status_code == 302, page.content[:1500]
    assert Firm.objects.get(pk=firm_a.pk).timezone == "Europe/London"
    # then
    assert_stats_cut_by_london_days(api_a, firm_a, riyadh_entries)


def test_the_service_recuts_the_stats_from_the_public_schema(riyadh_entries, api_a, firm_a):
    # given: a stale copy of the firm, as a management command or a task would hold it
    firm = Firm.objects.get(pk=firm_a.pk)
    assert connection.schema_name == "public"
    firm_update(firm=firm, data={"timezone": "Europe/London"})
    assert connection.schema_name == "public"
    assert_stats_cut_by_london_days(api_a, firm_a, riyadh_entries)


def test_the_signal_fires_only_when_the_timezone_changes(firm_a):
    seen = []

    def listener(sender, firm, old_timezone, new_timezone, **kwargs):
        seen.append((firm.pk, old_timezone, new_timezone))

    firm_timezone_changed.connect(listener)
    try:
        firm_update(firm=Firm.objects.get(pk=firm_a.pk), data={"name": "Alpha Law (renamed)"})
        firm_update(firm=Firm.objects.get(pk=firm_a.pk), data={"timezone": "Asia/Riyadh"})
        assert seen == []
        firm_update(firm=Firm.objects.get(pk=firm_a.pk), data={"timezone": "Europe/London"})
        assert seen == [(firm_a.pk, "Asia/Riyadh", "Europe/London")]
    finally:
        firm_timezone_changed.disconnect(listener)


def test_a_failed_recut_leaves_the_old_timezone(riyadh_entries, api_a, firm_a):
    """Sent inside the change's transaction: stats never disagree with the timezone that committed."""

    def broken(sender, **kwargs):
        raise RuntimeError("re-cut failed")

    firm_timezone_changed.connect(broken)
    try:
        with pytest.raises(RuntimeError, match="re-cut failed"):
            firm_update(firm=Firm.objects.get(pk=firm_a.pk), data={"timezone": "Europe/London"})
    finally:
        firm_timezone_changed.disconnect(broken)
    assert Firm.objects.get(pk=firm_a.pk).timezone == "Asia/Riyadh"
    day = api_a.get("/api/v1/timeline/stats/?since=2026-01-16&until=2026-01-16").json()
    listed = api_a.get("/api/v1/timeline/?since=2026-01-16&until=2026-01-16").json()["results"]
    assert day["total"] == len(listed) == 3  # Riyadh's 16 January: 21:30, 23:30 and 00:30 UTC
