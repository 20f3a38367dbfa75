"""Production settings refuse what would be unsafe instead of falling back quietly."""

import os
import subprocess
import sys
from pathlib import Path

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
