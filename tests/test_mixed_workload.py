"""A mixed concurrent write workload on one firm, on several real connections (issue 8, "Tests").

Four workers, each on its own connection, run a fixed, seeded sequence of writes against the same
records at once (the scratch firm: real commits, ADR 0003): crm creates and updates (clients,
contacts, case status changes, contacts moved to another client), timeline entries of several
kinds through ``entry_record`` (one at a time, and two kinds in one transaction) and through the
REST API, entry edits, and activities scheduled and completed. The workload runs once per module;
each test checks one property of what it left:

- no write failed: no deadlock, no lock timeout, no error of any kind;
- the firm's audit chain verifies;
- the rollups of every day and month the workload touched equal a direct aggregate of the entries;
- every accepted write is stored exactly once, with exactly one audit event and, where the write
  puts something on the timeline, exactly one entry;
- a moved contact's entries are on its current client's view only.

Scratch data is never cleaned up: records are found by this run's tag, while the chain and the
rollups are checked firm-wide (they must hold whatever else the firm contains).
"""

import random
import threading
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.db.backends.signals import connection_created
from django.utils import timezone

from audit.models import AuditEvent
from audit.selectors import chain_verify
from conftest import api_client_for, make_user
from timeline.activities.choices import ActivityState
from timeline.activities.models import Activity, ActivityType
from timeline.activities.services import activity_complete, activity_schedule, activity_type_create
from timeline.models import Entry, EntryLink, StatRollup
from timeline.rollups import firm_tz, rollup_fold
from timeline.services import entry_record, entry_update
from traf3li.crm import services as crm
from traf3li.crm.choices import CaseStatus
from traf3li.crm.models import Case, Client, Contact

WORKERS = 4
OPERATIONS = 40  # per worker
WAIT_SECONDS = 60
LOCK_TIMEOUT = "10s"
STATEMENT_TIMEOUT = "20s"
SPREAD = timedelta(hours=72)  # entries occur within this long before now
KINDS = ("call", "email", "sms", "whatsapp", "meeting", "note")
# How often each operation is drawn; the workers' sequences are fixed by their seeds.
OPERATION_WEIGHTS = {
    "create_client": 2,
    "create_contact": 3,
    "create_case": 3,
    "update_client": 2,
    "change_case_status": 4,
    "move_contact": 2,
    "record_entry": 8,
    "record_two_kinds": 3,
    "post_entry": 3,
    "edit_entry": 3,
    "schedule_activity": 4,
    "complete_activity": 3,
}


def on_the_test_database() -> bool:
    return connection.settings_dict["NAME"] == settings.DATABASES["default"]["TEST"]["NAME"]


def payload_for(kind: str, rng: random.Random) -> dict:
    if kind == "call" and rng.random() < 0.8:
        return {"duration_seconds": rng.randrange(0, 3600)}
    if kind == "meeting" and rng.random() < 0.8:
        return {"actual_duration_minutes": rng.randrange(5, 180)}
    return {}


class Worker:
    """One worker's seeded sequence of writes, and what it saw accepted."""

    def __init__(self, index: int, *, tag: str, world: dict):
        self.index, self.tag, self.world = index, tag, world
        self.rng = random.Random(f"mixed-workload-{index}")
        self.actor = world["users"][index % len(world["users"])]
        self.api = world["api"][index]
        self.done = defaultdict(list)
        self.errors = []
        self.own_entries: list[str] = []  # external ids of this worker's entries (only it edits them)
        self.scheduled: list[int] = []  # this worker's activities not yet completed (only it completes them)

    # --- helpers

    def name(self, what: str, i: int) -> str:
        return f"{self.tag} {what} w{self.index}-{i}"

    def moment(self):
        return timezone.now() - timedelta(seconds=self.rng.randrange(0, int(SPREAD.total_seconds())))

    def subject(self):
        return self.rng.choice(self.world["subjects"])()

    def performer(self):
        return self.rng.choice([*self.world["users"], None])

    # --- operations

    def create_client(self, i):
        client = crm.record_create(instance=Client(name=self.name("client", i)), actor=self.actor)
        self.done["client"].append(client.pk)

    def create_contact(self, i):
        client = Client.objects.get(pk=self.rng.choice(self.world["clients"]))
        contact = crm.record_create(instance=Contact(name=self.name("contact", i), client=client), actor=self.actor)
        self.done["contact"].append(contact.pk)

    def create_case(self, i):
        client = Client.objects.get(pk=self.rng.choice(self.world["clients"]))
        case = crm.record_create(instance=Case(title=self.name("case", i), client=client), actor=self.actor)
        self.done["case"].append(case.pk)

    def update_client(self, i):
        client = Client.objects.get(pk=self.rng.choice(self.world["clients"]))
        crm.record_update(instance=client, data={"notes": self.name("notes", i)}, actor=self.actor)
        self.done["client_update"].append(client.pk)

    def change_case_status(self, i):
        case = Case.objects.get(pk=self.rng.choice(self.world["cases"]))
        crm.record_update(instance=case, data={"status": self.rng.choice(CaseStatus.values)}, actor=self.actor)
        self.done["case_status"].append(case.pk)

    def move_contact(self, i):
        contact = Contact.objects.get(pk=self.rng.choice(self.world["contacts"]))
        client = Client.objects.get(pk=self.rng.choice(self.world["clients"]))
        crm.record_update(instance=contact, data={"client": client}, actor=self.actor)
        self.done["contact_move"].append(contact.pk)

    def _record(self, i, kind, suffix=""):
        external_id = f"{self.tag}-w{self.index}-{i}{suffix}"
        entry_record(
            kind=kind,
            subject=self.subject(),
            title=self.name(f"{kind}{suffix}", i),
            occurred_at=self.moment(),
            performed_by=self.performer(),
            source="import",
            external_id=external_id,
            payload=payload_for(kind, self.rng),
            actor=self.actor,
        )
        return external_id

    def record_entry(self, i):
        external_id = self._record(i, self.rng.choice(KINDS))
        self.done["entry"].append(external_id)
        self.own_entries.append(external_id)

    def record_two_kinds(self, i):
        first, second = self.rng.sample(KINDS, 2)
        with transaction.atomic():
            made = [self._record(i, first, "a"), self._record(i, second, "b")]
        self.done["entry"].extend(made)
        self.own_entries.extend(made)

    def post_entry(self, i):
        kind = self.rng.choice(KINDS)
        subject = self.subject()
        external_id = f"{self.tag}-w{self.index}-{i}-api"
        body = {
            "kind": kind,
            "subject": {"type": subject._meta.model_name, "id": subject.pk},
            "title": self.name(f"{kind} via the API", i),
            "occurred_at": self.moment().isoformat(),
            "source": "import",
            "external_id": external_id,
            "payload": payload_for(kind, self.rng),
        }
        response = self.api.post("/api/v1/timeline/", body, format="json")
        assert response.status_code == 201, (response.status_code, response.content[:500])
        self.done["entry"].append(external_id)
        self.own_entries.append(external_id)

    def edit_entry(self, i):
        if not self.own_entries:
            return self.record_entry(i)
        external_id = self.rng.choice(self.own_entries)
        entry = Entry.objects.get(external_id=external_id)
        data = {"title": self.name("edited", i)}
        if self.rng.random() < 0.5:
            data["occurred_at"] = self.moment()
        else:
            data["kind"], data["payload"] = "note", {}
        entry_update(entry=entry, data=data, actor=self.actor)
        self.done["entry_edit"].append((external_id, data["title"]))

    def schedule_activity(self, i):
        activity = activity_schedule(
            subject=self.subject(),
            type=self.world["activity_type"],
            assignee=self.actor,
            summary=self.name("activity", i),
            actor=self.actor,
        )
        self.done["activity"].append(activity.pk)
        self.scheduled.append(activity.pk)

    def complete_activity(self, i):
        if not self.scheduled:
            return self.schedule_activity(i)
        pk = self.scheduled.pop(self.rng.randrange(len(self.scheduled)))
        activity_complete(activity=Activity.objects.get(pk=pk), feedback=self.name("done", i), actor=self.actor)
        self.done["activity_done"].append(pk)

    # --- the run

    def plan(self) -> list[str]:
        names, weights = zip(*OPERATION_WEIGHTS.items(), strict=True)
        return self.rng.choices(names, weights=weights, k=OPERATIONS)

    def run(self, firm, start: threading.Barrier) -> None:
        try:
            connection.set_tenant(firm)  # this thread's own connection
            operations = self.plan()
            start.wait(timeout=WAIT_SECONDS)
            for i, operation in enumerate(operations):
                try:
                    getattr(self, operation)(i)
                except Exception as exc:  # every failure is counted; the run goes on
                    self.errors.append((operation, i, exc))
        except Exception as exc:
            self.errors.append(("worker", None, exc))
        finally:
            connection.close()


def error_summary(errors) -> str:
    kinds = Counter("deadlock" if "deadlock detected" in str(exc) else f"{type(exc).__name__}" for _, _, exc in errors)
    first = [f"{operation} #{i}: {exc!r}"[:400] for operation, i, exc in errors[:5]]
    return f"{dict(kinds)}; first: {first}"


def firm_local_days(tz):
    now = timezone.now()
    first = (now - SPREAD - timedelta(days=1)).astimezone(tz).date()
    last = (now + timedelta(days=1)).astimezone(tz).date()
    return first, last


def rollup_rows(first, last) -> dict:
    """The stored rollups of the days first..last and of their months, zero rows left out."""
    rollup_fold()  # the counters alone: the deltas appended since the last fold are added first
    rows = {}
    for span, start, end in (("d", first, last), ("m", first.replace(day=1), last.replace(day=1))):
        for row in StatRollup.objects.filter(span=span, day__gte=start, day__lte=end).values_list(
            "span", "performer_id", "day", "kind", "subject_type", "count", "duration_count", "duration_seconds"
        ):
            if any(row[5:]):
                rows[row[:5]] = tuple(row[5:])
    return rows


def direct_rows(first, last, tz) -> dict:
    """What the rollups of those days and months must say, aggregated straight from the live entries."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH live AS (
                SELECT (occurred_at AT TIME ZONE %(tz)s)::date AS day, coalesce(performed_by_id, %(nobody)s) AS who,
                       kind, subject_type, duration_seconds
                FROM {Entry._meta.db_table} WHERE deleted_at IS NULL
            )
            SELECT s.span, w.performer_id, s.day, kind, subject_type,
                   count(*), count(duration_seconds), coalesce(sum(duration_seconds), 0)
            FROM live,
                 LATERAL (VALUES ('d', live.day), ('m', date_trunc('month', live.day)::date)) AS s(span, day),
                 LATERAL (VALUES (live.who), (%(all)s)) AS w(performer_id)
            WHERE (s.span = 'd' AND s.day BETWEEN %(first)s AND %(last)s)
               OR (s.span = 'm' AND s.day BETWEEN date_trunc('month', %(first)s::date)::date AND %(last)s)
            GROUP BY 1, 2, 3, 4, 5
            """,
            {"tz": str(tz), "nobody": StatRollup.NOBODY, "all": StatRollup.ALL, "first": first, "last": last},
        )
        return {tuple(row[:5]): tuple(row[5:]) for row in cursor.fetchall()}


def audited(action: str, entity_type: str, ids) -> Counter:
    return Counter(
        AuditEvent.objects.filter(action=action, entity_type=entity_type, entity_id__in=list(ids)).values_list(
            "entity_id", flat=True
        )
    )


@dataclass
class Run:
    """What one run of the workload left: its tag, the shared records, and what the workers saw."""

    tag: str
    contacts: list[int]
    cases: list[int]
    done: dict
    errors: list


def bound(sender, connection, **kwargs):
    """Every connection the run opens gives up on a lock or a statement instead of hanging."""
    with connection.connection.cursor() as cursor:
        cursor.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
        cursor.execute(f"SET statement_timeout = '{STATEMENT_TIMEOUT}'")


@pytest.fixture(scope="module")
def run(django_db_setup, django_db_blocker) -> Run:
    """Run the workload once for the module's tests, each of which checks one property of its result."""
    from traf3li.firms.models import Firm

    with django_db_blocker.unblock():
        assert on_the_test_database(), "refusing to commit test data outside the test database"
        firm = Firm.objects.get(schema_name="gamma")  # scratch_firm's: real commits (ADR 0003)
        connection.set_tenant(firm)
        connection_created.connect(bound, weak=False, dispatch_uid="test_mixed_workload.bound")
        try:
            return _run(firm)
        finally:
            connection_created.disconnect(dispatch_uid="test_mixed_workload.bound")
            connection.set_schema_to_public()


def _run(firm) -> Run:
    tag = uuid.uuid4().hex[:8]
    # shared records every worker writes to, two users, an activity type, an API client per worker
    users = [make_user(firm, f"mix_{tag}_{n}", role="lawyer") for n in range(2)]
    clients = [crm.record_create(instance=Client(name=f"{tag} shared client {n}")) for n in range(3)]
    contacts = [
        crm.record_create(instance=Contact(name=f"{tag} shared contact {n}", client=c)) for n, c in enumerate(clients)
    ]
    cases = [crm.record_create(instance=Case(title=f"{tag} shared case {n}", client=c)) for n, c in enumerate(clients)]
    activity_type = activity_type_create(instance=ActivityType(name=f"Mixed call {tag}", delay_count=2))
    pools = [(Client, [c.pk for c in clients]), (Contact, [c.pk for c in contacts]), (Case, [c.pk for c in cases])]
    world = {
        "users": users,
        "clients": [c.pk for c in clients],
        "contacts": [c.pk for c in contacts],
        "cases": [c.pk for c in cases],
        "activity_type": activity_type,
        # each draw re-reads the record, so a moved contact is seen with its current client
        "subjects": [(lambda model=model, pk=pk: model.objects.get(pk=pk)) for model, pks in pools for pk in pks],
        "api": [api_client_for(firm, users[n % len(users)]) for n in range(WORKERS)],
    }
    connection.set_tenant(firm)  # api_client_for's schema_context leaves a stand-in tenant
    workers = [Worker(n, tag=tag, world=world) for n in range(WORKERS)]
    start = threading.Barrier(WORKERS)
    threads = [threading.Thread(target=w.run, args=(firm, start), daemon=True) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=WAIT_SECONDS)
    assert not any(thread.is_alive() for thread in threads), "a worker is still running"
    done = defaultdict(list)
    for worker in workers:
        for key, items in worker.done.items():
            done[key].extend(items)
    errors = [error for worker in workers for error in worker.errors]
    return Run(tag=tag, contacts=world["contacts"], cases=world["cases"], done=done, errors=errors)


def test_no_write_fails_and_none_deadlocks(run, scratch_firm):
    attempted = WORKERS * OPERATIONS
    assert run.errors == [], f"{len(run.errors)} of {attempted} writes failed: {error_summary(run.errors)}"


def test_the_audit_chain_verifies(run, scratch_firm):
    verified = chain_verify()
    assert verified.ok, verified.as_dict()


def test_the_rollups_of_the_touched_days_and_months_equal_a_direct_aggregate(run, scratch_firm):
    # firm-wide: whatever else the scratch firm holds, its rollups must equal its entries
    tz = firm_tz()
    first, last = firm_local_days(tz)
    stored, direct = rollup_rows(first, last), direct_rows(first, last, tz)
    wrong = {
        key: (stored.get(key), direct.get(key))
        for key in stored.keys() | direct.keys()
        if stored.get(key) != direct.get(key)
    }
    assert wrong == {}, f"rollup rows (stored, direct) that differ: {dict(list(wrong.items())[:10])}"


def test_every_created_record_is_stored_once_with_one_create_event_and_its_entry(run, scratch_firm):
    done = run.done
    for model, key, kind in ((Client, "client", None), (Contact, "contact", "note"), (Case, "case", "case_created")):
        ids = done[key]
        assert Counter(model.objects.filter(pk__in=ids).values_list("pk", flat=True)) == Counter(ids), key
        assert audited("create", key, ids) == Counter(ids), f"one create event per {key}"
        if kind is not None:
            on_timeline = Counter(
                Entry.objects.filter(subject_type=key, subject_id__in=ids, kind=kind).values_list(
                    "subject_id", flat=True
                )
            )
            assert on_timeline == Counter(ids), f"one {kind} entry per new {key}"


def test_every_recorded_or_posted_entry_is_stored_once_with_one_create_event_and_its_last_edit(run, scratch_firm):
    done = run.done
    tagged = Entry.objects.filter(external_id__startswith=f"{run.tag}-")
    assert Counter(tagged.values_list("external_id", flat=True)) == Counter(done["entry"])
    entries = dict(tagged.values_list("external_id", "pk"))
    assert audited("create", "entry", entries.values()) == Counter(entries.values()), "one create event per entry"
    last_titles = dict(done["entry_edit"])
    assert dict(tagged.filter(external_id__in=last_titles).values_list("external_id", "title")) == last_titles
    edits = Counter(entries[external_id] for external_id, _ in done["entry_edit"])
    assert audited("update", "entry", edits) == edits, "one update event per entry edit"


def test_every_status_change_has_one_entry_and_the_last_one_stands(run, scratch_firm):
    for case_id in run.cases:
        changes = [
            event.changes["after"]["status"]
            for event in AuditEvent.objects.filter(action="update", entity_type="case", entity_id=case_id).order_by(
                "seq"
            )
            if "status" in event.changes.get("after", {})
        ]
        assert len(changes) <= run.done["case_status"].count(case_id)
        entries = Entry.objects.filter(kind="status_change", subject_type="case", subject_id=case_id)
        assert entries.count() == len(changes), f"one status_change entry per status change of case {case_id}"
        assert Case.objects.get(pk=case_id).status == (changes[-1] if changes else CaseStatus.OPEN)


def test_every_activity_is_scheduled_and_completed_once_with_its_event_and_task_entry(run, scratch_firm):
    scheduled, completed = run.done["activity"], run.done["activity_done"]
    assert Counter(Activity.objects.filter(pk__in=scheduled).values_list("pk", flat=True)) == Counter(scheduled)
    assert set(Activity.objects.filter(pk__in=completed).values_list("state", flat=True)) <= {ActivityState.DONE}
    assert audited("schedule_activity", "activity", scheduled) == Counter(scheduled)
    assert audited("complete_activity", "activity", completed) == Counter(completed)
    for action, ids in (("scheduled", scheduled), ("completed", completed)):
        tasks = Counter(
            Entry.objects.filter(kind="task", payload__action=action, payload__activity_id__in=ids).values_list(
                "payload__activity_id", flat=True
            )
        )
        assert tasks == Counter(ids), f"one task entry per activity {action}"


def test_a_moved_contacts_entries_are_on_its_current_clients_view_only(run, scratch_firm):
    """Entries recorded on a contact while it moves must follow it too, not stay on the old client's view."""
    for contact in Contact.objects.filter(pk__in=run.contacts):
        on_contact = Entry.objects.live().filter(subject_type="contact", subject_id=contact.pk)
        client_links = set(
            EntryLink.objects.filter(entry__in=on_contact, subject_type="client").values_list("entry_id", "subject_id")
        )
        expected = {(pk, contact.client_id) for pk in on_contact.values_list("pk", flat=True)}
        assert client_links == expected, f"contact {contact.pk} is with client {contact.client_id}"
