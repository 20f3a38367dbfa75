"""The Celery app. Tasks carry the schema of the firm they were sent from (tenant-schemas-celery)."""

import os

from tenant_schemas_celery.app import CeleryApp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "traf3li.settings")

app = CeleryApp("traf3li")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _beat_schedule():
    from traf3li.beat import BEAT_SCHEDULE

    return BEAT_SCHEDULE


app.conf.beat_schedule = _beat_schedule()


def _task_context_open(task_id=None, task=None, **_):
    from traf3li.core.context import ActionContext, _current

    task.request._traf3li_ctx_token = _current.set(
        ActionContext(
            source="task", request_id=(task_id or "")[:64] or ActionContext().request_id, user_agent=task.name
        )
    )


def _task_context_close(task=None, **_):
    from traf3li.core.context import _current

    token = getattr(task.request, "_traf3li_ctx_token", None)
    if token is not None:
        _current.reset(token)


def _warn_if_superuser(**_):
    from traf3li.core.db import warn_if_superuser

    warn_if_superuser()  # with DEBUG off: the worker should not hold a superuser's rights (ADR 0062)


from celery.signals import task_postrun, task_prerun, worker_ready  # noqa: E402

task_prerun.connect(_task_context_open, weak=False)
task_postrun.connect(_task_context_close, weak=False)
worker_ready.connect(_warn_if_superuser, weak=False)
