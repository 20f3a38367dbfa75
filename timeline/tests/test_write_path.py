"""The write path's contracts (issue 8): deleted entries aren't re-recorded, moves relink in bulk,
and the rows every writer shares are written once per transaction (ADR 0030)."""

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from audit.models import AuditChainHead, AuditEvent
from timeline.models import EntryLink, StatRollup
from timeline.rollups import rollup_fold
from timeline.services import EntryDeletedError, entry_delete, entry_import, entry_restore
from timeline.tests.factories import bulk_entries, client_family, links_of, record
from traf3li.crm import services as crm
from traf3li.crm.models import Case, Client

pytestmark = pytest.mark.django_db


def test_recording_a_deleted_entrys_provider_id_again_is_refused_and_changes_nothing(in_firm_a):
    # given a provider's entry that a user deleted
    client, _, _ = client_family()
    entry = record(client, kind="sms", source="twilio", external_id="SM-deleted", payload={"body": "hi"})
    entry_delete(entry=entry)
    head = AuditChainHead.objects.get(pk=1).seq
    # when the provider replays it
    with pytest.raises(EntryDeletedError, match=entry.activity_id):
        record(client, kind="sms", source="twilio", external_id="SM-deleted", payload={"body": "hi"})
    # then nothing was written, and restoring is the way back
    assert AuditChainHead.objects.get(pk=1).seq == head
    assert entry_restore(entry=entry).deleted_at is None
    assert record(client, kind="sms", source="twilio", external_id="SM-deleted").pk == entry.pk


def test_reposting_a_deleted_entry_through_the_api_is_a_409_naming_it(api_a, firm_a):
    from django_tenants.utils import schema_context

    with schema_context(firm_a.schema_name):
        client = crm.record_create(instance=Client(name="Replayed"))
    body = {"kind": "note", "subject": f"client:{client.pk}", "title": "Imported", "source": "import",
            "external_id": "row-7"}  # fmt: skip
    first = api_a.post("/api/v1/timeline/", body, format="json")
    assert first.status_code == 201, first.content
    stored = first.json()
    assert api_a.delete(f"/api/v1/timeline/{stored['id']}/").status_code == 204
    # when
    again = api_a.post("/api/v1/timeline/", body, format="json")
    # then
    assert again.status_code == 409, again.content
    assert stored["activity_id"] in again.json()["detail"]
    assert api_a.get(f"/api/v1/timeline/{stored['id']}/").status_code == 404


def test_moving_a_contact_relinks_its_entries_in_the_database_not_row_by_row(in_firm_a):
    # given a contact with many entries, and one entry that also names a case of the old client
    old_client, contact, old_case = client_family("Old")
    new_client = crm.record_create(instance=Client(name="New"))
    bulk_entries(contact, [timezone.now() - timedelta(minutes=i) for i in range(300)])
    many = record(contact, title="plain")
    tangled = record(contact, title="also about the case", related=[old_case])
    named = record(contact, title="names the old client itself", related=[old_client])
    statements = []

    def watch(execute, sql, params, many, context):
        statements.append((sql, params))
        return execute(sql, params, many, context)

    # when the contact moves
    with connection.execute_wrapper(watch):
        crm.record_update(instance=contact, data={"client": new_client})
    # then no statement carried the entries or their links through Python: the work is set-based
    # (only the entries with a second parent of their own are recomputed one by one)
    assert len(statements) < 25
    assert max(len(params or ()) for _, params in statements) < 50
    # then each entry shows on the new client, and on the old one only where something else says so
    assert links_of(many) == {("contact", contact.pk), ("client", new_client.pk)}
    assert links_of(tangled) == {("contact", contact.pk), ("case", old_case.pk), ("client", new_client.pk),
                                 ("client", old_client.pk)}  # fmt: skip
    assert links_of(named) == {("contact", contact.pk), ("client", new_client.pk), ("client", old_client.pk)}
    on_contact = entries_on("contact", contact.pk)
    assert len(on_contact) == 304  # the 300, the three above and "Contact added"
    assert on_contact <= entries_on("client", new_client.pk)
    assert entries_on("client", old_client.pk) & on_contact == {tangled.pk, named.pk}


def entries_on(subject_type, subject_id):
    return set(
        EntryLink.objects.filter(subject_type=subject_type, subject_id=subject_id).values_list("entry_id", flat=True)
    )


def test_a_transaction_writes_its_rollups_and_audit_once_at_its_end(in_firm_a):
    # given a transaction recording entries of two kinds, through two services
    client, _, _ = client_family()
    statements = []

    def watch(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    head = AuditChainHead.objects.get(pk=1).seq
    with connection.execute_wrapper(watch), transaction.atomic():
        record(client, kind="call", title="first")
        record(client, kind="email", title="second")
        crm.record_create(instance=Case(title="third", client=client))
        written_before_the_end = [s for s in statements if "audit_auditchainhead" in s or "timeline_statrollup" in s]
    # then nothing shared was touched before the end, and then once each: rollup deltas, then the head
    assert written_before_the_end == []
    sent = " ".join(statements)
    assert sent.count("INSERT INTO timeline_statrollupdelta") == 1
    assert sent.count("FROM audit_auditchainhead WHERE id = 1 FOR UPDATE") == 1
    assert sent.count("UPDATE audit_auditchainhead") == 1
    assert sent.index("INSERT INTO timeline_statrollupdelta") < sent.index("FROM audit_auditchainhead")
    assert AuditChainHead.objects.get(pk=1).seq == head + 4  # three entries (one opens the case) + the case
    rollup_fold()
    assert StatRollup.objects.filter(span="d", performer_id=StatRollup.ALL, kind__in=["call", "email"]).count() == 2
    events = list(AuditEvent.objects.filter(seq__gt=head).order_by("seq"))
    assert [e.seq for e in events] == list(range(head + 1, head + 5))
    assert len({e.occurred_at for e in events}) == 1  # linked together, at the commit


def test_a_rolled_back_savepoint_owes_nothing(in_firm_a):
    client, _, _ = client_family()
    head = AuditChainHead.objects.get(pk=1).seq
    with transaction.atomic():
        kept = record(client, kind="call", title="kept")
        with pytest.raises(RuntimeError), transaction.atomic():
            record(client, kind="sms", title="rolled back")
            raise RuntimeError
    assert AuditChainHead.objects.get(pk=1).seq == head + 1
    assert AuditEvent.objects.get(seq=head + 1).entity_id == kept.pk
    rollup_fold()
    assert not StatRollup.objects.filter(kind="sms", performer_id=StatRollup.ALL).exclude(count=0).exists()


def test_stats_are_exact_before_during_and_after_folding_the_deltas(in_firm_a, api_a):
    from timeline.models import StatRollupDelta
    from timeline.tasks import rollups_fold_task

    client, contact, _ = client_family()

    def stats():
        return api_a.get("/api/v1/timeline/stats/", {"kind": "call"}).json()["total"]

    record(contact, kind="call", payload={"duration_seconds": 30})
    record(client, kind="call")
    assert StatRollupDelta.objects.exists()
    before = stats()
    # when the deltas are folded (the beat task), and more are appended, and folded again
    assert rollups_fold_task.apply().result["folded"] > 0
    assert not StatRollupDelta.objects.exists()
    assert stats() == before
    entry_delete(entry=record(client, kind="call"))
    record(client, kind="call")
    assert stats() == before + 1
    rollup_fold()
    # then the counters alone carry it all
    assert stats() == before + 1 and not StatRollupDelta.objects.exists()


def test_without_a_chain_head_a_write_fails_whole_and_commits_nothing(scratch_firm):
    """The COMMIT rides in the flush's round trip: a flush that can't audit must stop it."""
    from django.db import DatabaseError

    from traf3li.crm.models import Organization

    assert connection.settings_dict["NAME"].startswith("test_")
    name = f"Unaudited {timezone.now().timestamp()}"
    with connection.cursor() as cursor:  # what only a superuser can do: hide the head from the writer
        cursor.execute("ALTER TABLE audit_auditchainhead RENAME TO audit_auditchainhead_away")
        cursor.execute("CREATE TABLE audit_auditchainhead (LIKE audit_auditchainhead_away INCLUDING ALL)")
    try:
        with pytest.raises(DatabaseError, match="audit chain head"):
            crm.record_create(instance=Organization(name=name))
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE audit_auditchainhead")
            cursor.execute("ALTER TABLE audit_auditchainhead_away RENAME TO audit_auditchainhead")
    assert not Organization.objects.filter(name=name).exists()


def test_a_large_import_chunk_links_its_events_in_one_verified_run_of_the_chain(in_firm_a):
    """An import's chunk takes the bulk path (server-bound arrays, the recursive link)."""
    from audit.selectors import chain_verify

    client, contact, _ = client_family()
    head = AuditChainHead.objects.get(pk=1).seq
    items = ({"kind": "note", "subject": contact if i % 2 else client, "title": f"Imported {i}", "source": "import",
              "external_id": f"bulk-{i}"} for i in range(300))  # fmt: skip
    assert entry_import(items=items, chunk_size=300) == 300
    events = list(AuditEvent.objects.filter(seq__gt=head).order_by("seq"))
    assert [e.seq for e in events] == list(range(head + 1, head + 301))
    assert all(b.prev_hash == a.hash for a, b in zip(events, events[1:], strict=False))
    assert AuditChainHead.objects.get(pk=1).hash == events[-1].hash
    assert chain_verify().ok
