"""Append-only at the database, a verifiable hash chain per firm, and the two audited bypasses."""

import threading
from datetime import timedelta
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django_tenants.utils import schema_context

from audit import chain
from audit.models import AuditChainAnchor, AuditChainHead, AuditEvent
from audit.selectors import (
    REASON_GAP,
    REASON_HASH,
    REASON_PAYLOAD,
    REASON_PREV,
    REASON_TAIL,
    chain_verify,
)
from audit.services import REDACTED, audit_erase, audit_purge, current_clock
from audit.tests.tail import Tail
from conftest import api_client_for, make_user, token_for
from traf3li.core.subjects import SubjectRef
from traf3li.crm import services as crm_services
from traf3li.crm.models import Case, Client, Contact, Organization
from traf3li.firms.models import Firm

pytestmark = pytest.mark.django_db

REFUSED = [
    "UPDATE audit_auditevent SET action = 'view'",
    "UPDATE audit_auditevent SET changes = '{}'::jsonb",
    "DELETE FROM audit_auditevent",
    "TRUNCATE audit_auditevent",
    "UPDATE audit_auditchainhead SET seq = seq + 10",
    "DELETE FROM audit_auditchainhead",
    "TRUNCATE audit_auditchainhead",
    "TRUNCATE audit_auditchainanchor",
]
TRIGGERS = {
    ("audit_auditevent", "audit_event_append_only"),
    ("audit_auditevent", "audit_event_no_truncate"),
    ("audit_auditchainhead", "audit_head_forward_only"),
    ("audit_auditchainhead", "audit_head_no_truncate"),
    ("audit_auditchainanchor", "audit_anchor_append_only"),
    ("audit_auditchainanchor", "audit_anchor_no_truncate"),
}


def firm_schemas() -> list[str]:
    firms = Firm.objects.exclude(schema_name="public").order_by("schema_name")
    return list(firms.values_list("schema_name", flat=True))


def organizations(*names: str) -> list[Organization]:
    return [crm_services.record_create(instance=Organization(name=name)) for name in names]


def event_of(instance, action: str = "create") -> AuditEvent:
    return AuditEvent.objects.get(entity_type="organization", entity_id=instance.pk, action=action)


def tamper(sql: str, params=()) -> None:
    """What a superuser can do: switch triggers off for the session, then write."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params)
        cursor.execute("SET LOCAL session_replication_role = origin")


@pytest.mark.parametrize("statement", REFUSED)
def test_the_database_refuses_rewriting_the_log_in_every_firm_schema(statement, firm_a, firm_b):
    schemas = firm_schemas()
    assert {"alpha", "beta"} <= set(schemas)
    for schema in schemas:
        with schema_context(schema):
            organizations(f"row in {schema}")  # row triggers only fire on existing rows
            with pytest.raises(DatabaseError, match="append-only|only moves forward"), transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute(statement)
            assert AuditEvent.objects.exists()


def test_every_firm_schema_has_the_triggers(firm_a):
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT n.nspname, c.relname, t.tgname
              FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE t.tgname LIKE 'audit_%%' AND NOT t.tgisinternal AND t.tgenabled = 'O'
            """
        )
        rows = cursor.fetchall()
    for schema in firm_schemas():
        assert {(table, name) for nsp, table, name in rows if nsp == schema} == TRIGGERS, schema
    assert not any(nsp == "public" for nsp, _, _ in rows)


def test_a_new_firm_starts_its_chain_with_its_own_creation(db):
    from traf3li.firms.services import firm_create

    # given a firm created now (rolled back with the test, schema included)
    firm = firm_create(slug="audit_newco", name="NewCo Law", admin_username="root", admin_password="pw-12345678").firm
    with schema_context(firm.schema_name):
        events = list(AuditEvent.objects.order_by("seq"))
        # then its log opens with the firm, then its admin, linked from the genesis hash
        assert [(e.seq, e.action, e.entity_type) for e in events] == [(1, "create", "firm"), (2, "create", "user")]
        assert events[0].prev_hash == chain.GENESIS_HASH and events[1].prev_hash == events[0].hash
        assert events[0].changes["after"]["name"] == "NewCo Law"
        assert chain_verify().as_dict() == {"ok": True, "checked": 2}
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("TRUNCATE audit_auditevent")


def test_events_link_to_the_one_before(in_firm_a):
    first, second = organizations("One", "Two")
    a, b = event_of(first), event_of(second)
    assert b.seq == a.seq + 1 and b.prev_hash == a.hash
    assert chain.event_link_hash(b) == b.hash
    head = AuditChainHead.objects.get(pk=1)
    assert (head.seq, head.hash) == (b.seq, b.hash)
    assert chain_verify().ok


@pytest.mark.parametrize(
    ("sql", "reason", "named"),
    [
        ("UPDATE audit_auditevent SET changes = jsonb_set(changes, '{after,name}', '\"Forged\"') WHERE id = %s",
         REASON_PAYLOAD, "victim"),
        ("UPDATE audit_auditevent SET actor_name = 'Someone else' WHERE id = %s", REASON_PAYLOAD, "victim"),
        ("UPDATE audit_auditevent SET action = 'delete' WHERE id = %s", REASON_HASH, "victim"),
        # The new time comes from Python: Citus refuses a STABLE operator (timestamptz - interval)
        # applied to a column in an UPDATE.
        ("UPDATE audit_auditevent SET occurred_at = %(day_before)s WHERE id = %(victim)s", REASON_HASH, "victim"),
        # Marked erased without an erasure proof: nothing vouches for its fields any more (ADR 0063).
        ("UPDATE audit_auditevent SET erased_at = now(), payload_salt = '' WHERE id = %s", REASON_PAYLOAD, "victim"),
        ("UPDATE audit_auditevent SET hash = md5(hash) || md5(hash) WHERE id = %s", REASON_HASH, "victim"),
        ("DELETE FROM audit_auditevent WHERE id = %s", REASON_GAP, "next"),
    ],
)  # fmt: skip
def test_verify_names_the_event_a_superuser_altered(in_firm_a, sql, reason, named):
    # given three events and an intact chain
    before, victim, after = organizations("Before", "Victim", "After")
    ids = {"victim": event_of(victim).id, "next": event_of(after).id}
    assert chain_verify().ok
    # when a superuser rewrites the middle one with the triggers off
    if "%(" in sql:
        tamper(sql, {"victim": ids["victim"], "day_before": event_of(victim).occurred_at - timedelta(days=1)})
    else:
        tamper(sql, [ids["victim"]])
    # then verify stops there and names it
    result = chain_verify()
    assert (result.ok, result.event_id, result.reason) == (False, ids[named], reason)


def test_rehashing_a_forged_event_breaks_the_next_link(in_firm_a):
    _, victim, after = organizations("Before", "Victim", "After")
    forged = event_of(victim)
    forged.action = "delete"
    tamper("UPDATE audit_auditevent SET action = 'delete', hash = %s WHERE id = %s", [chain.event_link_hash(forged),
                                                                                      forged.id])  # fmt: skip
    result = chain_verify()
    assert (result.ok, result.event_id, result.reason) == (False, event_of(after).id, REASON_PREV)


def test_cutting_off_the_newest_events_is_found(in_firm_a):
    first, last = organizations("Stays", "Cut")
    tamper("DELETE FROM audit_auditevent WHERE id = %s", [event_of(last).id])
    result = chain_verify()
    assert (result.ok, result.event_id, result.reason) == (False, event_of(first).id, REASON_TAIL)


def test_verify_endpoint_and_command_report_the_broken_link(api_a, firm_a):
    with schema_context("alpha"):
        _, victim, _ = organizations("A", "B", "C")
        victim_id = event_of(victim).id
    assert api_a.get("/api/v1/audit/verify/").data["ok"] is True
    with schema_context("alpha"):
        tamper("UPDATE audit_auditevent SET entity_name = 'X' WHERE id = %s", [victim_id])
    # the default walk starts after the last sound verify: an event before it is the full walk's to check
    assert api_a.get("/api/v1/audit/verify/").json() == {"ok": True, "checked": 0}
    body = api_a.get("/api/v1/audit/verify/?full=true").json()
    assert body["ok"] is False and body["event_id"] == victim_id and body["reason"] == REASON_PAYLOAD
    with pytest.raises(CommandError, match="alpha"):
        call_command("audit_verify", "--firm", "alpha")


def test_audit_verify_command_walks_every_firm(firm_a, capsys):
    call_command("audit_verify")
    out = capsys.readouterr().out
    for schema in firm_schemas():
        assert f"{schema}: ok" in out
    with pytest.raises(CommandError, match="No firm with slug 'nope'"):
        call_command("audit_verify", "--firm", "nope")


def test_purge_deletes_old_events_keeps_legal_holds_and_still_verifies(in_firm_a):
    # given old events, one of them on a case under legal hold, then newer ones
    old_a, old_b = organizations("Old A", "Old B")
    held = crm_services.record_create(instance=Case(title="Held", client=crm_services.record_create(
        instance=Client(name="Held client")), legal_hold=True))  # fmt: skip
    old_c = organizations("Old C")[0]
    cutoff = current_clock()
    new = organizations("New")[0]
    # when the retention purge runs
    tail = Tail("alpha")
    deleted = audit_purge(before=cutoff)
    # then the old events went, the held case's stayed, and the chain still verifies
    assert deleted >= 3
    assert not AuditEvent.objects.filter(entity_type="organization", entity_id__in=[old_a.pk, old_b.pk, old_c.pk])
    assert AuditEvent.objects.filter(entity_type="case", entity_id=held.pk).exists()
    assert AuditEvent.objects.filter(entity_type="organization", entity_id=new.pk).exists()
    assert AuditChainAnchor.objects.exists()
    purge = tail.one()
    assert purge.action == "purge" and purge.changes["after"]["deleted"] == deleted
    assert chain_verify().ok
    # and the bypass closed behind it
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM audit_auditevent")


def test_a_purge_that_fails_before_its_record_deletes_nothing(in_firm_a):
    organizations("Kept 1", "Kept 2")
    before = AuditEvent.objects.count()
    # when the purge's own record can't be written, after the events were deleted
    with mock.patch("audit.services._append", side_effect=RuntimeError("disk full")):
        with pytest.raises(RuntimeError):
            audit_purge(before=current_clock())
    # then it was one transaction: every event is still there, and the chain verifies
    assert AuditEvent.objects.count() == before and not AuditChainAnchor.objects.exists()
    assert chain_verify().ok


def test_purging_the_newest_events_too_still_verifies(in_firm_a):
    organizations("Gone 1", "Gone 2")
    assert audit_purge(before=current_clock()) >= 2
    assert chain_verify().ok


def test_erasure_blanks_a_persons_data_and_the_chain_still_verifies(in_firm_a):
    # given a contact whose name, email and phone sit in several events
    client = crm_services.record_create(instance=Client(name="Client of Sara"))
    contact = crm_services.record_create(
        instance=Contact(name="Sara Secret", email="sara.secret@example.com", phone="0551234567", client=client)
    )
    crm_services.record_update(instance=contact, data={"phone": "0559876543"})
    about_her = AuditEvent.objects.filter(entity_type="contact", entity_id=contact.pk).order_by("seq")
    ids = list(about_her.values_list("id", flat=True))
    tail = Tail("alpha")
    # when erased
    count = audit_erase(subject=f"contact:{contact.pk}")
    # then no trace of her data is left in the log, the chain verifies, and the erasure is itself recorded
    assert count == len(ids) == 2
    dump = str(list(about_her.values("entity_name", "changes", "actor_name", "metadata")))
    for secret in ("Sara Secret", "sara.secret@example.com", "+966551234567", "+966559876543"):
        assert secret not in dump
    erased = AuditEvent.objects.get(id=ids[0])
    assert erased.entity_name == REDACTED and erased.payload_salt == "" and erased.erased_at is not None
    assert erased.changes["after"]["name"] == REDACTED and erased.changes["after"]["client_id"] == client.pk
    record = tail.one()
    assert record.action == "erase" and sorted(record.changes["after"]["redacted_events"]) == sorted(ids)
    assert chain_verify().ok


def test_erasing_a_user_blanks_what_they_did_too(in_firm_a):
    clerk = make_user(in_firm_a, "clerk", role="staff", first_name="Nora", last_name="Hidden")
    from traf3li.core.context import action_context

    with action_context(source="api", ip="10.1.2.3", user_agent="NoraBrowser", user=clerk):
        org = organizations("Touched by Nora")[0]
    audit_erase(subject=f"user:{clerk.pk}")
    did = event_of(org)
    assert (did.actor_name, did.actor_email, did.metadata["ip"], did.actor_id) == (REDACTED, "", None, clerk.pk)
    assert chain_verify().ok


def test_the_erase_bypass_cannot_touch_what_the_hash_covers(in_firm_a):
    org = organizations("Protected")[0]
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('traf3li.audit_bypass', 'erase', true)")
            cursor.execute(
                "UPDATE audit_auditevent SET action = 'view', erased_at = now() WHERE id = %s", [event_of(org).id]
            )


def test_an_open_writer_blocks_nobody_and_the_chain_follows_commit_order(scratch_firm):
    """The head is taken at commit (ADR 0030): a long transaction holds no firm-wide lock."""
    holding, release, errors, made = threading.Event(), threading.Event(), [], {}

    def on_own_connection(target):
        def run():
            try:
                connection.set_tenant(scratch_firm)  # this thread's own connection, really committing
                target()
            except Exception as exc:  # surfaced below
                errors.append(exc)
                holding.set()
            finally:
                connection.close()

        return threading.Thread(target=run)

    def long_writer():
        with transaction.atomic():
            made["long"] = organizations("Long transaction")[0]
            holding.set()
            assert release.wait(timeout=30)

    def quick_writer():
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '200ms'")
            made["quick"] = organizations("Not blocked")[0]

    long = on_own_connection(long_writer)
    long.start()
    try:
        assert holding.wait(timeout=30)
        # when a second connection appends and commits while the first's transaction is open
        quick = on_own_connection(quick_writer)
        quick.start()
        quick.join(timeout=30)
    finally:
        release.set()
        long.join(timeout=30)
    assert errors == []
    # then the first, committed later, links to the second's event
    a, b = event_of(made["quick"]), event_of(made["long"])
    assert b.seq == a.seq + 1 and b.prev_hash == a.hash


def test_concurrent_writers_leave_one_linear_chain(scratch_firm):
    # given four threads, each on its own connection, appending 25 committed events at once
    start = AuditChainHead.objects.get(pk=1).seq
    barrier, errors = threading.Barrier(4), []

    def writer(n: int):
        try:
            connection.set_tenant(scratch_firm)
            barrier.wait(timeout=10)
            for i in range(25):
                organizations(f"race {n}-{i}")
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    # then the new events form one gapless chain, each linked to the one before
    events = list(AuditEvent.objects.filter(seq__gt=start).order_by("seq").values("seq", "prev_hash", "hash"))
    assert len([e for e in events]) >= 100
    assert [e["seq"] for e in events] == list(range(start + 1, start + 1 + len(events)))
    assert all(b["prev_hash"] == a["hash"] for a, b in zip(events, events[1:], strict=False))
    # and the whole scratch chain, old runs included, verifies
    assert chain_verify().ok


def test_firm_b_cannot_verify_or_read_firm_as_chain(api_a, api_b, firm_a, firm_b, admin_a):
    with schema_context("alpha"):
        organizations("Alpha secret")
    key = token_for(firm_a, admin_a)
    assert "Alpha secret" not in str(api_b.get("/api/v1/audit/").json())
    stranger = api_client_for(firm_b)
    stranger.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert stranger.get("/api/v1/audit/verify/").status_code == 401


def test_subject_ref_of_a_purge_names_the_firm(in_firm_a):
    audit_purge(before=current_clock())
    purge = AuditEvent.objects.filter(action="purge").latest("seq")
    assert SubjectRef(purge.entity_type, purge.entity_id) == SubjectRef("firm", in_firm_a.pk)


def test_erasure_also_blanks_events_the_caller_found_quoting_the_person(in_firm_a):
    contact = crm_services.record_create(instance=Contact(name="Quoted Person"))
    quoting = organizations("Org")[0]
    crm_services.record_update(instance=quoting, data={"website": "https://example.com/quoted-person"})
    found = AuditEvent.objects.filter(entity_type="organization", entity_id=quoting.pk, action="update")
    audit_erase(subject=f"contact:{contact.pk}", events=found, fields=["website"])
    redacted = found.get()
    assert redacted.changes["after"]["website"] == REDACTED and redacted.entity_name == "Org"
    assert redacted.erased_at is not None and chain_verify().ok
