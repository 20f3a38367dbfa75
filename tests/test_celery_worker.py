"""A task sent from inside a firm's schema runs in that schema on a real worker (Redis broker)."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from celery.backends.redis import RedisBackend
from celery.result import AsyncResult
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
RESULTS = "redis://127.0.0.1:6379/14"


@pytest.mark.slow
def test_task_runs_in_the_schema_it_was_sent_from(scratch_firm):
    from traf3li.celery import app
    from traf3li.core.db import product_database_env
    from traf3li.core.tasks import heartbeat_task

    # A queue of its own keeps any other worker on this broker from taking the task; the app's
    # configuration is left alone (other tests share it), only the worker stores results.
    queue = f"test-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        **product_database_env(),  # as the product's own role (ADR 0062)
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_RESULT_BACKEND": RESULTS,
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "traf3li", "worker", "--pool=solo", "-Q", queue, "-l", "warning"],
        cwd=ROOT,
        env=env,
    )
    try:
        # given a task sent while the connection is in the scratch firm's schema
        sent = heartbeat_task.apply_async(queue=queue)
        # then the worker ran it in that schema
        result = AsyncResult(sent.id, backend=RedisBackend(app=app, url=RESULTS))
        assert result.get(timeout=60) == scratch_firm.schema_name
    finally:
        worker.terminate()
        worker.wait(timeout=10)
