"""Writers that lock the same shared rows must never deadlock (issue 8, defect 1).

Every audited write touches two kinds of shared rows: the day and month rollups of its entries
(ADR 0013) and the firm's audit chain head (ADR 0004). Two transactions that take them in
opposite orders deadlock, and PostgreSQL aborts one of them (``deadlock detected``, an
``OperationalError``: a 500 for the user). Each test forces the interleaving that deadlocks when
the order differs, with real commits on several connections (``scratch_firm``, ADR 0003):

- a test connection holds the chain head row (``SELECT … FOR UPDATE``), so the writers queue on
  it in a chosen order, and lets go once both are waiting (or done);
- or a writer holds its transaction open between two steps until the other has taken its first.

Whatever order the services take their rows in, both writes must then commit, each exactly once.
Every connection gives up on a lock after ``LOCK_TIMEOUT``, so a regression fails instead of hanging.
"""

import threading
import time
import uuid
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.db.backends.signals import connection_created

from audit.models import AuditChainHead, AuditEvent
from conftest import waiting_on_a_lock
from timeline.models import Entry
from timeline.services import entry_record, entry_update
from timeline.tests.factories import links_of
from traf3li.crm import services as crm
from traf3li.crm.models import Case, Client, Contact

WAIT_SECONDS = 10
LOCK_TIMEOUT = "10s"
STATEMENT_TIMEOUT = "20s"


def on_the_test_database() -> bool:
    return connection.settings_dict["NAME"] == settings.DATABASES["default"]["TEST"]["NAME"]


@pytest.fixture
def bounded_waits(scratch_firm):
    """Every connection opened during the test gives up on a lock or a statement instead of hanging."""
    assert on_the_test_database(), "refusing to commit test data outside the test database"

    def bound(sender, connection, **kwargs):
        with connection.connection.cursor() as cursor:
            cursor.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
            cursor.execute(f"SET statement_timeout = '{STATEMENT_TIMEOUT}'")

    connection_created.connect(bound, weak=False, dispatch_uid="test_write_concurrency.bound")
    yield scratch_firm
    connection_created.disconnect(dispatch_uid="test_write_concurrency.bound")


class Writer(threading.Thread):
    """Runs ``target`` on its own connection in the firm; keeps its result, or the exception it raised."""

    def __init__(self, firm, name, target):
        super().__init__(name=name, daemon=True)
        self.firm, self.target = firm, target
        self.pid = None
        self.result = self.error = None
        self.done = threading.Event()

    def run(self):
        try:
            connection.set_tenant(self.firm)  # this thread's own connection
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                self.pid = cursor.fetchone()[0]
            self.result = self.target()
        except Exception as exc:  # surfaced by the test; a thread's exception is otherwise lost
            self.error = exc
        finally:
            self.done.set()
            connection.close()


def writer_waits(writer: Writer) -> bool:
    """True while the writer's backend waits for a lock another backend holds (from any connection)."""
    return writer.pid is not None and waiting_on_a_lock(writer.pid)


def waiting_or_done(writer: Writer) -> bool:
    return writer.done.is_set() or writer_waits(writer)


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.01)


@contextmanager
def chain_head_held():
    """Hold the firm's audit chain head row, so that writers queue on it in the order they reach it."""
    with transaction.atomic():
        AuditChainHead.objects.select_for_update().get(pk=1)
        yield


def finish(*writers: Writer) -> None:
    for writer in writers:
        writer.join(timeout=2 * WAIT_SECONDS)
        assert not writer.is_alive(), f"{writer.name} is still running"
    errors = {writer.name: repr(writer.error) for writer in writers if writer.error is not None}
    assert errors == {}, f"a writer failed (a deadlock is an OperationalError 'deadlock detected'): {errors}"


def creates_audited(entity_type: str, ids) -> dict[int, int]:
    """How many ``create`` events each of ``ids`` has in the audit log."""
    counts = dict.fromkeys(ids, 0)
    for entity_id in AuditEvent.objects.filter(
        action="create", entity_type=entity_type, entity_id__in=list(ids)
    ).values_list("entity_id", flat=True):
        counts[entity_id] += 1
    return counts


# --- 1a: a crm create (audits, then records on the timeline) against entry_record -----------


@pytest.mark.parametrize(
    ("record_type", "kind"), [("contact", "note"), ("case", "case_created")], ids=["contact", "case"]
)
def test_a_crm_create_and_an_entry_of_the_same_day_and_kind_do_not_deadlock(bounded_waits, record_type, kind):
    """Today ``record_create`` audits the record (chain head) and then records its timeline entry
    (rollup rows), while ``entry_record`` takes the rollup rows first and the head last.

    Forced: both queue on the head, the creator first; the recorder has already upserted the
    rollup rows of the same day, kind and subject type. Once the head is free the creator gets it
    and then wants the recorder's rollup rows, while the recorder waits for the head: a deadlock.
    """
    firm = bounded_waits
    tag = uuid.uuid4().hex[:8]
    client = crm.record_create(instance=Client(name=f"Lock order {tag}"))
    if record_type == "contact":
        existing = crm.record_create(instance=Contact(name=f"Existing contact {tag}", client=client))
        new = Contact(name=f"New contact {tag}", client=client)
    else:
        existing = crm.record_create(instance=Case(title=f"Existing case {tag}", client=client))
        new = Case(title=f"New case {tag}", client=client)

    creator = Writer(firm, "creator", lambda: crm.record_create(instance=new))
    recorder = Writer(firm, "recorder", lambda: entry_record(kind=kind, subject=existing, title=f"Racing {tag}"))
    try:
        with chain_head_held():
            creator.start()
            wait_until(lambda: waiting_or_done(creator), "the creator waits for the chain head")
            recorder.start()
            wait_until(lambda: waiting_or_done(recorder), "the recorder waits behind the creator")
    finally:
        finish(creator, recorder)

    # then both writes are stored, once, each with its audit event
    created = creator.result
    assert type(created).objects.filter(pk=created.pk).count() == 1
    created_entries = list(Entry.objects.filter(subject_type=record_type, subject_id=created.pk, kind=kind))
    assert len(created_entries) == 1, "the new record's timeline entry"
    assert Entry.objects.filter(subject_type=record_type, subject_id=existing.pk, title=f"Racing {tag}").count() == 1
    assert creates_audited(record_type, [created.pk]) == {created.pk: 1}
    entry_ids = [created_entries[0].pk, recorder.result.pk]
    assert creates_audited("entry", entry_ids) == dict.fromkeys(entry_ids, 1)


# --- 1b: two entries of different kinds in one transaction, each way round -------------------


def test_two_transactions_recording_two_kinds_in_opposite_orders_do_not_deadlock(bounded_waits):
    """Today each ``entry_record`` call upserts its own kind's rollup rows and then the head, so a
    transaction recording a call and then an email holds the call rows and the head while it asks
    for the email rows; one recording an email and then a call holds the email rows and waits for
    the head. Forced: the first holds its transaction open after its call until the second has
    recorded its email (or waits on a lock doing so), and only then records its email.
    """
    firm = bounded_waits
    tag = uuid.uuid4().hex[:8]
    client = crm.record_create(instance=Client(name=f"Two kinds {tag}"))
    first_recorded = threading.Event()
    second_recorded = threading.Event()
    writers = {}

    def record(kind, order):
        return entry_record(
            kind=kind,
            subject=client,
            title=f"{tag} {order}: {kind}",
            source="import",
            external_id=f"{tag}-{order}-{kind}",
        )

    def call_then_email():
        with transaction.atomic():
            made = [record("call", "call-then-email")]
            first_recorded.set()
            wait_until(
                lambda: second_recorded.is_set() or writer_waits(writers["email_then_call"]),
                "the other transaction recorded its email",
            )
            made.append(record("email", "call-then-email"))
        return made

    def email_then_call():
        assert first_recorded.wait(WAIT_SECONDS), "the other transaction never recorded its call"
        with transaction.atomic():
            made = [record("email", "email-then-call")]
            second_recorded.set()
            made.append(record("call", "email-then-call"))
        return made

    writers["call_then_email"] = Writer(firm, "call_then_email", call_then_email)
    writers["email_then_call"] = Writer(firm, "email_then_call", email_then_call)
    try:
        for writer in writers.values():
            writer.start()
    finally:
        finish(*writers.values())

    # then all four entries are stored once, each with its audit event
    external_ids = [
        f"{tag}-{order}-{kind}" for order in ("call-then-email", "email-then-call") for kind in ("call", "email")
    ]
    stored = list(Entry.objects.filter(external_id__in=external_ids).values_list("external_id", flat=True))
    assert sorted(stored) == sorted(external_ids)
    ids = [entry.pk for writer in writers.values() for entry in writer.result]
    assert creates_audited("entry", ids) == dict.fromkeys(ids, 1)


# --- 1c: entry_update against a relink -----------------------------------------------------


@pytest.mark.parametrize("change", ["kind", "occurred_at"])
def test_an_entry_update_and_a_relink_of_its_contact_do_not_deadlock(bounded_waits, change):
    """Moving a contact to another client (crm ``record_update``) audits the contact (chain head)
    and then relinks the contact's entries (their link rows, and the entry rows their new links'
    foreign keys point to); ``entry_update`` locks the entry row, moves its links (``occurred_at``)
    and rollups, and audits last.

    Forced: both queue on the head, the mover first; the editor meanwhile holds the entry row
    (and, changing ``occurred_at``, the entry's link rows). Once the head is free the mover gets it
    and then needs what the editor holds, while the editor waits for the head: a deadlock.
    """
    firm = bounded_waits
    tag = uuid.uuid4().hex[:8]
    old_client = crm.record_create(instance=Client(name=f"Old client {tag}"))
    new_client = crm.record_create(instance=Client(name=f"New client {tag}"))
    contact = crm.record_create(instance=Contact(name=f"Moving contact {tag}", client=old_client))
    entry = entry_record(kind="note", subject=contact, title=f"On the contact {tag}")
    data = {"title": f"Edited {tag}"}
    if change == "kind":
        data["kind"] = "call"
    else:
        data["occurred_at"] = entry.occurred_at - timedelta(days=1)

    mover = Writer(
        firm,
        "mover",
        lambda: crm.record_update(instance=Contact.objects.get(pk=contact.pk), data={"client": new_client}),
    )
    editor = Writer(firm, "editor", lambda: entry_update(entry=Entry.objects.get(pk=entry.pk), data=data))
    try:
        with chain_head_held():
            mover.start()
            wait_until(lambda: waiting_or_done(mover), "the mover waits for the chain head")
            editor.start()
            wait_until(lambda: waiting_or_done(editor), "the editor waits behind the mover")
    finally:
        finish(mover, editor)

    # then both writes are stored: the contact moved, the entry changed and is on the new client's view only
    assert Contact.objects.get(pk=contact.pk).client_id == new_client.pk
    stored = Entry.objects.get(pk=entry.pk)
    assert stored.title == f"Edited {tag}"
    if change == "kind":
        assert stored.kind == "call"
    else:
        assert stored.occurred_at == data["occurred_at"]
    assert links_of(stored) == {("contact", contact.pk), ("client", new_client.pk)}
    for entity_type, entity_id in (("contact", contact.pk), ("entry", entry.pk)):
        updates = AuditEvent.objects.filter(action="update", entity_type=entity_type, entity_id=entity_id)
        assert updates.count() == 1, f"one update event for {entity_type}:{entity_id}"


# --- a move racing a recorder: the entry must land on the contact's client as it is at commit -----


def test_an_entry_recorded_while_its_contact_moves_shows_on_the_new_client(bounded_waits):
    firm = bounded_waits
    tag = uuid.uuid4().hex[:8]
    old, new = (crm.record_create(instance=Client(name=f"Race {tag} {n}")) for n in ("old", "new"))
    contact = crm.record_create(instance=Contact(name=f"Race {tag} mover", client=old))
    stale = Contact.objects.get(pk=contact.pk)  # what a webhook handler read before the move
    moved, release = threading.Event(), threading.Event()

    def mover():
        with transaction.atomic():
            crm.record_update(instance=Contact.objects.get(pk=contact.pk), data={"client": new})
            moved.set()
            assert release.wait(timeout=WAIT_SECONDS)

    def recorder():
        return entry_record(kind="sms", subject=stale, title=f"Race {tag} sms", source="twilio",
                            external_id=f"race-{tag}")  # fmt: skip

    first = Writer(firm, "mover", mover)
    first.start()
    assert moved.wait(timeout=WAIT_SECONDS)
    second = Writer(firm, "recorder", recorder)
    second.start()
    # the recorder waits for the moving transaction (FOR SHARE against its row lock) ...
    wait_until(lambda: waiting_or_done(second), "the recorder waits for the move")
    assert not second.done.is_set()
    release.set()
    finish(first, second)
    # ... and its entry is on the contact's new client, not the old one
    entry = Entry.objects.get(source="twilio", external_id=f"race-{tag}")
    assert links_of(entry) == {("contact", contact.pk), ("client", new.pk)}
