import random
from datetime import UTC, datetime, timedelta

import pytest
from django_tenants.utils import schema_context

from timeline.rollups import rollup_rebuild
from timeline.selectors import _direct_totals, entry_stats, stats_shape
from timeline.services import entry_delete, entry_restore, entry_update
from timeline.tests.factories import client_family, record

pytestmark = pytest.mark.django_db

START = datetime(2024, 12, 20, tzinfo=UTC)


@pytest.fixture
def history(in_firm_a, lawyer_a, staff_a):
    """About 120 entries over three months, with durations, performers, and times near midnight."""
    rng = random.Random(4)
    client, contact, case = client_family("Stats")
    entries = []
    for i in range(120):
        kind = rng.choice(["call", "meeting", "email", "note", "sms"])
        payload = {}
        if kind == "call" and rng.random() < 0.8:
            payload = {"duration_seconds": rng.randrange(0, 3600)}
        if kind == "meeting" and rng.random() < 0.8:
            payload = {"actual_duration_minutes": rng.randrange(5, 180)}
        # Half the entries sit within an hour of a Riyadh midnight (21:00 UTC).
        hours = rng.randrange(0, 24 * 90) if i % 2 else rng.randrange(0, 90) * 24 + 21
        entries.append(
            record(
                rng.choice([client, contact, case]),
                kind=kind,
                payload=payload,
                performed_by=rng.choice([lawyer_a, staff_a, None]),
                occurred_at=START + timedelta(hours=hours, minutes=rng.randrange(-59, 60)),
            )
        )
    return entries, lawyer_a


def ranges():
    rng = random.Random(7)
    yield {}
    yield {"since": START + timedelta(days=11, hours=21)}  # a Riyadh midnight
    yield {"until": START + timedelta(days=40, hours=3)}
    yield {"since": START + timedelta(days=1, hours=5), "until": START + timedelta(days=1, hours=9)}
    yield {"since": START + timedelta(days=12, hours=21), "until": START + timedelta(days=43, hours=21)}
    for _ in range(25):
        a = START + timedelta(minutes=rng.randrange(-60 * 24 * 5, 60 * 24 * 95))
        yield {"since": a, "until": a + timedelta(minutes=rng.randrange(1, 60 * 24 * 70))}


def assert_rollups_match(performer):
    for window in ranges():
        for extra in ({}, {"performed_by": [performer.id]}, {"kind": ["call", "meeting"], "subject_type": ["case"]}):
            filters = {**window, **extra}
            assert entry_stats(filters=filters) == stats_shape(_direct_totals(filters)), filters


def test_rollups_equal_the_direct_aggregate(history):
    entries, lawyer = history
    assert_rollups_match(lawyer)
    # given: deletes, a restore and moves in time, kind and performer
    for entry in entries[:15]:
        entry_delete(entry=entry)
    entry_restore(entry=entries[3])
    entry_update(entry=entries[20], data={"occurred_at": START + timedelta(days=70)})
    entry_update(entry=entries[21], data={"kind": "meeting", "payload": {"actual_duration_minutes": 30}})
    entry_update(entry=entries[22], data={"performed_by": lawyer})
    # then
    assert_rollups_match(lawyer)
    # and a rebuild from scratch writes the same numbers
    before = entry_stats(filters={})
    rollup_rebuild()
    assert entry_stats(filters={}) == before
    assert_rollups_match(lawyer)


def test_stats_endpoint_shape_and_durations(api_a, firm_a):
    with schema_context(firm_a.schema_name):
        client, contact, _ = client_family("Durations")
        when = datetime(2023, 5, 1, 9, tzinfo=UTC)
        record(contact, kind="call", payload={"duration_seconds": 60}, occurred_at=when)
        record(contact, kind="call", payload={"duration_seconds": 180}, occurred_at=when)
        record(contact, kind="call", occurred_at=when)  # duration unknown: counted, not averaged
        record(client, kind="meeting", payload={"actual_duration_minutes": 45}, occurred_at=when)
        record(client, kind="note", occurred_at=when)
    response = api_a.get("/api/v1/timeline/stats/?since=2023-05-01&until=2023-05-01")
    assert response.status_code == 200
    assert response.json() == {
        "total": 5,
        "by_kind": {"call": 3, "meeting": 1, "note": 1},
        "by_subject_type": {"client": 2, "contact": 3},
        "communications": [
            {"kind": "call", "count": 3, "avg_duration_minutes": 2.0},
            {"kind": "email", "count": 0, "avg_duration_minutes": None},
            {"kind": "sms", "count": 0, "avg_duration_minutes": None},
            {"kind": "whatsapp", "count": 0, "avg_duration_minutes": None},
            {"kind": "meeting", "count": 1, "avg_duration_minutes": 45.0},
        ],
    }
    subject = api_a.get(f"/api/v1/timeline/stats/?since=2023-05-01&until=2023-05-01&subject=client:{client.id}")
    assert subject.json()["total"] == 5
    contact_only = api_a.get(f"/api/v1/timeline/stats/?since=2023-05-01&until=2023-05-01&subject=contact:{contact.id}")
    assert contact_only.json()["by_kind"] == {"call": 3}


def test_stats_days_are_the_firms_days(api_a, firm_a):
    # given: 22:30 UTC on 1 May is already 01:30 on 2 May in Riyadh (the test firm's timezone)
    with schema_context(firm_a.schema_name):
        client, _, _ = client_family("Late caller")
        record(client, kind="call", occurred_at=datetime(2022, 5, 1, 22, 30, tzinfo=UTC))
    # then
    stats = "/api/v1/timeline/stats/?kind=call&since={day}&until={day}"
    assert api_a.get(stats.format(day="2022-05-01")).json()["total"] == 0
    assert api_a.get(stats.format(day="2022-05-02")).json()["total"] == 1
