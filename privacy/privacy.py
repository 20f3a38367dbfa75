"""The privacy data map's entries for models no app of ours owns: Django's admin log, the periodic
tasks' stored arguments (django_celery_beat), and this app's own stored exports (ADR 0068)."""

import json

from django.contrib.admin.models import LogEntry
from django.db import connection

from traf3li.core.privacy import Redaction, privacy_register, privacy_register_rows, scrub

# What a periodic task stores that a person's data can be written to (the task's name, its
# description, and the JSON of its arguments and headers).
PERIODIC_TASK_TEXT = ("name", "description")
PERIODIC_TASK_JSON = ("args", "kwargs", "headers")
PERIODIC_TASK_FIELDS = ("task", *PERIODIC_TASK_TEXT, *PERIODIC_TASK_JSON)


def _loads(text):
    try:
        return json.loads(text or "null")
    except ValueError:
        return text  # not JSON (typed by hand in the admin): searched and scrubbed as text


def _periodic_values(task) -> dict:
    """The task's searchable values, the JSON ones decoded (``\\u0632`` is a letter to find)."""
    return {
        **{name: getattr(task, name) for name in PERIODIC_TASK_TEXT},
        **{name: _loads(getattr(task, name)) for name in PERIODIC_TASK_JSON},
    }


def _firms_periodic_tasks(subject, *, lock: bool = False):
    """This firm's periodic tasks (their headers name its schema: the tenant-aware beat runs them
    there) whose stored values quote the subject. The table is shared by every firm (public
    schema): another firm's rows are never read out or changed."""
    from django_celery_beat.models import PeriodicTask

    rows = PeriodicTask.objects.filter(headers__contains="_schema_name").order_by("pk")
    if lock:
        rows = rows.select_for_update()
    for task in rows:
        values = _periodic_values(task)
        headers = values["headers"]
        if not isinstance(headers, dict) or headers.get("_schema_name") != connection.schema_name:
            continue
        if scrub(values, subject.markers) != values:
            yield task, values


def periodic_tasks_export(subject) -> list[dict]:
    return [{"id": task.pk, "task": task.task, **values} for task, values in _firms_periodic_tasks(subject)]


def periodic_tasks_erase(subject) -> list[Redaction]:
    """Scrub the subject out of the firm's periodic tasks' names, descriptions and arguments (kept
    JSON), then tell beat the schedule changed."""
    from django_celery_beat.models import PeriodicTask, PeriodicTasks

    redactions = []
    for task, values in _firms_periodic_tasks(subject, lock=True):
        scrubbed = scrub(values, subject.markers)
        changed = {name: scrubbed[name] for name in PERIODIC_TASK_TEXT if scrubbed[name] != values[name]}
        if "name" in changed:
            changed["name"] = f"{changed['name']} #{task.pk}"  # names are unique; two scrubbed ones may meet
        for name in PERIODIC_TASK_JSON:
            if scrubbed[name] != values[name]:
                changed[name] = scrubbed[name] if isinstance(scrubbed[name], str) else json.dumps(scrubbed[name])
        PeriodicTask.objects.filter(pk=task.pk).update(**changed)  # no signals: the values go unlogged
        redactions.append(Redaction(PeriodicTask._meta.label, task.pk, tuple(sorted(changed))))
    if redactions:
        PeriodicTasks.update_changed()
    return redactions


def register() -> None:
    from privacy import export

    # The admin's change log quotes a record's name (``object_repr``) and its changed fields.
    privacy_register_rows(LogEntry, scrubbed=("object_repr", "change_message"), exported=("action_time",))
    privacy_register(
        "django_celery_beat.PeriodicTask",
        fields=PERIODIC_TASK_FIELDS,
        export=periodic_tasks_export,
        erase=periodic_tasks_erase,
    )
    # The stored exports (ADR 0067): listed in an export, deleted with their subject.
    privacy_register(
        "privacy.StoredExport", fields=export.EXPORT_FIELDS, export=export.exports_of, erase=export.exports_erase
    )
