"""The ingest benchmark: the write path's rates against PostgreSQL's own limits, then exactness checks.

Used by ``manage.py bench_ingest`` (docs/benchmarks.md, issue 8 "Throughput"). In one firm's schema,
with the production indexes, it measures:
- the limits: single-row INSERTs with autocommit on one bare psycopg connection, and COPY into the
  indexed entries table (``timeline.bench.copy_rate``);
- ``entry_record``, one transaction each, on one connection, then from several processes at once
  (processes, not threads: the GIL would cap threads);
- ``entry_import`` fed by a generator in a fresh process, with that process's memory growth at the
  input's half and at its end (a streaming importer grows no more over the second half).

Then it checks that the run stayed exact: the audit chain verifies, every bench entry has exactly
one ``create`` event, rollups equal a direct aggregate, every entry is stored once (also when two
imports with overlapping external ids run at once).

Every entry the bench records has ``external_id = bench-<tag>-<label>-<n>``; the limit probes'
rows (``benchlimit-…``) are deleted or rolled back, so every entry left was written by a service.
"""

import itertools
import json
import random
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.utils import timezone

from audit.models import AuditEvent
from audit.selectors import chain_verify
from timeline.bench import (
    ENTRY_COLUMNS,
    HISTORY,
    KIND_WEIGHTS,
    TAIL,
    TAIL_WEIGHTS,
    TITLES_AR,
    TITLES_EN,
    WORDS,
    Family,
    Loader,
    Subject,
    _payload,
    bare_connection,
    copy_rate,
    peak_rss_mb,
)
from timeline.choices import EntryKind
from timeline.models import Entry
from timeline.selectors import _direct_totals, entry_stats, stats_shape
from timeline.services import entry_import, entry_record
from traf3li.core.db import database_url
from traf3li.core.processes import child_env
from traf3li.crm.models import Case, Client, Contact
from traf3li.users.models import User

BENCH_USERS = 20
USER_PREFIX = "bench_user_"
SUBJECT_ENTRIES = 20_000  # sizes the subjects Loader.families makes: about 350 client families
POOL_LIMIT = 500  # the newest clients, contacts and cases of each kind are the subjects
COPY_ROWS_MAX = 50_000  # COPY probe size (its rows are built in memory first)
LIMIT_PREFIX = "benchlimit-"
# Provider sources as the channels would record them; imports always say "import".
SOURCE_OF_KIND = {
    EntryKind.CALL: "twilio",
    EntryKind.SMS: "twilio",
    EntryKind.WHATSAPP: "whatsapp",
    EntryKind.EMAIL: "sendgrid",
}
TARGETS = {"record": 0.25, "writers": 3.0, "import": 0.40}
# "Bounded": the second half of the input may add at most this much to the importer's peak RSS,
# or a quarter of what the first half took, whichever is larger.
MEMORY_SLACK_MB = 16


def new_tag() -> str:
    return uuid.uuid4().hex[:8]


def entry_prefix(tag: str, label: str = "") -> str:
    return f"bench-{tag}-{label}"


# --- subjects ------------------------------------------------------------------------------------


def bench_subjects(log=print) -> None:
    """Users and client families (contacts, cases) to record on, unless the firm already has them."""
    if not User.objects.filter(username__startswith=USER_PREFIX).exists():
        User.objects.bulk_create(
            [User(username=f"{USER_PREFIX}{i}", first_name="Bench", last_name=f"User {i}") for i in range(BENCH_USERS)]
        )
    if len(Pool.load().families()) < 11:  # timeline.bench's row generator takes 1 + 10 families
        log("Creating the bench firm's clients, contacts and cases")
        Loader(entries=SUBJECT_ENTRIES, log=log).families(users=None)


@dataclass
class Pool:
    """Existing subjects and performers, as entry_record takes them: the newest cases and contacts
    (the bench's own in a firm that holds others too) and the cases' clients."""

    clients: list[Client]
    contacts: list[Contact]
    cases: list[Case]
    users: list[User]
    cases_by_client: dict[int, list[Case]] = field(default_factory=dict)

    @classmethod
    def load(cls) -> "Pool":
        cases = list(Case.objects.order_by("-id")[:POOL_LIMIT])
        pool = cls(
            clients=list(Client.objects.filter(id__in={case.client_id for case in cases}).order_by("-id")),
            contacts=list(Contact.objects.filter(client__isnull=False).order_by("-id")[:POOL_LIMIT]),
            cases=cases,
            users=list(User.objects.filter(username__startswith=USER_PREFIX).order_by("id")),
        )
        for case in cases:
            pool.cases_by_client.setdefault(case.client_id, []).append(case)
        return pool

    def families(self) -> list[Family]:
        """The pool's clients with contacts and cases, as timeline.bench's row generator takes them."""
        ct = {model: ContentType.objects.get_for_model(model).id for model in (Client, Contact, Case)}
        by_id = {c.id: Family(Subject("client", c.id, c.name, ct[Client])) for c in self.clients}
        for contact in self.contacts:
            if contact.client_id in by_id:
                subject = Subject("contact", contact.id, contact.name, ct[Contact], contact.client_id)
                by_id[contact.client_id].contacts.append(subject)
        for case in self.cases:
            if case.client_id in by_id:
                by_id[case.client_id].cases.append(Subject("case", case.id, case.title, ct[Case], case.client_id))
        return [family for family in by_id.values() if family.contacts and family.cases]

    def performers(self) -> list[tuple[int, str]]:
        return [(u.id, u.display_name) for u in self.users]


def entry_items(pool: Pool, *, tag: str, label: str, start: int, count: int, seed: int, history: bool):
    """Plausible entry_record arguments (no actor), lazily: a mix of kinds on existing subjects.

    Recorded entries happen now, as webhooks arrive (so concurrent writers share today's rollup
    rows); imported ones (``history``) spread over three years and all say source "import".
    """
    rng = random.Random(seed)
    kinds, weights = list(KIND_WEIGHTS), list(KIND_WEIGHTS.values())
    subjects = pool.clients + pool.contacts + pool.cases
    now = timezone.now()
    for n in range(start, start + count):
        kind = rng.choices(kinds, weights)[0]
        subject = rng.choice(subjects)
        related = []
        if isinstance(subject, Contact) and rng.random() < 0.15:
            related = pool.cases_by_client.get(subject.client_id, [])[:1]
        payload, _ = _payload(rng, kind)
        description = " ".join(rng.choices(WORDS, k=6) + rng.choices(TAIL, cum_weights=TAIL_WEIGHTS, k=4))
        yield {
            "kind": kind,
            "subject": subject,
            "title": rng.choice(TITLES_EN if rng.random() < 0.6 else TITLES_AR),
            "description": description,
            "occurred_at": now - timedelta(seconds=rng.randrange(int(HISTORY.total_seconds()))) if history else None,
            "related": related,
            "performed_by": rng.choice(pool.users) if pool.users else None,
            "source": "import" if history else SOURCE_OF_KIND.get(kind, "system"),
            "external_id": f"{entry_prefix(tag, label)}-{n}",
            "payload": payload,
        }


# --- the limits ----------------------------------------------------------------------------------


def insert_rate(pool: Pool, count: int, tag: str) -> float:
    """Rows per second for single-row INSERTs with autocommit on one bare psycopg connection.

    The rows are timeline.bench's plausible ones (built before the clock starts); the entries'
    own sequence gives the ids. They are deleted afterwards: no links, rollups or audit events.
    """
    families = pool.families()
    generated = Loader(entries=count, seed=11, log=lambda message: None).rows(
        families[:1], families[1:11], pool.performers(), first_id=1
    )
    rows = [
        (f"LIM-{tag}-{n}", *row[2:15], f"{LIMIT_PREFIX}{tag}-{n}", *row[16:])
        for n, (row, _) in enumerate(itertools.islice(generated, count))
    ]
    columns = ENTRY_COLUMNS[1:]  # no id
    sql = f"INSERT INTO timeline_entry ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
    with bare_connection(connection.schema_name) as bare:
        started = time.perf_counter()
        for row in rows:
            bare.execute(sql, row)
        elapsed = time.perf_counter() - started
        bare.execute("DELETE FROM timeline_entry WHERE external_id LIKE %s", [f"{LIMIT_PREFIX}%"])
    return len(rows) / elapsed


def limit_rates(pool: Pool, *, inserts: int, copies: int, tag: str) -> tuple[float, float]:
    """(single-row INSERT rows/s, COPY rows/s), then VACUUM so the services meet a clean table."""
    connection.ensure_connection()
    insert = insert_rate(pool, inserts, tag)
    families = pool.families()
    copy = copy_rate(
        Loader(entries=copies, log=lambda message: None), families[:1], families[1:11], pool.performers(), copies
    )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE timeline_entry")
    return insert, copy


# --- the services --------------------------------------------------------------------------------


def record_rate(pool: Pool, *, count: int, tag: str, label: str = "rec", seed: int = 1) -> float:
    """Entries per second through entry_record on this connection, one transaction each."""
    items = list(entry_items(pool, tag=tag, label=label, start=0, count=count, seed=seed, history=False))
    started = time.perf_counter()
    for item in items:
        entry_record(**item)
    return count / (time.perf_counter() - started)


def _probed(items, at: int, marks: dict):
    """Pass ``items`` through, noting this process's peak RSS when item ``at`` is asked for."""
    for n, item in enumerate(items, start=1):
        if n == at:
            marks["half_peak_mb"] = peak_rss_mb()
        yield item


def worker_run(mode: str, *, tag: str, label: str, start: int, count: int, seed: int, ready, go) -> dict:
    """One worker process's half: prepare, say ``ready``, wait for ``go``, then record or import."""
    pool = Pool.load()
    ContentType.objects.get_for_model(Client)  # warm the content-type cache before the clock starts
    if mode == "record":
        work = list(entry_items(pool, tag=tag, label=label, start=start, count=count, seed=seed, history=False))
    else:
        work = entry_items(pool, tag=tag, label=label, start=start, count=count, seed=seed, history=True)
    marks = {"base_peak_mb": peak_rss_mb()}
    ready()
    go()
    began = time.time()
    if mode == "record":
        for item in work:
            entry_record(**item)
    else:
        entry_import(items=_probed(work, max(1, count // 2), marks))  # its return value changes: count instead
    ended = time.time()
    return {"start": began, "end": ended, "count": count, **marks, "end_peak_mb": peak_rss_mb()}


@dataclass
class WorkerResult:
    ok: bool
    data: dict
    error: str = ""


def run_workers(specs: list[dict], firm: str) -> list[WorkerResult]:
    """Start one ``bench_ingest --worker`` process per spec; release them together once all are ready."""
    env = child_env(DATABASE_URL=database_url(), DEBUG="false", LOG_LEVEL="WARNING")
    manage = str(settings.BASE_DIR / "manage.py")
    procs = []
    for spec in specs:
        args = [sys.executable, manage, "bench_ingest", "--worker", spec["mode"], "--firm", firm]
        for name in ("tag", "label", "start", "count", "seed"):
            args += [f"--{name}", str(spec[name])]
        errors = tempfile.TemporaryFile("w+")  # a pipe could fill up and stall the worker
        proc = subprocess.Popen(
            args,
            env=env,
            cwd=settings.BASE_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
        procs.append((proc, errors))
    for proc, _ in procs:
        for line in proc.stdout:
            if line.strip() == "ready":
                break
    for proc, _ in procs:
        try:
            proc.stdin.write("go\n")
            proc.stdin.close()
        except BrokenPipeError:  # it died during setup; reported below
            pass
    results = []
    for proc, errors in procs:
        output = proc.stdout.read()
        proc.wait()
        errors.seek(0)
        stderr = errors.read()
        errors.close()
        data = next((json.loads(line) for line in reversed(output.splitlines()) if line.startswith("{")), None)
        if proc.returncode == 0 and data is not None:
            results.append(WorkerResult(True, data))
        else:
            results.append(WorkerResult(False, {}, _exception_text(stderr) or f"exit status {proc.returncode}"))
    return results


def _exception_text(stderr: str) -> str:
    """The exception a traceback ends with: the lines after its last indented (frame) line."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    last_frame = max((i for i, line in enumerate(lines) if line.startswith("  ")), default=-1)
    return " ".join(line.strip() for line in lines[last_frame + 1 :])[-500:]


def _span(results: list[WorkerResult]) -> float:
    return max(r.data["end"] for r in results) - min(r.data["start"] for r in results)


def writers_rate(*, firm: str, writers: int, count: int, tag: str) -> tuple[float | None, int, list[str]]:
    """Entries per second from ``writers`` processes recording at once: (rate, entries asked, errors)."""
    each = max(1, count // writers)
    specs = [
        {"mode": "record", "tag": tag, "label": f"w{k}", "start": 0, "count": each, "seed": 100 + k}
        for k in range(writers)
    ]
    results = run_workers(specs, firm)
    errors = [r.error for r in results if not r.ok]
    rate = None if errors else each * writers / _span(results)
    return rate, each * writers, errors


def import_rate(*, firm: str, count: int, tag: str) -> tuple[float | None, dict, list[str]]:
    """Entries per second through entry_import in a fresh process, and its memory growth (MB)."""
    spec = {"mode": "import", "tag": tag, "label": "imp", "start": 0, "count": count, "seed": 7}
    (result,) = run_workers([spec], firm)
    if not result.ok:
        return None, {}, [result.error]
    base, half, end = (result.data.get(key) for key in ("base_peak_mb", "half_peak_mb", "end_peak_mb"))
    half = base if half is None else half  # an importer that never asked for the middle item
    first, second = half - base, end - half
    memory = {"first_half_mb": first, "second_half_mb": second, "bounded": second <= max(MEMORY_SLACK_MB, first / 4)}
    return count / _span([result]), memory, []


# --- exactness -----------------------------------------------------------------------------------


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def overlap_check(*, firm: str, count: int, tag: str) -> Check:
    """Two imports at once whose external ids overlap by half: each entry must be stored once."""
    half = count // 2
    specs = [
        {"mode": "import", "tag": tag, "label": "ovl", "start": 0, "count": count, "seed": 21},
        {"mode": "import", "tag": tag, "label": "ovl", "start": half, "count": count, "seed": 22},
    ]
    results = run_workers(specs, firm)
    prefix = entry_prefix(tag, "ovl-")
    stored = Entry.objects.filter(external_id__startswith=prefix).count()
    distinct = Entry.objects.filter(external_id__startswith=prefix).values("external_id").distinct().count()
    expected = half + count
    errors = [f"import {i + 1} failed: {r.error}" for i, r in enumerate(results) if not r.ok]
    ok = not errors and stored == distinct == expected
    detail = f"{stored:,} stored ({distinct:,} distinct) of {expected:,} ids"
    return Check("two overlapping concurrent imports store each entry once", ok, "; ".join([detail, *errors]))


def _audit_mismatches(prefix: str | None) -> tuple[int, int, int, int]:
    """(entries, without a create event, with more than one, create events of no entry)."""
    entries, events = Entry._meta.db_table, AuditEvent._meta.db_table
    where, params = ("WHERE e.external_id LIKE %s", [f"{prefix}%"]) if prefix else ("", [])
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT count(*), count(*) FILTER (WHERE a.n IS NULL), count(*) FILTER (WHERE a.n > 1)
            FROM {entries} e LEFT JOIN (
                SELECT entity_id, count(*) AS n FROM {events}
                WHERE entity_type = 'entry' AND action = 'create' GROUP BY entity_id
            ) a ON a.entity_id = e.id
            {where}
            """,
            params,
        )
        total, missing, repeated = cursor.fetchone()
        orphans = 0
        if prefix is None:  # only firm-wide: another app's tests may hard-delete their entries
            cursor.execute(
                f"SELECT count(*) FROM {events} a WHERE entity_type = 'entry' AND action = 'create' "
                f"AND NOT EXISTS (SELECT 1 FROM {entries} e WHERE e.id = a.entity_id)"
            )
            orphans = cursor.fetchone()[0]
    return total, missing, repeated, orphans


def _rollup_mismatches(performer_id: int | None) -> list[dict]:
    now = timezone.now()
    windows = [
        {},
        {"since": now - timedelta(days=30)},
        {"since": now - timedelta(days=400, hours=5), "until": now - timedelta(days=30, hours=7)},
        {"since": now - timedelta(hours=20)},
    ]
    extras = [{}, {"kind": [EntryKind.CALL, EntryKind.MEETING], "subject_type": ["case"]}]
    if performer_id is not None:
        extras.append({"performed_by": [performer_id]})
    filters = [{**window, **extra} for window in windows for extra in extras]
    return [f for f in filters if entry_stats(filters=f) != stats_shape(_direct_totals(f))]


def exactness_checks(*, expected: dict[str, int], tag: str, audit_prefix: str | None) -> list[Check]:
    """After a run: the chain, one create event per entry, rollups, and each label's stored count.

    ``audit_prefix`` None checks every entry of the firm (the bench firm holds nothing else).
    """
    checks = []
    verified = chain_verify()
    detail = f"{verified.checked:,} events" if verified.ok else f"broken at seq {verified.seq}: {verified.reason}"
    checks.append(Check("audit chain verifies", verified.ok, detail))
    total, missing, repeated, orphans = _audit_mismatches(audit_prefix)
    checks.append(
        Check(
            "every bench entry has exactly one audit create event",
            total > 0 and missing == repeated == orphans == 0,
            f"{total:,} entries: {missing} without, {repeated} with several, {orphans} events of no entry",
        )
    )
    performer = User.objects.filter(username__startswith=USER_PREFIX).order_by("id").values_list("id", flat=True)
    wrong = _rollup_mismatches(performer.first())
    checks.append(Check("rollups equal a direct aggregate", not wrong, f"{len(wrong)} of the filters differ: {wrong}"))
    for label, count in expected.items():
        stored = Entry.objects.filter(external_id__startswith=entry_prefix(tag, f"{label}-")).count()
        checks.append(Check(f"'{label}' entries stored once each", stored == count, f"{stored:,} of {count:,}"))
    return checks


# --- one run -------------------------------------------------------------------------------------


@dataclass
class Run:
    tag: str
    entries: int
    writers: int
    import_entries: int
    insert_per_s: float = 0.0
    copy_per_s: float = 0.0
    copy_rows: int = 0
    record_per_s: float = 0.0
    writers_per_s: float | None = None
    import_per_s: float | None = None
    memory: dict = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    expected: dict[str, int] = field(default_factory=dict)


def measure(*, firm: str, entries: int, writers: int, import_entries: int, tag: str, log=print) -> Run:
    """Every figure of one run, in the current tenant's schema (``firm``), in this order."""
    run = Run(tag=tag, entries=entries, writers=writers, import_entries=import_entries)
    pool = Pool.load()
    run.copy_rows = min(import_entries, COPY_ROWS_MAX)
    log(f"Limits: {entries:,} single-row INSERTs, COPY of {run.copy_rows:,} rows")
    run.insert_per_s, run.copy_per_s = limit_rates(pool, inserts=entries, copies=run.copy_rows, tag=tag)
    log(f"entry_record: {entries:,} entries on one connection")
    run.record_per_s = record_rate(pool, count=entries, tag=tag)
    run.expected["rec"] = entries
    log(f"entry_record: {writers} processes at once")
    run.writers_per_s, asked, errors = writers_rate(firm=firm, writers=writers, count=entries, tag=tag)
    run.errors += [f"writer: {e}" for e in errors]
    if not errors:
        run.expected.update({f"w{k}": asked // writers for k in range(writers)})
    log(f"entry_import: {import_entries:,} entries from a generator, in a fresh process")
    run.import_per_s, run.memory, errors = import_rate(firm=firm, count=import_entries, tag=tag)
    run.errors += [f"import: {e}" for e in errors]
    if not errors:
        run.expected["imp"] = import_entries
    return run


def _met(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "NOT met")


def report_lines(run: Run) -> list[str]:
    """The figures as a markdown table: each rate, its limit, the ratio and the issue's target."""

    def ratio(value, limit):
        return None if value is None or not limit else value / limit

    record = ratio(run.record_per_s, run.insert_per_s)
    writers = ratio(run.writers_per_s, run.record_per_s)
    imported = ratio(run.import_per_s, run.copy_per_s)
    memory = run.memory

    def rate(value):
        return "failed" if value is None else f"{value:,.0f}/s"

    def pct(value):
        return "–" if value is None else f"{value:.1%}"

    rows = [
        ("single-row INSERT, autocommit (limit)", rate(run.insert_per_s), "–", "–", "–", "–"),
        (f"COPY of {run.copy_rows:,} rows, indexed table (limit)", rate(run.copy_per_s), "–", "–", "–", "–"),
        (
            f"entry_record, 1 connection ({run.entries:,})",
            rate(run.record_per_s),
            "single-row INSERT",
            pct(record),
            "≥ 25 %",
            _met(None if record is None else record >= TARGETS["record"]),
        ),
        (
            f"entry_record, {run.writers} processes ({max(1, run.entries // run.writers):,} each)",
            rate(run.writers_per_s),
            "1 connection",
            "–" if writers is None else f"{writers:.2f}x",
            "≥ 3x",
            _met(None if writers is None else writers >= TARGETS["writers"]),
        ),
        (
            f"entry_import of {run.import_entries:,}",
            rate(run.import_per_s),
            "COPY",
            pct(imported),
            "≥ 40 %",
            _met(None if imported is None else imported >= TARGETS["import"]),
        ),
    ]
    if memory:
        rows.append(
            (
                "entry_import peak RSS growth",
                f"+{memory['first_half_mb']:.1f} MB, then +{memory['second_half_mb']:.1f} MB",
                "over the input's first half, then its second",
                "–",
                "bounded",
                _met(memory["bounded"]),
            )
        )
    lines = ["| figure | rate | limit | ratio | target | |", "|---|---:|---|---:|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines + [f"- {error}" for error in run.errors]
