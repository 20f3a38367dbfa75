import re
from datetime import UTC, date, datetime

import pytest
from django.core.exceptions import ValidationError

from audit.models import AuditEvent
from timeline.models import Entry, EntryLink, StatRollup
from timeline.rollups import rollup_fold
from timeline.services import entry_delete, entry_import, entry_record, entry_restore, entry_update
from timeline.tests.factories import client_family, links_of, record

pytestmark = pytest.mark.django_db


def test_record_assigns_activity_id_names_links_and_audit(in_firm_a, admin_a):
    # given
    client, contact, case = client_family("Huda")
    # when
    entry = entry_record(
        kind="call",
        subject=contact,
        related=[case],
        title="Called about the hearing",
        performed_by=admin_a,
        payload={"direction": "outbound", "duration_seconds": 300, "outcome": "connected"},
    )
    # then
    assert re.fullmatch(r"ACT-\d{6}-\d{6}", entry.activity_id)
    assert entry.subject_name == "Huda contact"
    assert entry.related == [{"type": "case", "id": case.id, "name": "Huda case"}]
    assert entry.performed_by_name == admin_a.display_name
    assert entry.duration_seconds == 300
    assert links_of(entry) == {("contact", contact.id), ("case", case.id), ("client", client.id)}
    event = AuditEvent.objects.get(entity_type="entry", entity_id=entry.id)
    assert event.action == "create" and event.case_id == case.id


def test_activity_ids_are_distinct_and_increasing(in_firm_a):
    client, _, _ = client_family()
    ids = [record(client).activity_id for _ in range(3)]
    assert len(set(ids)) == 3
    assert ids == sorted(ids)


def test_same_source_and_external_id_is_recorded_once(in_firm_a):
    client, _, _ = client_family()
    first = record(client, kind="sms", source="twilio", external_id="SM123", payload={"body": "hi"})
    second = record(client, kind="sms", source="twilio", external_id="SM123", payload={"body": "hi"})
    assert first.pk == second.pk
    assert Entry.objects.filter(external_id="SM123").count() == 1
    # The same id from another provider is another event.
    assert record(client, kind="sms", source="whatsapp", external_id="SM123").pk != first.pk


@pytest.mark.parametrize(
    ("kind", "payload", "field"),
    [
        ("call", {"duration_seconds": "five"}, "duration_seconds"),
        ("call", {"duration_seconds": -1}, "duration_seconds"),
        ("call", {"mood": "happy"}, "mood"),
        ("email", {"to": "a@b.c"}, "to"),
        ("task", {"deadline": "tomorrow"}, "deadline"),
        ("task", {"action": "archived"}, "action"),
        ("meeting", {"participants": [{"subject": "contact:1", "extra": 1}]}, "participants[0].extra"),
    ],
)
def test_bad_payload_names_the_field(in_firm_a, kind, payload, field):
    client, _, _ = client_family()
    before = Entry.objects.count()
    with pytest.raises(ValidationError) as exc:
        record(client, kind=kind, payload=payload)
    assert any(message.startswith(f"{field}: ") for message in exc.value.message_dict["payload"])
    assert Entry.objects.count() == before


def test_task_payload_accepts_the_activities_contract(in_firm_a):
    client, _, _ = client_family()
    payload = {
        "activity_id": 7,
        "activity_type": "Call back",
        "action": "completed",
        "state": "done",
        "deadline": "2026-03-01",
        "assignee": "Faisal",
        "feedback": "Done",
        "next_activity_id": None,
    }
    assert record(client, kind="task", payload=payload).payload == payload


def test_soft_delete_and_restore_keep_links_and_rollups_in_step(in_firm_a):
    # given
    client, contact, _ = client_family()
    entry = record(contact, kind="call", payload={"duration_seconds": 60})
    rollup_fold()
    stat = StatRollup.objects.get(kind="call", span="d", performer_id=StatRollup.ALL)
    assert (stat.count, stat.duration_count, stat.duration_seconds) == (1, 1, 60)
    # when
    entry_delete(entry=entry)
    # then
    rollup_fold()
    stat.refresh_from_db()
    assert (stat.count, stat.duration_count, stat.duration_seconds) == (0, 0, 0)
    assert links_of(entry) == set()
    assert AuditEvent.objects.filter(entity_type="entry", entity_id=entry.id, action="delete").exists()
    # when
    entry_restore(entry=entry)
    # then
    rollup_fold()
    stat.refresh_from_db()
    assert stat.count == 1
    assert links_of(entry) == {("contact", contact.id), ("client", client.id)}


def test_update_moves_rollups_and_links(in_firm_a):
    # given
    client, contact, case = client_family()
    other, _, _ = client_family("Other")
    entry = record(contact, kind="note", occurred_at=datetime(2025, 1, 5, 10, tzinfo=UTC))
    # when
    entry_update(entry=entry, data={"subject": other, "occurred_at": datetime(2025, 2, 5, 10, tzinfo=UTC)})
    # then
    assert links_of(entry) == {("client", other.id)}
    assert EntryLink.objects.get(entry=entry).occurred_at == datetime(2025, 2, 5, 10, tzinfo=UTC)
    rollup_fold()
    assert set(
        StatRollup.objects.filter(count__gt=0, kind="note", day__year=2025).values_list("span", "day", "subject_type")
    ) == {
        ("d", date(2025, 2, 5), "client"),
        ("m", date(2025, 2, 1), "client"),
    }
    assert AuditEvent.objects.filter(entity_type="entry", entity_id=entry.id, action="update").exists()


def test_import_records_many_skips_known_provider_ids_and_audits_each(in_firm_a):
    # given
    client, contact, _ = client_family()
    known = record(client, kind="sms", source="twilio", external_id="SM-known")
    items = [
        {"kind": "sms", "subject": contact, "title": f"SMS {i}", "source": "twilio", "external_id": f"SM-{i}"}
        for i in range(5)
    ]
    items += [
        {"kind": "sms", "subject": contact, "title": "Replay", "source": "twilio", "external_id": "SM-known"},
        {"kind": "sms", "subject": contact, "title": "Twice in one batch", "source": "twilio", "external_id": "SM-1"},
    ]
    # when
    stored = entry_import(items=iter(items), chunk_size=3)  # a generator, over three transactions
    # then
    made = list(
        Entry.objects.filter(source="twilio", external_id__startswith="SM-").exclude(pk=known.pk).order_by("id")
    )
    assert stored == 5
    assert [e.title for e in made] == [f"SMS {i}" for i in range(5)]
    assert len({e.activity_id for e in made} | {known.activity_id}) == 6
    assert all(links_of(e) == {("contact", contact.id), ("client", client.id)} for e in made)
    assert (
        AuditEvent.objects.filter(entity_type="entry", entity_id__in=[e.id for e in made], action="create").count() == 5
    )
    rollup_fold()
    assert StatRollup.objects.get(span="d", performer_id=StatRollup.ALL, kind="sms", subject_type="contact").count == 5
