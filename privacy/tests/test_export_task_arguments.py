"""Task arguments in the data map (ADR 0068): what sits in the broker, in results and in periodic tasks.

Queued tasks carry ids only, never a person's data: every task of ours is listed with the meaning
of each of its arguments, a new one fails until it is, and what the real code paths put on the real
broker (Redis) is read back and searched. Periodic tasks stored by django_celery_beat may quote a
person in their arguments: they are in the map, exported and erased, firm by firm.
"""

import base64
import inspect
import json

import pytest
import redis
from celery.signals import after_task_publish
from django.conf import settings
from django_celery_beat.models import IntervalSchedule, PeriodicTask, PeriodicTasks
from django_tenants.utils import schema_context

from messaging import outbound
from messaging.models import Message
from privacy.tests.factories import EMAIL, MARKERS, NAME, PHONE, person_everywhere
from traf3li.beat import BEAT_SCHEDULE
from traf3li.celery import app

URL = "/api/v1/privacy/export/"
OUR_PACKAGES = ("traf3li.", "audit.", "timeline.", "billing.", "messaging.", "privacy.")
# Every task of ours, each argument with what it is. None is personal data: a person's data is read
# by the task from the rows the map already covers, in the firm's schema the task runs in.
TASK_ARGUMENTS = {
    "traf3li.core.tasks.heartbeat_task": {},
    "timeline.tasks.rollups_fold_task": {},
    "timeline.activities.tasks.activity_reminders_task": {},
    "timeline.events.tasks.event_reminders_task": {},
    "billing.tasks.billing_sweep_task": {},
    "messaging.tasks.deliveries_process_task": {},
    "messaging.tasks.deliveries_sweep_task": {},
    "messaging.tasks.message_send_task": {"message_id": "a messaging.Message id (the body stays in the row)"},
    "messaging.tasks.outbound_sweep_task": {},
    "privacy.tasks.privacy_export_task": {"export_id": "a stored export's random id (its subject is in its file)"},
    "privacy.tasks.privacy_erase_task": {"erasure_id": "a queued erasure's random id (its subject is in its file)"},
    "privacy.tasks.privacy_exports_sweep_task": {},
    "privacy.tasks.retention_purge_task": {},
    "traf3li.users.tasks.api_tokens_prune_task": {},
}
# What a task's result can be: counts, a status word or a schema name (stored only when a result
# backend is configured; CELERY_RESULT_BACKEND is unset by default).
RESULT_TYPES = (dict, str, int)


def our_tasks() -> dict:
    app.loader.import_default_modules()
    return {name: task for name, task in app.tasks.items() if name.startswith(OUR_PACKAGES) and ".tests." not in name}


def unlisted_arguments(tasks: dict) -> list[str]:
    found = []
    for name, task in sorted(tasks.items()):
        listed = TASK_ARGUMENTS.get(name)
        signature = inspect.signature(task.run)
        for parameter in signature.parameters.values():
            if listed is None or parameter.name not in listed or parameter.annotation not in (int, str):
                found.append(f"{name}({parameter.name}: {parameter.annotation})")
        if listed is None:
            found.append(f"{name}: not listed")
        if signature.return_annotation not in RESULT_TYPES:
            found.append(f"{name} -> {signature.return_annotation}")
    return found


def test_every_task_takes_ids_only():
    tasks = our_tasks()
    assert set(TASK_ARGUMENTS) <= set(tasks), set(TASK_ARGUMENTS) - set(tasks)  # the list names real tasks
    assert unlisted_arguments(tasks) == [], "tasks take ids, never personal data: list the argument and why here"


def test_the_walk_sees_a_task_with_a_persons_argument():
    """The check can fail: a task taking the text to send is named."""

    def message_text_task(to: str, body: str) -> str:
        return "sent"

    task = app.task(name="privacy.tasks_fake.message_text_task")(message_text_task)
    try:
        found = unlisted_arguments({**our_tasks(), task.name: task})
    finally:
        app.tasks.pop(task.name, None)
    assert "privacy.tasks_fake.message_text_task: not listed" in found
    assert any("(body:" in item for item in found)


def test_the_beat_schedule_passes_no_arguments():
    assert {name for name, entry in BEAT_SCHEDULE.items() if entry.get("args") or entry.get("kwargs")} == set()


@pytest.fixture
def published():
    """What the real code paths put on the real broker (Redis): each message read back from its
    queue's list, then taken off it (no worker consumes this test database's Redis)."""
    ids = []

    def seen(headers=None, routing_key=None, **_):
        ids.append((headers["id"], routing_key))

    after_task_publish.connect(seen, weak=False)
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    messages = []

    def read():
        for task_id, queue in ids:
            for raw in broker.lrange(queue, 0, -1):
                message = json.loads(raw)
                if message["headers"]["id"] == task_id:
                    body = base64.b64decode(message["body"]).decode()
                    messages.append({"task": message["headers"]["task"], "headers": message["headers"], "body": body})
                    broker.lrem(queue, 1, raw)
        ids.clear()
        return messages

    yield read
    after_task_publish.disconnect(seen)
    read()


def test_what_the_broker_holds_names_no_one(firm_a, admin_a, api_a, published, settings, tmp_path,
                                             django_capture_on_commit_callbacks):  # fmt: skip
    settings.PRIVACY_EXPORT_ROOT = tmp_path
    settings.MESSAGING_OUTBOUND = "provider"
    with schema_context(firm_a.schema_name):
        world = person_everywhere(actor=admin_a)
        # (person_everywhere made the firm's Twilio account)
        # given a message to the person queued for sending, and an export of them queued
        with django_capture_on_commit_callbacks(execute=True):
            message = outbound.message_queue(
                channel="sms", to=PHONE, body=f"Dear {NAME}, your statement is ready", subject=world.contact
            ).message
    queued = api_a.get(URL, {"subject": f"contact:{world.contact.pk}", "async": "true"}).json()
    # then the broker holds the two tasks, by id, and nothing of the person
    messages = published()
    assert sorted(m["task"] for m in messages) == [
        "messaging.tasks.message_send_task",
        "privacy.tasks.privacy_export_task",
    ]
    bodies = {m["task"]: json.loads(m["body"]) for m in messages}
    assert bodies["messaging.tasks.message_send_task"][:2] == [[message.pk], {}]
    assert bodies["privacy.tasks.privacy_export_task"][:2] == [[queued["id"]], {}]
    for m in messages:
        assert m["headers"]["_schema_name"] == firm_a.schema_name
        text = json.dumps(m).lower()
        assert [marker for marker in MARKERS if marker.lower() in text] == [], m


def test_task_results_name_no_one(in_firm_a, admin_a, monkeypatch, settings, tmp_path):
    """Each task's result, run in a firm that holds the person everywhere: counts and status words."""
    settings.PRIVACY_EXPORT_ROOT = tmp_path
    monkeypatch.setitem(app.conf, "task_always_eager", True)
    world = person_everywhere(actor=admin_a)
    from privacy import export

    stored = export.export_request(subject=f"contact:{world.contact.pk}", actor=admin_a)
    inbound = Message.objects.get(external_id="SM-privacy-1")  # the person's SMS: never sent, "not due"
    arguments = {
        "messaging.tasks.message_send_task": (inbound.pk,),
        "privacy.tasks.privacy_export_task": (stored.id,),
        "privacy.tasks.privacy_erase_task": ("0" * 32,),  # none such: "gone" (a real one: test_export_task_erasure)
    }
    results = {}
    for name, task in our_tasks().items():
        results[name] = task.apply(arguments.get(name, ())).get()
    assert results["privacy.tasks.privacy_export_task"] == "done"
    assert results["traf3li.core.tasks.heartbeat_task"] == in_firm_a.schema_name
    assert results["messaging.tasks.message_send_task"] == "not due"
    for name, result in results.items():
        assert isinstance(result, RESULT_TYPES), (name, result)
        text = json.dumps(result).lower()
        assert [marker for marker in MARKERS if marker.lower() in text] == [], (name, result)


# Periodic tasks (django_celery_beat, in the public schema, shared by every firm).


def periodic(schema: str, name: str, **fields) -> PeriodicTask:
    every, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.DAYS)
    return PeriodicTask.objects.create(
        name=name, task="messaging.tasks.outbound_sweep_task", interval=every,
        headers=json.dumps({"_schema_name": schema}), **fields,
    )  # fmt: skip


def test_periodic_tasks_quoting_the_person_are_exported_and_erased_in_their_firm_only(firm_a, admin_a, api_a):
    # given the person quoted in periodic tasks of firm A (their arguments JSON-escaped, as
    # json.dumps writes Arabic) and of firm B, and one of firm A about no one
    arabic = "زبيدة القرموطي"
    with schema_context(firm_a.schema_name):
        world = person_everywhere(actor=admin_a)
        type(world.contact).objects.filter(pk=world.contact.pk).update(name=arabic)  # the person's Arabic name
    ours = periodic(
        "alpha", f"Remind {EMAIL}", description=f"Weekly call to {arabic}",
        kwargs=json.dumps({"to": PHONE, "greeting": f"Dear {arabic}"}), args=json.dumps([arabic]),
    )  # fmt: skip
    assert arabic not in ours.kwargs  # escaped: a text search would miss it
    theirs = periodic("beta", "Beta's reminder", kwargs=json.dumps({"to": PHONE}))
    unrelated = periodic("alpha", "Nightly digest", kwargs=json.dumps({"limit": 50}))
    before = PeriodicTasks.last_change()
    # when exported: firm A's row that quotes the person, decoded
    data = api_a.get(URL, {"subject": f"contact:{world.contact.pk}"}).json()["data"]
    rows = data["django_celery_beat.PeriodicTask"]
    assert [row["id"] for row in rows] == [ours.pk]
    assert rows[0]["kwargs"] == {"to": PHONE, "greeting": f"Dear {arabic}"} and rows[0]["args"] == [arabic]
    # when erased
    response = api_a.post("/api/v1/privacy/erase/", {"subject": f"contact:{world.contact.pk}"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["redacted"]["django_celery_beat.PeriodicTask"]["ids"] == [ours.pk]
    ours.refresh_from_db()
    assert json.loads(ours.kwargs) == {"to": "[erased]", "greeting": "Dear [erased]"}
    assert json.loads(ours.args) == ["[erased]"] and json.loads(ours.headers) == {"_schema_name": "alpha"}
    assert ours.name == f"Remind [erased] #{ours.pk}" and ours.description == "Weekly call to [erased]"
    # firm B's row and firm A's other row are untouched, and beat is told the schedule changed
    theirs.refresh_from_db()
    unrelated.refresh_from_db()
    assert json.loads(theirs.kwargs) == {"to": PHONE} and json.loads(unrelated.kwargs) == {"limit": 50}
    assert before is None or PeriodicTasks.last_change() > before
