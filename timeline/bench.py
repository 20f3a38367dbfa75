"""The timeline benchmark: load a skewed firm with COPY, then time pages through the API and as bare SQL.

Used by ``manage.py bench_timeline`` (see docs/benchmarks.md). Loading bypasses the services on
purpose (it is the COPY path being measured), then rebuilds the 360° links' rollups from the data;
ingest through ``entry_record`` is measured separately, on top of the loaded firm.
"""

import itertools
import json
import random
import resource
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test import Client as TestClient
from django.test.utils import CaptureQueriesContext

from timeline.choices import EntryKind
from timeline.models import Entry, EntryLink
from traf3li.api.pagination import encode_cursor
from traf3li.crm.models import Case, Client, Contact

SEARCH_COMMON = "hearing"  # in about a quarter of the entries
SEARCH_RARE = "zanzibar"  # in RARE_COUNT entries
RARE_COUNT = 30
HEAVY_CLIENTS = 5
HISTORY = timedelta(days=3 * 365)
KIND_WEIGHTS = {
    EntryKind.CALL: 25,
    EntryKind.EMAIL: 20,
    EntryKind.WHATSAPP: 12,
    EntryKind.SMS: 8,
    EntryKind.MEETING: 6,
    EntryKind.TASK: 10,
    EntryKind.NOTE: 8,
    EntryKind.DOCUMENT: 4,
    EntryKind.STATUS_CHANGE: 2,
    EntryKind.CASE_CREATED: 1,
    EntryKind.INVOICE: 2,
    EntryKind.PAYMENT: 1,
    EntryKind.EVENT: 1,
}
TITLES_EN = [
    "Call about the hearing schedule",
    "Email with the draft statement of claim",
    "Client asked about the settlement offer",
    "Reminder of the hearing at the labour court",
    "Documents received for the appeal",
    "Follow-up on the unpaid invoice",
    "Meeting to prepare witness statements",
]
TITLES_AR = [
    "مكالمة بخصوص موعد الجلسة",
    "إرسال مسودة العقد إلى العميل",
    "استفسار العميل عن عرض التسوية",
    "تذكير بالجلسة في المحكمة العمالية",
    "استلام مستندات الاستئناف",
]
WORDS = (
    "contract claim court evidence witness lawyer settlement appeal judgment deadline fee invoice memo "
    "العقد المحكمة الشاهد المحامي التسوية الاستئناف الحكم المستندات الأتعاب الموعد"
).split()
# Real notes have a long tail of words; without one, every word looks common to ANALYZE and the
# planner misjudges rare words (ADR 0011). Zipf-weighted synthetic words give the tail.
SYLLABLES = "ka lo mi ne ru ta vi so de ba ri mu fa ge hi jo pe wu ze yo".split()
TAIL = [a + b + c for a in SYLLABLES for b in SYLLABLES for c in SYLLABLES][:8000]
TAIL_WEIGHTS = list(itertools.accumulate(1 / rank for rank in range(1, len(TAIL) + 1)))
ENTRY_COLUMNS = [
    "id", "activity_id", "kind", "subject_content_type_id", "subject_id", "subject_type", "subject_name", "related",
    "title", "description", "occurred_at", "performed_by_id", "performed_by_name", "status", "source", "external_id",
    "payload", "duration_seconds", "created_at", "updated_at",
]  # fmt: skip
LINK_COLUMNS = ["entry_id", "subject_type", "subject_id", "occurred_at"]


@dataclass
class Subject:
    type: str
    id: int
    name: str
    content_type_id: int
    parent_id: int | None = None  # the client of a contact or case


@dataclass
class Family:
    client: Subject
    contacts: list[Subject] = field(default_factory=list)
    cases: list[Subject] = field(default_factory=list)


def _payload(rng: random.Random, kind: str) -> tuple[dict, int | None]:
    if kind == EntryKind.CALL:
        seconds = rng.randint(20, 2400)
        outcome = rng.choice(["connected", "connected", "connected", "no_answer", "voicemail"])
        return {"direction": rng.choice(["inbound", "outbound"]), "duration_seconds": seconds, "outcome": outcome}, (
            seconds
        )
    if kind == EntryKind.MEETING:
        minutes = rng.choice([15, 30, 45, 60, 90])
        return {"meeting_type": "in_person", "actual_duration_minutes": minutes, "agenda": "Case review"}, minutes * 60
    if kind == EntryKind.EMAIL:
        return {"subject": rng.choice(TITLES_EN), "to": ["client@example.sa"], "opened": rng.random() < 0.6}, None
    if kind in (EntryKind.SMS, EntryKind.WHATSAPP):
        return {"direction": "inbound", "body": rng.choice(TITLES_AR), "status": "delivered"}, None
    return {}, None


class Loader:
    """Generates the bench firm's records and streams them into PostgreSQL with COPY."""

    def __init__(self, *, entries: int, seed: int = 42, log=print):
        self.total = entries
        self.rng = random.Random(seed)
        self.log = log
        self.now = datetime.now(UTC).replace(microsecond=0)
        self.heavy_size = max(100, min(60_000, entries // 16))

    def families(self, users) -> tuple[list[Family], list[Family]]:
        """Five heavy clients (three contacts, three cases each) and many light ones (one of each)."""
        light_count = max(10, (self.total - HEAVY_CLIENTS * self.heavy_size) // 40)
        clients = Client.objects.bulk_create(
            [Client(name=f"Heavy client {i}") for i in range(HEAVY_CLIENTS)]
            + [Client(name=f"Client {i}") for i in range(light_count)],
            batch_size=5000,
        )
        contacts, cases = [], []
        for index, client in enumerate(clients):
            many = 3 if index < HEAVY_CLIENTS else 1
            contacts += [Contact(name=f"Contact {client.id}-{j}", client=client) for j in range(many)]
            cases += [Case(title=f"Case {client.id}-{j}", client=client) for j in range(many)]
        contacts = Contact.objects.bulk_create(contacts, batch_size=5000)
        cases = Case.objects.bulk_create(cases, batch_size=5000)
        ct = {model: ContentType.objects.get_for_model(model).id for model in (Client, Contact, Case)}
        families = {c.id: Family(Subject("client", c.id, c.name, ct[Client])) for c in clients}
        for contact in contacts:
            families[contact.client_id].contacts.append(
                Subject("contact", contact.id, contact.name, ct[Contact], contact.client_id)
            )
        for case in cases:
            families[case.client_id].cases.append(Subject("case", case.id, case.title, ct[Case], case.client_id))
        ordered = [families[c.id] for c in clients]
        return ordered[:HEAVY_CLIENTS], ordered[HEAVY_CLIENTS:]

    def rows(self, heavy: list[Family], light: list[Family], users, first_id: int):
        """Yield (entry row, link rows) for every entry: heavy clients first, then light ones."""
        rng, kinds = self.rng, list(KIND_WEIGHTS)
        weights = list(KIND_WEIGHTS.values())
        plan = [(family, self.heavy_size) for family in heavy]
        remaining = self.total - self.heavy_size * len(heavy)
        for index, family in enumerate(light):
            left = len(light) - index
            count = remaining if left == 1 else min(remaining, rng.randint(10, 70))
            plan.append((family, count))
            remaining -= count
        rare = set(rng.sample(range(self.total), min(RARE_COUNT, self.total)))
        seq = 0
        for family, count in plan:
            for _ in range(count):
                seq += 1
                entry_id = first_id + seq - 1
                kind = rng.choices(kinds, weights)[0]
                roll = rng.random()
                if roll < 0.4 or not family.contacts:
                    subject = family.client
                elif roll < 0.7:
                    subject = rng.choice(family.contacts)
                else:
                    subject = rng.choice(family.cases)
                related = []
                if subject.type == "contact" and family.cases and rng.random() < 0.15:
                    related = [rng.choice(family.cases)]
                occurred = self.now - timedelta(seconds=rng.randrange(int(HISTORY.total_seconds())))
                user = rng.choice(users)
                payload, duration = _payload(rng, kind)
                title = rng.choice(TITLES_EN if rng.random() < 0.6 else TITLES_AR)
                description = " ".join(rng.choices(WORDS, k=6) + rng.choices(TAIL, cum_weights=TAIL_WEIGHTS, k=4))
                if seq - 1 in rare:
                    description += f" {SEARCH_RARE} office"
                entry = (
                    entry_id,
                    f"ACT-{occurred:%Y%m}-{entry_id:06d}",
                    kind,
                    subject.content_type_id,
                    subject.id,
                    subject.type,
                    subject.name,
                    json.dumps([{"type": r.type, "id": r.id, "name": r.name} for r in related]),
                    title,
                    description,
                    occurred,
                    user[0],
                    user[1],
                    "",
                    "import",
                    None,
                    json.dumps(payload),
                    duration,
                    occurred,
                    occurred,
                )
                keys = {(subject.type, subject.id), ("client", family.client.id)}
                keys.update((r.type, r.id) for r in related)
                yield entry, [(entry_id, t, i, occurred) for t, i in keys]

    def copy(self, heavy, light, users) -> tuple[int, float]:
        """COPY every entry and link; secondary indexes are dropped first and rebuilt after.

        Only when each COPY commits on its own (the command): inside a transaction (the tests) the
        links' deferred foreign-key checks are still pending when the indexes are rebuilt, which
        PostgreSQL refuses, and ``SET CONSTRAINTS ALL IMMEDIATE`` doesn't reach a Citus worker.
        So a transaction loads into the indexed tables.
        """
        first_id = 1
        started = time.perf_counter()
        rebuild = not connection.in_atomic_block
        saved = _drop_secondary_indexes(["timeline_entry", "timeline_entrylink"]) if rebuild else []
        link_count = 0
        # Links wait in a temporary file, not in memory, so ten million entries load in flat memory.
        with tempfile.TemporaryFile("w+") as spool, connection.connection.cursor() as cursor:
            cursor.execute(f'SET search_path = "{connection.schema_name}", public')
            with cursor.copy(f"COPY timeline_entry ({', '.join(ENTRY_COLUMNS)}) FROM STDIN") as copy:
                for count, (entry, links) in enumerate(self.rows(heavy, light, users, first_id), start=1):
                    copy.write_row(entry)
                    for entry_id, subject_type, subject_id, occurred_at in links:
                        spool.write(f"{entry_id}\t{subject_type}\t{subject_id}\t{occurred_at.isoformat()}\n")
                    link_count += len(links)
                    if count % 200_000 == 0:
                        self.log(f"  {count:,} entries streamed")
            spool.seek(0)
            with cursor.copy(f"COPY timeline_entrylink ({', '.join(LINK_COLUMNS)}) FROM STDIN") as copy:
                while chunk := spool.read(1 << 20):
                    copy.write(chunk)
        copied = time.perf_counter() - started
        self.log(f"  COPY of {self.total:,} entries and {link_count:,} links: {copied:.1f} s; indexing")
        with connection.cursor() as cursor:
            for statement in saved:
                cursor.execute(statement)
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence('timeline_entry', 'id'), (SELECT max(id) FROM timeline_entry))"
            )
            cursor.execute("SELECT setval('timeline_activity_seq', (SELECT max(id) FROM timeline_entry))")
        return link_count, copied


def _drop_secondary_indexes(tables: list[str]) -> list[str]:
    """Drop the indexes no constraint owns; return the statements that recreate them."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
            FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
            WHERE t.relname = ANY(%s) AND t.relnamespace = current_schema()::regnamespace
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
            """,
            [tables],
        )
        found = cursor.fetchall()
        for name, _ in found:
            cursor.execute(f"DROP INDEX {name}")
    return [definition for _, definition in found]


def copy_rate(loader: Loader, heavy, light, users, count: int) -> float:
    """Rows per second for COPY into the fully indexed entries table (rolled back afterwards)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM timeline_entry")  # 0: an empty table
        first_id = cursor.fetchone()[0] + 1_000_000
    probe = Loader(entries=count, seed=7, log=loader.log)
    rows = [row for row, _ in probe.rows(heavy[:1], light[:10], users, first_id)]
    rows = [(*row[:15], f"copy-probe-{row[0]}", *row[16:]) for row in rows]
    raw = connection.connection
    started = time.perf_counter()
    with raw.transaction(force_rollback=True), raw.cursor() as cursor:
        cursor.execute(f'SET LOCAL search_path = "{connection.schema_name}", public')
        with cursor.copy(f"COPY timeline_entry ({', '.join(ENTRY_COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        elapsed = time.perf_counter() - started
    return count / elapsed


# --- measuring -----------------------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    url: str


@dataclass
class Result:
    name: str
    api_ms: list[float]
    sql_ms: list[float]
    queries: int
    plan: str = ""

    @staticmethod
    def summary(values: list[float]) -> tuple[float, float]:
        ordered = sorted(values)
        return statistics.median(ordered), ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]

    def row(self) -> dict:
        api_median, api_p99 = self.summary(self.api_ms)
        sql_median, sql_p99 = self.summary(self.sql_ms)
        return {
            "name": self.name,
            "api_median": api_median,
            "api_p99": api_p99,
            "sql_median": sql_median,
            "sql_p99": sql_p99,
            "ratio": api_median / sql_median if sql_median else float("inf"),
            "queries": self.queries,
            "plan": self.plan,
        }


def _is_page_query(sql: str) -> bool:
    """The request's own queries, not the tenant lookup, the token check or search_path settings."""
    return "timeline_" in sql and not sql.lstrip().upper().startswith("SET")


def bare_connection(schema: str) -> psycopg.Connection:
    settings = connection.settings_dict
    bare = psycopg.connect(
        host=settings["HOST"], port=settings["PORT"], user=settings["USER"], dbname=settings["NAME"], autocommit=True
    )
    bare.execute(f'SET search_path = "{schema}", public')
    # Plan every execution, as Django does (client-side binding never prepares): psycopg would
    # otherwise prepare the statement after five runs and the "bare" figure would skip planning.
    bare.prepare_threshold = None
    return bare


def measure(client: TestClient, bare: psycopg.Connection, scenario: Scenario, runs: int, warmup: int) -> Result:
    """Time the page through the whole Django stack, then its captured SQL alone through psycopg."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(scenario.url)
    if response.status_code != 200:
        raise RuntimeError(f"{scenario.url}: {response.status_code} {response.content[:300]!r}")
    statements = [q["sql"] for q in captured.captured_queries if _is_page_query(q["sql"])]
    api, sql = [], []
    for i in range(warmup + runs):
        started = time.perf_counter()
        client.get(scenario.url)
        if i >= warmup:
            api.append((time.perf_counter() - started) * 1000)
    for i in range(warmup + runs):
        started = time.perf_counter()
        for statement in statements:
            bare.execute(statement).fetchall()
        if i >= warmup:
            sql.append((time.perf_counter() - started) * 1000)
    plans = []
    for statement in statements:
        lines = [r[0] for r in bare.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + statement).fetchall()]
        plans.append("\n".join(lines))
    plan = "\n\n".join(plans)
    return Result(scenario.name, api, sql, len(statements), plan)


def peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM, not getrusage: ru_maxrss survives exec on Linux,
    so a measuring child would report its loader parent's peak."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def heavy_client_cursor(client_id: int, page: int, page_size: int) -> str:
    """The cursor that opens page ``page`` of a client's 360° view (the key of the row before it)."""
    skip = (page - 1) * page_size - 1
    row = (
        EntryLink.objects.filter(subject_type="client", subject_id=client_id, entry__deleted_at__isnull=True)
        .order_by("-occurred_at", "-entry_id")
        .values_list("occurred_at", "entry_id")[skip : skip + 1]
    )
    occurred_at, entry_id = row[0]
    return encode_cursor((occurred_at, entry_id), reverse=False)


def live_entries() -> int:
    return Entry.objects.filter(deleted_at__isnull=True).count()
