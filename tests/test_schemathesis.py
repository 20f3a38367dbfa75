"""schemathesis over every operation of the OpenAPI schema, against the product on loopback.

gunicorn serves the test database as in production (``tests/browser/server.py``); the requests are
real HTTP with a firm admin's token, on a firm made for this run alone (``probe``), dropped again at
the end, so nothing it writes reaches another test. Each operation gets schemathesis' example,
coverage and fuzzing phases (valid and invalid input), bounded by ``SCHEMATHESIS_MAX_EXAMPLES``
fuzzed cases per operation; ``SCHEMATHESIS_SEED`` fixes the run (change it to explore further, the
same value replays a failure). Every response must be no 5xx, carry a status code and a content
type its operation declares, and a body its schema describes.

Not probed: ``/hooks/`` (providers' webhooks, not in the schema; each needs the provider's
signature, and ``messaging/tests`` test those against the providers' real vectors), and
``POST /api/v1/auth/token/`` (random passwords would only lock the probe's admin out: its 429 is
tested in ``traf3li/core/tests/test_login_throttle.py``), and the three ways to revoke tokens (they
would revoke the probe's own).
"""

import importlib
import json
import os
import random
import secrets
import urllib.request
from urllib.parse import urlencode

import pytest
import schemathesis
from django.conf import settings
from django.db import connection
from django_tenants.utils import schema_context
from hypothesis import assume
from schemathesis import Config
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.browser.server import ROOT, run_product
from traf3li.core.db import product_database_env
from traf3li.core.processes import ServerDidNotStart

pytestmark = pytest.mark.slow

SEED = int(os.environ.get("SCHEMATHESIS_SEED", "20261201"))
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "15"))
PROBE_FIRM = "probe"
# gunicorn answers a request line past 4094 bytes itself (an HTML 414, before Django): the server's
# limit, not the API's, so cases that long are not sent.
MAX_REQUEST_LINE = 4000
# The demo's seeders, so that ids in paths reach real records of every kind (see map_path_parameters).
SEEDERS = ["traf3li.crm.demo", "timeline.demo", "timeline.activities.demo", "timeline.events.demo", "billing.demo"]
REAL_IDS: dict[str, list[int]] = {}  # a list path -> ids the probe firm holds there, filled by ``probe``


def _drop_probe_firm():
    from traf3li.firms.models import Firm

    firm = Firm.objects.filter(schema_name=PROBE_FIRM).first()
    if firm is not None:
        firm.domains.all().delete()
        firm.delete(force_drop=True)


@pytest.fixture(scope="module")
def probe(django_db_setup, django_db_blocker):
    """gunicorn on the test database, a firm of its own and its admin's token; all gone afterwards."""
    from traf3li.firms.models import Firm
    from traf3li.firms.services import firm_create
    from traf3li.users.models import User
    from traf3li.users.services import api_token_issue

    assert connection.settings_dict["NAME"] == settings.DATABASES["default"]["TEST"]["NAME"], "not the test database"
    with django_db_blocker.unblock():
        _drop_probe_firm()  # left over by an interrupted run
        firm_create(
            slug=PROBE_FIRM, name="Probe Law", admin_username="probe_admin", admin_password=secrets.token_urlsafe(16)
        )
        firm = Firm.objects.get(schema_name=PROBE_FIRM)
        with schema_context(PROBE_FIRM):
            connection.set_tenant(firm)
            token = api_token_issue(user=User.objects.get(username="probe_admin"))[1]
            for name in SEEDERS:
                importlib.import_module(name).seed(firm, random.Random(f"probe-{name}"))
            _seed_probe_findings(User.objects.get(username="probe_admin"))
        connection.set_schema_to_public()
        try:
            database = product_database_env()  # as the product's own role (ADR 0062)
            with run_product(
                database_url=database["DATABASE_URL"],
                database_owner_url=database["DATABASE_OWNER_URL"],
                redis_url=settings.REDIS_URL,
                base_domain=settings.BASE_DOMAIN,
                log=ROOT / ".artifacts" / "schemathesis" / "gunicorn.log",
            ) as server:
                REAL_IDS.update(_real_ids(server, token))
                yield server, token
        except ServerDidNotStart as exc:
            pytest.fail(str(exc))
        finally:
            connection.set_schema_to_public()
            _drop_probe_firm()


def _seed_probe_findings(admin):
    """What the issue's probe tripped on: an activity whose subject is gone, a type that suggests."""
    from timeline.activities.tests.factories import activity_type, schedule
    from traf3li.crm import services as crm
    from traf3li.crm.models import Lead

    lead = crm.record_create(instance=Lead(name="Deleted lead"))
    schedule(subject=lead, assignee=admin)
    crm.record_delete(instance=lead)
    follow_up = activity_type("Probe follow-up")
    suggesting = activity_type("Probe suggests", chaining="suggest", next_type=follow_up)
    schedule(subject=crm.record_create(instance=Lead(name="Suggested lead")), type=suggesting, assignee=admin)


def _headers(server, token) -> dict:
    return {"Host": f"{PROBE_FIRM}.{settings.BASE_DOMAIN}:{server.port}", "Authorization": f"Token {token}"}


def _real_ids(server, token) -> dict[str, list[int]]:
    """Each detail route's list path -> the ids its first page lists, read over the API as a client would."""
    ids = {}
    for path in schema.raw_schema["paths"]:
        if "{id}" not in path:
            continue
        listing = path.split("{id}")[0]
        request = urllib.request.Request(
            f"http://127.0.0.1:{server.port}{listing}?page_size=200", headers=_headers(server, token)
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                body = json.load(answer)
        except OSError:
            continue  # no list at that path (e.g. /invoices/{id}/zatca/ shares /invoices/'s)
        rows = body.get("results", body) if isinstance(body, dict) else body
        ids[listing] = [row["id"] for row in rows if isinstance(row, dict) and isinstance(row.get("id"), int)]
    return ids


def _spec() -> dict:
    """The schema the product serves (drf-spectacular's generator, as ``/api/schema/`` runs it)."""
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


# The operations are known when the tests are collected (one test each); the server, its port and the
# token only when they run, so each call names its base URL and headers.
schema = schemathesis.openapi.from_dict(
    _spec(),
    config=Config.from_dict(
        {
            "seed": SEED,
            "generation": {"max-examples": MAX_EXAMPLES},
            "phases": {"stateful": {"enabled": False}},
        }
    ),
).exclude(method="POST", path="/api/v1/auth/token/")
# The probe's own token must outlive the run: logging out, revoking one's tokens or a token by id
# (the map below may pick the probe's own) would leave every later operation a 401. Their answers
# are tested in traf3li/users/tests/test_tokens.py.
for method, path in (
    ("DELETE", "/api/v1/auth/token/"),
    ("POST", "/api/v1/auth/tokens/revoke-all/"),
    ("DELETE", "/api/v1/auth/tokens/{id}/"),
):
    schema = schema.exclude(method=method, path=path)
CHECKED = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@schema.hook
def map_path_parameters(context, path_parameters):
    """Three ids in four become one of a real record's (chosen by the generated id, so the seed still
    decides): random ids alone would only ever reach the 404s."""
    ids = REAL_IDS.get(context.operation.path.split("{id}")[0]) if context.operation else None
    value = (path_parameters or {}).get("id")
    if ids and isinstance(value, int) and value % 4:
        return {**path_parameters, "id": ids[value % len(ids)]}
    return path_parameters


@schema.parametrize()
def test_every_operation_answers_as_its_schema_says(case, probe):
    server, token = probe
    assume(len(case.formatted_path) + len(urlencode(case.query or {}, doseq=True)) < MAX_REQUEST_LINE)
    case.call_and_validate(base_url=f"http://127.0.0.1:{server.port}", headers=_headers(server, token), checks=CHECKED)
