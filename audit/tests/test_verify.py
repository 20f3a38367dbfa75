"""The application's own role can't rewrite the log (ADR 0062); verify can't be fooled by an
anchor no purge vouches for, raises no false alarm on a concurrent append, and checks what was
appended since its last sound walk (ADR 0035)."""

import threading

import pytest
from django.db import ProgrammingError, connection, transaction
from django_tenants.utils import schema_context
from psycopg import errors

from audit import selectors
from audit.models import AuditChainAnchor, AuditEvent, AuditVerifyCheckpoint
from audit.selectors import REASON_PAYLOAD, REASON_UNVOUCHED, chain_verify
from audit.services import audit_purge, current_clock
from audit.tests.test_chain import organizations, tamper
from traf3li.core.db import APP_ROLE, AUDIT_ROLE
from traf3li.crm import services as crm_services
from traf3li.crm.models import Organization


def _refused_to_the_app(sql: str, params=()) -> None:
    with pytest.raises(ProgrammingError) as refused:
        with transaction.atomic(), connection.cursor() as cursor:  # a savepoint: the test goes on
            cursor.execute(sql, params)
    assert isinstance(refused.value.__cause__, errors.InsufficientPrivilege), refused.value


@pytest.mark.django_db
def test_the_review_attack_run_with_the_applications_own_role_is_caught(in_firm_a):
    # given three events, and the connection switched to the product's own role (ADR 0062)
    organizations("A", "B", "C")
    victim = AuditEvent.objects.order_by("-seq")[1]
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL ROLE {APP_ROLE}")
        # the old bypass is only a setting now: anyone may set it, and it opens nothing
        cursor.execute("SELECT set_config('traf3li.audit_bypass', 'purge', true)")
    # when it deletes event N and inserts the anchor (N, hash_N), or tries any other way round
    _refused_to_the_app("DELETE FROM audit_auditevent WHERE id = %s", [victim.pk])
    _refused_to_the_app(
        "INSERT INTO audit_auditchainanchor (seq, hash, purged_at) VALUES (%s, %s, now())", [victim.seq, victim.hash]
    )
    _refused_to_the_app("UPDATE audit_auditevent SET entity_name = 'X' WHERE id = %s", [victim.pk])
    _refused_to_the_app("TRUNCATE audit_auditevent")
    _refused_to_the_app("ALTER TABLE audit_auditevent DISABLE TRIGGER ALL")
    _refused_to_the_app("SET session_replication_role = replica")
    with connection.cursor() as cursor:  # nor may it become the audit role (SET ROLE checks the login, here ours)
        cursor.execute("SELECT pg_has_role(%s, %s, 'MEMBER')", [APP_ROLE, AUDIT_ROLE])
        assert cursor.fetchone()[0] is False
    # then the one way it has left, the purge function itself, leaves an anchor no purge event vouches for
    with connection.cursor() as cursor:
        cursor.execute("SELECT deleted FROM audit_purge_events(ARRAY[%s]::bigint[])", [victim.pk])
        assert cursor.fetchone()[0] == 1
        cursor.execute("RESET ROLE")
    result = chain_verify()
    assert result.ok is False and result.seq == victim.seq + 1 and result.reason == REASON_UNVOUCHED


@pytest.mark.django_db
def test_an_event_a_superuser_deleted_behind_an_anchor_of_its_own_is_caught(in_firm_a):
    # the attack with every right: triggers off, event N deleted, an anchor (N, hash_N) inserted
    organizations("A", "B", "C")
    victim = AuditEvent.objects.order_by("-seq")[1]
    tamper("DELETE FROM audit_auditevent WHERE id = %s", [victim.pk])
    tamper(
        "INSERT INTO audit_auditchainanchor (seq, hash, purged_at) VALUES (%s, %s, now())", [victim.seq, victim.hash]
    )
    result = chain_verify()
    assert result.ok is False and result.seq == victim.seq + 1 and result.reason == REASON_UNVOUCHED


@pytest.mark.django_db
def test_a_real_purge_lists_the_anchors_it_leaves_and_verifies(in_firm_a):
    organizations("Old A", "Old B")
    cutoff = current_clock()
    organizations("New")
    assert audit_purge(before=cutoff) > 0
    purge = AuditEvent.objects.filter(action="purge").latest("seq")
    listed = purge.changes["after"]["anchors"]
    assert listed and sorted(map(tuple, listed)) == sorted(AuditChainAnchor.objects.values_list("seq", "hash"))
    assert chain_verify().ok


@pytest.mark.django_db
def test_the_default_walk_checks_what_was_appended_since_the_last_sound_one(in_firm_a):
    organizations("Before")
    full = chain_verify()
    assert full.ok and full.checked == AuditEvent.objects.count()
    assert AuditVerifyCheckpoint.objects.get().seq == AuditEvent.objects.latest("seq").seq
    before = AuditEvent.objects.count()
    organizations("After 1", "After 2")
    since = chain_verify(incremental=True)
    assert since.ok and since.checked == AuditEvent.objects.count() - before
    # an event appended after the checkpoint, then altered: the short walk sees it
    organizations("After 3")
    newest = AuditEvent.objects.latest("seq")
    tamper("UPDATE audit_auditevent SET entity_name = 'X' WHERE id = %s", [newest.pk])
    caught = chain_verify(incremental=True)
    assert caught.ok is False and caught.event_id == newest.pk and caught.reason == REASON_PAYLOAD


def test_this_module_runs_on_the_test_database(db):
    assert connection.settings_dict["NAME"].startswith("test_")


def test_an_append_committed_during_the_walk_is_no_false_alarm(scratch_firm, monkeypatch):
    """The head and the events are read in one snapshot: an append committing in between isn't seen."""
    assert connection.settings_dict["NAME"].startswith("test_"), "refusing to commit outside the test database"
    organizations(f"Walked {current_clock():%H%M%S%f}")
    real, errors = selectors._vouched_anchors, []

    def append_elsewhere():
        try:
            connection.set_tenant(scratch_firm)  # this thread's own connection
            crm_services.record_create(instance=Organization(name="Appended meanwhile"))
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    def anchors_then_an_append():  # runs after the walk read the head, before it reads the events
        found = real()
        writer = threading.Thread(target=append_elsewhere)
        writer.start()
        writer.join(timeout=30)
        return found

    monkeypatch.setattr(selectors, "_vouched_anchors", anchors_then_an_append)
    assert connection.get_autocommit() and not connection.in_atomic_block
    result = chain_verify()
    assert errors == [] and result.ok, result
    monkeypatch.undo()
    with schema_context(scratch_firm.schema_name):
        assert chain_verify(incremental=True).ok  # and the append itself verifies next time
