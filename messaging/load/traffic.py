"""The firm the harness loads, its request mix, and the checks afterwards (ADR 0038).

``prepare`` gives a firm (created once, idempotent) clients with seeded timelines, an activity
type, an admin token and the bench's channel accounts, and returns a ``Plan`` (plain data, JSON).
``Mix(plan, port, run)`` turns request number ``n`` into a ``Call``: the 360° page, the firm stream
with filters, search, timeline and SLA stats, entry and activity writes and signed webhook
deliveries, in fixed proportions. Every write carries a marker unique to the run and its number
(an entry's ``external_id``, an activity's summary, a delivery's provider message id), so
``stored_counts`` can count, through SQL on the firm's schema, how often each one was stored.
"""

import json
import random
import re
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from messaging.bench import bench_accounts_ensure, signed_delivery
from messaging.load.driver import Call, Outcome

CEILING_PATH = "/loadtest/ceiling/"
ADMIN = "load_admin"
ADMIN_PASSWORD = "Mixed-traffic-load-2026"
CLIENT_NAME = "Load client {}"
ACTIVITY_TYPE = "Load follow-up"
SEARCH_WORD = "hearing"
# The mixed phase's proportions (out of 100): reads as a firm's users make them, writes from the
# API, and the providers' webhooks.
MIX = {
    "360° page": 30,
    "firm stream, filtered": 12,
    "search": 8,
    "timeline stats": 5,
    "SLA stats": 5,
    "entry write": 15,
    "activity write": 5,
    "webhook delivery": 20,
}
THREE_SIXTY = "360° page"
CEILING = "ceiling (trivial JSON view)"


@dataclass
class Plan:
    firm: str
    host: str  # the firm's host name, without the port
    token: str
    clients: list[int]
    activity_type: int

    def dumps(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def loads(cls, text: str) -> "Plan":
        return cls(**json.loads(text))


def prepare(*, firm: str, clients: int, entries_per_client: int) -> Plan:
    """The firm ready for load, in the database Django is connected to (created once, then reused)."""
    from django.db import connection
    from django_tenants.utils import schema_context

    from timeline.activities.models import ActivityType
    from timeline.activities.services import activity_type_create
    from timeline.services import entry_import
    from traf3li.crm.models import Client
    from traf3li.crm.services import record_create
    from traf3li.firms.services import firm_create, firm_domain
    from traf3li.users.models import User
    from traf3li.users.services import api_token_issue

    created = firm_create(slug=firm, name="Load Law", admin_username=ADMIN, admin_password=ADMIN_PASSWORD).firm
    with schema_context(created.schema_name):
        connection.set_tenant(created)
        admin = User.objects.get(username=ADMIN)
        _, token = api_token_issue(user=admin)  # a new one each run: the plaintext is shown only once
        names = [CLIENT_NAME.format(i) for i in range(clients)]
        existing = dict(Client.objects.filter(name__in=names).values_list("name", "id"))
        for name in names:
            if name not in existing:
                existing[name] = record_create(instance=Client(name=name)).id
        ids = [existing[name] for name in names]
        entry_import(items=_seed(Client.objects.in_bulk(ids), entries_per_client, admin))
        kind = ActivityType.objects.filter(name=ACTIVITY_TYPE).first()
        kind = kind or activity_type_create(instance=ActivityType(name=ACTIVITY_TYPE, delay_count=3))
        bench_accounts_ensure()
        _analyze(created.schema_name)
    connection.set_schema_to_public()
    return Plan(firm=firm, host=firm_domain(firm), token=token, clients=ids, activity_type=kind.id)


def _analyze(schema: str) -> None:
    """The planner's statistics and visibility maps of the firm's tables, as autovacuum keeps them
    for a firm in use.

    Without them a freshly seeded firm is planned as if empty: on a PostgreSQL with autovacuum off
    (this machine's is), a search walked all 22,000 entries in 34 ms instead of one index, and the
    360° page's index-only scan of the links fetched every row from the heap. VACUUM can't run in
    a transaction (a test's): there, only ANALYZE."""
    from django.db import connection

    verb = "ANALYZE" if connection.in_atomic_block else "VACUUM ANALYZE"
    with connection.cursor() as cursor:
        cursor.execute("SELECT format('%%I.%%I', schemaname, tablename) FROM pg_tables WHERE schemaname = %s", [schema])
        for (table,) in cursor.fetchall():
            cursor.execute(f"{verb} {table}")


def _seed(clients: dict, per_client: int, admin):
    """Each client's history over the last year; idempotent through (source, external_id)."""
    rng = random.Random(15)
    now = datetime.now(UTC)
    kinds = [
        ("call", {"direction": "inbound", "duration_seconds": 300, "outcome": "connected"}),
        ("email", {}),
        ("note", {}),
        ("sms", {}),
    ]
    for client_id, client in clients.items():
        for k in range(per_client):
            kind, payload = kinds[k % len(kinds)]
            words = f"about the {SEARCH_WORD}" if k % 4 == 0 else "about the contract"
            yield {
                "kind": kind,
                "subject": client,
                "title": f"{kind.title()} {k} {words}",
                "occurred_at": now - timedelta(minutes=rng.randint(1, 365 * 24 * 60)),
                "performed_by": admin,
                "source": "import",
                "external_id": f"seed-{client_id}-{k}",
                "payload": payload,
            }


class Mix:
    """Request ``n`` of a phase, as a ``Call``: deterministic in ``n``, each write's marker unique to ``run``."""

    def __init__(self, plan: Plan, port: int, run: str, weights: dict[str, int] | None = None):
        self.plan, self.run = plan, run
        self.host = f"{plan.host}:{port}"
        self.api = {"Host": self.host, "Authorization": f"Token {plan.token}", "Accept": "application/json"}
        weights = weights or MIX
        self.cycle = [name for name, weight in weights.items() for _ in range(weight)]
        random.Random(38).shuffle(self.cycle)
        since = (datetime.now(UTC) - timedelta(days=30)).replace(microsecond=0).isoformat()
        self.streams = [
            "/api/v1/timeline/?" + urlencode({"kind": kind, "since": since}) for kind in ("call", "email", "note")
        ] + ["/api/v1/timeline/?" + urlencode({"kind": "call,sms", "source": "import"})]
        self.deadline = (datetime.now(UTC) + timedelta(days=60)).date().isoformat()
        stats = "/api/v1/timeline/stats/?" + urlencode({"since": since})
        self.builders = {
            THREE_SIXTY: self.three_sixty,
            "firm stream, filtered": self.stream,
            "search": self.search,
            "timeline stats": lambda n: self.get("timeline stats", stats),
            "SLA stats": lambda n: self.get("SLA stats", "/api/v1/activities/stats/"),
            "entry write": self.entry,
            "activity write": self.activity,
            "webhook delivery": self.delivery,
            CEILING: lambda n: self.get(CEILING, CEILING_PATH),
        }

    def __call__(self, n: int) -> Call:
        return self.builders[self.cycle[n % len(self.cycle)]](n)

    def only(self, endpoint: str):
        """A ``make_call`` for one endpoint alone."""
        return lambda n: self.builders[endpoint](n)

    def client(self, n: int) -> int:
        return self.plan.clients[(n * 7919) % len(self.plan.clients)]

    def get(self, endpoint: str, path: str) -> Call:
        return Call(endpoint, "GET", path, self.api)

    def three_sixty(self, n: int) -> Call:
        return self.get(THREE_SIXTY, f"/api/v1/clients/{self.client(n)}/timeline/")

    def stream(self, n: int) -> Call:
        return self.get("firm stream, filtered", self.streams[n % len(self.streams)])

    def search(self, n: int) -> Call:
        return self.get("search", "/api/v1/timeline/?" + urlencode({"q": SEARCH_WORD if n % 2 else "contract"}))

    def post(self, endpoint: str, path: str, body: dict, marker: tuple[str, str]) -> Call:
        headers = {**self.api, "Content-Type": "application/json"}
        return Call(endpoint, "POST", path, headers, json.dumps(body).encode(), marker, ok=(201,))

    def entry(self, n: int) -> Call:
        marker = f"load-{self.run}-{n}"
        body = {"kind": "note", "subject": f"client:{self.client(n)}", "title": f"Load note {n}", "source": "import",
                "external_id": marker}  # fmt: skip
        return self.post("entry write", "/api/v1/timeline/", body, ("entry", marker))

    def activity(self, n: int) -> Call:
        marker = f"load {self.run} {n}"
        # Two months out: beyond the reminders' horizon, so a run queues no reminder emails for later.
        body = {"subject": f"client:{self.client(n)}", "type": self.plan.activity_type, "summary": marker,
                "deadline": self.deadline}  # fmt: skip
        return self.post("activity write", "/api/v1/activities/", body, ("activity", marker))

    def delivery(self, n: int) -> Call:
        # Signed as it is sent: Mailgun's timestamp must be fresh (a run lasts longer than its tolerance).
        path, headers, body, message_id = signed_delivery(n, self.host, self.run)
        return Call("webhook delivery", "POST", path, {**headers, "Host": self.host}, body, ("delivery", message_id))


def stored_counts(cursor, schema: str, run: str) -> dict[str, Counter]:
    """How many rows each of the run's markers has, per kind: one SQL count per table, on ``cursor``
    (any DB-API cursor: Django's, or psycopg's on another server)."""
    from messaging.models import WebhookDelivery
    from timeline.activities.models import Activity
    from timeline.models import Entry

    counts = {}
    cursor.execute(
        f'SELECT external_id, count(*) FROM "{schema}".{Entry._meta.db_table} '
        "WHERE source = 'import' AND external_id LIKE %s GROUP BY external_id",
        [f"load-{run}-%"],
    )
    counts["entry"] = Counter(dict(cursor.fetchall()))
    cursor.execute(
        f'SELECT summary, count(*) FROM "{schema}".{Activity._meta.db_table} WHERE summary LIKE %s GROUP BY summary',
        [f"load {run} %"],
    )
    counts["activity"] = Counter(dict(cursor.fetchall()))
    cursor.execute(
        f"SELECT convert_from(body, 'UTF8') FROM \"{schema}\".{WebhookDelivery._meta.db_table} "
        "WHERE position(%s::bytea IN body) > 0",
        [run.encode()],
    )
    ids = re.compile(rf"(SM{re.escape(run)}\d{{10}}|{re.escape(run)}-\d+)")
    counts["delivery"] = Counter(
        match.group(1) for (body,) in cursor.fetchall() for match in [ids.search(body)] if match
    )
    return counts


@dataclass
class Ledger:
    """What the run's writes came to: per kind, accepted, lost (accepted, not stored) and doubled."""

    accepted: Counter
    lost: Counter
    doubled: Counter
    unanswered_stored: Counter  # refused or unanswered, yet stored once (an outcome the client never saw)

    @property
    def sound(self) -> bool:
        return not self.lost and not self.doubled


def ledger(outcomes: list[Outcome], counts: dict[str, Counter]) -> Ledger:
    accepted, lost, doubled, unanswered = Counter(), Counter(), Counter(), Counter()
    sent = {}
    for outcome in outcomes:
        if outcome.call.marker is not None:
            sent[outcome.call.marker] = sent.get(outcome.call.marker, False) or not outcome.failed
    for (kind, marker), ok in sent.items():
        stored = counts[kind][marker]
        if ok:
            accepted[kind] += 1
            lost[kind] += stored == 0
        elif stored:
            unanswered[kind] += 1
        doubled[kind] += stored > 1
    # Markers stored that this run never sent can't exist; count them as doubled if they do.
    for kind, per_marker in counts.items():
        doubled[kind] += sum(1 for marker in per_marker if (kind, marker) not in sent)
    return Ledger(+accepted, +lost, +doubled, +unanswered)
