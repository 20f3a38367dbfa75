"""Production settings refuse what would be unsafe instead of falling back quietly."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

ROOT = Path(__file__).resolve().parent.parent
PROBE = "import django; django.setup(); from django.conf import settings; print(len(settings.SECRET_KEY))"


def _start(**env) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    environ.update(DJANGO_SETTINGS_MODULE="traf3li.settings", **env)
    return subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=environ, capture_output=True, text=True)


def test_with_debug_off_a_missing_secret_key_stops_start_up_with_a_clear_message():
    refused = _start(DEBUG="false")
    assert refused.returncode != 0 and "SECRET_KEY is not set" in refused.stderr
    assert _start(DEBUG="false", SECRET_KEY="k" * 50).stdout.strip() == "50"
    assert _start(DEBUG="true").returncode == 0  # development keeps its default


def test_check_deploy_is_clean_under_production_settings():
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**os.environ, "DEBUG": "false", "TLS": "true", "SECRET_KEY": secrets.token_urlsafe(50)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.django_db
def test_over_tls_plain_http_is_redirected_unless_a_trusted_proxy_says_https(firm_a, settings):
    settings.SECURE_SSL_REDIRECT, settings.SECURE_HSTS_SECONDS = True, 3600
    settings.TRUSTED_PROXIES = ["10.1.0.0/16"]
    host = f"{firm_a.schema_name}.localhost"
    plain = Client(HTTP_HOST=host, REMOTE_ADDR="203.0.113.5").get("/admin/login/")
    assert plain.status_code == 301 and plain["Location"].startswith("https://")
    # a client writing the header itself is not believed
    forged = Client(HTTP_HOST=host, REMOTE_ADDR="203.0.113.5", HTTP_X_FORWARDED_PROTO="https").get("/admin/login/")
    assert forged.status_code == 301
    proxied = Client(HTTP_HOST=host, REMOTE_ADDR="10.1.2.3", HTTP_X_FORWARDED_PROTO="https").get("/admin/login/")
    assert proxied.status_code == 200 and "max-age=3600" in proxied["Strict-Transport-Security"]
    assert Client(REMOTE_ADDR="203.0.113.5").get("/healthz").status_code in (200, 503)  # never redirected
