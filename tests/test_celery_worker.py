"""A task sent from inside a firm's schema runs in that schema on a real worker (Redis broker)."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
BROKER_DB = "redis://127.0.0.1:6379/14"


@pytest.mark.slow
def test_task_runs_in_the_schema_it_was_sent_from(scratch_firm):
    from traf3li.celery import app
    from traf3li.core.tasks import heartbeat_task

    queue = f"test-{uuid.uuid4().hex[:8]}"
    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DATABASE_URL": f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}/{connection.settings_dict['NAME']}",
        "CELERY_BROKER_URL": BROKER_DB,
        "CELERY_RESULT_BACKEND": BROKER_DB,
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "traf3li", "worker", "--pool=solo", "-Q", queue, "-l", "warning"],
        cwd=ROOT,
        env=env,
    )
    app.conf.broker_url = app.conf.result_backend = BROKER_DB
    try:
        # given a task sent while the connection is in the scratch firm's schema
        result = heartbeat_task.apply_async(queue=queue)
        # then the worker ran it in that schema
        assert result.get(timeout=30) == scratch_firm.schema_name
    finally:
        worker.terminate()
        worker.wait(timeout=10)
        app.conf.broker_url = settings.CELERY_BROKER_URL
        app.conf.result_backend = settings.CELERY_RESULT_BACKEND
