"""What the walk-through hit outside a firm's API: health by IP and with the database down, the
public host's docs with a token, the API root, the schema's servers, JSON errors and static files."""

import json
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
from django.test import Client, override_settings
from rest_framework.test import APIClient

from traf3li.core.processes import child_env

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.django_db


# --- /healthz -------------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.1:8000", "10.1.2.3", "localhost", "alpha.localhost"])
def test_healthz_answers_on_any_host(firm_a, host):
    # a load balancer checks a node by its IP, which names no firm (and need not be in ALLOWED_HOSTS)
    response = Client(HTTP_HOST=host).get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"db": "ok", "redis": "ok"}


DB_DOWN_PROBE = """
import json, django
django.setup()
from django.test import Client
out = {}
for host in ("127.0.0.1", "localhost", "acme.localhost"):
    r = Client(HTTP_HOST=host).get("/healthz")
    out[host] = [r.status_code, r["Content-Type"], json.loads(r.content)]
print(json.dumps(out))
"""


def test_healthz_is_a_json_503_when_the_database_is_down():
    # given a process whose database and Redis refuse connections (port 1)
    env = {
        **child_env(),
        "DJANGO_SETTINGS_MODULE": "traf3li.settings",
        "DEBUG": "false",
        "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/traf3li",
        "REDIS_URL": "redis://127.0.0.1:1/0",
    }
    # when /healthz is asked on the IP, the platform and a firm's host
    done = subprocess.run(
        [sys.executable, "-c", DB_DOWN_PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    answers = json.loads(done.stdout.strip().splitlines()[-1])
    # then each is the contract's 503 in JSON, not the tenant lookup's HTML 500
    for host, (status, content_type, body) in answers.items():
        assert (status, content_type, body) == (503, "application/json", {"db": "down", "redis": "down"}), host


# --- the public host ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/schema/", "/api/docs/"])
def test_a_token_header_on_the_public_host_is_not_a_500(db, path):
    # the public schema has no token table: authenticating the header there was a ProgrammingError
    client = APIClient(HTTP_HOST="localhost", HTTP_AUTHORIZATION="Token acme-demo-token-0000000000000000000000000")
    assert client.get(path).status_code == 200


def test_docs_load_swagger_ui_from_our_static_files_not_a_cdn(db):
    html = Client(HTTP_HOST="localhost").get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "https://" not in html


@pytest.mark.parametrize(
    "path",
    [
        "/static/admin/css/base.css",
        "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js",
        "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css",
    ],
)
@pytest.mark.parametrize("host", ["localhost", "alpha.localhost", "127.0.0.1"])
def test_static_files_are_served_on_every_host(firm_a, host, path):
    response = Client(HTTP_HOST=host).get(path)
    assert response.status_code == 200
    response.close()


# --- the schema's servers -------------------------------------------------------------------------


def test_schema_servers_name_the_firm_as_a_variable(firm_a):
    public = APIClient(HTTP_HOST="localhost:8000").get("/api/schema/?format=json").json()
    assert public["servers"] == [
        {
            "url": "http://{firm}.localhost:8000",
            "description": "A firm's host: its slug, then the platform's domain.",
            "variables": {"firm": {"default": "acme", "description": "The firm's slug, e.g. acme or nour."}},
        }
    ]
    # on a firm's own host the default is that firm, so "Try it out" stays on the same origin
    own = APIClient(HTTP_HOST="alpha.localhost").get("/api/schema/?format=json").json()
    assert own["servers"][0]["url"] == "http://{firm}.localhost"
    assert own["servers"][0]["variables"]["firm"]["default"] == "alpha"


def test_the_platform_docs_may_try_it_out_on_a_firm_host(firm_a):
    client = Client(HTTP_HOST="alpha.localhost:8000")
    # the preflight carries no token: answered before authentication
    preflight = client.options(
        "/api/v1/clients/",
        HTTP_ORIGIN="http://localhost:8000",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization",
    )
    assert preflight.status_code == 204
    assert preflight["Access-Control-Allow-Origin"] == "http://localhost:8000"
    assert "Authorization" in preflight["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Credentials" not in preflight
    answer = client.get("/api/v1/clients/", HTTP_ORIGIN="http://localhost:8000")
    assert answer.status_code == 401
    assert answer["Access-Control-Allow-Origin"] == "http://localhost:8000"
    # any other origin (another firm, another site, another port) is not allowed
    for origin in ("http://beta.localhost:8000", "https://evil.example", "http://localhost:9999"):
        response = client.get("/api/v1/clients/", HTTP_ORIGIN=origin)
        assert "Access-Control-Allow-Origin" not in response, origin


# --- the API root ---------------------------------------------------------------------------------


def test_api_root_lists_every_endpoint(api_a):
    response = api_a.get("/api/v1/")
    assert response.status_code == 200
    root = response.json()
    for name in (
        "users",
        "me",
        "auth/token",
        "clients",
        "contacts",
        "leads",
        "cases",
        "organizations",
        "firm",
        "audit",
        "timeline",
        "timeline/stats",
        "activities",
        "activity-types",
        "notifications",
    ):
        assert root[name] == f"http://alpha.localhost/api/v1/{name}/", name
    assert not [name for name in root if "{" in name or "format" in name]


def test_api_root_asks_for_authentication_like_every_endpoint(firm_a):
    assert APIClient(HTTP_HOST="alpha.localhost").get("/api/v1/").status_code == 401


# --- JSON errors under /api/ ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "path"),
    [
        ("alpha.localhost", "/api/v1/no-such-endpoint/"),
        ("alpha.localhost", "/api/nothing"),
        ("localhost", "/api/v1/clients/"),  # the platform has no firm API
        ("nofirm.localhost", "/api/v1/clients/"),  # a host with no firm
    ],
)
def test_unrouted_api_paths_are_json_404s(firm_a, host, path):
    response = Client(HTTP_HOST=host).get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found."}


def test_pages_outside_the_api_keep_html_errors(firm_a):
    response = Client(HTTP_HOST="alpha.localhost").get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_an_oversized_body_is_a_json_413(api_a):
    big = "x" * 2000
    for response in (
        api_a.post("/api/v1/clients/", {"name": big}, format="json"),
        api_a.post("/api/v1/clients/", {"name": big}, format="multipart"),
        api_a.post("/api/v1/clients/", f"name={big}", content_type="application/x-www-form-urlencoded"),
    ):
        assert response.status_code == 413
        assert response["Content-Type"] == "application/json"
        assert response.json() == {"detail": "Request body is too large."}


def test_a_server_error_under_the_api_is_json(api_a):
    api_a.raise_request_exception = False
    with mock.patch("traf3li.api.views.ApiRootView.get", side_effect=RuntimeError("boom")):
        response = api_a.get("/api/v1/")
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "A server error occurred."}
