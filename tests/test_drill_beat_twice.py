"""Fault drill: celery beat started twice (two hosts each running one, a restart that overlapped).

Two real ``celery beat`` processes and one real prefork worker (two processes) share a broker and
the test database; an activity in the scratch firm is due today. Each beat sends the reminders to
every firm as it starts (``traf3li.beat.SEND_AT_START``), so the firm gets the reminder task twice,
possibly at once on the worker's two processes; the reminder ledger (ADR 0020: one row per
activity and deadline, claimed with SKIP LOCKED, recorded under the row lock) must make that one
email and one notification. The broker is a Redis of the drill's own (tests/private_services.py):
nothing else queued there runs first, and nothing of this drill is left for another test's worker.
"""

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests.private_services import private_redis
from timeline.activities.deadlines import firm_today
from timeline.activities.models import Activity, Notification, Reminder
from timeline.activities.tests.factories import a_client, activity_type, schedule
from traf3li.core.db import product_database_env
from traf3li.firms.models import Firm
from traf3li.users.services import user_create

ROOT = Path(__file__).resolve().parent.parent
TASK = "timeline.activities.tasks.activity_reminders_task"
WAIT = 90  # seconds for both beats' reminder runs to finish on the worker


def celery(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "traf3li", *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the worker's children stop with it
        )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.mark.slow
def test_two_beats_send_one_reminder(scratch_firm, tmp_path):
    assert connection.settings_dict["NAME"].startswith("test_"), "refusing to commit outside the test database"
    marker = f"Beat drill {uuid.uuid4().hex[:8]}"
    who = user_create(username=f"beat-{uuid.uuid4().hex[:8]}", password="pass-word-123", role="lawyer",
                      email=f"{uuid.uuid4().hex[:8]}@example.com")  # fmt: skip
    kind = activity_type("Beat drill call")
    activity = schedule(subject=a_client(f"{marker} client"), assignee=who, type=kind, deadline=firm_today(),
                        summary=marker)  # fmt: skip
    firms = Firm.objects.exclude(schema_name="public").count()
    processes, logs = [], {name: tmp_path / f"{name}.log" for name in ("worker", "beat-1", "beat-2")}
    with private_redis() as broker:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "traf3li.settings",
            **product_database_env(),  # the worker and beats as the product's own role (ADR 0062)
            "REDIS_URL": broker,
            "CELERY_BROKER_URL": broker,
            "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",
            "SECRET_KEY": settings.SECRET_KEY,
        }
        try:
            processes.append(celery(["worker", "-l", "info", "-c", "2", "-P", "prefork"], env, logs["worker"]))
            for name in ("beat-1", "beat-2"):
                beat = ["beat", "-l", "info", "-s", str(tmp_path / f"{name}-schedule"),
                        "--pidfile", str(tmp_path / f"{name}.pid")]  # fmt: skip
                processes.append(celery(beat, env, logs[name]))
            # when both beats have started and the worker has run every reminder task they sent
            deadline, done = time.monotonic() + WAIT, 0
            while time.monotonic() < deadline:
                done = len(re.findall(rf"Task {re.escape(TASK)}\[[^\]]+\] succeeded", logs["worker"].read_text()))
                if done >= 2 * firms:
                    break
                if any(p.poll() is not None for p in processes):
                    break
                time.sleep(0.5)
        finally:
            for process in reversed(processes):
                stop(process)
    text = {name: log.read_text(errors="replace") for name, log in logs.items()}
    assert done >= 2 * firms, f"{done} of {2 * firms} reminder runs finished:\n{text['worker'][-3000:]}"
    # both beats really sent the reminders to every firm, this one included (2 runs per firm above)
    for name in ("beat-1", "beat-2"):
        assert f"Sending due task activity-reminders@__all_tenants_only__ ({TASK}) to all tenants" in text[name]
    # then one reminder: one ledger row, sent; one notification; one email
    reminders = Reminder.objects.filter(activity=activity)
    assert reminders.count() == 1 and reminders.get().state == "sent"
    assert Notification.objects.filter(activity=activity).count() == 1
    assert text["worker"].count(f"{kind.name}: {marker}") == 1, text["worker"][-3000:]
    assert Activity.objects.get(pk=activity.pk).state == "scheduled"
